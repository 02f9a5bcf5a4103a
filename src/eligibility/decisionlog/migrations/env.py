"""Alembic's environment for the decision log: always run from `decisionlog.store`, with the
connection it opened (no alembic.ini, no URL of its own)."""

from __future__ import annotations

from alembic import context

from eligibility.decisionlog.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
