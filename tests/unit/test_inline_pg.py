"""storage.inline's PostgreSQL look-up pool: asyncpg gets only the connection's own
parameters (SQLAlchemy's dialect options in the URL would reach the server as settings
and fail every look-up), and a closed handle never opens a pool again."""

from __future__ import annotations

import pytest

from storage.errors import StorageUnavailable
from storage.inline import PgLookups


def test_only_connection_parameters_reach_asyncpg() -> None:
    url = (
        "postgresql+asyncpg://salus:s%40cret@db.salus.test:5433/salus"
        "?prepared_statement_cache_size=0&ssl=require&application_name=salus"
    )
    lookups = PgLookups.of(url, 4)
    assert lookups is not None
    dsn = lookups._dsn
    assert dsn.startswith("postgresql://salus:s%40cret@db.salus.test:5433/salus?")
    assert "prepared_statement_cache_size" not in dsn
    assert "ssl=require" in dsn and "application_name=salus" in dsn
    assert PgLookups.of("sqlite+aiosqlite:///salus.db", 4) is None


async def test_a_closed_handle_opens_no_pool() -> None:
    lookups = PgLookups("postgresql://nobody@127.0.0.1:1/none", 1)
    await lookups.close()
    with pytest.raises(StorageUnavailable, match="closed"):
        await lookups._ready_pool()
