"""Appending a group commit's audit entries in three statements built once.

`storage.audit.append` goes through the ORM (the head row loaded as an object, entries
added and flushed by the unit of work): about 0.7 ms of the event loop per call, paid
once per group commit, inside the single SQLite writer. The same chain link here is
three statements: the head row read under its lock, the entries inserted, the head
moved; the entries' hashes come from `storage.audit`'s own functions, so `audit.verify`
checks them like any other. The head row exists from the migration on; without it the
ORM path (which creates it) is used.

On SQLite the three run on the writer's own `sqlite3` connection, inside the transaction
the session holds (`writer_sqlite`): through SQLAlchemy Core they cost about 0.35 ms of
the loop per commit, which is one per body FETCH when the sessions do not overlap;
plain `sqlite3` runs them in tens of microseconds. The values stored are the ones
SQLAlchemy would bind (datetimes as its SQLite text, UTC), and
tests/integration/store/test_group_commit.py checks both paths store the same rows.

Only for the end of a transaction whose session holds no audit head object of its own
(`GroupCommit` appends last, after every job): an ORM head loaded earlier in the same
session would not see the Core update.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mailserver.store import writer_sqlite
from storage import audit
from storage.audit import AuditEntry, AuditEvent, AuditHead
from storage.base import utcnow

_HEAD = cast(Table, AuditHead.__table__)
_ENTRIES = cast(Table, AuditEntry.__table__)
_READ_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update()
_MOVE_HEAD = (
    update(_HEAD).where(_HEAD.c.id == 1).values(seq=bindparam("b_seq"), hash=bindparam("b_hash"))
)
_INSERT = insert(_ENTRIES)
_COLUMNS = (
    "seq",
    "at",
    "actor",
    "action",
    "object",
    "result",
    "source",
    "detail",
    "prev_hash",
    "hash",
)
_SQLITE_READ_HEAD = "SELECT seq, hash FROM audit_head WHERE id = 1"
_SQLITE_INSERT = (
    "INSERT INTO audit_log (seq, at, actor, action, object, result, source, detail, prev_hash,"
    " hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQLITE_MOVE_HEAD = "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1"
# SQLAlchemy's text for a DateTime on SQLite (its default storage format).
_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"


async def append(session: AsyncSession, events: Sequence[AuditEvent]) -> None:
    """Chain `events` after the current head, in the caller's transaction."""
    if not events:
        return
    writer = await writer_sqlite.connection_of(session)
    if writer is not None and _append_sqlite(writer, events):
        return
    head = (await session.execute(_READ_HEAD)).one_or_none()
    if head is None:
        await audit.append(session, *events)
        return
    rows = _linked(int(head.seq), str(head.hash), events)
    await session.execute(_INSERT, rows)
    await session.execute(_MOVE_HEAD, {"b_seq": rows[-1]["seq"], "b_hash": rows[-1]["hash"]})


def _append_sqlite(writer: sqlite3.Connection, events: Sequence[AuditEvent]) -> bool:
    """Chain `events` in plain `sqlite3`; False (nothing written) when there is no head
    row yet."""
    try:
        head = writer.execute(_SQLITE_READ_HEAD).fetchone()
        if head is None:
            return False
        rows = _linked(int(head[0]), str(head[1]), events)
        writer.executemany(_SQLITE_INSERT, [_sqlite_row(row) for row in rows])
        writer.execute(_SQLITE_MOVE_HEAD, (rows[-1]["seq"], rows[-1]["hash"]))
    except sqlite3.OperationalError as exc:
        raise writer_sqlite.unavailable(exc) from exc
    return True


def _sqlite_row(row: dict[str, Any]) -> tuple[Any, ...]:
    at: dt.datetime = row["at"]
    values = {**row, "at": at.astimezone(dt.UTC).strftime(_SQLITE_DATETIME)}
    return tuple(values[c] for c in _COLUMNS)


def _linked(seq: int, prev: str, events: Sequence[AuditEvent]) -> list[dict[str, Any]]:
    """The rows of `events` chained after entry `seq` whose hash is `prev`."""
    rows = []
    for event in events:
        seq += 1
        at = utcnow()
        detail = json.dumps(dict(event.detail or {}), sort_keys=True, ensure_ascii=False)
        digest = audit._link(prev, audit._canonical(seq, at, event, detail))
        rows.append(
            {
                "seq": seq,
                "at": at,
                "actor": event.actor,
                "action": event.action,
                "object": event.object,
                "result": event.result,
                "source": event.source,
                "detail": detail,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    return rows
