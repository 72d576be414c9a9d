"""Typed errors with stable codes. `transient` says whether retrying may help."""

from __future__ import annotations


class VocableError(Exception):
    """Base of every error vocable raises on purpose.

    Args:
        code: Stable, dotted machine-readable code, e.g. ``audio.no_speech``.
        message: What happened and what to do next, for a person.
        transient: True when the same call may succeed if retried.
    """

    default_code = "vocable.error"
    default_transient = False

    def __init__(self, message: str, *, code: str | None = None, transient: bool | None = None):
        super().__init__(message)
        self.code = code or self.default_code
        self.message = message
        self.transient = self.default_transient if transient is None else transient

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class ConfigError(VocableError):
    """Settings are invalid or point at something that does not exist."""

    default_code = "config.invalid"


class AudioInputError(VocableError):
    """Input audio is unusable: not audio, empty, silent, too long, wrong format."""

    default_code = "audio.invalid"


class VoiceInputError(AudioInputError):
    """A voice profile request is unusable: a bad name, or a sample that fails a quality check."""

    default_code = "voice.invalid"


class EngineUnavailableError(VocableError):
    """An engine cannot be loaded here: a package or a model file is missing."""

    default_code = "engine.unavailable"


class EngineError(VocableError):
    """An engine failed while running."""

    default_code = "engine.failed"


class EngineTimeoutError(EngineError):
    """An engine did not answer within its time budget."""

    default_code = "engine.timeout"
    default_transient = True


class PipelineClosedError(VocableError):
    """A channel or session was used after it closed."""

    default_code = "pipeline.closed"


class StorageError(VocableError):
    """The database failed in a way that retrying will not fix."""

    default_code = "storage.failed"


class TransientStorageError(StorageError):
    """The database was busy, deadlocked or unreachable; the same call may succeed later."""

    default_code = "storage.unavailable"
    default_transient = True


class ConflictError(StorageError):
    """Someone else changed the row since it was read (optimistic locking).

    Re-read and apply the change again; `Database.transact` does so with ``retry_conflicts``.
    """

    default_code = "storage.conflict"
    default_transient = True


class StorageInputError(StorageError):
    """Input the database must not hold: too long, not UTF-8, NUL bytes, unknown references."""

    default_code = "storage.invalid_input"


class MessageClosedError(StorageError):
    """A streaming message was used after it finished, failed or was recovered."""

    default_code = "storage.message_closed"


class NotFoundError(VocableError):
    """A thing the caller named does not exist."""

    default_code = "not_found"


class AuthError(VocableError):
    """The request carries no valid credentials (HTTP 401)."""

    default_code = "auth.unauthorized"


class ForbiddenError(VocableError):
    """The caller is known but may not do this (HTTP 403): not an admin, or a missing scope."""

    default_code = "auth.forbidden"


class RateLimitedError(VocableError):
    """Too many requests; `retry_after_s` says when to try again (HTTP 429)."""

    default_code = "rate_limited"
    default_transient = True

    def __init__(self, message: str, *, retry_after_s: int, code: str | None = None):
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s
