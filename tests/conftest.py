"""Shared fixtures: databases (SQLite always, PostgreSQL when SALUS_TEST_DATABASE_URL is
set), the public samples in ../shared/fixtures, and a free-port finder."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from storage import migrate
from storage.database import Database

REPO = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"
PG_ENV = "SALUS_TEST_DATABASE_URL"


@pytest.fixture
def shared_fixtures() -> Path:
    """The public samples beside the project; the test skips when they are absent."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"public samples not found at {SHARED_FIXTURES} (../shared is absent)")
    return SHARED_FIXTURES


def postgres_url() -> str:
    url = os.environ.get(PG_ENV, "")
    if not url:
        pytest.skip(f"PostgreSQL test skipped: {PG_ENV} is not set")
    return url


async def _fresh_postgres(base_url: str) -> str:
    """A private schema-less database per test would be slow; use a fresh database."""
    import asyncpg  # noqa: PLC0415

    name = "salus_t_" + uuid.uuid4().hex[:12]
    plain = base_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(plain)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    head, _, _ = base_url.rpartition("/")
    return f"{head}/{name}"


async def _drop_postgres(base_url: str, url: str) -> None:
    import asyncpg  # noqa: PLC0415

    name = url.rpartition("/")[2]
    plain = base_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(plain)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'salus.db'}"
        return
    base = postgres_url()
    url = await _fresh_postgres(base)
    try:
        yield url
    finally:
        await _drop_postgres(base, url)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A migrated database on each backend."""
    database = Database(database_url)
    await migrate.upgrade(database)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def free_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    yield port


@pytest.fixture(scope="session")
def test_ca() -> object:
    from tests.certs import make_ca  # noqa: PLC0415

    return make_ca()


@pytest.fixture
def server_tls(tmp_path: Path, test_ca: object) -> object:
    """A server certificate for 127.0.0.1 / localhost from the throwaway CA, as TlsMaterial."""
    from mailserver.tls import TlsMaterial  # noqa: PLC0415
    from tests.certs import Issued, issue_leaf  # noqa: PLC0415

    assert isinstance(test_ca, Issued)
    leaf = issue_leaf(test_ca, "mail.salus.test", dns=("mail.salus.test", "localhost"))
    cert, key = leaf.write(tmp_path, "server")
    (tmp_path / "ca.crt").write_bytes(test_ca.cert_pem)
    return TlsMaterial(cert, key)


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """Long generated values (zips, documents) get their argument's name as id, so that
    pytest-xdist workers collect the same test ids whatever bytes the builders make."""
    if isinstance(val, bytes | str) and len(val) > 40:
        return argname
    return None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the crypto process pool the test servers shared (tests/keys.py)."""
    from tests.keys import stop_shared_pool  # noqa: PLC0415

    stop_shared_pool()
