"""Alembic environment: runs on the connection `vocable.storage.migrate` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from vocable.storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("run vocable's migrations with `vocable db upgrade`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # Workers starting together migrate one at a time.
        connection.execute(text("SELECT pg_advisory_xact_lock(7461636)"))
    context.run_migrations()
