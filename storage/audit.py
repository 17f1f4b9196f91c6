"""The append-only, hash-chained audit trail (DESIGN section 8, "Every action is traced").

Each entry records who did what to which object, with what result and from where; never
message content. Entry n stores `hash = SHA-256(prev_hash || canonical(entry))`, and a
single-row head table holds the last sequence number and hash, and where the kept chain
starts: the first kept entry's sequence number and the prev_hash it carries (entry 1 and
GENESIS until retention removes old entries; `purge_before` moves it with the delete).
Appending locks the head row (`FOR UPDATE` on PostgreSQL; SQLite has one writer), so
entries written by several nodes still form one chain. `verify` walks the chain from the
recorded start to the head and names the first broken link.

Callers append inside their own write transaction, so an action and its audit entry
commit or roll back together.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    delete,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.orm.util import identity_key

from storage.base import Base, UtcDateTime, utcnow
from storage.database import Database
from storage.errors import AuditChainBroken
from storage.inline import (
    insert_rows,
    postgres_call,
    raw_postgres,
    raw_writer,
    unavailable,
    write_rows,
)

GENESIS = "0" * 64


class AuditEntry(Base):
    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(400))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object: Mapped[str] = mapped_column(String(1000), index=True)
    result: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(255), default="")
    detail: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64), default=GENESIS)
    # Where the kept chain starts; only retention moves it (appends never touch it).
    first_seq: Mapped[int] = mapped_column(BigInteger, default=1)
    first_prev_hash: Mapped[str] = mapped_column(String(64), default=GENESIS)


_ENTRIES = cast(Table, AuditEntry.__table__)
_HEAD = cast(Table, AuditHead.__table__)
_HEAD_KEY = identity_key(AuditHead, 1)
_READ_HEAD = select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1).with_for_update()
_MOVE_HEAD = (
    update(AuditHead)
    .where(AuditHead.id == 1)
    .values(seq=bindparam("b_seq"), hash=bindparam("b_hash"))
)
_SQLITE_READ_HEAD = "SELECT seq, hash FROM audit_head WHERE id = 1"
_SQLITE_MOVE_HEAD = "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1"
_PG_MOVE_HEAD = "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1"
_PG_READ_HEAD = "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE"
# Only retention and verify read or move the start of the chain.
_READ_START = select(_HEAD.c.first_seq, _HEAD.c.first_prev_hash).where(_HEAD.c.id == 1)
_MOVE_START = (
    update(_HEAD)
    .where(_HEAD.c.id == 1)
    .values(first_seq=bindparam("b_seq"), first_prev_hash=bindparam("b_prev"))
)
_FIRST_KEPT = (
    select(AuditEntry.seq, AuditEntry.prev_hash)
    .where(AuditEntry.at >= bindparam("b_cutoff"))
    .order_by(AuditEntry.seq)
    .limit(1)
)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What to record. `detail` holds identifiers and reasons only, never content."""

    actor: str
    action: str
    object: str
    result: str
    source: str = ""
    detail: Mapping[str, Any] | None = None


