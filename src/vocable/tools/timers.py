"""Timers and reminders: stored in the database, fired once, announced in a live session.

`TimerService` belongs to one user. The tools (`set_timer`, `set_reminder`, `list_timers`,
`cancel_timer`) add and cancel rows; `TimerService.watch` sleeps until the next one is due,
claims it (so two sessions never both announce it) and hands it to an ``announce`` callback.
Timers that came due while no session was open are announced when the next one starts.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from vocable.errors import VocableError
from vocable.storage.db import Database
from vocable.storage.models import Timer
from vocable.storage.repo import timers as repo
from vocable.tools.clock import say_time
from vocable.tools.context import ToolContext
from vocable.tools.registry import ToolError
from vocable.tools.spoken import parse_clock_time, parse_duration, say_duration, second_person

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FiredTimer:
    """A timer that came due, as it is announced."""

    id: int
    kind: str
    label: str
    duration_s: float
    due_at: datetime
    late_s: float

    def announcement(self, zone: tzinfo = UTC) -> str:
        """What to say: "Your 5 minute timer is done." or "Reminder: call mum."."""
        if self.kind == "reminder":
            text = (
                f"Reminder: {second_person(self.label)}."
                if self.label
                else "This is your reminder."
            )
        elif self.label:
            text = f"Your {self.label} timer is done."
        else:
            text = f"Your {timer_name(self.duration_s)} timer is done."
        if self.late_s > 60:
            text += f" It was due at {say_time(self.due_at.astimezone(zone))}."
        return text


def timer_name(duration_s: float) -> str:
    """A timer's length as a name: 300 → "5 minute" (as in "your 5 minute timer")."""
    return re.sub(r"s\b", "", say_duration(duration_s))


