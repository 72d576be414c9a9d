"""The current date and time, in the user's timezone."""

from __future__ import annotations

from datetime import datetime

from vocable.tools.context import ToolContext


def say_time(moment: datetime) -> str:
    """A time of day as it is said: "3:05 PM"."""
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"


def say_date(moment: datetime) -> str:
    """A date as it is said: "Tuesday, 24 November 2026"."""
    return f"{moment:%A}, {moment.day} {moment:%B %Y}"


def get_time(ctx: ToolContext) -> str:
    """Get the current date and time in the user's timezone."""
    now = ctx.now()
    zone = now.tzname() or ""
    return f"It's {say_time(now)} {zone} on {say_date(now)}.".replace("  ", " ")
