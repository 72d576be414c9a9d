"""What every ``vocable`` command shares: progress lines, JSON output, error exit codes."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from vocable.config import Settings, load_settings
from vocable.errors import AudioInputError, ConfigError, StorageInputError, VocableError

T = TypeVar("T")

InputWav = Annotated[Path, typer.Argument(help="Audio file: WAV, FLAC or OGG, any rate.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def progress(message: str) -> None:
    """A progress line for people, on stderr (stdout stays machine-readable)."""
    typer.echo(message, err=True)


def run_command(work: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    """Load settings and run `work`, turning vocable errors into a message and an exit code."""
    try:
        settings = load_settings()
        return asyncio.run(work(settings))
    except VocableError as err:
        typer.echo(f"error [{err.code}]: {err.message}", err=True)
        bad_input = isinstance(err, AudioInputError | ConfigError | StorageInputError)
        raise typer.Exit(2 if bad_input else 1) from err


def emit_json(obj: dict[str, Any]) -> None:
    """Print `obj` as one JSON line on stdout."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
