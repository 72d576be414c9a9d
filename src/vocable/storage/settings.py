"""Database URL resolution from the storage settings."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from vocable.config import StorageSettings
from vocable.errors import ConfigError

_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


def database_url(storage: StorageSettings, data_dir: Path) -> str:
    """The async SQLAlchemy URL to use: ``storage.url``, else SQLite at ``<data_dir>/vocable.db``.

    Plain ``sqlite://`` and ``postgresql://`` (or ``postgres://``) URLs get the async drivers.

    Raises:
        ConfigError: the URL is malformed or names a database other than SQLite or PostgreSQL.
    """
    if storage.url is None:
        return str(URL.create("sqlite+aiosqlite", database=str(data_dir / "vocable.db")))
    raw = storage.url.replace("postgres://", "postgresql://", 1)
    try:
        url = make_url(raw)
    except ArgumentError as err:
        raise ConfigError(f"storage.url is not a database URL: {err}") from err
    backend = url.get_backend_name()
    if backend not in _DRIVERS:
        raise ConfigError(
            f"storage.url uses {backend!r}; vocable supports sqlite and postgresql",
            code="config.storage_backend",
        )
    return url.set(drivername=_DRIVERS[backend]).render_as_string(hide_password=False)
