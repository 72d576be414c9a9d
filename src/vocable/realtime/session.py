"""One realtime conversation: audio in, turn-taking, speculative replies, barge-in, events out.

Protocol (see docs/realtime.md): the client sends ``session.update``, then audio; the server
answers ``input_audio_buffer.speech_started`` / ``speech_stopped``, the transcription, then the
``response.*`` events of the reply. Everything of one session runs in one task group.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import numpy as np

from vocable.config import Settings
from vocable.engines.loader import Engines
from vocable.engines.vad.base import VoiceActivityDetector
from vocable.engines.worker import BlockingWorker
from vocable.errors import VocableError
from vocable.frames import PipelineEventType, Transcript
from vocable.pipeline.stage import StageContext
from vocable.pipeline.tasks import cancel_and_wait, finished
from vocable.realtime.announce import announce_timers
from vocable.realtime.inbox import Inbox, scored_frames
from vocable.realtime.prosody import rises
from vocable.realtime.protocol import (
    ProtocolError,
    SessionConfig,
    check_pcm,
    decode_audio,
    error_event,
    new_id,
    parse_client_event,
    server_event,
)
from vocable.realtime.replies import Replies
from vocable.realtime.response import Response
from vocable.realtime.turns import (
    Ending,
    TurnDetector,
    TurnEvent,
    ending_of,
    is_backchannel,
    lacks_only_a_mark,
)
from vocable.realtime.turns import second_opinion as surer_pass_ends
from vocable.stages.respond import Conversation

log = logging.getLogger(__name__)
E = PipelineEventType
RATE = 16000
STOP_TIMEOUT_S = 5.0
"""How long a closing session waits for its tasks before it logs them as stuck and goes on."""
SendJson = Callable[[dict[str, Any]], Awaitable[None]]
SendBytes = Callable[[bytes], Awaitable[None]]


class RealtimeSession:
    """Runs one client's conversation until it disconnects or goes idle."""

    def __init__(
        self,
        settings: Settings,
        engines: Engines,
        vad: VoiceActivityDetector,
        send_json: SendJson,
        send_bytes: SendBytes,
        *,
        conversation: Conversation | None = None,
        ctx: StageContext | None = None,
        conversation_id: int | None = None,
    ) -> None:
        self.settings = settings
        self.conversation_id = conversation_id
        self.cfg = settings.realtime
        self.engines = engines
        self.vad = vad
        self.ctx = ctx or StageContext.for_settings(settings)
        self.conversation = conversation or Conversation(settings.llm.system_prompt)
        if self.conversation.tools is not None:  # replies use them; due timers are announced
            self.conversation.tools.speculative = True  # side effects wait for the turn
        self.session = SessionConfig(eagerness=self.cfg.eagerness)
        self.id = new_id("sess")
        self._send_json = send_json
        self._send_bytes = send_bytes
        self._binary_out = False
        self.inbox = Inbox(RATE, self.cfg.max_input_buffer_s)
        self._worker = BlockingWorker("vad-session")
        self._detector = self._new_detector()
        self._recent: deque[np.ndarray] = deque(maxlen=64)
        self._utterance: list[np.ndarray] = []
        self._item_id = ""
        self._early: asyncio.Task[Transcript] | None = None
        self._speculation: asyncio.Task[str] | None = None
        self._second: asyncio.Task[None] | None = None
        self._spec_response: Response | None = None
        self.replies = Replies(self.ctx, engines, self.conversation, send_json, send_bytes)
        self._barge_started: float | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def _new_detector(self) -> TurnDetector:
        vad = self.settings.vad
        return TurnDetector(
            frame_ms=self.vad.frame_samples / self.vad.sample_rate * 1000,
            threshold=vad.threshold,
            min_speech_ms=vad.min_speech_ms,
            speculative_pause_ms=self.cfg.speculative_pause_ms,
            transcribe_pause_ms=self.cfg.transcribe_pause_ms if self.cfg.speculate else 0,
            eagerness=self.session.eagerness,
            fixed_endpoint_ms=self.cfg.fixed_endpoint_ms,
            quiet_db=vad.tail_quiet_db,
        )

    async def emit(self, kind: str, turn_id: int | None = None, **fields: Any) -> None:
        """Send a server event."""
        await self._send_json(
            server_event(kind, self.replies.turn if turn_id is None else turn_id, **fields)
        )

    async def run(self, messages: AsyncIterator[str | bytes]) -> None:
        """Serve the client until `messages` ends (disconnect) or the idle timeout."""
        await self._worker.run(self.vad.reset)
        await self.emit(
            "session.created",
            session=self.session.as_session(self.id),
            conversation_id=self.conversation_id,
        )
        audio = asyncio.create_task(self._audio_loop(), name=f"{self.id}:audio")
        timers = announce_timers(self)
        try:
            while True:
                try:
                    async with asyncio.timeout(self.cfg.idle_timeout_s):
                        message = await anext(messages)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    await self._send_json(error_event("idle_timeout", "session idle; closing"))
                    break
                await self._on_message(message)
        finally:
            audio.cancel()
            if timers is not None:
                timers.cancel()
            await self._stop_all()
            await cancel_and_wait(audio, timers)
            await self._worker.close()

    async def _stop_all(self) -> None:
        """End every task of the session: turn work first (so no reply starts), then replies."""
        work = {t for t in [*self._tasks, self._speculation, self._early, self._second] if t}
        for task in work:
            task.cancel()
        if work:
            _, stuck = await asyncio.wait(work, timeout=STOP_TIMEOUT_S)
            for task in stuck:
                log.error("session %s: task %s did not stop in time", self.id, task.get_name())
        spec, current = self._spec_response, self.replies.current
        for response in (spec, current if current is not spec else None):
            if response is not None and response.speaking:
                try:
                    async with asyncio.timeout(STOP_TIMEOUT_S):
                        await self.replies.cancel(response, reason="client_gone", notify=False)
                except TimeoutError:
                    log.error("session %s: reply %s did not stop in time", self.id, response.id)

    async def _on_message(self, message: str | bytes) -> None:
        try:
            if isinstance(message, bytes):
                self.session.require_configured()
                check_pcm(message)
                self._binary_out = True
                self._accept_audio(message)
                return
            event = parse_client_event(message)
            await self._handle(event)
        except ProtocolError as err:
            await self._send_json(error_event(err.code, err.message))

    async def _handle(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "session.update":
            self.session.update(event.get("session"))
            self._detector.eagerness = self.session.eagerness
            await self.emit("session.updated", session=self.session.as_session(self.id))
        elif kind == "input_audio_buffer.append":
            self.session.require_configured()
            self._accept_audio(decode_audio(event))
        elif kind == "input_audio_buffer.commit":
            if self._detector.in_utterance:
                self._detector.in_utterance = False
                await self._end_turn()
            await self.emit("input_audio_buffer.committed", item_id=self._item_id)
        elif kind == "input_audio_buffer.clear":
            await self._reset_turn()
            await self.emit("input_audio_buffer.cleared")
        elif kind == "response.cancel":
            if self.replies.current is not None and self.replies.current.speaking:
                await self.replies.cancel(self.replies.current, reason="client_cancelled")
        elif kind == "conversation.item.truncate":
            self.replies.truncate(event.get("audio_end_ms"))
        elif kind == "response.create":
            raise ProtocolError(
                "responses start when the user's turn ends; response.create is not supported",
                code="not_supported",
            )

    def _accept_audio(self, pcm: bytes) -> None:
        if dropped := self.inbox.push(pcm, self.session.input_rate):
            self.ctx.bus.emit("session", E.FRAMES_DROPPED, self.replies.turn, seconds=dropped)

    async def _audio_loop(self) -> None:
        async for frame, prob in scored_frames(self.inbox, self.vad, self._worker):
            await self._guarded(self._on_frame(frame, prob))

    async def _on_frame(self, frame: np.ndarray, prob: float) -> None:
        detector = self._detector
        event = detector.step(prob, float(np.sqrt(np.mean(frame**2))))
        if detector.in_utterance or event is TurnEvent.END:
            self._utterance.append(frame)
        else:
            self._recent.append(frame)
        if event is TurnEvent.START:
            await self._speech_started()
        elif event is TurnEvent.QUIET:
            stt = self.engines.stt.transcribe(self._audio())
            self._early = asyncio.create_task(stt, name="early-transcription")
        elif event is TurnEvent.PAUSE and self.cfg.speculate:
            self._start_speculation()
        elif event is TurnEvent.RESUME:
            if self._early is not None and self.cfg.read_ahead:  # no reply has read its words
                early, self._early = self._early, None
                self._spawn(self.replies.read_ahead(early, lambda: detector.in_utterance))
            await self._drop_speculation()  # cancels the early pass if it was not taken
        elif event is TurnEvent.END:
            await self._end_turn()
        long = detector.spoken_ms > self.cfg.backchannel_max_ms
        if self._barge_started is not None and detector.in_utterance and long:
            if self.replies.current is not None:
                await self.replies.cancel(self.replies.current, reason="barge_in")
                self._barge_started = None

    async def _speech_started(self) -> None:
        detector = self._detector
        pad = max(1, round(self.settings.vad.pad_ms / detector.frame_ms))
        lead = detector.frames - detector.utterance_start
        self._utterance = list(self._recent)[-pad:] + self._utterance[-lead:]
        self._recent.clear()
        self._item_id = new_id("item")
        self.ctx.bus.emit("vad", E.SPEECH_STARTED, self.replies.turn + 1)
        await self.emit(
            "input_audio_buffer.speech_started",
            audio_start_ms=detector.ms(detector.utterance_start),
            item_id=self._item_id,
        )
        if self.replies.current is not None and self.replies.current.speaking:
            self.replies.current.playout.pause()
            self._barge_started = asyncio.get_running_loop().time()
        elif self.cfg.read_ahead:  # the history, up to this turn's first word
            self._spawn(self.replies.read_ahead(None, lambda: detector.in_utterance))

    def _audio(self) -> np.ndarray:
        return np.concatenate(self._utterance) if self._utterance else np.zeros(0, np.float32)

    def _start_speculation(self) -> None:
        self._speculation = asyncio.create_task(self._transcribe(self._audio()), name="speculate")

    async def _transcribe(self, audio: np.ndarray) -> str:
        detector = self._detector
        speech_s = detector.spoken_ms / 1000
        # The early pass heard the same speech: only silence has come since (else it was dropped).
        early, self._early = self._early, None
        text = (await (early or self.engines.stt.transcribe(audio))).text.strip()
        backchannel = is_backchannel(text, self.cfg.backchannels)
        ending = Ending.COMPLETE if backchannel else ending_of(text, speech_s)
        if ending is Ending.COMPLETE and not backchannel and not text.endswith("?"):
            # A statement on a rising tone usually goes on ("…, and then↗").
            if self.cfg.prosody and await self._worker.run(rises, audio, RATE):
                ending = Ending.UNCERTAIN
        elif lacks_only_a_mark(text, speech_s) and self._barge_started is None:
            if await self.replies.sounds_finished(text, self.cfg.ending_judge):
                ending = Ending.COMPLETE
        detector.ending = ending
        if self._barge_started is None and text:
            self._spec_response = self.replies.start(text, self.session, binary=self._binary_out)
        if detector.check_end():
            self._spawn(self._end_turn())
        elif self.cfg.second_opinion and ending is Ending.UNCERTAIN and text[-1] not in ".?!":
            work = self._second_opinion(audio, text, speech_s)
            self._second = asyncio.create_task(self._guarded(work), name="second-opinion")
        return text

    async def _second_opinion(self, audio: np.ndarray, text: str, speech_s: float) -> None:
        """End the turn now if a surer pass hears the same words as `text`, as a sentence."""
        detector = self._detector
        ends = await surer_pass_ends(self.engines.stt, audio, text, speech_s)
        if not ends or detector is not self._detector or detector.ending is not Ending.UNCERTAIN:
            return
        detector.ending = Ending.COMPLETE
        if detector.check_end():
            self._spawn(self._end_turn())

    def _spawn(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(self._guarded(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, work: Awaitable[None]) -> None:
        """Run turn work; a failure drops the turn and tells the client. The session goes on."""
        try:
            await work
        except Exception as err:
            log.exception("session %s: turn %d failed", self.id, self.replies.turn)
            code = err.code if isinstance(err, VocableError) else "turn_failed"
            await self._send_json(error_event(code, str(err), kind="server_error"))
            await self._reset_turn()
            if self._barge_started is not None and self.replies.current is not None:
                self.replies.current.playout.resume()  # what interrupted it is unknown
            self._barge_started = None

    async def _reset_turn(self) -> None:
        """Forget the utterance so far and any work started on it."""
        self._utterance = []
        await self._drop_speculation()
        self._detector = self._new_detector()

    async def _drop_speculation(self) -> None:
        early, self._early = self._early, None
        spec, self._speculation = self._speculation, None
        second, self._second = self._second, None
        response, self._spec_response = self._spec_response, None
        await cancel_and_wait(early, spec, second)
        if response is not None:
            await self.replies.cancel(response, reason="speculation", notify=False)
            self.ctx.bus.emit("turn", E.SPECULATION_DROPPED, response.turn_id)

    async def _end_turn(self) -> None:
        detector = self._detector
        audio = self._audio()
        self._utterance = []
        spec, self._speculation = self._speculation, None
        early, self._early = self._early, None  # the turn ended before the speculative pause
        if self._second is not None:  # the turn ended without it
            self._second.cancel()
            self._second = None
        await self.emit(
            "input_audio_buffer.speech_stopped",
            audio_end_ms=detector.ms(detector.last_speech),
            item_id=self._item_id,
        )
        silence_s = (detector.frames - detector.last_speech) * detector.frame_ms / 1000
        self.ctx.bus.emit("vad", E.SPEECH_STOPPED, self.replies.turn + 1, silence_s=silence_s)
        text = ""  # stays empty where a resumption cancelled the pass
        if spec is not None:
            text = await finished(spec) or ""
        elif early is not None and (heard := await finished(early)) is not None:
            text = heard.text.strip()
        if not text:
            text = (await self.engines.stt.transcribe(audio)).text.strip()
        response, self._spec_response = self._spec_response, None
        brief = detector.spoken_ms <= self.cfg.backchannel_max_ms
        brief = brief and is_backchannel(text, self.cfg.backchannels)
        if self._barge_started is not None and brief:
            self._barge_started = None
            if response is not None:
                await self.replies.cancel(response, reason="backchannel", notify=False)
            if self.replies.current is not None:
                self.replies.current.playout.resume()
            return
        self._barge_started = None
        if self.replies.current is not None and self.replies.current.speaking:
            await self.replies.cancel(self.replies.current, reason="barge_in")
        if response is not None and not text:
            await self.replies.cancel(response, reason="no_speech", notify=False)
        # An empty transcript tells the client that no words were heard, so no reply comes.
        await self.emit(
            "conversation.item.input_audio_transcription.completed",
            item_id=self._item_id,
            content_index=0,
            transcript=text,
        )
        if not text:
            return
        if response is None or response.user_text != text:
            if response is not None:
                await self.replies.cancel(response, reason="transcript_changed", notify=False)
            response = self.replies.start(text, self.session, binary=self._binary_out)
        self.ctx.bus.emit("turn", E.TURN_STARTED, response.turn_id)
        self.ctx.bus.emit("transcribe", E.TRANSCRIPT, response.turn_id, text=text)
        self.replies.current = response
        await self.emit(
            "response.created",
            response.turn_id,
            response={"id": response.id, "status": "in_progress"},
        )
        response.playout.release()
