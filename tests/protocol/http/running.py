"""A running HTTP listener on 127.0.0.1 for tests, and a raw socket client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from config.settings import HostPort, HttpSettings, ServiceSettings, Settings
from mailserver.http.server import HttpLimits, HttpService
from storage import migrate
from storage.database import Database

SERVICE = ServiceSettings(
    domain="salus.test", hostname="mail.salus.test", extra_domains=("clinique.test",)
)


def http_settings(
    data_dir: Path,
    *,
    public_imap_port: int | None = None,
    public_submission_port: int | None = None,
) -> Settings:
    http = HttpSettings(
        listen=HostPort("127.0.0.1", 0),
        public_imap_port=public_imap_port,
        public_submission_port=public_submission_port,
    )
    return Settings(data_dir=data_dir, service=SERVICE, http=http)


@asynccontextmanager
async def running_http(
    data_dir: Path,
    limits: HttpLimits | None = None,
    *,
    db: Database | None = None,
    settings: Settings | None = None,
) -> AsyncIterator[HttpService]:
    own = db is None
    database = db or Database(f"sqlite+aiosqlite:///{data_dir / 'salus.db'}")
    if own:
        await migrate.upgrade(database)
    service = HttpService(settings or http_settings(data_dir), database, limits)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()
        if own:
            await database.dispose()


async def raw_exchange(port: int, data: bytes, *, timeout: float = 30.0) -> bytes:
    """Send `data`, then read the whole answer until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(timeout):
            return await reader.read()
    finally:
        writer.close()


async def until_open(server: HttpService, count: int) -> None:
    """Wait until the server holds exactly `count` admitted connections."""
    while server.open_connections != count:
        await asyncio.sleep(0.01)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])
