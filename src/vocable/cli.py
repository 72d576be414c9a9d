"""The ``vocable`` command line."""

from __future__ import annotations

import faulthandler
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from vocable.cli_accounts import bench_api, keys_app, users_app
from vocable.cli_chat import chat
from vocable.cli_common import InputWav, JsonFlag, progress
from vocable.cli_common import emit_json as _emit_json
from vocable.cli_common import run_command as _run
from vocable.cli_hardware import bench_turn, calibrate, doctor
from vocable.cli_memory import bench_memory, memory_app
from vocable.cli_talk import talk
from vocable.config import Settings, load_settings
from vocable.errors import AudioInputError, VocableError
from vocable.voices.cli import voices_app

SHUTDOWN_GRACE_S = 10
"""`vocable serve` stops within this long of SIGTERM, even with clients still connected."""

app = typer.Typer(
    name="vocable",
    help="A private, real-time voice assistant that runs on your own machine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(help="Benchmarks that print figures (median, p95).", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
bench_app.command("api")(bench_api)
bench_app.command("memory")(bench_memory)
app.add_typer(memory_app, name="memory")
bench_app.command("turn")(bench_turn)
app.command()(doctor)
app.command()(calibrate)
app.add_typer(voices_app, name="voices")
app.command()(talk)
app.command()(chat)


@app.command()
def ask(
    audio: InputWav,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Where to write the reply (default: IN.reply.wav)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Answer one spoken question from a file, out loud."""
    from vocable.assistant import Assistant
    from vocable.audio.io import read_audio_file, write_wav

    async def work(settings: Settings) -> None:
        decoded = read_audio_file(
            audio,
            target_rate=settings.audio.sample_rate,
            max_seconds=settings.audio.max_input_seconds,
        )
        progress("loading models…")
        assistant = await Assistant.load(settings)
        try:
            result = await assistant.run_turn(decoded)
        finally:
            await assistant.close()
        target = out or audio.with_suffix(".reply.wav")
        write_wav(target, result.pcm, result.sample_rate)
        if as_json:
            _emit_json(
                {
                    "transcript": result.transcript,
                    "reply": result.reply,
                    "audio_path": str(target),
                    "audio_s": round(result.audio_s, 3),
                    "engines": result.engines,
                    "timings_ms": result.timings.as_dict(),
                }
            )
        else:
            typer.echo(f"you: {result.transcript}")
            typer.echo(f"vocable: {result.reply}")
            progress(f"reply audio: {target} ({result.audio_s:.1f} s)")

    _run(work)


@app.command()
def transcribe(audio: InputWav, as_json: JsonFlag = False) -> None:
    """Print the text spoken in an audio file."""
    from vocable.audio.io import read_audio_file
    from vocable.engines.loader import load_stt

    async def work(settings: Settings) -> None:
        decoded = read_audio_file(
            audio,
            target_rate=settings.audio.sample_rate,
            max_seconds=settings.audio.max_input_seconds,
        )
        stt = await load_stt(settings)
        try:
            transcript = await stt.transcribe(decoded.samples)
        finally:
            await stt.close()
        if not transcript.text.strip():
            raise AudioInputError("no speech found in the audio", code="audio.no_speech")
        if as_json:
            _emit_json({"text": transcript.text.strip(), "duration_s": decoded.duration_s})
        else:
            typer.echo(transcript.text.strip())

    _run(work)


@app.command()
def say(
    text: Annotated[str, typer.Argument(help="What to say.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="WAV file to write.")],
    voice: Annotated[
        str | None,
        typer.Option(help="A voice profile, or an engine voice id; default: your default voice."),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(help="Speak as this account (its profiles and default voice)."),
    ] = None,
) -> None:
    """Speak text into a WAV file, through the TTS fallback chain."""
    from vocable.audio.io import write_wav
    from vocable.engines.loader import load_tts
    from vocable.voices.cli import speaker_for

    async def work(settings: Settings) -> None:
        if not text.strip():
            raise AudioInputError("nothing to say: the text is empty", code="text.empty")
        tts = await load_tts(settings)
        try:
            chosen = await speaker_for(settings, tts, voice, user=user)
            speaker = chosen.tts
            pcm = b"".join([c.pcm async for c in speaker.synthesize(text, chosen.engine_voice)])
            rate = tts.sample_rate
        finally:
            await tts.close()
        write_wav(out, pcm, rate)
        progress(f"wrote {out} ({len(pcm) / 2 / rate:.1f} s, {speaker.info.name})")

    _run(work)


def _dump_tasks(signum: int, frame: object) -> None:
    """Print each asyncio task of the running loop with the chain of awaits it is stuck in."""
    import asyncio

    try:
        tasks = asyncio.all_tasks(asyncio.get_running_loop())
    except RuntimeError:
        return  # the signal came between two runs of the loop
    lines = [f"asyncio tasks ({len(tasks)}):"]
    for task in tasks:
        lines.append(f"Task {task.get_name()}:")
        coro: Any = task.get_coro()
        while coro is not None:
            frame_ = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
            if frame_ is not None:
                code = frame_.f_code
                lines.append(f"  {code.co_filename}:{frame_.f_lineno} in {code.co_name}")
            coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
    print("\n".join(lines), file=sys.stderr, flush=True)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
) -> None:
    """Start the HTTP server (GET /health, POST /v1/turns)."""
    import uvicorn

    from vocable.api.app import create_app
    from vocable.api.logs import configure_logging
    from vocable.cli_accounts import check_bind

    try:
        settings = load_settings()
        bind_host = host or settings.server.host
        check_bind(settings, bind_host)
        api = create_app(settings)
    except VocableError as err:
        typer.echo(f"error [{err.code}]: {err.message}", err=True)
        raise typer.Exit(2) from err
    bind_port = port or settings.server.port
    if hasattr(signal, "SIGUSR1"):
        # `kill -USR1 PID` prints every thread's stack, then every asyncio task's await chain
        # (a hung session is usually a task waiting, not a thread).
        signal.signal(signal.SIGUSR1, _dump_tasks)
        faulthandler.register(signal.SIGUSR1, all_threads=True, chain=True)
    log_json = settings.api.log_json
    configure_logging(json_lines=not settings.auth.dev_mode if log_json is None else log_json)
    progress(f"vocable serving on http://{bind_host}:{bind_port} (loading models…)")
    uvicorn.run(
        api,
        host=bind_host,
        port=bind_port,
        log_level="info",
        log_config=None,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )


@app.command("config")
def show_config(
    reference: Annotated[
        bool, typer.Option("--reference", help="Print every setting as a Markdown table.")
    ] = False,
) -> None:
    """Print the settings in effect (JSON), or the reference of every setting."""
    from vocable.config import settings_markdown

    if reference:
        sys.stdout.write(settings_markdown())
        return
    try:
        settings = load_settings()
    except VocableError as err:
        typer.echo(f"error [{err.code}]: {err.message}", err=True)
        raise typer.Exit(2) from err
    sys.stdout.write(settings.model_dump_json(indent=2) + "\n")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the newest schema (``vocable serve`` also does this at start)."""
    from vocable.storage.migrate import head_revision, upgrade
    from vocable.storage.settings import database_url

    async def work(settings: Settings) -> None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await upgrade(database_url(settings.storage, settings.data_dir), settings=settings.storage)
        progress(f"database at revision {head_revision()}")

    _run(work)


@bench_app.command("storage")
def bench_storage(
    n: Annotated[int, typer.Option("-n", min=1, help="Replies per database.")] = 20,
    tokens: Annotated[int, typer.Option(min=1, help="Tokens per reply.")] = 200,
    rate: Annotated[
        float, typer.Option(min=0, help="Tokens/s from the model; 0 = flat out.")
    ] = 0.0,
    as_json: JsonFlag = False,
) -> None:
    """Persist streamed replies on SQLite, and on PostgreSQL when storage.url points there."""
    import tempfile

    from vocable.bench.storage import bench_urls, run_storage_bench, summary_line

    async def work(settings: Settings) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="vocable-bench-") as tmp:
            urls = bench_urls(settings.storage, settings.data_dir, Path(tmp))
            return await run_storage_bench(
                settings.storage,
                database_urls=urls,
                n=n,
                tokens_per_turn=tokens,
                arrival_rate=rate,
                progress=progress,
            )

    result = _run(work)
    if as_json:
        _emit_json(result)
    else:
        typer.echo(summary_line(result))


@bench_app.command("latency")
def bench_latency(
    n: Annotated[int, typer.Option("-n", min=1, help="Utterances per scenario.")] = 10,
    seed: Annotated[int, typer.Option(help="Corpus seed.")] = 0,
    cpu_load: Annotated[
        int,
        typer.Option(
            "--cpu-load",
            min=0,
            help="Busy-loop processes competing for the cores meanwhile (a busy or slower "
            "machine), for vocable and the baseline alike.",
        ),
    ] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Voice-to-voice latency over a real WebSocket, against a baseline in the same run."""
    from vocable.bench.latency import run_latency_bench, summary_line

    result = _run(lambda _: run_latency_bench(n=n, seed=seed, load=cpu_load, progress=progress))
    if as_json:
        _emit_json(result)
    else:
        typer.echo(summary_line(result))


@bench_app.command("llm")
def bench_llm(
    n: Annotated[int, typer.Option("-n", min=1, help="Replies to time per engine.")] = 10,
    seed: Annotated[int, typer.Option(help="Question seed.")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Time to first token and tokens per second of each configured language model."""
    from vocable.bench.llm import run_llm_bench, summary_line

    result = _run(lambda settings: run_llm_bench(settings, n=n, seed=seed, progress=progress))
    if as_json:
        _emit_json(result)
    else:
        typer.echo(summary_line(result))


@bench_app.command("voices")
def bench_voices(as_json: JsonFlag = False) -> None:
    """Voice matching on generated reference speakers: similarity, WER, first-audio overhead."""
    from vocable.bench.voices import run_voices_bench, summary_line

    result = _run(lambda settings: run_voices_bench(settings, progress=progress))
    if as_json:
        _emit_json(result)
    else:
        typer.echo(summary_line(result))


def main() -> None:
    """Console-script entry point."""
    app()
