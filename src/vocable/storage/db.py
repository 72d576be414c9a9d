"""The database handle: units of work (with savepoints) and retried transactions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from vocable.config import StorageSettings
from vocable.storage.engine import READONLY, create_engine
from vocable.storage.retry import RetryListener, RetryPolicy, StorageRetry, retrying, translate
from vocable.storage.settings import database_url

T = TypeVar("T")

_ACTIVE: ContextVar[tuple[Database, AsyncSession, asyncio.Task[Any] | None] | None] = ContextVar(
    "vocable_storage_uow", default=None
)


@dataclass(slots=True)
class StorageStats:
    """Counters since the database was opened."""

    transactions: int = 0
    """Top-level units of work committed."""
    rollbacks: int = 0
    """Top-level units of work rolled back."""
    retries: int = 0
    """Attempts repeated after a transient failure or a conflict."""


class Database:
    """An engine plus units of work over it. Open with `Database.open`, close with `close`.

    Args:
        engine: From `create_engine`.
        settings: Limits, retry policy.
        on_retry: Called once per retry (see `StorageRetry`).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        settings: StorageSettings,
        *,
        on_retry: RetryListener | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.stats = StorageStats()
        self.policy = RetryPolicy(
            settings.retry_attempts, settings.retry_base_ms / 1000, settings.retry_max_ms / 1000
        )
        self._listeners: list[RetryListener] = [on_retry] if on_retry else []
        info = {"max_message_chars": settings.max_message_chars}
        self._rw = async_sessionmaker(engine, expire_on_commit=False, info=info)
        self._ro = async_sessionmaker(
            engine.execution_options(**{READONLY: True}), expire_on_commit=False, info=info
        )

    @classmethod
    async def open(
        cls,
        settings: StorageSettings,
        *,
        data_dir: Path | None = None,
        url: str | None = None,
        migrate: bool = True,
        on_retry: RetryListener | None = None,
    ) -> Database:
        """Connect to `url` (default: from settings and `data_dir`), migrating it to the head.

        Args:
            settings: Storage settings.
            data_dir: Where the default SQLite file lives (needed when no URL is set).
            url: Overrides ``settings.url``.
            migrate: Run the migrations first (retried like any transient failure).
            on_retry: Called once per retry.

        Raises:
            ConfigError: the URL is unusable.
            StorageError: the database cannot be reached or migrated.
        """
        if url is None and settings.url is None and data_dir is None:
            raise ValueError("pass data_dir (or url) when storage.url is unset")
        source = settings if url is None else settings.model_copy(update={"url": url})
        db = cls(
            create_engine(database_url(source, data_dir or Path()), settings),
            settings,
            on_retry=on_retry,
        )
        if migrate:
            from vocable.storage.migrate import upgrade_engine

            try:
                await db.retrying(lambda: upgrade_engine(db.engine, settings), operation="migrate")
            except BaseException:
                await db.close()
                raise
        return db

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def add_retry_listener(self, listener: RetryListener) -> Callable[[], None]:
        """Also call `listener` on each retry; returns a function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _report(self, retry: StorageRetry) -> None:
        self.stats.retries += 1
        for listener in list(self._listeners):
            listener(retry)

    @asynccontextmanager
    async def uow(self, *, readonly: bool = False) -> AsyncIterator[AsyncSession]:
        """A unit of work: ``async with db.uow() as tx:``.

        It commits when the block ends and rolls back on any exception. Inside another unit of
        work of the same task it is a savepoint: an exception rolls back only the inner block.
        Database failures surface as typed `StorageError`s. No retries here: use `transact`.
        """
        task = asyncio.current_task()
        active = _ACTIVE.get()
        if active is not None and active[0] is self and active[2] is task:
            try:
                async with active[1].begin_nested():
                    yield active[1]
            except SQLAlchemyError as err:
                raise translate(err) from err
            return
        maker = self._ro if readonly else self._rw
        try:
            async with maker() as session:
                token = _ACTIVE.set((self, session, task))
                try:
                    async with session.begin():
                        yield session
                finally:
                    _ACTIVE.reset(token)
        except BaseException as err:
            self.stats.rollbacks += 1
            if isinstance(err, SQLAlchemyError | ConnectionError):
                raise translate(err) from err
            raise
        self.stats.transactions += 1

    async def transact(
        self,
        work: Callable[[AsyncSession], Awaitable[T]],
        *,
        operation: str = "transaction",
        readonly: bool = False,
        retry_conflicts: bool = False,
    ) -> T:
        """Run ``await work(tx)`` in a unit of work, retrying the whole of it on transient errors.

        With `retry_conflicts`, a `ConflictError` is retried too: `work` must re-read what it
        changes. Inside another unit of work it runs once, in a savepoint (the outer transaction
        cannot be retried from inside).
        """

        async def once() -> T:
            async with self.uow(readonly=readonly) as tx:
                return await work(tx)

        active = _ACTIVE.get()
        if active is not None and active[0] is self and active[2] is asyncio.current_task():
            return await once()
        return await self.retrying(once, operation=operation, retry_conflicts=retry_conflicts)

    async def retrying(
        self,
        attempt_once: Callable[[], Awaitable[T]],
        *,
        operation: str,
        retry_conflicts: bool = False,
    ) -> T:
        """`vocable.storage.retry.retrying` with this database's policy and retry listeners."""
        return await retrying(
            attempt_once,
            operation=operation,
            policy=self.policy,
            on_retry=self._report,
            retry_conflicts=retry_conflicts,
        )
