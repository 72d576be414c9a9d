"""``vocable talk``: a terminal client of a running server's realtime WebSocket."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from vocable.cli_common import progress, run_command
from vocable.config import Settings


def talk(
    url: Annotated[str, typer.Option(help="Realtime WebSocket URL.")] = (
        "ws://127.0.0.1:8765/v1/realtime"
    ),
    input_wav: Annotated[
        Path | None, typer.Option("--input", help="Stream this file instead of the microphone.")
    ] = None,
    output_wav: Annotated[
        Path | None, typer.Option("--output", help="Record the reply audio here.")
    ] = None,
    api_key: Annotated[str | None, typer.Option(envvar="VOCABLE_API_KEY")] = None,
) -> None:
    """Talk to a running server: live through the microphone, or a file in real time."""
    from vocable.audio.io import read_audio_file, write_wav
    from vocable.realtime.client import NO_WORDS, converse, reply_or_nothing

    if input_wav is None:
        run_command(lambda settings: _talk_live(url, api_key))
        return

    async def work(settings: Settings) -> None:
        audio = read_audio_file(input_wav, target_rate=24000).samples
        tail = np.zeros(24000 * 2, np.float32)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        progress("listening…")
        conv = await converse(
            url, np.concatenate([audio, tail]), headers=headers, stop_when=reply_or_nothing
        )
        for item in conv.received:
            if item.event is None:
                continue
            kind = item.event["type"]
            if kind == "conversation.item.input_audio_transcription.completed":
                typer.echo(f"you: {item.event['transcript'] or NO_WORDS}")
            elif kind == "response.output_audio_transcript.done":
                typer.echo(f"vocable: {item.event['transcript']}")
        if output_wav is not None:
            write_wav(output_wav, conv.reply_pcm(), conv.rate)
            progress(f"reply audio: {output_wav}")

    run_command(work)


async def _talk_live(url: str, api_key: str | None) -> None:
    from vocable.realtime.live import SoundDevice, talk_live

    device = SoundDevice()
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    progress("live: speak when you see 'listening' (use headphones; Ctrl-C to stop)")
    try:
        await talk_live(
            url,
            device,
            headers=headers,
            on_state=lambda state: progress(f"[{state}]"),
            on_line=lambda who, text: typer.echo(f"{who}: {text}"),
        )
    finally:
        device.close()
