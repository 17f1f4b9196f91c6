"""Fixtures: a running submission server on SQLite (the `mailserver` fixture) and one on
each database backend (`mailserver_any_db`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mailserver.tls import TlsMaterial
from tests.protocol.smtp.harness import Mailserver, running


@pytest.fixture
async def mailserver(tmp_path: Path, server_tls: TlsMaterial) -> AsyncIterator[Mailserver]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'salus.db'}"
    async with running(tmp_path, url, server_tls, tmp_path / "ca.crt") as server:
        yield server


@pytest.fixture
async def mailserver_any_db(
    tmp_path: Path, server_tls: TlsMaterial, database_url: str
) -> AsyncIterator[Mailserver]:
    async with running(tmp_path, database_url, server_tls, tmp_path / "ca.crt") as server:
        yield server
