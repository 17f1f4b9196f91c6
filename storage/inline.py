"""Hot statements run on SQLite by `sqlite3` on the event loop, without an AsyncSession:
point look-ups (`fetch`), and the inserts of the hottest write transactions
(`insert_rows`, on the writer's own connection).

A look-up of one indexed row through an async SQLAlchemy session costs about 0.3-0.5 ms
of the loop's time (checkout, BEGIN, compiling the cache key, nine greenlet switches,
result processing, rollback, checkin), where SQLite itself takes about 10 us. The SMTP
submission of one message makes six to eight of them (the sender's key at MAIL, the
recipient at RCPT, the keys the protect step signs and encrypts with), which made them a
third of the loop's time per message (bench/submission.py, docs/benchmarks.md).

`fetch(db, statement, **params)` runs a Core statement defined once, with named
`bindparam`s (`rows(source, ...)` takes a session too, for a caller already in one):
- on SQLite, compiled once per statement for the SQLite dialect and executed by a
  dedicated `sqlite3` connection (`query_only`, busy timeout 0) in its own snapshot,
  with the column types' result processors applied (UtcDateTime comes back aware);
- on PostgreSQL, or when SQLite answers BUSY (recovery after a crash: rare, see
  storage.sqlite_reader), through `Database.lookup()` like any other read.
Both paths return the same rows, with the columns as attributes;
tests/integration/test_inline_reads.py checks it. Only for reads of a few rows by an
index: inline, a scan would stop every session.

`insert_rows(session, table, rows)` inserts in the session's write transaction: on
SQLite by `executemany` on the writer's `sqlite3` connection (`raw_writer`), which holds
the transaction's write lock (BEGIN IMMEDIATE), with the values SQLAlchemy would bind
(the columns' bind processors, their scalar defaults for what a row leaves out); on
PostgreSQL by asyncpg's `executemany` on the session's own connection, inside its
transaction (`raw_postgres`). A group commit of twenty submissions inserts about a hundred rows:
through the session that cost more of the loop than the commit's fsync.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import namedtuple
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import Select, Table, insert
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningUpdate, UpdateBase
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from storage.errors import StorageUnavailable
from storage.sqlite_writer import WriterConnection

if TYPE_CHECKING:
    from storage.database import Database

_DIALECT = sqlite_dialect.dialect()
_PG_DIALECT = asyncpg_dialect.dialect()  # type: ignore[no-untyped-call]
T = TypeVar("T")
AnySelect = Select[*tuple[Any, ...]]
# What `execute` and `execute_many` run: a SELECT, an UPDATE (with RETURNING or not).
Statement = AnySelect | ReturningUpdate[*tuple[Any, ...]] | UpdateBase
Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    binds: tuple[tuple[str, Processor, Any], ...]  # name, processor, value; in `?` order
    results: tuple[Processor, ...]
    row: Callable[..., tuple[Any, ...]]  # a named tuple of the selected columns


_REQUIRED = object()
_COMPILED: dict[tuple[int, str], tuple[Statement, _Compiled]] = {}


def _compiled(statement: Statement, dialect: Dialect = _DIALECT) -> _Compiled:
    cached = _COMPILED.get((id(statement), dialect.name))
    if cached is not None and cached[0] is statement:
        return cached[1]
    compiled = statement.compile(dialect=dialect)
    if any(bind.expanding for bind in compiled.binds.values()):
        raise ValueError("an IN list of values is not a point look-up: use Database.read")
    binds = tuple(
        (
            name,
            bind.type.dialect_impl(dialect).bind_processor(dialect),
            _REQUIRED if bind.required else bind.value,
        )
        for name in compiled.positiontup or ()
        for bind in (compiled.binds[name],)
    )
    columns = statement.exported_columns  # a SELECT's columns, or an UPDATE's RETURNING
    results = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
    )
    names = [column.key or f"c{n}" for n, column in enumerate(columns)]
    entry = _Compiled(compiled.string, binds, results, namedtuple("Row", names, rename=True))
    _COMPILED[(id(statement), dialect.name)] = (statement, entry)  # statements are constants
    return entry


def _values(compiled: _Compiled, params: Mapping[str, Any]) -> list[Any]:
    values = []
    for name, process, default in compiled.binds:
        value = params.get(name, default)
        if value is _REQUIRED:
            raise KeyError(f"the look-up needs a value for {name!r}")
        values.append(value if process is None else process(value))
    return values


def _rows(compiled: _Compiled, raw: Sequence[Sequence[Any]]) -> list[Any]:
    processors, make = compiled.results, compiled.row
    if not any(processors):
        return [make(*row) for row in raw]
    return [
        make(*(v if p is None else p(v) for v, p in zip(row, processors, strict=True)))
        for row in raw
    ]


class _Busy(Exception):
    """SQLite asked this reader to wait: read through the session instead."""


def sqlite_file(url: str) -> tuple[str, bool] | None:
    """(path, is a URI) of a SQLite file database's URL; None for PostgreSQL or an
    in-memory database."""
    if not url.startswith("sqlite"):
        return None
    parsed = make_url(url)
    if not parsed.database or parsed.database == ":memory:":
        return None
    return parsed.database, parsed.query.get("uri") in ("true", "1")


def reader_connection(path: str, uri: bool) -> sqlite3.Connection:
    """A `sqlite3` connection for reads on the event loop: it never waits (busy timeout
    0: the caller reads another way when SQLite says BUSY) and never writes."""
    conn = sqlite3.connect(path, uri=uri, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=0")
    conn.execute("PRAGMA query_only=1")
    return conn


class InlineReads:
    """The `sqlite3` connection of one SQLite file database for `fetch`."""

    def __init__(self, path: str, uri: bool) -> None:
        self._path, self._uri = path, uri
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def of(cls, url: str) -> InlineReads | None:
        """For a SQLite file database; None for PostgreSQL or an in-memory database."""
        target = sqlite_file(url)
        return None if target is None else cls(*target)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = reader_connection(self._path, self._uri)
        return self._conn

    def rows(self, statement: AnySelect, params: dict[str, Any]) -> list[Any]:
        compiled = _compiled(statement)
        values = _values(compiled, params)
        try:
            # One statement in autocommit: its own read transaction, ended when fetchall
            # steps it to the end (a BEGIN and a COMMIT around it cost as much again).
            raw = self._connection().execute(compiled.sql, values).fetchall()
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise _Busy from exc
            raise StorageUnavailable(f"database unavailable: {exc}") from exc
        return _rows(compiled, raw)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# What a look-up on PostgreSQL meets when the database is away or full.
_PG_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InsufficientResourcesError,
    asyncpg.CannotConnectNowError,
    asyncpg.OperatorInterventionError,  # admin or crash shutdown, a cancelled query
    asyncpg.QueryCanceledError,
)
# Connection parameters asyncpg understands; others in SQLAlchemy's URL are the dialect's
# own (prepared_statement_cache_size, ...), which asyncpg would send as server settings.
_PG_DSN_KEYS = frozenset(
    {"ssl", "sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword", "sslcrl",
     "application_name", "target_session_attrs", "krbsrvname", "gsslib"}
)  # fmt: skip


class PgLookups:
    """A small asyncpg pool of its own for `fetch` on PostgreSQL: a look-up is one
    prepared statement on a pooled connection, without the session, its checkout ping
    and its transaction (autocommit: one statement is its own snapshot). Idle
    connections close after a few seconds; the pool belongs to the event loop that made
    it (a new loop gets a new pool)."""

    IDLE_SECONDS = 5.0
    CONNECT_SECONDS = 10.0

    def __init__(self, dsn: str, size: int) -> None:
        self._dsn, self._size = dsn, size
        self._pool: asyncpg.Pool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._making: asyncio.Lock | None = None
        self._closed = False

    @classmethod
    def of(cls, url: str, size: int) -> PgLookups | None:
        parsed = make_url(url)
        if parsed.get_backend_name() != "postgresql" or parsed.get_driver_name() != "asyncpg":
            return None
        query = {k: v for k, v in parsed.query.items() if k in _PG_DSN_KEYS}
        dsn = parsed.set(drivername="postgresql", query=query)
        return cls(dsn.render_as_string(hide_password=False), size)

    async def _ready_pool(self) -> asyncpg.Pool:
        if self._closed:
            raise StorageUnavailable("database unavailable: the database handle is closed")
        loop = asyncio.get_running_loop()
        if self._pool is not None and self._loop is loop:
            return self._pool
        if self._making is None or self._loop is not loop:
            self._making, self._loop, old = asyncio.Lock(), loop, self._pool
            self._pool = None
            if old is not None:
                old.terminate()  # made in a loop that has ended
        async with self._making:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=0,
                    max_size=self._size,
                    max_inactive_connection_lifetime=self.IDLE_SECONDS,
                    timeout=self.CONNECT_SECONDS,
                    reset=_nothing_to_reset,
                )
            return self._pool

    async def rows(self, statement: AnySelect, params: Mapping[str, Any]) -> list[Any]:
        compiled = _compiled(statement, _PG_DIALECT)
        values = _values(compiled, params)
        attempts = 2  # an idle connection may be stale after a restart (no checkout ping)
        while True:
            attempts -= 1
            try:
                pool = await self._ready_pool()
                async with pool.acquire(timeout=self.CONNECT_SECONDS) as conn:
                    records = await conn.fetch(compiled.sql, *values)
                return _rows(compiled, records)
            except _PG_UNAVAILABLE as exc:
                stale = isinstance(
                    exc, asyncpg.ConnectionDoesNotExistError | asyncpg.InterfaceError
                )
                if stale and attempts:
                    continue  # once more, on a fresh connection
                raise StorageUnavailable(
                    f"database unavailable: {type(exc).__name__}: {exc}"
                ) from exc

    async def close(self) -> None:
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            if self._loop is asyncio.get_running_loop():
                await pool.close()
            else:
                pool.terminate()


async def _nothing_to_reset(_conn: asyncpg.Connection) -> None:
    """A look-up connection's release: asyncpg still rolls back an open transaction, but
    skips its default reset (`RESET ALL`, `UNLISTEN *`, ... : a round trip at every
    release). A look-up runs one prepared SELECT and leaves no session state."""


async def fetch(db: Database, statement: AnySelect, **params: Any) -> Sequence[Any]:
    """The rows of `statement` with `params` (see the module docstring)."""
    reader = db.inline_reads
    if isinstance(reader, InlineReads):
        try:
            return reader.rows(statement, params)
        except _Busy:
            pass
    elif reader is not None:
        return await reader.rows(statement, params)
    async with db.lookup() as session:
        found: Sequence[Any] = (await session.execute(statement, params)).all()
    return found


async def rows(
    source: AsyncSession | Database, statement: AnySelect, **params: Any
) -> Sequence[Any]:
    """`fetch` on a Database; inside a caller's session, through that session."""
    if isinstance(source, AsyncSession):
        found: Sequence[Any] = (await source.execute(statement, params)).all()
        return found
    return await fetch(source, statement, **params)


