"""Async engines and sessions for SQLite (embedded default) and PostgreSQL (production).

SQLite is a single-writer database: writes go through one connection with `BEGIN
IMMEDIATE`, serialised in-process by a lock and across processes by `busy_timeout`, so a
writer never meets "database is locked" halfway through a transaction (PITFALLS "SQLite as
a queue"). WAL lets readers run beside it; `synchronous=FULL` makes a commit durable before
it returns, which is what a 250 promises. The write connection runs its statements on the
event loop and only COMMIT (and a BEGIN that must wait) in its own thread
(`storage.sqlite_writer`): a write transaction holds the writer for one thread hop, not
one per statement. Writers take turns first come, first served, except that a background
writer (delivery) lets the others queued with it go first, once.
PostgreSQL uses one pooled engine for both. A pooled PostgreSQL connection is pinged at
checkout only when it has been idle for a while (`_ping_when_idle`): SQLAlchemy's
`pool_pre_ping` pings at every checkout, with a BEGIN and a ROLLBACK around it (three
round trips, a fifth of those of a submission and its delivery);
a connection used a moment ago that broke since fails its statement once, and is
replaced, like a connection that breaks mid-transaction.

Driver failures that mean "try again later" (database down, disk full, lock timeout) are
mapped to `StorageUnavailable` at this boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, InterfaceError, InvalidatePoolError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_

from storage.errors import StorageUnavailable
from storage.inline import InlineReads, PgLookups
from storage.sqlite_reader import LookupConnection
from storage.sqlite_writer import WriterConnection, sqlite_path

SQLITE_BUSY_TIMEOUT_MS = 30_000
_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON")
_UNAVAILABLE = (OperationalError, InterfaceError, OSError, TimeoutError)
PING_IDLE_SECONDS = 2.0  # a PostgreSQL connection idle longer is pinged at checkout
PING_TIMEOUT_SECONDS = 5.0  # a half-open connection (failover, a dropped NAT entry)
_IDLE_SINCE = "salus_idle_since"


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Ping a pooled asyncpg connection at checkout when it has been idle longer than
    PING_IDLE_SECONDS, with one empty statement outside any transaction; a connection
    that does not answer is replaced with the rest of the pool (the pool retries the
    checkout on a new connection)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _connected(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is not None and time.monotonic() - since < PING_IDLE_SECONDS:
            return
        try:
            await_(record.driver_connection.fetchrow(";", timeout=PING_TIMEOUT_SECONDS))
        except Exception as exc:  # closed, reset, timed out: the server restarted or is away
            # Every pooled connection is then likely as dead: all are replaced, not only
            # this one (each would otherwise fail a statement in turn).
            raise InvalidatePoolError(f"the pooled connection did not answer: {exc!r}") from exc


def _sqlite_engine(
    url: str, *, begin: str, pool_size: int, inline: type[WriterConnection] | None = None
) -> AsyncEngine:
    if inline is not None:
        path, uri = sqlite_path(url)
        opener = inline.open
        engine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=0,
            async_creator=lambda: opener(
                path, pragmas=_PRAGMAS, uri=uri, busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS
            ),
        )
    else:
        engine = create_async_engine(url, pool_size=pool_size, max_overflow=0)

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take transaction control away from the driver: we emit BEGIN ourselves.
            dbapi_connection.isolation_level = None
            cur = dbapi_connection.cursor()
            for pragma in (*_PRAGMAS, f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}"):
                cur.execute(pragma)
            cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


class _WriterTurn:
    """Whose turn it is to write on SQLite: first come, first served, except that a
    background writer whose turn comes while other writers are queued lets them go first,
    once, and then queues behind them. Nothing starves, a submission's commit (a client
    waiting for its 250) never waits behind more than the delivery transaction already
    running, and the other writers keep their order (buffered audit entries before the
    commit that follows them)."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._waiting = 0  # writers other than background ones waiting for their turn

    @asynccontextmanager
    async def take(self, *, background: bool) -> AsyncIterator[None]:
        if not background:
            self._waiting += 1
            try:
                await self._lock.acquire()
            finally:
                self._waiting -= 1
        else:
            await self._lock.acquire()
            if self._waiting:
                self._lock.release()  # wakes the first waiter; this writer queues last
                await self._lock.acquire()
        try:
            yield
        finally:
            self._lock.release()


