"""Fixtures: a running IMAP service with two users (alice, bob) on SQLite, and the same
on PostgreSQL for the tests that ask for `running_any` (cross-session behaviour)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mailserver.imap.service import ImapService
from mailserver.tls import TlsMaterial
from storage import migrate
from storage.database import Database
from tests.protocol.imap.running import Running, make_runtime


async def _running(db: Database, tmp_path: Path, material: TlsMaterial) -> AsyncIterator[Running]:
    # The test CA plays the service CA: client certificates it issues may log in by
    # AUTHENTICATE EXTERNAL once bound to a mailbox.
    (tmp_path / "ca").mkdir(exist_ok=True)
    (tmp_path / "ca" / "root.crt").write_bytes((tmp_path / "ca.crt").read_bytes())
    runtime = make_runtime(db, tmp_path, material, idle_timeout=60.0)
    service = ImapService(runtime, write_timeout=5.0)
    await service.start()
    running = Running(runtime, service, tmp_path / "ca.crt")
    await running.add_user("alice", national_id="810000000001")
    await running.add_user("bob", national_id="810000000002")
    try:
        yield running
    finally:
        await service.stop()
        await runtime.mailbox_events.close()


@pytest.fixture
async def running(tmp_path: Path, server_tls: TlsMaterial) -> AsyncIterator[Running]:
    """On SQLite (the embedded default)."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'imap.db'}")
    await migrate.upgrade(db)
    try:
        async for value in _running(db, tmp_path, server_tls):
            yield value
    finally:
        await db.dispose()


@pytest.fixture
async def running_any(db: Database, tmp_path: Path, server_tls: TlsMaterial) -> AsyncIterator[Running]:
    """On SQLite and on PostgreSQL."""
    async for value in _running(db, tmp_path, server_tls):
        yield value
