"""Initial schema: users, API keys, conversations, messages, turns, voice profiles, memories.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NAME = sa.String(length=200)


def _id() -> sa.Column[int]:
    return sa.Column("id", ID, primary_key=True)


def _ref(name: str, target: str, *, ondelete: str, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, ID, sa.ForeignKey(target, ondelete=ondelete), nullable=nullable)


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "users", _id(), sa.Column("name", NAME, nullable=False, unique=True), _time("created_at")
    )
    op.create_table(
        "api_keys",
        _id(),
        _ref("user_id", "users.id", ondelete="CASCADE"),
        sa.Column("name", NAME, nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        _time("revoked_at", nullable=True),
        _time("last_used_at", nullable=True),
        _time("created_at"),
    )
    op.create_index(op.f("ix_api_keys_user_id"), "api_keys", ["user_id"])
    op.create_table(
        "conversations",
        _id(),
        _ref("user_id", "users.id", ondelete="CASCADE"),
        sa.Column("title", NAME, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("turn_count", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("summary_through_message_id", ID, nullable=True),
        _time("updated_at"),
        _time("created_at"),
    )
    op.create_index("ix_conversations_user_updated", "conversations", ["user_id", "updated_at"])
    op.create_table(
        "messages",
        _id(),
        _ref("conversation_id", "conversations.id", ondelete="CASCADE"),
        _ref("user_id", "users.id", ondelete="CASCADE"),
        sa.Column("role", _enum("role", "system", "user", "assistant", "tool"), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("heard_text", sa.Text(), nullable=True),
        sa.Column(
            "status",
            _enum("status", "streaming", "complete", "interrupted", "failed"),
            nullable=False,
        ),
        sa.Column("token_count", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _time("updated_at"),
        _time("created_at"),
    )
    op.create_index("ix_messages_conversation", "messages", ["conversation_id", "id"])
    op.create_index("ix_messages_status", "messages", ["status"])
    op.create_index(op.f("ix_messages_user_id"), "messages", ["user_id"])
    op.create_table(
        "turns",
        _id(),
        _ref("conversation_id", "conversations.id", ondelete="CASCADE"),
        _ref("user_id", "users.id", ondelete="CASCADE"),
        sa.Column("number", sa.Integer(), nullable=False),
        _ref("user_message_id", "messages.id", ondelete="SET NULL", nullable=True),
        _ref("assistant_message_id", "messages.id", ondelete="SET NULL", nullable=True),
        sa.Column("interrupted", sa.Boolean(), nullable=False),
        *(
            sa.Column(f"{stage}_ms", sa.Float(), nullable=True)
            for stage in ("stt", "llm_first_token", "first_sentence", "tts_first_audio", "total")
        ),
        _time("created_at"),
        sa.UniqueConstraint("conversation_id", "number"),
    )
    op.create_index(op.f("ix_turns_user_id"), "turns", ["user_id"])
    op.create_table(
        "voice_profiles",
        _id(),
        _ref("user_id", "users.id", ondelete="CASCADE"),
        sa.Column("name", NAME, nullable=False),
        sa.Column("engine", sa.String(length=64), nullable=False),
        sa.Column("sample_path", sa.Text(), nullable=True),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        _time("created_at"),
        sa.UniqueConstraint("user_id", "name"),
    )
    op.create_table(
        "memories",
        _id(),
        _ref("user_id", "users.id", ondelete="CASCADE"),
        _ref("conversation_id", "conversations.id", ondelete="SET NULL", nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        _time("updated_at"),
        _time("created_at"),
    )
    op.create_index("ix_memories_user_conversation", "memories", ["user_id", "conversation_id"])


def downgrade() -> None:
    """Drop every table, newest first."""
    for table in ("memories", "voice_profiles", "turns", "messages", "conversations"):
        op.drop_table(table)
    op.drop_table("api_keys")
    op.drop_table("users")
