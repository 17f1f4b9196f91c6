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

import storage.database
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


async def _backend_pid(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(text("SELECT pg_backend_pid()")))


async def _terminate(direct: Database, pid: int) -> None:
    async with direct.read() as session:
        assert await session.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    async with asyncio.timeout(10):  # gone from the server's list once it has exited
        while True:
            async with direct.read() as session:
                query = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
                if not await session.scalar(query, {"pid": pid}):
                    return
            await asyncio.sleep(0.02)


async def test_an_idle_pooled_connection_that_died_is_replaced_at_checkout(
    relayed: tuple[Database, Database, Relay], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Idle longer than PING_IDLE_SECONDS: pinged at checkout, and a dead one replaced
    before the session's first statement, which then succeeds."""
    through, direct, _ = relayed
    pid = await _backend_pid(through)
    await _terminate(direct, pid)
    monkeypatch.setattr(storage.database, "PING_IDLE_SECONDS", 0.0)
    assert await _backend_pid(through) != pid


async def test_a_connection_used_a_moment_ago_is_not_pinged(
    relayed: tuple[Database, Database, Relay], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within PING_IDLE_SECONDS no ping: a connection that died since fails its first
    statement once (StorageUnavailable: try again later) and the next session has a new
    connection. This is the price of no round trip at each checkout."""
    through, direct, _ = relayed
    monkeypatch.setattr(storage.database, "PING_IDLE_SECONDS", 3600.0)
    pid = await _backend_pid(through)
    await _terminate(direct, pid)
    with pytest.raises(StorageUnavailable):
        await _backend_pid(through)
    assert await _backend_pid(through) != pid
