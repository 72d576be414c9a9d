"""Example bodies of the success responses, by operationId, shown in the OpenAPI document.

They are real responses of a vocable server (tokens shortened). A test checks that every JSON
operation has one and that each matches its operation's response schema.
"""

from __future__ import annotations

from typing import Any

_JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIiwidHlwIjoiYWNjZXNzIn0.c2lnbmF0dXJl"
_ENGINE = {
    "name": "faster-whisper",
    "model": "tiny.en",
    "model_path": "/opt/models/whisper-tiny.en",
    "device": "cpu",
    "version": "1.2.1",
}
_TIMINGS = {
    "stt": 114.2,
    "llm_first_token": 197.5,
    "first_sentence": 316.0,
    "tts_first_audio": 461.3,
    "total": 557.9,
}
_KEY = {
    "id": 1,
    "name": "home-assistant",
    "prefix": "vk_qVRRfid",
    "scopes": ["audio", "turns"],
    "created_at": "2026-11-24T15:25:03.385192Z",
    "last_used_at": None,
    "revoked_at": None,
}
_TOKENS = {
    "access_token": _JWT,
    "token_type": "bearer",
    "expires_in": 900,
    "refresh_token": _JWT,
}

_MEMORY = {
    "id": 7,
    "text": "Ann's sister is called Bea.",
    "kind": "fact",
    "conversation_id": 1,
    "created_at": "2026-11-24T15:25:03.385192Z",
}

EXAMPLES: dict[str, Any] = {
    "getHealth": {"status": "ready", "engines": {"stt": {"ready": True, **_ENGINE}}},
    "getReady": {"status": "ready"},
    "register": {"id": 1, "username": "ann", "is_admin": True},
    "refreshToken": _TOKENS,
    "getMe": {"id": 1, "username": "ann", "is_admin": True, "via": "token", "scopes": None},
    "createInvite": {"username": "bob", "invite": _JWT},
    "createWsTicket": {"ticket": _JWT},
    "createKey": {**_KEY, "key": "vk_qVRRfidyk5xJ0VwCydbH1Fn0_mQOjR1bWDPNr5LvxYo"},
    "listKeys": [_KEY],
    "createTurn": {
        "id": "c9ead38f43fc4380a2df2b6fae440741",
        "conversation_id": 1,
        "transcript": "What is the capital of France?",
        "reply": "Paris is the capital of France.",
        "audio_url": "/v1/turns/c9ead38f43fc4380a2df2b6fae440741/audio",
        "audio_s": 1.86,
        "engines": {"stt": {"kind": "stt", "compute_type": "int8", "threads": 2, **_ENGINE}},
        "timings_ms": _TIMINGS,
    },
    "listConversations": [{"id": 1, "title": "", "turn_count": 1}],
    "getConversation": {
        "id": 1,
        "title": "",
        "turn_count": 1,
        "messages": [
            {
                "id": 1,
                "role": "user",
                "text": "What is the capital of France?",
                "heard_text": None,
                "status": "complete",
            },
            {
                "id": 2,
                "role": "assistant",
                "text": "Paris is the capital of France. It is known for the Eiffel Tower.",
                "heard_text": "Paris is the capital of France.",
                "status": "interrupted",
            },
        ],
        "turns": [{"number": 1, "interrupted": True, "timings_ms": _TIMINGS}],
    },
    "listModels": {
        "object": "list",
        "data": [
            {"id": "tts-1", "object": "model", "created": 0, "owned_by": "vocable"},
            {"id": "whisper-1", "object": "model", "created": 0, "owned_by": "vocable"},
        ],
    },
    "createTranscription": {"text": "What is the capital of France?"},
    "listMemories": [_MEMORY],
    "searchMemories": [
        {"id": 7, "text": "Ann's sister is called Bea.", "kind": "fact", "score": 0.71}
    ],
    "importMemories": {"imported": 200, "embedded": 12},
    "validateVoiceSample": {
        "ok": True,
        "report": {
            "duration_s": 10.4,
            "source_rate": 44100,
            "source_channels": 1,
            "clipping_ratio": 0.0,
            "snr_db": 38.2,
            "speech_ratio": 0.81,
            "speaker_similarity": 0.93,
            "loudness_lufs": -21.7,
            "normalised_lufs": -23.0,
            "pitch": {
                "f0_median_hz": 181.0,
                "f0_p10_hz": 142.5,
                "f0_p90_hz": 236.0,
                "voiced_ratio": 0.62,
            },
            "notes": [],
        },
    },
    "createMemory": _MEMORY,
}
"""Success body per operationId, for operations whose models carry no example of their own."""
