"""What every ``vocable`` command shares: progress lines, JSON output, error exit codes."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from vocable.config import Settings, load_settings
from vocable.errors import (
    AudioInputError,
    ConfigError,
    ConflictError,
    NotFoundError,
    StorageInputError,
    VocableError,
)

if TYPE_CHECKING:
    from vocable.storage.db import Database

T = TypeVar("T")

InputWav = Annotated[Path, typer.Argument(help="Audio file: WAV, FLAC or OGG, any rate.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def progress(message: str) -> None:
    """A progress line for people, on stderr (stdout stays machine-readable)."""
    typer.echo(message, err=True)


BAD_INPUT = (AudioInputError, ConfigError, StorageInputError, NotFoundError, ConflictError)
"""Errors caused by what the user gave: exit code 2. Any other vocable error exits with 1."""


def run_command(work: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    """Load settings and run `work`, turning vocable errors into a message and an exit code."""
    try:
        settings = load_settings()
        return asyncio.run(work(settings))
    except VocableError as err:
        typer.echo(f"error [{err.code}]: {err.message}", err=True)
        raise typer.Exit(2 if isinstance(err, BAD_INPUT) else 1) from err


def run_with_db(work: Callable[[Settings, Database], Coroutine[Any, Any, T]]) -> T:
    """`run_command` with the database open (migrated) for the duration of `work`."""
    from vocable.storage.db import Database

    async def main(settings: Settings) -> T:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = await Database.open(settings.storage, data_dir=settings.data_dir)
        try:
            return await work(settings, db)
        finally:
            await db.close()

    return run_command(main)


def run_for_user(
    work: Callable[[Settings, Database, int], Coroutine[Any, Any, T]], user: str | None
) -> T:
    """`run_with_db` for the account `user` (None: the local user)."""

    async def main(settings: Settings, db: Database) -> T:
        return await work(settings, db, await user_id_for(db, user))

    return run_with_db(main)


async def user_id_for(db: Database, name: str | None) -> int:
    """The id of the account `name`, or of the local user when None.

    Raises:
        NotFoundError: ``user.not_found`` when there is no such account.
    """
    from vocable.memory.history import local_user_id
    from vocable.storage import repo

    if name is None:
        return await local_user_id(db)
    async with db.uow(readonly=True) as tx:
        user = await repo.find_user(tx, name=name)
    if user is None:
        raise NotFoundError(
            f"no user called {name!r}; see vocable users list", code="user.not_found"
        )
    return int(user.id)


def emit_json(obj: dict[str, Any]) -> None:
    """Print `obj` as one JSON line on stdout."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