def _canonical(seq: int, at: dt.datetime, e: AuditEntry | AuditEvent, detail: str) -> bytes:
    body = {
        "seq": seq,
        "at": at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor": e.actor,
        "action": e.action,
        "object": e.object,
        "result": e.result,
        "source": e.source,
        "detail": detail,
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _link(prev_hash: str, canonical: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical).hexdigest()


async def append(session: AsyncSession, *events: AuditEvent) -> None:
    """Add entries to the chain inside the caller's write transaction.

    The head row is read under its lock (`FOR UPDATE` on PostgreSQL; on SQLite the
    transaction holds the write lock), the entries inserted and the head moved: three
    statements, run on SQLite by the writer's own `sqlite3` connection, on PostgreSQL by
    asyncpg on the session's connection (storage.inline; the lock through the session
    when the transaction has not begun yet). Every submission, delivery and read is
    audited, and through the ORM's unit of work this cost more of the event loop than
    the statements themselves. When the session already holds the head as an ORM object
    (an earlier append through the ORM), the ORM path goes on, so that object is never
    stale."""
    if not events:
        return
    if _HEAD_KEY not in session.identity_map:
        raw = await raw_writer(session)
        if raw is not None:
            try:
                head = raw.execute(_SQLITE_READ_HEAD).fetchone()
                if head is not None:
                    rows = _linked(int(head[0]), str(head[1]), events)
                    write_rows(raw, _ENTRIES, rows)
                    raw.execute(_SQLITE_MOVE_HEAD, (rows[-1]["seq"], rows[-1]["hash"]))
                    return
            except sqlite3.OperationalError as exc:
                raise unavailable(exc) from exc
        else:  # PostgreSQL: by asyncpg on the session's connection once its transaction
            # has begun (after the caller's other statements), else the head locked
            # through the session, which begins it
            pg = await raw_postgres(session)
            if pg is not None:
                found = await postgres_call(pg.fetchrow(_PG_READ_HEAD))
            else:
                found = (await session.execute(_READ_HEAD)).one_or_none()
            if found is not None:
                rows = _linked(int(found[0]), str(found[1]), events)
                await insert_rows(session, _ENTRIES, rows)
                seq, digest = rows[-1]["seq"], rows[-1]["hash"]
                pg = await raw_postgres(session)
                if pg is None:
                    await session.execute(_MOVE_HEAD, {"b_seq": seq, "b_hash": digest})
                else:
                    await postgres_call(pg.execute(_PG_MOVE_HEAD, seq, digest))
                return
    await _append_orm(session, events)


def _linked(seq: int, prev: str, events: Sequence[AuditEvent]) -> list[dict[str, Any]]:
    """The rows of `events` chained after entry `seq` whose hash is `prev`."""
    rows = []
    for event in events:
        seq += 1
        at = utcnow()
        detail = json.dumps(dict(event.detail or {}), sort_keys=True, ensure_ascii=False)
        digest = _link(prev, _canonical(seq, at, event, detail))
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


async def _append_orm(session: AsyncSession, events: Sequence[AuditEvent]) -> None:
    """Through the ORM: the head as an object (created by the first entry ever)."""
    head = (
        await session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update())
    ).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
    rows = _linked(head.seq, head.hash, events)
    session.add_all(AuditEntry(**row) for row in rows)
    head.seq, head.hash = rows[-1]["seq"], rows[-1]["hash"]
    await session.flush()


async def record(db: Database, *events: AuditEvent) -> None:
    """Append in a transaction of its own (for actions that write nothing else)."""
    async with db.write() as session:
        await append(session, *events)


VERIFY_WALKS = 3  # walks of one verify when retention moves the start meanwhile


async def verify(db: Database, batch: int = 5000) -> int:
    """Walk the whole chain; return the number of entries, or raise AuditChainBroken.

    The walk starts where the head says the kept chain starts (entry 1 and GENESIS, or
    the first entry retention kept and the hash of the last one it removed), so entries
    removed from the start outside retention are named like those removed elsewhere; it
    ends at the head as read before the walk, whose last entry must match it. Entries a
    running server appends meanwhile come after that head and are left for the next run.
    The walk reads in batches, each its own snapshot: when retention moved the start
    while it walked (another node's hourly purge), what looks like a removal is its, and
    the walk starts again from the new start (at most VERIFY_WALKS times).
    """
    walks = 0
    while True:
        start, head = await _bounds(db)
        try:
            return await _walk(db, start, head, batch)
        except AuditChainBroken:
            walks += 1
            if walks >= VERIFY_WALKS or (await _bounds(db))[0] == start:
                raise


async def _bounds(db: Database) -> tuple[tuple[int, str], tuple[int, str] | None]:
    """(the recorded start: first kept seq and the prev_hash it carries, the head)."""
    async with db.read() as session:
        start = (await session.execute(_READ_START)).one_or_none()
        head = (await session.execute(select(AuditHead.seq, AuditHead.hash))).one_or_none()
    first = (int(start[0]), str(start[1])) if start else (1, GENESIS)
    return first, None if head is None else (int(head[0]), str(head[1]))


