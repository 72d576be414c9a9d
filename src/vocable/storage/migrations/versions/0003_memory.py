"""Memory: the embedding model of each memory, stored conversation summaries, pgvector.

On PostgreSQL where the ``vector`` extension is already installed (``CREATE EXTENSION vector``
by an administrator), memories also get an ``embedding_vec vector`` column that semantic search
uses; elsewhere search runs on the ``embedding`` bytes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _pgvector_installed() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    found = bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'vector'"))
    return found.scalar() is not None


def upgrade() -> None:
    """Add the column, the summaries table and, with pgvector, the vector column."""
    op.add_column("memories", sa.Column("embed_model", sa.String(length=100), nullable=True))
    op.create_table(
        "conversation_summaries",
        sa.Column("id", ID, primary_key=True),
        sa.Column(
            "conversation_id",
            ID,
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("through_message_id", ID, nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_conversation_summaries_conversation",
        "conversation_summaries",
        ["conversation_id", "id"],
    )
    op.create_index(
        op.f("ix_conversation_summaries_user_id"), "conversation_summaries", ["user_id"]
    )
    if _pgvector_installed():
        op.execute("ALTER TABLE memories ADD COLUMN embedding_vec vector")


def downgrade() -> None:
    """Drop them again."""
    if _pgvector_installed():
        op.execute("ALTER TABLE memories DROP COLUMN IF EXISTS embedding_vec")
    op.drop_table("conversation_summaries")
    with op.batch_alter_table("memories") as batch:
        batch.drop_column("embed_model")
