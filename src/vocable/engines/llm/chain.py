"""The language-model fallback chain, and loading it from ``llm.engines``.

`LLMChain` is itself a `LanguageModel`. It reuses the generic `FallbackChain` strategy: a call
goes to the active engine, and moves on to the next one when that engine fails permanently before
its first item (unreachable after its retries, model not pulled...) or sends no first item within
``llm.first_token_timeout_s``. After ``llm.fallback_cooldown_s`` the first engine is tried again.
With a single engine there is no time budget: with nothing to fall back to, a slow reply beats
none.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from typing import Any

from vocable.config import Settings
from vocable.engines.base import EngineInfo
from vocable.engines.fallback import FallbackChain, SwitchCallback, describe_error
from vocable.engines.llm.base import (
    ChatMessage,
    JudgesEndings,
    LanguageModel,
    Prefills,
    StreamItem,
    ToolSpec,
)
from vocable.errors import EngineUnavailableError

log = logging.getLogger(__name__)


class LLMChain:
    """Language models in order of preference, used as one `LanguageModel`.

    Args:
        engines: At least one engine; the first is the primary.
        first_token_timeout_s: Budget for the first item of a reply (ignored for one engine).
        cooldown_s: How long to stay on a fallback before trying the primary again.
        on_switch: Called with ``(from_name, to_name, reason)`` on every switch.
        clock: Monotonic clock in seconds; tests inject a fake one.
        skipped: Engines left out because they could not load, with the reason.
        load_s: Seconds each engine took to load, by name.
    """

    def __init__(
        self,
        engines: Sequence[LanguageModel],
        *,
        first_token_timeout_s: float | None = None,
        cooldown_s: float = 30.0,
        on_switch: SwitchCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
        skipped: Mapping[str, str] | None = None,
        load_s: Mapping[str, float] | None = None,
    ) -> None:
        self.chain: FallbackChain[LanguageModel] = FallbackChain(
            engines,
            kind="llm",
            first_item_timeout_s=first_token_timeout_s if len(engines) > 1 else None,
            cooldown_s=cooldown_s,
            on_switch=self._switched,
            clock=clock,
            skipped=skipped,
            load_s=load_s,
        )
        self.on_switch = on_switch
        """Called with ``(from_name, to_name, reason)`` on every switch; may be reassigned."""
        self.info: EngineInfo = self.chain.active.info
        """The active engine's identity."""
        self.supports_tools: bool = self.chain.active.supports_tools
        """Whether the active engine takes tools."""

    @property
    def engines(self) -> list[LanguageModel]:
        """The engines, first choice first."""
        return self.chain.engines

    @property
    def skipped(self) -> dict[str, str]:
        """Engines left out at load, with the reason."""
        return self.chain.skipped

    @property
    def load_s(self) -> dict[str, float]:
        """Seconds each engine took to load, by name."""
        return self.chain.load_s

    def _switched(self, before: str, after: str, reason: str) -> None:
        self.info = self.chain.active.info
        self.supports_tools = self.chain.active.supports_tools
        if self.on_switch is not None:
            self.on_switch(before, after, reason)

    def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] | None = None
    ) -> AsyncGenerator[StreamItem, None]:
        """The reply of the first engine that delivers; see `LanguageModel.stream`.

        Raises:
            EngineError: every engine failed before its first item (``llm.all_failed``).
            VocableError: a transient error before the first item, or any error after it.
        """
        return self.chain.stream(lambda engine: engine.stream(messages, tools))

    async def prefill(self, messages: Sequence[ChatMessage]) -> int:
        """Read `messages` ahead into the active engine's cache, if it has one (`Prefills`)."""
        active = self.chain.active
        return await active.prefill(messages) if isinstance(active, Prefills) else 0

    async def judge_ending(self, messages: Sequence[ChatMessage]) -> float | None:
        """The active engine's `JudgesEndings.judge_ending`; None if it cannot judge."""
        active = self.chain.active
        return await active.judge_ending(messages) if isinstance(active, JudgesEndings) else None

    def report(self) -> dict[str, Any]:
        """For ``/health``: the engine names in order, the active one, and those skipped."""
        return {
            "chain": [e.info.name for e in self.engines],
            "active": self.chain.active.info.name,
            "skipped": dict(self.skipped),
        }

    async def close(self) -> None:
        """Close every engine (after abandoned calls are cleaned up). Safe to call twice."""
        await self.chain.close()