async def _walk(
    db: Database, start: tuple[int, str], head: tuple[int, str] | None, batch: int
) -> int:
    first_seq, first_prev = start
    count = 0
    prev, expected_seq = first_prev, first_seq
    async for entry in _entries(db, None, batch, until=None if head is None else head[0]):
        if count == 0:
            _check_start(entry, first_seq, first_prev)
        if entry.seq != expected_seq:
            raise AuditChainBroken(entry.seq, f"entry {expected_seq} is missing")
        if entry.prev_hash != prev:
            raise AuditChainBroken(entry.seq, "does not link to the previous entry")
        if (
            _link(entry.prev_hash, _canonical(entry.seq, entry.at, entry, entry.detail))
            != entry.hash
        ):
            raise AuditChainBroken(entry.seq, "content does not match its hash (altered)")
        prev, expected_seq = entry.hash, entry.seq + 1
        count += 1
    if head is not None and (head[1] != prev or head[0] + 1 != expected_seq):
        raise AuditChainBroken(
            head[0], "the chain head does not match the last entry (entries removed)"
        )
    return count


def _check_start(first: AuditEntry, first_seq: int, first_prev: str) -> None:
    """The first entry left must be the start the head records."""
    if first.seq > first_seq:
        missing = (
            f"entry {first_seq} is"
            if first.seq == first_seq + 1
            else f"entries {first_seq} to {first.seq - 1} are"
        )
        raise AuditChainBroken(
            first.seq,
            f"{missing} missing from the start of the chain (removed outside retention)",
        )
    if first.seq < first_seq:
        raise AuditChainBroken(
            first.seq, f"precedes the recorded start of the chain (entry {first_seq})"
        )
    if first.prev_hash != first_prev:
        raise AuditChainBroken(
            first.seq, "does not carry the previous hash recorded for the start of the chain"
        )


async def export(db: Database, since: dt.datetime | None = None) -> AsyncIterator[dict[str, Any]]:
    """Entries as plain dicts, oldest first."""
    async for e in _entries(db, since, 5000):
        yield {
            "seq": e.seq,
            "at": e.at.isoformat(),
            "actor": e.actor,
            "action": e.action,
            "object": e.object,
            "result": e.result,
            "source": e.source,
            "detail": json.loads(e.detail),
            "hash": e.hash,
        }


async def _entries(
    db: Database, since: dt.datetime | None, batch: int, *, until: int | None = None
) -> AsyncIterator[AuditEntry]:
    """Entries in sequence order, in batches of their own snapshots; with `until`, none
    after that sequence number."""
    last = 0
    while True:
        query = (
            select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
        )
        if since is not None:
            query = query.where(AuditEntry.at >= since)
        if until is not None:
            query = query.where(AuditEntry.seq <= until)
        async with db.read() as session:
            rows = list((await session.execute(query)).scalars())
        if not rows:
            return
        for row in rows:
            yield row
        last = rows[-1].seq


async def purge_before(session: AsyncSession, cutoff: dt.datetime) -> int:
    """Remove the entries before the first one written at or after `cutoff` (retention),
    and move the recorded start of the chain to the first kept entry, in the caller's
    write transaction; the caller audits the purge.

    By sequence number, not by time: with several nodes, clocks may disagree by a little,
    and cutting by time alone could leave a hole in the middle of the chain. The head is
    locked first, so no entry is appended between the delete and the start it records.
    When every entry goes, the chain starts again at the next entry to be appended.
    """
    head = (await session.execute(_READ_HEAD)).one_or_none()
    if head is None:
        return 0
    first_kept = (await session.execute(_FIRST_KEPT, {"b_cutoff": cutoff})).one_or_none()
    first_seq, first_prev = (
        (int(first_kept[0]), str(first_kept[1]))
        if first_kept is not None
        else (int(head[0]) + 1, str(head[1]))
    )
    result = await session.execute(delete(AuditEntry).where(AuditEntry.seq < first_seq))
    removed = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if removed:
        await session.execute(_MOVE_START, {"b_seq": first_seq, "b_prev": first_prev})
    return removed
