"""A PostgreSQL connection lost in the middle of a statement is StorageUnavailable (try
again later) in a read as in a write, and the sessions after it reconnect. The network
path is a relay the test cuts (tests/integration/ops/tcp_relay.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database
from storage.errors import StorageUnavailable
from tests.conftest import _drop_postgres, _fresh_postgres, postgres_url
from tests.integration.ops.tcp_relay import Relay

pytestmark = pytest.mark.postgres
Opener = Callable[[], AbstractAsyncContextManager[AsyncSession]]


@pytest.fixture
async def relayed() -> AsyncIterator[tuple[Database, Database, Relay]]:
    """(the database through a relay, the same database directly, the relay)."""
    base = postgres_url()
    url = await _fresh_postgres(base)
    direct_url = make_url(url)
    relay = Relay((direct_url.host or "127.0.0.1", direct_url.port or 5432))
    await relay.start()
    through = Database(
        direct_url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    )
    direct = Database(url)
    try:
        yield through, direct, relay
    finally:
        await through.dispose()
        await direct.dispose()
        await relay.close()
        await _drop_postgres(base, url)


async def _sleeping(direct: Database) -> bool:
    query = text("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'")
    async with direct.read() as session:
        return bool(await session.scalar(query))


@pytest.mark.parametrize("kind", ["read", "write"])
async def test_a_connection_lost_mid_statement_is_storage_unavailable(
    relayed: tuple[Database, Database, Relay], kind: str
) -> None:
    through, direct, relay = relayed
    opener: Opener = through.read if kind == "read" else through.write

    async def sleep_there() -> None:
        async with opener() as session:
            await session.execute(text("SELECT pg_sleep(30)"))

    running = asyncio.ensure_future(sleep_there())
    async with asyncio.timeout(30):
        while not await _sleeping(direct):
            await asyncio.sleep(0.02)
    relay.cut()
    with pytest.raises(StorageUnavailable):
        await asyncio.wait_for(running, 30)
    await relay.restore()
    async with opener() as session:
        assert await session.scalar(text("SELECT 1")) == 1