async def _load_llama_cpp(settings: Settings) -> LanguageModel:
    from vocable.engines.llm.llama_cpp import LlamaCppLLM

    return await LlamaCppLLM.load(settings)


async def _load_ollama(settings: Settings) -> LanguageModel:
    from vocable.engines.llm.ollama import OllamaLLM

    return await OllamaLLM.load(settings)


async def _load_openai(settings: Settings) -> LanguageModel:
    from vocable.engines.llm.openai_compat import OpenAICompatLLM

    return await OpenAICompatLLM.load(settings)


LLM_LOADERS: dict[str, Callable[[Settings], Awaitable[LanguageModel]]] = {
    "llama_cpp": _load_llama_cpp,
    "ollama": _load_ollama,
    "openai": _load_openai,
}
"""How to load each engine named in ``llm.engines``."""


async def load_llm_chain(
    settings: Settings, *, on_switch: SwitchCallback | None = None
) -> LLMChain:
    """The chain over ``llm.engines``, in order, without the engines that cannot load.

    Raises:
        EngineUnavailableError: no engine in ``llm.engines`` could be loaded; the message gives
            each one's reason.
    """
    names = list(dict.fromkeys(settings.llm.engines))
    loaded, failed, seconds = await load_each(names, settings)
    skipped = {name: describe_error(err) for name, err in failed.items()}
    for name, reason in skipped.items():
        log.warning("llm engine %s is unavailable: %s", name, reason)
    engines = [loaded[name] for name in names if name in loaded]
    if not engines:
        errors = list(failed.values())
        if len(errors) == 1:
            raise errors[0]  # one engine configured: its own error says what to do
        reasons = "; ".join(f"{n}: {r}" for n, r in skipped.items())
        raise EngineUnavailableError(f"no language model could be loaded ({reasons})") from errors[
            0
        ]
    cfg = settings.llm
    return LLMChain(
        engines,
        first_token_timeout_s=cfg.first_token_timeout_s,
        cooldown_s=cfg.fallback_cooldown_s,
        on_switch=on_switch,
        skipped=skipped,
        load_s=seconds,
    )


async def load_each(
    names: Sequence[str], settings: Settings
) -> tuple[dict[str, LanguageModel], dict[str, Exception], dict[str, float]]:
    """Load the named engines at once: (loaded, failed, seconds) by name.

    If the caller is cancelled, the loads are cancelled and whatever loaded is closed.
    """

    async def timed(name: str) -> tuple[LanguageModel, float]:
        start = time.perf_counter()
        engine = await LLM_LOADERS[name](settings)
        return engine, time.perf_counter() - start

    tasks = {
        name: asyncio.create_task(timed(name), name=f"vocable:load-llm-{name}") for name in names
    }
    try:
        await asyncio.wait(tasks.values())
    except asyncio.CancelledError:
        for task in tasks.values():
            task.cancel()
        await asyncio.wait(tasks.values())
        for task in tasks.values():
            if not task.cancelled() and task.exception() is None:
                await task.result()[0].close()
        raise
    loaded: dict[str, LanguageModel] = {}
    failed: dict[str, Exception] = {}
    seconds: dict[str, float] = {}
    fatal: BaseException | None = None
    for name, task in tasks.items():
        error = task.exception()
        if error is None:
            loaded[name], seconds[name] = task.result()
        elif isinstance(error, Exception):
            failed[name] = error
        else:  # KeyboardInterrupt and the like: close what loaded, then let it through
            fatal = error
    if fatal is not None:
        for engine in loaded.values():
            await engine.close()
        raise fatal
    return loaded, failed, seconds