class Database:
    """The handle every part of Salus gets: `read()` and `write()` sessions."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = _sqlite_engine(
                url, begin="BEGIN IMMEDIATE", pool_size=1, inline=WriterConnection
            )
            self._read_engine = _sqlite_engine(url, begin="BEGIN", pool_size=pool_size)
            self._lookup_engine = _sqlite_engine(
                url, begin="BEGIN", pool_size=pool_size, inline=LookupConnection
            )
        else:
            self.engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size)
            _ping_when_idle(self.engine)
            self._read_engine = self._lookup_engine = self.engine
        self._write_sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(self._read_engine, expire_on_commit=False)
        self._lookup_sessions = async_sessionmaker(self._lookup_engine, expire_on_commit=False)
        self._writer = _WriterTurn() if self.is_sqlite else None
        # storage.inline.fetch: sqlite3 on the loop, or a small asyncpg pool
        self.inline_reads: InlineReads | PgLookups | None = InlineReads.of(url) or PgLookups.of(
            url, min(pool_size, 4)
        )

    @property
    def is_postgres(self) -> bool:
        return not self.is_sqlite

    @asynccontextmanager
    async def write(self, *, background: bool = False) -> AsyncIterator[AsyncSession]:
        """A session in one write transaction, committed when the block exits cleanly.
        `background`: no client waits for it (delivery); on SQLite the writers queued
        with it go first."""
        take = self._writer.take(background=background) if self._writer else None
        turn = take or contextlib.nullcontext()
        async with turn, self._transaction(self._write_sessions) as session:
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; anything it writes is rolled back."""
        async with self._reading(self._read_sessions) as session:
            yield session

    @asynccontextmanager
    async def lookup(self) -> AsyncIterator[AsyncSession]:
        """A session for indexed reads of a few rows. On SQLite its statements run on
        the event loop (`storage.sqlite_reader`), so it is only for look-ups, never for
        a scan, and it cannot write; on PostgreSQL it is `read()`."""
        async with self._reading(self._lookup_sessions) as session:
            yield session

    @asynccontextmanager
    async def _reading(
        self, factory: async_sessionmaker[AsyncSession]
    ) -> AsyncIterator[AsyncSession]:
        try:
            async with factory() as session:
                yield session
        except _UNAVAILABLE as exc:
            raise StorageUnavailable(_describe(exc)) from exc
        except DBAPIError as exc:  # the connection was lost in the middle of a read
            if exc.connection_invalidated:
                raise StorageUnavailable(_describe(exc)) from exc
            raise

    @asynccontextmanager
    async def _transaction(
        self, factory: async_sessionmaker[AsyncSession]
    ) -> AsyncIterator[AsyncSession]:
        try:
            async with factory() as session, session.begin():
                yield session
        except _UNAVAILABLE as exc:
            raise StorageUnavailable(_describe(exc)) from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise StorageUnavailable(_describe(exc)) from exc
            raise

    async def dispose(self) -> None:
        if isinstance(self.inline_reads, InlineReads):
            self.inline_reads.close()
        elif self.inline_reads is not None:
            await self.inline_reads.close()
        engines = (self.engine, self._read_engine, self._lookup_engine)
        for n, engine in enumerate(engines):
            if all(engine is not other for other in engines[:n]):
                await engine.dispose()


def _describe(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return f"database unavailable: {type(orig).__name__}: {str(orig).splitlines()[0] if str(orig) else ''}"
