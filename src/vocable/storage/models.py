"""Table models. Migrations in `vocable.storage.migrations` create exactly these tables.

Models carry no relationships: everything is loaded explicitly through repositories, so nothing
lazy-loads outside a unit of work.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAME_MAX = 200
"""Longest user, conversation, key, profile name (characters)."""

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Normalise to UTC before storing."""
        if value is not None and value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Attach UTC to naive values read from SQLite."""
        if value is None:
            return None
        stored: datetime = value
        return stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored.astimezone(UTC)


class MessageRole(StrEnum):
    """Who wrote a message."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class MessageStatus(StrEnum):
    """Life cycle of a message: ``streaming`` until it completes, is interrupted or fails."""

    STREAMING = "streaming"
    COMPLETE = "complete"
    INTERRUPTED = "interrupted"
    FAILED = "failed"


def _enum(enum: type[StrEnum], name: str) -> Enum:
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    """Declarative base with constraint names that migrations can refer to."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}


class Timestamped:
    """Creation time, set by the application (the same on every backend)."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Timestamped, Base):
    """A person (or service) that owns conversations, keys, voices and memories."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    """argon2 hash; None for an account that signs in with API keys only."""
    is_admin: Mapped[bool] = mapped_column(default=False)


class ApiKey(Timestamped, Base):
    """An API key; only its SHA-256 is stored."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    user_id: Mapped[int] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[str] = mapped_column(String(500), default="")
    """Space-separated scopes; empty means every scope of the user."""
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class RefreshToken(Timestamped, Base):
    """A refresh token (by its id, ``jti``); a used or revoked one never works again.

    Tokens rotated from one login share a ``family``: reusing a rotated token revokes the family.
    """

    __tablename__ = "refresh_tokens"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    user_id: Mapped[int] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    family: Mapped[str] = mapped_column(String(64), index=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Conversation(Timestamped, Base):
    """A conversation, with the checkpoint a session resumes from."""

    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_user_updated", "user_id", "updated_at"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    user_id: Mapped[int] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(NAME_MAX), default="")
    version: Mapped[int] = mapped_column(default=1)
    turn_count: Mapped[int] = mapped_column(default=0)
    summary: Mapped[str | None] = mapped_column(Text)
    summary_through_message_id: Mapped[int | None] = mapped_column(ID)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Timestamped, Base):
    """One message; an assistant reply streams into `text` while `heard_text` is what was spoken."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation", "conversation_id", "id"),
        Index("ix_messages_status", "status"),
    )
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ID, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[MessageRole] = mapped_column(_enum(MessageRole, "role"))
    text: Mapped[str] = mapped_column(Text, default="")
    heard_text: Mapped[str | None] = mapped_column(Text)
    status: Mapped[MessageStatus] = mapped_column(_enum(MessageStatus, "status"))
    token_count: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Turn(Timestamped, Base):
    """One voice turn and its per-stage timings (milliseconds from the end of the user's turn)."""

    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("conversation_id", "number"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ID, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    """1 for the first turn of the conversation."""
    user_message_id: Mapped[int | None] = mapped_column(
        ID, ForeignKey("messages.id", ondelete="SET NULL")
    )
    assistant_message_id: Mapped[int | None] = mapped_column(
        ID, ForeignKey("messages.id", ondelete="SET NULL")
    )
    interrupted: Mapped[bool] = mapped_column(default=False)
    stt_ms: Mapped[float | None] = mapped_column(Float)
    llm_first_token_ms: Mapped[float | None] = mapped_column(Float)
    first_sentence_ms: Mapped[float | None] = mapped_column(Float)
    tts_first_audio_ms: Mapped[float | None] = mapped_column(Float)
    total_ms: Mapped[float | None] = mapped_column(Float)


class VoiceProfile(Timestamped, Base):
    """A named voice of a user: a reference sample and, once computed, its embedding."""

    __tablename__ = "voice_profiles"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    user_id: Mapped[int] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    engine: Mapped[str] = mapped_column(String(64))
    sample_path: Mapped[str | None] = mapped_column(Text)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)


class Memory(Timestamped, Base):
    """Something worth remembering about a user, optionally tied to a conversation."""

    __tablename__ = "memories"
    __table_args__ = (Index("ix_memories_user_conversation", "user_id", "conversation_id"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    user_id: Mapped[int] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"))
    conversation_id: Mapped[int | None] = mapped_column(
        ID, ForeignKey("conversations.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(32), default="fact")
    text: Mapped[str] = mapped_column(Text)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    """Little-endian float32 vector of `text`, unit length, from `embed_model`."""
    embed_model: Mapped[str | None] = mapped_column(String(100))
    """Which embedder made `embedding`; vectors of other models are recomputed before search."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationSummary(Timestamped, Base):
    """One incremental summary of a conversation's older messages; the messages are kept.

    Each summary covers everything up to `through_message_id`, folding in the previous one.
    """

    __tablename__ = "conversation_summaries"
    __table_args__ = (Index("ix_conversation_summaries_conversation", "conversation_id", "id"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ID, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    through_message_id: Mapped[int] = mapped_column(ID)
    """The newest message this summary covers."""
    message_count: Mapped[int] = mapped_column(default=0)
    """Messages folded in by this step (not counting those of earlier summaries)."""


class Timer(Timestamped, Base):
    """A timer or reminder of a user: it fires once at `due_at` unless cancelled first."""

    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_user_due", "user_id", "due_at"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    user_id: Mapped[int] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"))
    conversation_id: Mapped[int | None] = mapped_column(
        ID, ForeignKey("conversations.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(16), default="timer")
    """``timer`` or ``reminder``."""
    label: Mapped[str] = mapped_column(Text, default="")
    """The timer's name, or what to remind the user of."""
    duration_s: Mapped[float] = mapped_column(Float)
    """The delay asked for, in seconds (said back when it fires)."""
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
