"""Schema migrations, run from code on an async engine (`salus db upgrade`, `salus init`,
`salus serve` at start, and the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from storage.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to `revision`."""
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: command.upgrade(alembic_config(c), revision))


async def downgrade(db: Database, revision: str = "base") -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), revision))


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def autogenerate(db: Database, message: str, rev_id: str) -> None:
    """Developer tool: write a new revision from the model/schema difference.

    Run on an empty scratch database, e.g.::

        .venv/bin/python -c "import asyncio; from storage.database import Database; \\
        from storage.migrate import autogenerate; \\
        asyncio.run(autogenerate(Database('sqlite+aiosqlite:////tmp/scratch.db'), \\
        'mailbox store', '0002'))"

    It first upgrades the scratch database to head, then compares it with the models.
    To regenerate your own revision, delete its file and run it again on a fresh scratch
    database.
    """
    await upgrade(db)
    async with db.engine.begin() as conn:
        await conn.run_sync(
            lambda c: command.revision(
                alembic_config(c), message=message, autogenerate=True, rev_id=rev_id
            )
        )
    await db.dispose()
