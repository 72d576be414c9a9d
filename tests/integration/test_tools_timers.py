"""Timers and reminders on a real database (SQLite; PostgreSQL too when configured).

A fake wall clock drives the long ones; one real one-second timer set by voice fires as a spoken
announcement in a live session (fake speech engines, real SQLite, real timing).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from tests.fakes import FakeLLM, FakeTTS, ThresholdVAD
from tests.storage.helpers import PG_ENV, Target, pg_url
from tests.unit.test_realtime_session import Client, ScriptedSTT, run, silence, tone
from vocable.config import Settings
from vocable.engines.embed.hashing import HashingEmbedder
from vocable.realtime.session import RealtimeSession
from vocable.stages.respond import Conversation
from vocable.storage import repo
from vocable.storage.db import Database
from vocable.storage.repo import timers as timer_repo
from vocable.tools import build_toolbox
from vocable.tools.timers import FiredTimer, TimerService

START = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


class WallClock:
    """A wall clock that moves only when told."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "postgresql" and pg_url() is None:
        pytest.skip(f"{PG_ENV} is not set")
    target = Target(request.param, tmp_path)
    database = await Database.open(target.settings(), url=target.url)
    try:
        yield database
    finally:
        await database.close()
        await target.drop()


async def new_user(db: Database, name: str) -> int:
    async with db.uow() as tx:
        return int((await repo.create_user(tx, name=name)).id)


async def test_timer_tools_set_list_and_cancel(settings: Settings, db: Database) -> None:
    clock = WallClock()
    box = build_toolbox(settings, db=db, user_id=await new_user(db, "ann"), clock=clock)
    call = box.registry.call
    ctx = box.context
    assert (await call("set_timer", {"duration": "5 minutes"}, ctx)).text == (
        "OK, timer set for 5 minutes."
    )
    assert (await call("set_timer", {"duration": "90", "label": "tea"}, ctx)).text == (
        "OK, tea timer set for 1 minute 30 seconds."
    )
    reminder = await call("set_reminder", {"text": "call my mum", "when": "in 2 hours"}, ctx)
    assert reminder.ok and reminder.text.startswith("OK, I'll remind you to call your mum at ")
    clock.advance(30)
    listed = await call("list_timers", {}, ctx)
    assert listed.text == (
        "You have 3: a tea timer with 1 minute left; a timer with 4 minutes 30 seconds left;"
        " a reminder to call your mum in 1 hour 59 minutes 30 seconds."
    )
    assert (await call("cancel_timer", {"which": "tea"}, ctx)).text == "Cancelled your tea timer."
    assert (await call("cancel_timer", {}, ctx)).text == "Cancelled your 5 minute timer."
    pending = await box.context.timers.pending()  # type: ignore[union-attr]
    assert [(t.kind, t.label) for t in pending] == [("reminder", "call my mum")]


@pytest.mark.parametrize(
    ("arguments", "code", "text"),
    [
        ({"duration": "0 seconds"}, "tool.failed", "I did not understand '0 seconds'"),
        (
            {"duration": "8 days"},
            "tool.timer_range",
            "A timer must be between 1 second and 7 days.",
        ),
        ({"duration": "soonish"}, "tool.failed", "I did not understand 'soonish' as a duration."),
    ],
)
async def test_bad_timer_requests_are_refused_in_a_sentence(
    settings: Settings, db: Database, arguments: dict[str, str], code: str, text: str
) -> None:
    box = build_toolbox(settings, db=db, user_id=await new_user(db, "ann"))
    result = await box.registry.call("set_timer", arguments, box.context)
    assert (result.ok, result.code) == (False, code)
    assert result.text.startswith(text)
    assert await box.context.timers.pending() == []  # type: ignore[union-attr]


async def test_without_a_database_timers_say_so(settings: Settings) -> None:
    box = build_toolbox(settings)
    result = await box.registry.call("set_timer", {"duration": "1 minute"}, box.context)
    assert (result.ok, result.text) == (False, "Timers need a database, and none is open here.")


