"""``vocable users …`` and ``vocable keys …``: accounts and API keys for automation."""

from __future__ import annotations

import asyncio
import ipaddress
import sys
from typing import Annotated, TypeVar

import typer

from vocable.cli_common import run_with_db, user_id_for
from vocable.config import Settings, load_settings
from vocable.errors import ConfigError, VocableError
from vocable.storage.db import Database

T = TypeVar("T")

users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (shown once, stored hashed).", no_args_is_help=True)


@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Argument(help="The user name.")],
    admin: Annotated[bool, typer.Option("--admin", help="Make the account an admin.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin's first line.")
    ] = False,
) -> None:
    """Create an account; without a password it can use API keys only. The first is admin."""
    from vocable.api.auth.passwords import hash_password
    from vocable.storage import repo

    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None

    async def work(settings: Settings, db: Database) -> None:
        password_hash = hash_password(password) if password is not None else None
        async with db.uow() as tx:
            first = await repo.count_users(tx) == 0
            user = await repo.create_account(
                tx, name=name, password_hash=password_hash, is_admin=admin or first
            )
        role = "admin" if user.is_admin else "user"
        typer.echo(f"created {role} {user.name} (id {user.id})")

    run_with_db(work)


@users_app.command("list")
def users_list() -> None:
    """Print every account: id, name, admin."""
    from sqlalchemy import select

    from vocable.storage.models import User

    async def work(settings: Settings, db: Database) -> None:
        async with db.uow(readonly=True) as tx:
            for user in await tx.scalars(select(User).order_by(User.id)):
                typer.echo(f"{user.id}\t{user.name}\t{'admin' if user.is_admin else 'user'}")

    run_with_db(work)


@keys_app.command("create")
def keys_create(
    user: Annotated[str, typer.Option("--user", help="Whose key it is.")],
    scopes: Annotated[
        list[str] | None, typer.Option("--scopes", help="Limit the key to these scopes.")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="A label for the key.")] = "cli",
) -> None:
    """Create an API key; the key itself is the last line of stdout, shown only this once."""
    from vocable.api.auth.service import SCOPES
    from vocable.storage import repo

    wanted = [s for part in scopes or [] for s in part.replace(",", " ").split()]
    unknown = set(wanted) - set(SCOPES)
    if unknown:
        typer.echo(f"error: unknown scopes {sorted(unknown)}; known: {list(SCOPES)}", err=True)
        raise typer.Exit(2)

    async def work(settings: Settings, db: Database) -> None:
        user_id = await user_id_for(db, user)
        async with db.uow() as tx:
            row, secret = await repo.create_api_key(tx, user_id=user_id, name=name, scopes=wanted)
        typer.echo(f"key {row.id} ({row.prefix}…) for {user}; scopes: {row.scopes or 'all'}")
        typer.echo(secret)

    run_with_db(work)


@keys_app.command("list")
def keys_list(user: Annotated[str, typer.Option("--user", help="Whose keys.")]) -> None:
    """Print a user's keys: id, prefix, scopes, revoked or last used."""
    from vocable.storage import repo

    async def work(settings: Settings, db: Database) -> None:
        user_id = await user_id_for(db, user)
        async with db.uow(readonly=True) as tx:
            for key in await repo.list_api_keys(tx, user_id=user_id):
                state = f"revoked {key.revoked_at:%F}" if key.revoked_at else "live"
                typer.echo(f"{key.id}\t{key.prefix}…\t{key.scopes or 'all'}\t{state}")

    run_with_db(work)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(help="The key's id (from `keys list`).")],
    user: Annotated[str, typer.Option("--user", help="Whose key.")],
) -> None:
    """Revoke a key; it stops working at once."""
    from vocable.storage import repo

    async def work(settings: Settings, db: Database) -> None:
        user_id = await user_id_for(db, user)
        async with db.uow() as tx:
            await repo.revoke_api_key(tx, user_id=user_id, key_id=key_id)
        typer.echo(f"revoked key {key_id}")

    run_with_db(work)


def is_loopback(host: str) -> bool:
    """Whether `host` only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings, host: str) -> None:
    """Refuse to serve beyond loopback without authentication.

    Raises:
        ConfigError: ``config.unsafe_bind``.
    """
    if not settings.auth.enabled and not is_loopback(host):
        raise ConfigError(
            f"refusing to bind {host} with authentication disabled (VOCABLE_AUTH__ENABLED=false);"
            " bind 127.0.0.1 or turn authentication on",
            code="config.unsafe_bind",
        )


def bench_api(
    n: Annotated[int, typer.Option("-n", min=1, help="Requests per route and level.")] = 16,
    concurrency: Annotated[
        list[int] | None, typer.Option("--concurrency", "-c", help="Concurrent clients.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object on stdout.")
    ] = False,
) -> None:
    """Requests/s and p95 of /v1/audio/speech (first byte) and /v1/audio/transcriptions."""
    import json

    from vocable.bench.api import run_api_bench, summary_line

    levels = tuple(concurrency or (1, 4, 16))
    try:
        settings = load_settings()
        result = asyncio.run(
            run_api_bench(
                settings,
                requests_per_level=n,
                concurrency=levels,
                progress=lambda m: typer.echo(m, err=True),
            )
        )
    except VocableError as err:
        typer.echo(f"error [{err.code}]: {err.message}", err=True)
        raise typer.Exit(1) from err
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        typer.echo(summary_line(result))
