"""The small reads of IMAP commands on SQLite, run on the event loop through a dedicated
`sqlite3` connection, without SQLAlchemy.

A FETCH of one message read its row through an ORM session: a pooled aiosqlite
connection checked out, BEGIN, the SELECT and the rollback each a hop to the
connection's thread, and the statement compiled and its row processed in Python around
them (about 1 ms of the loop's time, 27 us of which is the SELECT itself; measured in
docs/benchmarks.md). The reads here are indexed look-ups of one folder's rows: the
message asked for, the rows changed since a modseq, the metadata SEARCH walks, the
index SELECT reads. In WAL
mode a reader waits for no writer, so each runs inline in microseconds, in its own
snapshot (BEGIN ... COMMIT with no await between). `busy_timeout` is 0: in the rare
moments a reader could wait (recovery after a crash, a truncating checkpoint) the
statement fails at once with `DirectBusy` and the caller reads through SQLAlchemy
instead, which waits in its thread. The connection is `query_only`: it never writes.

The statements mirror the Core queries of `mailserver/store/reads.py`, which PostgreSQL
(and the fallback) use; tests/integration/store/test_direct.py checks both give the
same answers.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from mailserver.store.flags import Flags
from mailserver.store.reads import CHUNK, Delta, FlagChange, MessageMeta, Opening, chunks
from storage.database import Database
from storage.errors import StorageUnavailable
from storage.inline import reader_connection, sqlite_file

_META = "uid, system_flags, keywords, internal_date, size, modseq, blob_id"


class DirectBusy(Exception):
    """The database is momentarily locked for readers: read through SQLAlchemy."""


def _date(value: str) -> dt.datetime:
    # SQLAlchemy's SQLite DATETIME text ("2024-03-04 10:00:00.000000"), kept in UTC.
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


def _meta(row: Any) -> MessageMeta:
    return MessageMeta(
        uid=row[0],
        flags=Flags.from_row(row[1], row[2]),
        internal_date=_date(row[3]),
        size=row[4],
        modseq=row[5],
        blob_id=row[6],
    )


def _marks(count: int) -> str:
    return ",".join("?" * count)


class DirectReads:
    """Inline reads of one SQLite database (see the module docstring)."""

    def __init__(self, path: str, *, uri: bool = False) -> None:
        self._path, self._uri = path, uri
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def of(cls, db: Database) -> DirectReads | None:
        """For a SQLite file database; None for PostgreSQL or an in-memory database."""
        target = sqlite_file(db.url)
        return None if target is None else cls(target[0], uri=target[1])

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = reader_connection(self._path, self._uri)
        return self._conn

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """One read transaction; database errors mapped for the caller."""
        try:
            conn = self._connection()
            conn.execute("BEGIN")
        except sqlite3.OperationalError as exc:
            raise _mapped(exc) from exc
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            raise _mapped(exc) from exc
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    def sealed_contents(
        self, folder_id: int, uids: Sequence[int], *, header_only: bool
    ) -> list[tuple[MessageMeta, bytes]]:
        column = "b.sealed_header" if header_only else "b.sealed"
        sql = (
            f"SELECT {_prefixed('m')}, {column} FROM store_messages m "  # noqa: S608 - constants and ? marks
            "JOIN store_blobs b ON b.id = m.blob_id "
            f"WHERE m.folder_id = ? AND m.uid IN ({_marks(len(uids))}) ORDER BY m.uid"
        )
        with self._snapshot() as conn:
            rows = conn.execute(sql, (folder_id, *uids)).fetchall()
        return [(_meta(r), r[7]) for r in rows]

    def opening(self, mailbox_id: int, name: str) -> Opening | None:
        """What `reads.opening` answers, in one snapshot. It reads every message of the
        folder (two integers a row, through the (folder, uid) index); through SQLAlchemy
        the same rows also came back to the loop, one Row object each."""
        with self._snapshot() as conn:
            folder = conn.execute(
                "SELECT id, name, uidvalidity, uidnext, highestmodseq FROM store_folders "
                "WHERE mailbox_id = ? AND name = ?",
                (mailbox_id, name),
            ).fetchone()
            if folder is None:
                return None
            rows = conn.execute(
                "SELECT uid, system_flags FROM store_messages WHERE folder_id = ? ORDER BY uid",
                (folder[0],),
            ).fetchall()
        folder_id, stored_name, uidvalidity, uidnext, highestmodseq = folder
        index = [(int(r[0]), int(r[1])) for r in rows]
        return Opening(folder_id, stored_name, uidvalidity, uidnext, highestmodseq, index)

    def version(self, folder_id: int) -> tuple[int, int, int] | None:
        """(mailbox, UIDVALIDITY, highest modseq) of a folder: every change to its
        messages raises the modseq, and a folder id SQLite hands out again belongs to a
        folder created later (a larger UIDVALIDITY in its mailbox)."""
        with self._snapshot() as conn:
            row = conn.execute(
                "SELECT mailbox_id, uidvalidity, highestmodseq FROM store_folders WHERE id = ?",
                (folder_id,),
            ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]), int(row[2]))

    def metadata(self, folder_id: int, uids: Sequence[int] | None) -> list[MessageMeta]:
        """Of the given UIDs that still exist (all when None), by ascending UID."""
        base = f"SELECT {_META} FROM store_messages WHERE folder_id = ?"  # noqa: S608 - constants
        with self._snapshot() as conn:
            if uids is None:
                rows = conn.execute(base + " ORDER BY uid", (folder_id,)).fetchall()
            else:
                rows = []
                for part in chunks(uids):
                    sql = f"{base} AND uid IN ({_marks(len(part))}) ORDER BY uid"
                    rows += conn.execute(sql, (folder_id, *part)).fetchall()
        return [_meta(r) for r in rows]

    def delta(
        self,
        folder_id: int,
        since: int,
        *,
        excluding: Collection[int],
        known: Sequence[int] | None,
        look: bool,
    ) -> Delta | None:
        """What `reads.delta` answers, in one snapshot."""
        with self._snapshot() as conn:
            state = conn.execute(
                "SELECT highestmodseq FROM store_folders WHERE id = ?", (folder_id,)
            ).fetchone()
            if state is None:
                return None
            highest = int(state[0])
            if highest == since and not look:
                return Delta(highest, [], None)
            own = sorted(excluding)[-CHUNK:]
            sql = (
                "SELECT uid, system_flags, keywords, modseq FROM store_messages "  # noqa: S608 - ? marks
                "WHERE folder_id = ? AND modseq > ?"
                + (f" AND modseq NOT IN ({_marks(len(own))})" if own else "")
                + " ORDER BY uid"
            )
            changes = [
                FlagChange(r[0], Flags.from_row(r[1], r[2]), r[3])
                for r in conn.execute(sql, (folder_id, since, *own))
            ]
            alive = None
            if known:
                upto = (folder_id, known[-1])
                count = conn.execute(
                    "SELECT count(*) FROM store_messages WHERE folder_id = ? AND uid <= ?", upto
                ).fetchone()[0]
                if count != len(known):
                    alive = {
                        r[0]
                        for r in conn.execute(
                            "SELECT uid FROM store_messages WHERE folder_id = ? AND uid <= ?",
                            upto,
                        )
                    }
        return Delta(highest, changes, alive)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _prefixed(alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in _META.split(","))


def _mapped(exc: sqlite3.OperationalError) -> Exception:
    if "locked" in str(exc) or "busy" in str(exc):
        return DirectBusy(str(exc))
    return StorageUnavailable(f"database unavailable: {type(exc).__name__}: {exc}")
