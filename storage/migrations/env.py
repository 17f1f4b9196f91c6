"""Alembic environment. Runs on a connection handed in by `storage.migrate` (never its own
event loop: PITFALLS "Alembic with async engines"). Imports every model module so that
autogenerate sees the whole schema; this is the one place allowed to import upward."""

from __future__ import annotations

import importlib

from alembic import context

from storage.base import Base

# Each package that owns tables lists its model module here.
MODEL_MODULES = (
    "storage.audit",
    "directory.models",
    "crypto.models",
    "mailserver.store.models",
    "mailserver.queue.models",
)

for module in MODEL_MODULES:
    importlib.import_module(module)

target_metadata = Base.metadata
connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
