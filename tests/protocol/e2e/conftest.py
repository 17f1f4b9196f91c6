"""Fixtures: a running operator (tests/protocol/e2e/node.py) on SQLite, one on each
database backend, and a throw-away GnuPG home (the OpenPGP interop tests' own)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mailserver.tls import TlsMaterial
from tests.protocol.e2e.node import Node, node
from tests.protocol.openpgp.conftest import gpg

__all__ = ["gpg"]


@pytest.fixture
async def salus(tmp_path: Path, server_tls: TlsMaterial) -> AsyncIterator[Node]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'op' / 'salus.db'}"
    async with node(tmp_path / "op", url, server_tls, tmp_path / "ca.crt") as running:
        yield running


@pytest.fixture
async def salus_any_db(
    tmp_path: Path, server_tls: TlsMaterial, database_url: str
) -> AsyncIterator[Node]:
    if database_url.startswith("sqlite"):
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'op' / 'salus.db'}"
    async with node(tmp_path / "op", database_url, server_tls, tmp_path / "ca.crt") as running:
        yield running
