"""The migrations build the whole schema from empty, tear it down again, and match the
models exactly (no pending autogenerate difference), on SQLite and PostgreSQL; 0005
records where an existing audit chain starts; 0006 keeps the queue's trace."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, inspect, select, update
from sqlalchemy.exc import IntegrityError

from mailserver.queue.models import Delivery, QueuedContent, QueuedMessage, QueueEvent
from storage import audit, migrate
from storage.audit import AuditEntry
from storage.base import Base
from storage.database import Database
from storage.errors import AuditChainBroken


async def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    db = Database(database_url)
    try:
        await migrate.upgrade(db)
        assert await migrate.current_revision(db) == migrate.head_revision()
        async with db.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {"mailboxes", "practitioners", "audit_log"} <= tables
        await migrate.downgrade(db, "base")
        async with db.engine.connect() as conn:
            left = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert left <= {"alembic_version"}
        await migrate.upgrade(db)
    finally:
        await db.dispose()


async def test_audit_chain_start_of_an_existing_chain(database_url: str) -> None:
    """A chain whose first entries retention already removed starts, after 0005, at its
    first kept entry: it verifies, and removing that entry is detected."""
    db = Database(database_url)
    try:
        await migrate.upgrade(db, "0004")
        await audit.record(
            db, *(audit.AuditEvent("admin", "x.test", f"o{n}@salus.test", "ok") for n in range(5))
        )
        async with db.write() as session:
            await session.execute(delete(AuditEntry).where(AuditEntry.seq <= 2))
        await migrate.upgrade(db, "0005")
        assert await audit.verify(db) == 3
        async with db.write() as session:
            await session.execute(delete(AuditEntry).where(AuditEntry.seq == 3))
        with pytest.raises(AuditChainBroken) as info:
            await audit.verify(db)
        assert info.value.seq == 4
    finally:
        await db.dispose()


async def _trace(db: Database) -> list[tuple[str, int | None, str]]:
    async with db.read() as session:
        rows = await session.execute(
            select(QueueEvent.queue_id, QueueEvent.delivery_id, QueueEvent.event).order_by(
                QueueEvent.id
            )
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def _set_status(db: Database, status: str) -> None:
    async with db.write() as session:
        await session.execute(update(Delivery).values(status=status))


async def test_held_status_keeps_the_queue_and_its_trace(database_url: str) -> None:
    """0006 changes the deliveries' status CHECK (SQLite rebuilds the table, whose drop
    cascades to the trace events): the rows and their events survive the upgrade and
    the downgrade, and the downgrade refuses while a message is held."""
    db = Database(database_url)
    try:
        await migrate.upgrade(db, "0005")
        async with db.write() as session:
            session.add(QueuedMessage(id="Q1", message_id="m1@salus.test", sender="a@salus.test",
                                      origin="submission", size=10))  # fmt: skip
            await session.flush()
            session.add(QueuedContent(id="Q1.0", queue_id="Q1", sealed=b"sealed"))
            await session.flush()
            row = Delivery(queue_id="Q1", content_id="Q1.0", recipient="b@salus.test")
            session.add(row)
            await session.flush()
            session.add_all([QueueEvent(queue_id="Q1", event="accepted"),
                             QueueEvent(queue_id="Q1", delivery_id=row.id, event="queued")])  # fmt: skip
        trace = [("Q1", None, "accepted"), ("Q1", row.id, "queued")]
        await migrate.upgrade(db, "0006")
        assert await _trace(db) == trace
        await _set_status(db, "held")  # refused by 0005's CHECK, allowed by 0006's
        with pytest.raises(RuntimeError, match="1 held deliveries"):
            await migrate.downgrade(db, "0005")
        await _set_status(db, "queued")
        await migrate.downgrade(db, "0005")
        assert await _trace(db) == trace
        with pytest.raises(IntegrityError):
            await _set_status(db, "held")
    finally:
        await db.dispose()


async def test_models_match_migrations(db: Database) -> None:

    def diff(conn: object) -> list[object]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})  # type: ignore[arg-type]
        return compare_metadata(ctx, Base.metadata)

    _import_model_modules()
    async with db.engine.connect() as conn:
        pending = await conn.run_sync(diff)
    assert pending == []


def _import_model_modules() -> None:
    import ast  # noqa: PLC0415
    import importlib  # noqa: PLC0415

    source = (migrate.MIGRATIONS / "env.py").read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "MODEL_MODULES":
            for name in ast.literal_eval(node.value):
                importlib.import_module(name)
