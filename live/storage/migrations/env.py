"""Alembic environment: always handed a live connection by `live.storage.migrate`."""

from __future__ import annotations

from alembic import context

from live.storage.all_models import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the alembic CLI is not how `live` runs migrations
    raise SystemExit("run migrations with `live db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