async def test_a_due_timer_fires_once_across_sessions_and_users(db: Database) -> None:
    clock = WallClock()
    ann, bob = await new_user(db, "ann"), await new_user(db, "bob")
    first, second = (TimerService(db, user_id=ann, clock=clock) for _ in range(2))
    other = TimerService(db, user_id=bob, clock=clock)
    timer = await first.add(delay_s=60, label="eggs")
    await other.add(delay_s=60)
    clock.advance(59)
    assert await first.fire_due() == []
    clock.advance(2)
    fired = await asyncio.gather(first.fire_due(), second.fire_due())
    claimed = [f for batch in fired for f in batch]
    assert [(f.id, f.label, f.late_s) for f in claimed] == [(timer.id, "eggs", 1.0)]
    assert await first.pending() == [] and len(await other.pending()) == 1
    async with db.uow() as tx:
        with pytest.raises(Exception, match="not found"):
            await timer_repo.cancel_timer(tx, user_id=bob, timer_id=timer.id)


async def test_watch_announces_when_the_fake_clock_reaches_the_timer(db: Database) -> None:
    clock = WallClock()
    service = TimerService(db, user_id=await new_user(db, "ann"), clock=clock, poll_s=0.05)
    said: list[str] = []

    async def announce(fired: FiredTimer) -> None:
        said.append(fired.announcement())

    watcher = asyncio.create_task(service.watch(announce))
    try:
        await service.add(delay_s=300)
        await service.add(delay_s=600, kind="reminder", label="take my pills")
        clock.advance(299)
        service.wake()
        await asyncio.sleep(0.2)
        assert said == []
        clock.advance(1)
        service.wake()
        await asyncio.sleep(0.2)
        assert said == ["Your 5 minute timer is done."]
        clock.advance(3600)  # the reminder comes due while nobody was listening
        await asyncio.sleep(0.2)  # the poll finds it without a wake
        assert said[1] == "Reminder: take your pills. It was due at 3:10 PM."
    finally:
        watcher.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watcher


async def test_a_real_one_second_timer_fires_after_one_second(db: Database) -> None:
    service = TimerService(db, user_id=await new_user(db, "ann"))
    fired_at: list[float] = []
    done = asyncio.Event()

    async def announce(fired: FiredTimer) -> None:
        fired_at.append(time.perf_counter())
        done.set()

    watcher = asyncio.create_task(service.watch(announce))
    try:
        start = time.perf_counter()
        await service.add(delay_s=1.0)
        await asyncio.wait_for(done.wait(), 5)
    finally:
        watcher.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watcher
    assert 1.0 <= fired_at[0] - start < 1.5


async def test_a_timer_set_by_voice_is_announced_in_the_live_session(
    settings: Settings, tmp_path: Path
) -> None:
    live = settings.model_copy(
        update={"realtime": settings.realtime.model_copy(update={"playout_lead_ms": 60})}
    )
    db = await Database.open(live.storage, data_dir=tmp_path)
    llm = FakeLLM(["The model should not be asked."])
    client = Client(live, ScriptedSTT("Set a timer for one second."), llm, FakeTTS())
    box = build_toolbox(live, db=db, user_id=await new_user(db, "ann"), embedder=HashingEmbedder())
    engines = client.session.engines
    conversation = Conversation(live.llm.system_prompt, tools=box)
    client.session = RealtimeSession(
        live, engines, ThresholdVAD(), client._json, client._bytes, conversation=conversation
    )
    assert box.speculative  # a live session confirms turns before side effects run

    async def script() -> None:
        client.configure()
        await client.speak(np.concatenate([silence(0.3), tone(1.0), silence(0.6)]))
        await client.wait_for("response.done")
        await client.wait_for("response.done", 2, limit_s=5)

    try:
        await run(client, script)
    finally:
        await db.close()
    transcripts = [
        (e["turn_id"], e["transcript"])
        for e in client.sent
        if e["type"] == "response.output_audio_transcript.done"
    ]
    assert [t for _, t in transcripts] == [
        "OK, timer set for 1 second.",
        "Your 1 second timer is done.",
    ]
    assert transcripts[1][0] > transcripts[0][0]  # the announcement is a turn of its own
    assert llm.prompts == []  # the intent path answered
    done = [e for e in client.sent if e["type"] == "response.done"]
    assert [d["response"]["status"] for d in done] == ["completed", "completed"]
    assert client.audio > 0
    assert client.session.conversation.messages[-1].content == "Your 1 second timer is done."
