"""The SQLite writer's connection: statements run on the event loop, waits in a thread.

Through aiosqlite every statement is a hop to the connection's thread and back: a queue
put, the thread taking the GIL from the busy event loop (up to the 5 ms switch
interval), then a `call_soon_threadsafe` to wake the loop. A write transaction of
twenty statements held the single writer lock (`Database.write`) for twenty such
hops, and under load that made the hops, not SQLite, the cost of a delivery (bench
"Submission": 357 ms of lock per batch of 18 deliveries, the submissions' commits
waiting behind it).

This connection speaks the asyncio driver protocol SQLAlchemy's aiosqlite dialect
expects (`async_creator`), over one `sqlite3` connection. Statements that only touch
pages in memory run inline, microseconds each. The two that may wait never make the loop
wait:
- `BEGIN IMMEDIATE` takes the database's write lock. The connection's busy timeout is 0,
  so inline it either gets the lock at once (the usual case: `salus serve` is the only
  writer) or fails at once; then it is retried in the connection's own thread with the
  real busy timeout, while another process (a `salus` command) finishes its write;
- `COMMIT`, the WAL fsync that a 250 waits for (`synchronous=FULL`), and the checkpoint
  that may follow it, run in that thread. A `synchronous=NORMAL` commit in WAL mode
  (the records of reads, mailserver/store/durability.py) only writes its frames to the
  WAL in the operating system's cache, so it runs inline: through the thread it cost a
  FETCH its wait for the busy loop's GIL. Inline it never checkpoints (a checkpoint
  fsyncs): automatic checkpoints are off for it, and every `INLINE_COMMITS`-th such
  commit goes through the thread again, where the automatic checkpoint may run, which
  bounds the WAL at about `INLINE_COMMITS` small transactions past its usual size.

Inside a `BEGIN IMMEDIATE` transaction in WAL mode no other statement waits for a lock
(the write lock is held, readers never block a writer), so nothing inline can hit the
busy timeout. It is for the write engine only: reads, which may scan, keep aiosqlite.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self, TypeVar

from sqlalchemy.engine import make_url

T = TypeVar("T")
_WAITING = ("COMMIT", "END", "VACUUM")
_COMMITS = ("COMMIT", "END")
INLINE_COMMITS = 64
_SYNCHRONOUS_NORMAL = 1  # `PRAGMA synchronous` answers 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


def _keyword(operation: str) -> str:
    return operation.lstrip()[:8].upper()


class WriterCursor:
    """An asyncio cursor over a `sqlite3.Cursor`; see the module docstring for what waits."""

    def __init__(self, connection: WriterConnection) -> None:
        self._connection = connection
        self._cursor = connection.sqlite.cursor()

    async def __aenter__(self) -> WriterCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, operation: str, parameters: Any = ()) -> WriterCursor:
        keyword = _keyword(operation)
        if keyword.startswith("BEGIN"):
            await self._connection.begin(self._cursor, operation)
        elif keyword.startswith(_COMMITS):
            await self._connection.end(self._cursor.execute, operation, parameters)
        elif keyword.startswith(_WAITING):
            await self._connection.in_thread(self._cursor.execute, operation, parameters)
        else:
            self._cursor.execute(operation, parameters)
        return self

    async def executemany(self, operation: str, parameters: Iterable[Any]) -> WriterCursor:
        self._cursor.executemany(operation, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def setinputsizes(self, *_sizes: Any) -> None:
        return None

    def __aiter__(self) -> WriterCursor:
        return self

    async def __anext__(self) -> Any:
        row = self._cursor.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row


class WriterConnection:
    """The driver connection of the SQLite write engine (one per process: pool_size=1)."""

    THREAD_NAME = "sqlite-writer"
    MORE_PRAGMAS: tuple[str, ...] = ()  # after the engine's own

    def __init__(
        self, sqlite: sqlite3.Connection, thread: ThreadPoolExecutor, busy_timeout_ms: int
    ) -> None:
        self.sqlite = sqlite
        self._thread = thread
        self._busy_timeout_ms = busy_timeout_ms
        # The aiosqlite adapter checks `_connection` before commit and rollback.
        self._connection: sqlite3.Connection | None = sqlite
        self._wal = sqlite.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
        self._autocheckpoint = int(sqlite.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        self._inline_commits = 0

    @classmethod
    async def open(
        cls, path: str, *, pragmas: Sequence[str], busy_timeout_ms: int, uri: bool = False
    ) -> Self:
        """Connect and run `pragmas` in the connection's thread, waiting for locks up to
        the busy timeout; from then on the connection itself never waits inline."""
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=cls.THREAD_NAME)

        def connect() -> sqlite3.Connection:
            sqlite = sqlite3.connect(
                path,
                uri=uri,
                timeout=busy_timeout_ms / 1000,
                check_same_thread=False,
                isolation_level=None,
            )
            for pragma in (*pragmas, *cls.MORE_PRAGMAS):
                sqlite.execute(pragma)
            sqlite.execute("PRAGMA busy_timeout=0")
            return sqlite

        sqlite = await asyncio.get_running_loop().run_in_executor(thread, connect)
        return cls(sqlite, thread, busy_timeout_ms)

    async def begin(self, cursor: sqlite3.Cursor, operation: str) -> None:
        """Take the write lock inline if it is free, else wait for it in the thread."""
        try:
            cursor.execute(operation)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                raise
            await self.in_thread(self._execute_waiting, cursor, operation)

    def _execute_waiting(
        self, cursor: sqlite3.Cursor, operation: str, parameters: Any = ()
    ) -> None:
        """In the thread: run the statement waiting up to the real busy timeout."""
        self.sqlite.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
        try:
            cursor.execute(operation, parameters)
        finally:
            self.sqlite.execute("PRAGMA busy_timeout=0")

    async def end(self, commit: Callable[..., Any], *args: Any) -> None:
        """Run `commit(*args)`: inline when it cannot fsync, else in the thread."""
        if not self._commits_inline():
            self._inline_commits = 0
            await self.in_thread(commit, *args)
            return
        self._inline_commits += 1
        self.sqlite.execute("PRAGMA wal_autocheckpoint=0")
        try:
            commit(*args)
        finally:
            self.sqlite.execute(f"PRAGMA wal_autocheckpoint={self._autocheckpoint}")

    def _commits_inline(self) -> bool:
        if not self._wal or self._inline_commits + 1 >= INLINE_COMMITS:
            return False
        level = self.sqlite.execute("PRAGMA synchronous").fetchone()[0]
        return bool(level == _SYNCHRONOUS_NORMAL)

    async def in_thread(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, function, *args)

    @property
    def isolation_level(self) -> str | None:
        return self.sqlite.isolation_level

    def cursor(self) -> WriterCursor:
        return WriterCursor(self)

    async def execute(self, operation: str, parameters: Any = ()) -> WriterCursor:
        return await self.cursor().execute(operation, parameters)

    async def executemany(self, operation: str, parameters: Iterable[Any]) -> WriterCursor:
        # The directory importer hands its batches straight to the driver's executemany.
        return await self.cursor().executemany(operation, parameters)

    async def commit(self) -> None:
        if self.sqlite.in_transaction:
            await self.end(self.sqlite.commit)

    async def rollback(self) -> None:
        self.sqlite.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self.sqlite.create_function(*args, **kwargs)

    async def close(self) -> None:
        if self._connection is None:
            return
        self._connection = None
        try:
            await self.in_thread(self.sqlite.close)
        finally:
            self._thread.shutdown(wait=False)

    def stop(self) -> None:
        """Forced close (SQLAlchemy's terminate), without the loop."""
        if self._connection is not None:
            self._connection = None
            self.sqlite.close()
            self._thread.shutdown(wait=False)


def sqlite_path(url: str) -> tuple[str, bool]:
    """The `sqlite3.connect` target of a `sqlite+aiosqlite:///…` URL, and whether it is a URI."""
    parsed = make_url(url)
    database = parsed.database or ":memory:"
    return database, parsed.query.get("uri") in ("true", "1")
