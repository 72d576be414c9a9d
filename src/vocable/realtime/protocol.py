"""Event shapes of `/v1/realtime`, named as in the OpenAI Realtime API (GA), beta names accepted.

Every server event carries ``event_id``, ``type``, the vocable extras ``turn_id`` and
``server_ts_ms`` (wall clock, milliseconds), and its own fields.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from vocable.errors import VocableError

INPUT_RATES = (24000, 16000)
"""Input rates a session may declare; 24 kHz is the default, as in the OpenAI API."""
OUTPUT_RATES = (24000, 22050, 16000)
"""Output rates a session may ask for."""

CLIENT_EVENTS = frozenset(
    {
        "session.update",
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "input_audio_buffer.clear",
        "response.create",
        "response.cancel",
        "conversation.item.truncate",
    }
)
BETA_ALIASES = {
    "transcription_session.update": "session.update",
}
"""Older (beta) client event names and their GA equivalents."""

_ids = itertools.count(1)


class ProtocolError(VocableError):
    """A client event the server cannot act on; answered with an ``error`` event."""

    default_code = "invalid_event"


def new_id(prefix: str) -> str:
    """A session-unique id such as ``item_12``."""
    return f"{prefix}_{next(_ids)}"


def server_event(kind: str, turn_id: int = 0, **fields: Any) -> dict[str, Any]:
    """A server event with its id, type, turn id and server timestamp."""
    return {
        "event_id": new_id("event"),
        "type": kind,
        "turn_id": turn_id,
        "server_ts_ms": round(time.time() * 1000, 1),
        **fields,
    }


def error_event(
    code: str, message: str, *, event_id: str | None = None, kind: str = "invalid_request_error"
) -> dict[str, Any]:
    """The ``error`` event: a rejected client event, or (`kind` ``server_error``) a failure."""
    err = {"type": kind, "code": code, "message": message}
    if event_id:
        err["event_id"] = event_id
    return server_event("error", error=err)


def parse_client_event(text: str) -> dict[str, Any]:
    """Decode one client JSON event, mapping beta names to GA ones.

    Raises:
        ProtocolError: malformed JSON (``invalid_json``), no type or an unknown one
            (``unknown_event``).
    """
    try:
        event = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ProtocolError(f"malformed JSON: {err}", code="invalid_json") from err
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise ProtocolError("an event must be a JSON object with a string 'type'")
    kind = BETA_ALIASES.get(event["type"], event["type"])
    if kind not in CLIENT_EVENTS:
        raise ProtocolError(f"unknown event type {event['type']!r}", code="unknown_event")
    event["type"] = kind
    return event


def decode_audio(event: dict[str, Any]) -> bytes:
    """The PCM16 bytes of an ``input_audio_buffer.append`` event.

    Raises:
        ProtocolError: missing or undecodable base64 (``invalid_audio``), or an odd byte count
            (``invalid_audio_length``).
    """
    audio = event.get("audio")
    if not isinstance(audio, str):
        raise ProtocolError("input_audio_buffer.append needs base64 'audio'", code="invalid_audio")
    try:
        pcm = base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ProtocolError(f"audio is not valid base64: {err}", code="invalid_audio") from err
    check_pcm(pcm)
    return pcm


def check_pcm(pcm: bytes) -> None:
    """Raise `ProtocolError` unless `pcm` holds whole 16-bit samples."""
    if len(pcm) % 2:
        raise ProtocolError(
            "PCM16 audio needs an even number of bytes", code="invalid_audio_length"
        )


@dataclass
class SessionConfig:
    """What a client may set with ``session.update`` (GA or beta shape)."""

    input_rate: int = 24000
    output_rate: int = 24000
    instructions: str | None = None
    voice: str | None = None
    eagerness: str = "auto"
    configured: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def update(self, session: Any) -> None:
        """Apply a ``session`` object; unknown fields are ignored, bad values raise.

        Raises:
            ProtocolError: ``invalid_value`` for an unsupported rate or format.
        """
        if not isinstance(session, dict):
            raise ProtocolError("session.update needs a 'session' object", code="invalid_value")
        audio = _object(session.get("audio"))
        inp, out = _object(audio.get("input")), _object(audio.get("output"))
        self.input_rate = _rate(
            inp.get("format"), session.get("input_audio_format"), self.input_rate, INPUT_RATES
        )
        self.output_rate = _rate(
            out.get("format"), session.get("output_audio_format"), self.output_rate, OUTPUT_RATES
        )
        if isinstance(session.get("instructions"), str):
            self.instructions = session["instructions"]
        voice = out.get("voice", session.get("voice"))
        if isinstance(voice, str):
            self.voice = voice
        detection = inp.get("turn_detection", session.get("turn_detection"))
        if isinstance(detection, dict) and isinstance(detection.get("eagerness"), str):
            if detection["eagerness"] not in ("low", "medium", "high", "auto"):
                raise ProtocolError("eagerness is low, medium, high or auto", code="invalid_value")
            self.eagerness = detection["eagerness"]
        self.configured = True

    def require_configured(self) -> None:
        """Audio is accepted only after ``session.update`` has set its format.

        Raises:
            ProtocolError: ``session_not_configured``.
        """
        if not self.configured:
            raise ProtocolError(
                "send session.update (with the input audio format) before audio",
                code="session_not_configured",
            )

    def as_session(self, session_id: str) -> dict[str, Any]:
        """The ``session`` object the server announces."""
        return {
            "id": session_id,
            "object": "realtime.session",
            "type": "realtime",
            "model": "vocable",
            "output_modalities": ["audio"],
            "instructions": self.instructions or "",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": self.input_rate},
                    "turn_detection": {"type": "semantic_vad", "eagerness": self.eagerness},
                },
                "output": {
                    "format": {"type": "audio/pcm", "rate": self.output_rate},
                    "voice": self.voice or "default",
                },
            },
        }


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _rate(ga: Any, beta: Any, current: int, allowed: tuple[int, ...]) -> int:
    if isinstance(ga, dict):
        if ga.get("type", "audio/pcm") != "audio/pcm":
            raise ProtocolError("only audio/pcm (PCM16 mono) is supported", code="invalid_value")
        rate = ga.get("rate", current)
    elif beta is not None:
        if beta != "pcm16":
            raise ProtocolError("only pcm16 audio is supported", code="invalid_value")
        rate = current
    else:
        return current
    if rate not in allowed:
        raise ProtocolError(f"sample rate {rate} is not one of {allowed}", code="invalid_value")
    return int(rate)
