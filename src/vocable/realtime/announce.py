"""Spoken announcements in a live session: a timer or reminder that comes due is said out loud.

An announcement is a reply of its own (``response.created`` … ``response.done``) with no user
message before it. It waits until the assistant has stopped talking and the user is not in the
middle of a sentence (at most `WAIT_LIMIT_S`), so it never talks over either of them. While it
plays it is the session's current reply, so the user can talk over it like any other.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from vocable.audio.convert import StreamResampler, float_to_pcm16, pcm16_to_float
from vocable.pipeline.tasks import cancel_and_wait
from vocable.realtime.response import Response, new_response
from vocable.tools.context import user_timezone
from vocable.tools.timers import FiredTimer

if TYPE_CHECKING:
    from vocable.realtime.session import RealtimeSession

log = logging.getLogger(__name__)

WAIT_LIMIT_S = 10.0
"""Longest an announcement waits for a quiet moment before it is spoken anyway."""


def announce_timers(session: RealtimeSession) -> asyncio.Task[None] | None:
    """Start announcing the timers of the session's conversation; None when it has none."""
    tools = session.conversation.tools
    timers = tools.context.timers if tools is not None else None
    if timers is None:
        return None
    zone = user_timezone(session.settings.tools.timezone)

    async def announce(fired: FiredTimer) -> None:
        await say(session, fired.announcement(zone))

    return asyncio.create_task(timers.watch(announce), name=f"{session.id}:timers")


async def _quiet(session: RealtimeSession) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_LIMIT_S
    while loop.time() < deadline:
        current = session.replies.current
        busy = current is not None and current.speaking
        if not busy and not session._detector.in_utterance:
            return
        await asyncio.sleep(0.1)


async def say(session: RealtimeSession, text: str) -> None:
    """Speak `text` as a reply of its own; the conversation keeps what was heard.

    Like any reply, it stops when the user talks over it (barge-in).
    """
    await _quiet(session)
    replies, ctx = session.replies, session.ctx
    replies.turn += 1
    turn = replies.turn
    binary = session._binary_out
    response = new_response(
        turn,
        "",
        ctx=ctx,
        rate=session.session.output_rate,
        lead_s=session.cfg.playout_lead_ms / 1000,
        send_json=session._send_json,
        send_bytes=session._send_bytes if binary else None,
    )
    ids = {"response_id": response.id, "item_id": response.item_id}
    parts = {**ids, "output_index": 0, "content_index": 0}
    await session.emit(
        "response.created", turn, response={"id": response.id, "status": "in_progress"}
    )
    await session.emit("response.output_audio_transcript.delta", turn, delta=text, **parts)
    response.playout.release()
    task = response.task = asyncio.create_task(_speak(session, response, text), name=response.id)
    replies.current = response
    try:
        await asyncio.wait({task})
    finally:
        await cancel_and_wait(task)
    if response.status == "cancelled":
        return  # a barge-in: `Replies.cancel` told the client and kept what was heard
    session.conversation.add_exchange("", text)
    await session.emit("response.output_audio.done", turn, **parts)
    await session.emit("response.output_audio_transcript.done", turn, transcript=text, **parts)
    status = {"id": response.id, "status": "completed", "output": [{"id": response.item_id}]}
    await session.emit("response.done", turn, response=status)


async def _speak(session: RealtimeSession, response: Response, text: str) -> None:
    playout = response.playout
    play = asyncio.create_task(playout.run(), name=f"announce:{response.id}")
    resampler: StreamResampler | None = None
    try:
        async for chunk in session.engines.tts.synthesize(text, session.session.voice):
            samples = pcm16_to_float(chunk.pcm)
            if chunk.sample_rate != playout.rate:
                resampler = resampler or StreamResampler(chunk.sample_rate, playout.rate)
                samples = resampler.push(samples)
            playout.put_audio(float_to_pcm16(samples), 0, text)
        playout.finish()
        await play
    except Exception as err:  # noqa: BLE001 - a failed announcement must not end the session
        log.warning("announcement failed: %s", err)
    finally:
        await cancel_and_wait(play)