Announce = Callable[[FiredTimer], Awaitable[None]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TimerService:
    """The timers of one user, in the database.

    Args:
        db: Where timers are kept.
        user_id: Whose timers.
        conversation_id: Conversation new timers are tied to (optional).
        clock: Wall-clock time (UTC, aware); tests pass a fake one and call `wake`.
        max_delay_s: Longest delay accepted.
        poll_s: `watch` looks again at least this often (timers added by other processes).
    """

    def __init__(
        self,
        db: Database,
        *,
        user_id: int,
        conversation_id: int | None = None,
        clock: Callable[[], datetime] = _utcnow,
        max_delay_s: float = 7 * 24 * 3600,
        poll_s: float = 30.0,
    ) -> None:
        self.db = db
        self.user_id = user_id
        self.conversation_id = conversation_id
        self.clock = clock
        self.max_delay_s = max_delay_s
        self.poll_s = poll_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Make `watch` look at the timers again now (after a change, or a fake clock moved)."""
        self._wake.set()

    async def add(self, *, delay_s: float, kind: str = "timer", label: str = "") -> Timer:
        """Store a timer due `delay_s` from now.

        Raises:
            ToolError: a delay that is not positive or longer than `max_delay_s`.
        """
        if not 0 < delay_s <= self.max_delay_s:
            raise ToolError(
                f"A {kind} must be between 1 second and {say_duration(self.max_delay_s)}.",
                code="tool.timer_range",
            )
        async with self.db.uow() as tx:
            timer = await repo.add_timer(
                tx,
                user_id=self.user_id,
                conversation_id=self.conversation_id,
                due_at=self.clock() + timedelta(seconds=delay_s),
                duration_s=delay_s,
                kind=kind,
                label=label,
            )
        self.wake()
        return timer

    async def pending(self) -> list[Timer]:
        """Timers still to fire, soonest first."""
        async with self.db.uow(readonly=True) as tx:
            return await repo.list_pending_timers(tx, user_id=self.user_id)

    async def cancel(self, timer_id: int) -> bool:
        """Cancel one timer; False if it had already fired or been cancelled."""
        async with self.db.uow() as tx:
            done = await repo.cancel_timer(tx, user_id=self.user_id, timer_id=timer_id)
        self.wake()
        return done

    async def fire_due(self) -> list[FiredTimer]:
        """Claim every timer due now; each is returned by exactly one caller."""
        now = self.clock()
        async with self.db.uow() as tx:
            claimed = await repo.claim_due_timers(tx, user_id=self.user_id, now=now)
            return [
                FiredTimer(
                    t.id,
                    t.kind,
                    t.label,
                    t.duration_s,
                    t.due_at,
                    late_s=(now - t.due_at).total_seconds(),
                )
                for t in claimed
            ]

    async def watch(self, announce: Announce) -> None:
        """Announce each timer as it comes due, until cancelled.

        Database errors are logged and retried after `poll_s`; they never end the session.
        """
        while True:
            self._wake.clear()
            delay = self.poll_s
            try:
                for fired in await self.fire_due():
                    await announce(fired)
                upcoming = await self.pending()
                if upcoming:
                    left = (upcoming[0].due_at - self.clock()).total_seconds()
                    delay = min(self.poll_s, max(0.0, left))
            except VocableError as err:
                log.warning("timers: %s", err)
            try:
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            except TimeoutError:
                pass


def _service(ctx: ToolContext) -> TimerService:
    if ctx.timers is None:
        raise ToolError("Timers need a database, and none is open here.", code="tool.no_timers")
    return ctx.timers


async def set_timer(ctx: ToolContext, duration: str, label: str = "") -> str:
    """Start a timer that is announced when it runs out.

    Args:
        ctx: Given by vocable.
        duration: How long, e.g. "5 minutes", "90 seconds", "1 hour 30 minutes".
        label: Optional name, e.g. "pasta".
    """
    seconds = parse_duration(duration)
    if seconds is None:
        try:
            seconds = float(duration)
        except ValueError:
            raise ToolError(f"I did not understand {duration!r} as a duration.") from None
    timer = await _service(ctx).add(delay_s=seconds, label=label.strip())
    name = f"{label.strip()} timer" if label.strip() else "timer"
    return f"OK, {name} set for {say_duration(timer.duration_s)}."


async def set_reminder(ctx: ToolContext, text: str, when: str) -> str:
    """Remind the user of something later.

    Args:
        ctx: Given by vocable.
        text: What to remind them of, e.g. "call mum".
        when: "in 10 minutes", or a time of day such as "at 5 pm".
    """
    now = ctx.now()
    at = parse_clock_time(when, now) if "at " in f" {when.lower()}" else None
    seconds = (at - now).total_seconds() if at is not None else parse_duration(when)
    if seconds is None:
        raise ToolError(f"I did not understand when {when!r} is.", code="tool.bad_time")
    if not text.strip():
        raise ToolError("What should I remind you of?", code="tool.bad_arguments")
    timer = await _service(ctx).add(delay_s=seconds, kind="reminder", label=text.strip())
    due = timer.due_at.astimezone(ctx.timezone)
    return f"OK, I'll remind you to {second_person(timer.label)} at {say_time(due)}."


async def list_timers(ctx: ToolContext) -> str:
    """List the timers and reminders still running."""
    pending = await _service(ctx).pending()
    if not pending:
        return "You have no timers or reminders running."
    now = ctx.clock()
    parts = []
    for timer in pending:
        left = say_duration(max(0.0, (timer.due_at - now).total_seconds()))
        if timer.kind == "reminder":
            parts.append(f"a reminder to {second_person(timer.label)} in {left}")
        else:
            parts.append(f"a {timer.label + ' ' if timer.label else ''}timer with {left} left")
    return f"You have {len(parts)}: " + "; ".join(parts) + "."


async def cancel_timer(ctx: ToolContext, which: str = "") -> str:
    """Cancel a timer or reminder: the one whose label matches, else the next one due.

    Args:
        ctx: Given by vocable.
        which: Label or words of the one to cancel; empty cancels the next one due.
    """
    service = _service(ctx)
    pending = await service.pending()
    if not pending:
        return "There is no timer to cancel."
    words = which.lower().replace("timer", "").replace("reminder", "").strip()
    matches = [t for t in pending if words and words in t.label.lower()] or pending
    timer = matches[0]
    await service.cancel(timer.id)
    if timer.kind == "reminder":
        return f"Cancelled the reminder to {second_person(timer.label)}."
    return f"Cancelled your {timer.label or timer_name(timer.duration_s)} timer."
