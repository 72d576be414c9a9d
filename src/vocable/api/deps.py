"""Dependencies routes receive: settings and the loaded assistant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from vocable.api.auth.deps import PrincipalDep
from vocable.assistant import Assistant
from vocable.config import Settings
from vocable.errors import EngineUnavailableError, TransientStorageError
from vocable.storage.db import Database
from vocable.storage.writer import MessageWriter


def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_assistant(request: Request) -> Assistant:
    """The loaded assistant, or 503 while the engines are still loading or failed."""
    assistant: Assistant | None = request.app.state.assistant
    if assistant is None:
        raise EngineUnavailableError(
            "the engines are not ready yet; see GET /health", transient=True
        )
    return assistant


@dataclass(frozen=True)
class Store:
    """The database, its streaming writer, and the authenticated user requests act for."""

    db: Database
    writer: MessageWriter
    user_id: int


def get_store(request: Request, principal: PrincipalDep) -> Store:
    """The open database, acting for the authenticated user (503 until startup opened it)."""
    state = request.app.state
    if state.db is None:
        raise TransientStorageError("the database is not open yet; see GET /health")
    return Store(state.db, state.writer, principal.user_id)


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
AssistantDep = Annotated[Assistant, Depends(get_assistant)]
