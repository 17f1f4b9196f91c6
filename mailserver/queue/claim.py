"""Claiming due delivery rows for a worker, with a lease.

A claim marks up to `limit` due rows (pending, due, not leased by a live worker) as
leased by `owner` until `now + lease`. On PostgreSQL the rows are picked with `FOR UPDATE
SKIP LOCKED`, so nodes never wait on each other's rows; SQLite has one writer (`BEGIN
IMMEDIATE`), so the same `UPDATE … RETURNING` is already exclusive there (PITFALLS
"SQLite as a queue"). A worker that dies leaves its lease to expire: the rows come back.
A live worker whose attempt could not be recorded takes its own leased rows back at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    Table,
    Update,
    bindparam,
    exists,
    or_,
    select,
    update,
)

from mailserver.queue.models import PENDING, Delivery
from storage.base import UtcDateTime, utcnow
from storage.database import Database
from storage.inline import execute, fetch


@dataclass(frozen=True, slots=True)
class Lease:
    owner: str
    seconds: float


def _due(now: Any, owner: Any) -> tuple[ColumnElement[bool], ...]:
    # now, owner: values, or bindparams (the statements built once below)
    free = [Delivery.lease_until.is_(None), Delivery.lease_until < now]
    if owner is not None:
        # A worker claims again only once its attempts are over, so a row still leased to
        # it is one it could not record (the database went away): its to retry at once,
        # rather than after its own lease runs out.
        free.append(Delivery.lease_owner == owner)
    # The statuses one by one, not an IN list: a statement built once has no list to expand.
    pending = or_(*(Delivery.status == status for status in PENDING))
    return (pending, Delivery.next_attempt_at <= now, or_(*free))


# `any_due`'s statements, built once (storage.inline): an index probe on (status, due).
_NOW, _OWNER = bindparam("now", type_=UtcDateTime()), bindparam("owner", type_=String())
_ANY_DUE = select(exists().where(*_due(_NOW, None)))
_ANY_DUE_FOR = select(exists().where(*_due(_NOW, _OWNER)))


def _claiming(skip_locked: bool) -> Update:
    picked = (
        select(Delivery.id)
        .where(*_due(_NOW, _OWNER))
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(bindparam("limit", type_=Integer()))
    )
    if skip_locked:
        picked = picked.with_for_update(skip_locked=True)
    table = cast(Table, Delivery.__table__)
    return (
        update(table)
        .where(table.c.id.in_(picked.scalar_subquery()))
        .values(lease_owner=_OWNER, lease_until=bindparam("until", type_=UtcDateTime()))
        .returning(table.c.id, table.c.next_attempt_at, table.c.recipient)
    )


# `claim`'s statement, built once (SQLite; PostgreSQL with SKIP LOCKED): building it
# and its cache key at each claim cost more than running it when batches are small.
_CLAIM = {False: _claiming(False), True: _claiming(True)}


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    recipient: str


async def any_due(
    db: Database, now: dt.datetime | None = None, *, owner: str | None = None
) -> bool:
    """A cheap read: is there anything to claim (for `owner`, counting its own leases)?
    (Spares the writer an empty claim; inline on SQLite, on the look-up pool elsewhere.)"""
    when = now or utcnow()
    if owner is None:
        found = await fetch(db, _ANY_DUE, now=when)
    else:
        found = await fetch(db, _ANY_DUE_FOR, now=when, owner=owner)
    return bool(found[0][0])


async def claim(
    db: Database, lease: Lease, *, limit: int, now: dt.datetime | None = None
) -> list[int]:
    """Lease up to `limit` due rows to `lease.owner`; return their ids, oldest due first."""
    return [row.id for row in await claim_rows(db, lease, limit=limit, now=now)]


async def claim_rows(
    db: Database, lease: Lease, *, limit: int, now: dt.datetime | None = None
) -> list[Claimed]:
    """`claim`, with each row's recipient (which tells a relay from a local delivery)."""
    when = now or utcnow()
    async with db.write(background=True) as session:
        rows = await execute(
            session,
            _CLAIM[db.is_postgres],
            now=when,
            owner=lease.owner,
            limit=limit,
            until=when + dt.timedelta(seconds=lease.seconds),
        )
    rows.sort(key=lambda r: (r.next_attempt_at, r.id))
    return [Claimed(row.id, row.recipient) for row in rows]


async def release_all_leases(db: Database) -> int:
    """Forget every lease (single-node SQLite start-up: no other worker can hold one)."""
    async with db.write() as session:
        result = await session.execute(
            update(Delivery)
            .where(Delivery.status.in_(PENDING), Delivery.lease_owner.is_not(None))
            .values(lease_owner=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
