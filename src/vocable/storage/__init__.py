"""Persistence: engine, units of work, repositories, migrations and the streaming writer.

Open a `Database`, run work in ``async with db.uow() as tx:`` (or `Database.transact` for
retries) through the functions in `vocable.storage.repo`, and stream replies through a
`MessageWriter`. Migrations: ``await vocable.storage.migrate.upgrade(url)``.
"""

from vocable.config import StorageSettings
from vocable.errors import (
    ConflictError,
    MessageClosedError,
    StorageError,
    StorageInputError,
    TransientStorageError,
)
from vocable.storage.db import Database, StorageStats
from vocable.storage.engine import create_engine, integrity_problems
from vocable.storage.handle import MessageHandle
from vocable.storage.models import MessageRole, MessageStatus
from vocable.storage.retry import RetryPolicy, StorageRetry, retrying, transient_kind, translate
from vocable.storage.settings import database_url
from vocable.storage.writer import MessageWriter, WriterStats

__all__ = [
    "ConflictError",
    "Database",
    "MessageClosedError",
    "MessageHandle",
    "MessageRole",
    "MessageStatus",
    "MessageWriter",
    "RetryPolicy",
    "StorageError",
    "StorageInputError",
    "StorageRetry",
    "StorageSettings",
    "StorageStats",
    "TransientStorageError",
    "WriterStats",
    "create_engine",
    "database_url",
    "integrity_problems",
    "retrying",
    "transient_kind",
    "translate",
]
