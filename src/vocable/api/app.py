"""The FastAPI app factory. Engines load in the background; /health says when they are ready."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from vocable import __version__
from vocable.api import problems
from vocable.api.auth.service import Authenticator
from vocable.api.auth.tokens import TokenSigner, signing_secret
from vocable.api.middleware import RequestGuard
from vocable.api.openai import routes as openai_routes
from vocable.api.openapi import install_openapi
from vocable.api.ratelimit import RateLimiter
from vocable.api.routes import auth, conversations, health, keys, memories, realtime, turns
from vocable.api.routes import metrics as metrics_routes
from vocable.api.routes import voices as voice_routes
from vocable.assistant import Assistant
from vocable.config import Settings, get_settings
from vocable.engines.embed import close_embedders
from vocable.memory.history import local_user_id
from vocable.metrics.collector import MetricsCollector
from vocable.pipeline.tasks import cancel_and_wait
from vocable.storage.db import Database
from vocable.storage.writer import MessageWriter
from vocable.voices.embedding import SharedEncoder

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, assistant: Assistant | None = None) -> FastAPI:
    """Build the app. Settings default to the process-wide ones (environment and TOML file).

    At startup the database is migrated and opened (a failure stops the server). Without
    `assistant`, the engines load in the background and close at shutdown; a given `assistant`
    is used as is and stays open (its owner closes it).
    """
    settings = settings or get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    signer = TokenSigner(signing_secret(settings.auth, settings.data_dir), settings.auth)
    limiter = RateLimiter(settings.redis_url, prefix=settings.api.rate_limit_prefix)
    voice_encoder = SharedEncoder()  # loaded on the first voice enrolment

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = await Database.open(settings.storage, data_dir=settings.data_dir)
        async with contextlib.aclosing(limiter), voice_encoder, db, MessageWriter(db) as writer:
            app.state.db, app.state.writer = db, writer
            if not settings.auth.enabled:  # one local user owns everything
                app.state.user_id = await local_user_id(db)
            if assistant is not None:
                yield
                return
            loader = asyncio.create_task(_load(app, settings), name="vocable:load-engines")
            try:
                yield
            finally:
                await cancel_and_wait(loader)
                if app.state.assistant is not None:
                    await app.state.assistant.close()
                await close_embedders()

    app = FastAPI(
        title="vocable",
        version=__version__,
        summary="A private, real-time voice assistant.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.assistant = assistant
    app.state.db = None
    app.state.writer = None
    app.state.user_id = None
    app.state.load_error = None
    app.state.auth = Authenticator(settings, signer)
    app.state.limiter = limiter
    app.state.voice_encoder = voice_encoder
    app.state.metrics = MetricsCollector(settings.metrics.window_turns)
    problems.install(app)
    install_openapi(app)
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(RequestGuard, settings=settings)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(keys.router)
    app.include_router(turns.router)
    app.include_router(conversations.router)
    app.include_router(openai_routes.router)
    app.include_router(memories.router)
    app.include_router(realtime.router)
    app.include_router(voice_routes.router)
    app.include_router(metrics_routes.router)
    if settings.ui.enabled:
        _mount_ui(app)
    return app


def _mount_ui(app: FastAPI) -> None:
    try:
        from vocable.ui.app import mount_ui  # the web UI needs the optional `ui` extra (gradio)
    except ImportError as err:
        log.warning("web UI off: %s (pip install 'vocable[ui]')", err)
        return
    mount_ui(app)


async def _load(app: FastAPI, settings: Settings) -> None:
    from vocable.bench.calibrate import recalibrate_if_stale
    from vocable.tools.setup import load_tool_embedder

    try:
        await recalibrate_if_stale(settings)  # the profile orders the chains Assistant.load uses
        assistant = await Assistant.load(settings)
        await load_tool_embedder(settings)  # tools and memory: loaded before the first turn
        app.state.assistant = assistant
    except Exception as err:  # noqa: BLE001 - reported on /health instead of killing the server
        log.exception("engines failed to load")
        app.state.load_error = f"{type(err).__name__}: {err}"
