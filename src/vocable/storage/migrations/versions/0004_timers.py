"""Timers and reminders: persisted, fired once as a spoken announcement in a live session.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the timers table."""
    op.create_table(
        "timers",
        sa.Column("id", ID, primary_key=True),
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "conversation_id",
            ID,
            sa.ForeignKey("conversations.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        _time("due_at"),
        _time("fired_at", nullable=True),
        _time("cancelled_at", nullable=True),
        _time("created_at"),
    )
    op.create_index("ix_timers_user_due", "timers", ["user_id", "due_at"])


def downgrade() -> None:
    """Drop the timers table."""
    op.drop_table("timers")