# ---- inserts on the SQLite writer's connection ---------------------------------------------
@dataclass(frozen=True, slots=True)
class _InsertPlan:
    sql: str
    columns: tuple[str, ...]  # the values' order
    defaults: tuple[Any, ...]  # _REQUIRED where a row must give the value
    processors: tuple[Processor, ...]


_PLANS: dict[tuple[str, frozenset[str], str], _InsertPlan] = {}


def _insert_plan(table: Table, given: frozenset[str], dialect: Dialect = _DIALECT) -> _InsertPlan:
    plan = _PLANS.get((table.name, given, dialect.name))
    if plan is not None:
        return plan
    columns, defaults = [], []
    for column in table.columns:
        if column.key in given:
            columns.append(column.key)
            defaults.append(_REQUIRED)
            continue
        default = column.default
        if (
            default is None
            or column.autoincrement is True
            or (column.primary_key and column.autoincrement == "auto")
        ):
            continue  # the database's (NULL, autoincrement, a server default)
        if not isinstance(default, ScalarElementColumnDefault):
            raise TypeError(f"{table.name}.{column.key} has a computed default: give its value")
        columns.append(column.key)
        defaults.append(default.arg)
    unknown = given - set(columns)
    if unknown:
        raise ValueError(f"{table.name} has no column {sorted(unknown)}")
    names = ", ".join(columns)
    if dialect is _DIALECT:
        marks = ", ".join("?" * len(columns))
    else:  # asyncpg's numbered parameters
        marks = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
    plan = _InsertPlan(
        f"INSERT INTO {table.name} ({names}) VALUES ({marks})",  # noqa: S608 - schema names
        tuple(columns),
        tuple(defaults),
        tuple(table.columns[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns),
    )
    _PLANS[(table.name, given, dialect.name)] = plan
    return plan


def _insert_values(plan: _InsertPlan, rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    values = []
    for row in rows:
        record = []
        for name, default, process in zip(
            plan.columns, plan.defaults, plan.processors, strict=True
        ):
            value = row[name] if default is _REQUIRED else row.get(name, default)
            record.append(value if process is None else process(value))
        values.append(record)
    return values


_DRIVER = "salus_driver_connection"


async def _driver(session: AsyncSession) -> Any:
    """The driver's connection under `session`'s transaction, kept in `session.info` for
    that transaction (or savepoint): asking the session each time (its connection, then the pool's raw
    connection) cost more of a delivery's loop time than some of its statements."""
    cached = session.info.get(_DRIVER)
    if cached is not None and cached[0] is _innermost(session):
        return cached[1]
    # Asked of the session at least once per transaction: that begins it, and inside
    # `begin_nested()` emits the SAVEPOINT that the statements on the driver rely on.
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    session.info[_DRIVER] = (_innermost(session), driver)
    return driver


def _innermost(session: AsyncSession) -> object:
    sync = session.sync_session
    return sync.get_nested_transaction() or sync.get_transaction()


async def raw_writer(session: AsyncSession) -> sqlite3.Connection | None:
    """The SQLite writer's `sqlite3` connection under `session`'s write transaction, its
    pending ORM changes flushed first (statements keep their order); None elsewhere
    (PostgreSQL, a read or look-up session)."""
    driver = await _driver(session)
    if type(driver) is not WriterConnection:  # its subclass LookupConnection only reads
        return None
    if session.new or session.dirty or session.deleted:
        await session.flush()
    return driver.sqlite


def unavailable(exc: sqlite3.Error) -> StorageUnavailable:
    """A failure of the database (disk full, I/O error) as `Database.write` maps it."""
    return StorageUnavailable(f"database unavailable: OperationalError: {exc}")


def write_rows(raw: sqlite3.Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """`rows` (each with the same keys) inserted by `raw` (see `insert_rows`)."""
    if not rows:
        return
    plan = _insert_plan(table, frozenset(rows[0]))
    values = _insert_values(plan, rows)
    try:
        raw.executemany(plan.sql, values)
    except sqlite3.OperationalError as exc:
        raise unavailable(exc) from exc
    except sqlite3.IntegrityError as exc:  # as SQLAlchemy raises it, for the callers
        raise IntegrityError(plan.sql, None, exc) from exc


async def raw_postgres(session: AsyncSession) -> Any | None:
    """The asyncpg connection under `session`'s transaction once that transaction has
    begun on the server (SQLAlchemy's adapter begins it with the first statement; before
    that, a statement on the connection itself would commit on its own), its pending ORM
    changes flushed first; None elsewhere."""
    driver = await _driver(session)
    if not isinstance(driver, asyncpg.Connection) or not driver.is_in_transaction():
        return None
    if session.new or session.dirty or session.deleted:
        await session.flush()
    return driver


async def postgres_call(statement: Awaitable[T]) -> T:
    """Await an asyncpg call, its failures as SQLAlchemy and Database.write raise them."""
    try:
        return await statement
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError("asyncpg", None, exc) from exc
    except (
        *_PG_UNAVAILABLE,
        asyncpg.OperatorInterventionError,
        asyncpg.TransactionRollbackError,
    ) as exc:  # what SQLAlchemy raises as OperationalError, which Database.write maps
        raise StorageUnavailable(f"database unavailable: {type(exc).__name__}: {exc}") from exc


async def execute(session: AsyncSession, statement: Statement, **params: Any) -> list[Any]:
    """Run a Core statement defined once (a point SELECT, an UPDATE ... RETURNING) in the
    session's write transaction, as `insert_rows` runs inserts: on the SQLite writer's
    `sqlite3` connection, or by asyncpg on PostgreSQL once the transaction has begun;
    through the session otherwise. The rows it returns, with the columns as attributes."""
    raw = await raw_writer(session)
    if raw is not None:
        compiled = _compiled(statement)
        try:
            found = raw.execute(compiled.sql, _values(compiled, params)).fetchall()
        except sqlite3.OperationalError as exc:
            raise unavailable(exc) from exc
        return _rows(compiled, found)
    pg = await raw_postgres(session)
    if pg is None:
        return list((await session.execute(statement, params)).all())
    compiled = _compiled(statement, _PG_DIALECT)
    records = await postgres_call(pg.fetch(compiled.sql, *_values(compiled, params)))
    return _rows(compiled, records)


async def execute_many(
    session: AsyncSession, statement: UpdateBase, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Run a Core statement defined once (an UPDATE by key with `bindparam`s) for each of
    `rows` in the session's write transaction, where `insert_rows` runs its inserts."""
    if not rows:
        return
    raw = await raw_writer(session)
    pg = None if raw is not None else await raw_postgres(session)
    if raw is None and pg is None:
        await session.execute(statement, list(rows))
        return
    compiled = _compiled(statement, _DIALECT if raw is not None else _PG_DIALECT)
    values = [_values(compiled, row) for row in rows]
    if pg is not None:
        await postgres_call(pg.executemany(compiled.sql, values))
        return
    try:
        cast(sqlite3.Connection, raw).executemany(compiled.sql, values)
    except sqlite3.OperationalError as exc:
        raise unavailable(exc) from exc


async def insert_rows(
    session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert `rows` into `table` in the session's write transaction (module docstring):
    on the SQLite writer's `sqlite3` connection, or on PostgreSQL by asyncpg's
    `executemany` on the session's own connection once its transaction has begun."""
    if not rows:
        return
    raw = await raw_writer(session)
    if raw is not None:
        write_rows(raw, table, rows)
        return
    pg = await raw_postgres(session)
    if pg is None:
        await session.execute(insert(table), list(rows))
        return
    plan = _insert_plan(table, frozenset(rows[0]), _PG_DIALECT)
    await postgres_call(pg.executemany(plan.sql, _insert_values(plan, rows)))
