"""Typed errors from database failures, and bounded, jittered retries of transient ones."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from vocable.errors import (
    ConflictError,
    StorageError,
    StorageInputError,
    TransientStorageError,
    VocableError,
)

T = TypeVar("T")

_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6
_PG_TRANSIENT = {"40001": "serialization", "40P01": "deadlock", "57P01": "disconnect"}


def transient_kind(err: BaseException) -> str | None:
    """Why `err` is worth retrying: ``busy``, ``serialization``, ``deadlock``, ``disconnect``.

    None means retrying cannot help (constraint violations, syntax errors, bugs).
    """
    if isinstance(err, ConnectionError):
        return "disconnect"
    if not isinstance(err, DBAPIError):
        return None
    if err.connection_invalidated:
        return "disconnect"
    orig = err.orig
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int) and sqlite_code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return "busy"
    state = getattr(orig, "sqlstate", None)
    if isinstance(state, str):
        if state.startswith("08"):  # connection exception class
            return "disconnect"
        return _PG_TRANSIENT.get(state)
    if isinstance(orig, ConnectionError | OSError):
        return "disconnect"
    return None


def translate(err: BaseException) -> VocableError:
    """Map a database failure to its typed error (raise it `from` the original)."""
    if isinstance(err, VocableError):
        return err
    kind = transient_kind(err)
    if kind is not None:
        return TransientStorageError(
            f"database {kind}: {_first_line(err)}", code=f"storage.{kind}", transient=True
        )
    if isinstance(err, IntegrityError):
        text = str(err.orig).lower()
        state = getattr(err.orig, "sqlstate", None)
        if state == "23503" or "foreign key" in text:
            return StorageInputError(
                f"a referenced row does not exist: {_first_line(err)}",
                code="storage.unknown_reference",
            )
        if state == "23505" or "unique" in text:
            return StorageInputError(
                f"that already exists: {_first_line(err)}", code="storage.duplicate"
            )
        return StorageInputError(f"rejected by the database: {_first_line(err)}")
    if isinstance(err, SQLAlchemyError):
        return StorageError(f"database error: {_first_line(err)}")
    return StorageError(f"database error: {type(err).__name__}: {err}")


def _first_line(err: BaseException) -> str:
    orig = getattr(err, "orig", None) or err
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter.

    The delay before attempt ``n + 1`` is drawn from ``[cap / 2, cap]`` with
    ``cap = min(max_delay_s, base_delay_s * 2 ** (n - 1))``.
    """

    attempts: int = 5
    base_delay_s: float = 0.02
    max_delay_s: float = 1.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        cap = min(self.max_delay_s, self.base_delay_s * 2.0 ** (attempt - 1))
        return cap / 2 + rng.uniform(0, cap / 2)


@dataclass(frozen=True, slots=True)
class StorageRetry:
    """Reported once per retry: what failed, the attempt that failed, and the wait before the next.

    The metrics collector turns these into pipeline events.
    """

    operation: str
    attempt: int
    max_attempts: int
    delay_s: float
    code: str
    message: str


RetryListener = Callable[[StorageRetry], None]

_rng = random.Random()  # noqa: S311 - backoff jitter, not a secret


async def retrying(
    attempt_once: Callable[[], Awaitable[T]],
    *,
    operation: str,
    policy: RetryPolicy,
    on_retry: RetryListener | None = None,
    retry_conflicts: bool = False,
    rng: random.Random | None = None,
) -> T:
    """Await `attempt_once()` until it succeeds, retrying transient failures.

    Args:
        attempt_once: Does the whole unit of work again on each call (re-reading what it needs).
        operation: Name reported in each `StorageRetry`.
        policy: Attempts and backoff.
        on_retry: Called before each backoff sleep.
        retry_conflicts: Also retry `ConflictError`; only safe when `attempt_once` re-reads.
        rng: Jitter source (tests pass a seeded one).

    Raises:
        VocableError: the last error once attempts run out, or at once for a permanent error.
    """
    attempt = 1
    while True:
        try:
            return await attempt_once()
        except (SQLAlchemyError, ConnectionError, VocableError) as raw:
            err = translate(raw)
            retryable = err.transient and (retry_conflicts or not isinstance(err, ConflictError))
            if not retryable or attempt >= policy.attempts:
                if err is raw:
                    raise
                raise err from raw
            delay = policy.delay(attempt, rng or _rng)
            if on_retry is not None:
                on_retry(
                    StorageRetry(operation, attempt, policy.attempts, delay, err.code, err.message)
                )
        await asyncio.sleep(delay)
        attempt += 1
