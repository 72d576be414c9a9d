"""The reply side of a realtime session: starting, finishing, cancelling and truncating replies.

History keeps only what the listener heard: a finished reply in full, a cancelled one up to where
playback stopped, and a truncated one up to the client's ``audio_end_ms``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from vocable.engines.llm.base import ChatMessage, JudgesEndings, Prefills
from vocable.engines.loader import Engines
from vocable.frames import PipelineEventType, Transcript
from vocable.pipeline.stage import StageContext
from vocable.pipeline.tasks import cancel_and_wait
from vocable.realtime.protocol import ProtocolError, SessionConfig, server_event
from vocable.realtime.response import Response, SendBytes, SendJson, new_response, run_response
from vocable.stages.respond import Conversation

E = PipelineEventType
log = logging.getLogger(__name__)


JUDGE_LIMIT_S = 0.3
"""The longest a turn waits for the model's judgement of its ending (its reply reads on)."""


def settled(text: str) -> str:
    """`text` without its last word, which a pass cut mid-speech may have heard only in part."""
    words = text.strip().rsplit(maxsplit=1)
    return words[0] if len(words) == 2 else ""


class Replies:
    """Starts and ends the replies of one session; `current` is the one the user hears."""

    def __init__(
        self,
        ctx: StageContext,
        engines: Engines,
        conversation: Conversation,
        send_json: SendJson,
        send_bytes: SendBytes,
    ) -> None:
        self.ctx = ctx
        self.engines = engines
        self.conversation = conversation
        self._send_json = send_json
        self._send_bytes = send_bytes
        self.turn = 0
        """The newest turn id handed out (one per reply, speculative ones included)."""
        self.current: Response | None = None

    async def _emit(self, kind: str, turn: int, **fields: Any) -> None:
        await self._send_json(server_event(kind, turn, **fields))

    def start(self, text: str, session: SessionConfig, *, binary: bool) -> Response:
        """Start generating a reply to `text`; it is held until `playout.release()`."""
        self.turn += 1
        response = new_response(
            self.turn,
            text,
            ctx=self.ctx,
            rate=session.output_rate,
            lead_s=self.ctx.settings.realtime.playout_lead_ms / 1000,
            send_json=self._send_json,
            send_bytes=self._send_bytes if binary else None,
        )
        response.task = asyncio.create_task(self._run(response, session.voice), name=response.id)
        return response

    async def _run(self, response: Response, voice: str | None) -> None:
        await run_response(
            response,
            ctx=self.ctx,
            engines=self.engines,
            conversation=self.conversation,
            send_json=self._send_json,
            voice=voice,
        )
        turn = response.turn_id
        ids = {
            "response_id": response.id,
            "item_id": response.item_id,
            "output_index": 0,
            "content_index": 0,
        }
        heard = response.playout.heard_text(response.playout.sent_s)
        await self._emit("response.output_audio.done", turn, **ids)
        await self._emit("response.output_audio_transcript.done", turn, transcript=heard, **ids)
        self.conversation.add_exchange(response.user_text, heard)
        self.ctx.bus.emit("synthesize", E.TURN_DONE, turn)
        await self._emit(
            "response.done",
            turn,
            response={
                "id": response.id,
                "status": response.status,
                "output": [{"id": response.item_id}],
            },
        )

    async def read_ahead(
        self, heard: Awaitable[Transcript] | None, still_speaking: Callable[[], bool]
    ) -> None:
        """Read the conversation into the model's cache while the user speaks (`Prefills`).

        Without `heard` (as a turn starts), that is the history up to the user's first word;
        with it (the user went on after a pass over their words so far), also those words, less
        the last. The reply then reads only what follows. Best effort: a failure is logged and
        changes nothing.
        """
        llm = self.engines.llm
        try:
            words = settled((await heard).text) if heard is not None else ""
            if isinstance(llm, Prefills) and (words or heard is None) and still_speaking():
                read = await llm.prefill(self.conversation.prompt(words))
                log.debug("read ahead %d tokens of %r", read, words)
        except Exception as err:  # noqa: BLE001 - work ahead of time; the reply reads it all
            log.debug("read-ahead skipped: %s", err)

    async def sounds_finished(self, text: str, threshold: float) -> bool:
        """Whether the model gives the end of `text` `threshold` or more (`JudgesEndings`).

        Not while a reply plays, whose generation holds the model. Best effort: False when the
        model cannot judge, fails, or takes over `JUDGE_LIMIT_S`.
        """
        llm = self.engines.llm
        if threshold <= 0 or not isinstance(llm, JudgesEndings):
            return False
        if self.current is not None and self.current.speaking:
            return False
        try:
            async with asyncio.timeout(JUDGE_LIMIT_S):
                chance = await llm.judge_ending(self.conversation.prompt(text))
        except Exception as err:  # noqa: BLE001 - the turn then waits the uncertain silence
            log.debug("ending not judged: %r", err)
            return False
        log.debug("ending of %r judged %s", text, chance)
        return chance is not None and chance >= threshold

    async def cancel(self, response: Response, *, reason: str, notify: bool = True) -> None:
        """Stop `response` at once.

        A reply the user was hearing is logged as interrupted; `notify` also tells the client.
        """
        response.playout.pause()
        await cancel_and_wait(response.task)
        response.status = "cancelled"
        if not response.playout.released:
            return
        self.ctx.bus.emit("session", E.INTERRUPTED, response.turn_id, reason=reason)
        self.conversation.add_exchange(response.user_text, response.playout.heard_text())
        if not notify:
            return
        await self._emit(
            "response.output_audio.done",
            response.turn_id,
            response_id=response.id,
            item_id=response.item_id,
        )
        await self._emit(
            "response.done",
            response.turn_id,
            response={
                "id": response.id,
                "status": "cancelled",
                "status_details": {"type": "cancelled", "reason": reason},
            },
        )

    def truncate(self, audio_end_ms: object) -> None:
        """The client played the current reply only up to `audio_end_ms`: forget the rest.

        Raises:
            ProtocolError: no reply to truncate, or a bad ``audio_end_ms``.
        """
        response = self.current
        if response is None or not isinstance(audio_end_ms, int | float) or audio_end_ms < 0:
            raise ProtocolError(
                "truncate needs a reply and audio_end_ms >= 0", code="invalid_value"
            )
        heard = response.playout.heard_text(audio_end_ms / 1000)
        messages = self.conversation.messages
        if messages and messages[-1].role == "assistant":
            messages[-1] = ChatMessage("assistant", heard)
