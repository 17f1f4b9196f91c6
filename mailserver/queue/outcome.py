"""Recording what happened to a delivery row, inside the delivering transaction.

Each function moves one row and leaves one trace event; the final ones (`delivered`,
`bounced`) also set `final_at` and drop the sealed content once no pending row of the
same content needs it. A row already final is never moved again: callers lock it first
(`locked_pending`, or `pending_rows` for a batch), so each recipient gets exactly one
final outcome. `delivered_rows` records a batch with one UPDATE run per row, one insert of
its events and one content release, in Core statements.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mailserver.queue.models import (
    OPEN,
    PENDING,
    Delivery,
    DeliveryStatus,
    QueuedContent,
    QueueEvent,
)
from storage.database import Database
from storage.inline import execute_many, insert_rows

_EVENTS = cast(Table, QueueEvent.__table__)


async def locked_pending(
    session: AsyncSession, db: Database, delivery_id: int, owner: str | None
) -> Delivery | None:
    """The row, locked for this transaction, if it is still pending (and still leased to
    `owner`, when one is given); None when another worker or an administrator moved it."""
    query = select(Delivery).where(Delivery.id == delivery_id, Delivery.status.in_(PENDING))
    if owner is not None:
        query = query.where(Delivery.lease_owner == owner)
    if db.is_postgres:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class Pending:
    """A pending row as the delivering transaction of a batch reads it: its columns,
    not an ORM object (loading and flushing objects cost more than the statements)."""

    id: int
    queue_id: str
    content_id: str
    recipient: str


_PENDING = (Delivery.id, Delivery.queue_id, Delivery.content_id, Delivery.recipient)
_DELIVERIES = cast(Table, Delivery.__table__)
_DELIVERED = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("b_id"))
    .values(
        status=DeliveryStatus.DELIVERED.value,
        attempts=_DELIVERIES.c.attempts + 1,
        last_reply=bindparam("b_reply"),
        final_at=bindparam("b_now"),
        lease_owner=None,
        lease_until=None,
    )
)


async def pending_rows(
    session: AsyncSession, db: Database, delivery_ids: Sequence[int], owner: str
) -> dict[int, Pending]:
    """`locked_pending` for several rows in one statement: those still pending and leased
    to `owner`, by id (the others are missing)."""
    query = select(*_PENDING).where(
        Delivery.id.in_(list(delivery_ids)),
        Delivery.status.in_(PENDING),
        Delivery.lease_owner == owner,
    )
    if db.is_postgres:
        query = query.with_for_update()
    return {row.id: Pending(*row) for row in (await session.execute(query)).all()}


async def delivered_rows(
    session: AsyncSession, done: Sequence[tuple[Pending, str]], now: dt.datetime
) -> None:
    """`delivered` for each (row, detail) of a batch: one UPDATE run for every row, one
    insert of the events, one content release."""
    if not done:
        return
    await execute_many(
        session,
        _DELIVERED,
        [{"b_id": row.id, "b_reply": detail[:1000], "b_now": now} for row, detail in done],
    )
    events = [
        {
            "queue_id": row.queue_id,
            "delivery_id": row.id,
            "at": now,
            "event": DeliveryStatus.DELIVERED.value,
            "detail": detail[:1000],
        }
        for row, detail in done
    ]
    await insert_rows(session, _EVENTS, events)
    await _release(session, {row.content_id for row, _ in done})


def _event(row: Delivery, now: dt.datetime, event: str, detail: str) -> QueueEvent:
    return QueueEvent(queue_id=row.queue_id, delivery_id=row.id, at=now, event=event,
                      detail=detail[:1000])


async def delivered(session: AsyncSession, row: Delivery, detail: str, now: dt.datetime) -> None:
    await _final(session, row, DeliveryStatus.DELIVERED, detail, now)


async def relayed(session: AsyncSession, row: Delivery, detail: str, now: dt.datetime) -> None:
    """Handed to another operator's MX over mutual TLS (the trust-space relay)."""
    await _final(session, row, DeliveryStatus.RELAYED, detail, now)


async def bounced(session: AsyncSession, row: Delivery, reply: str, now: dt.datetime) -> None:
    await _final(session, row, DeliveryStatus.BOUNCED, reply, now)


async def deferred(
    session: AsyncSession, row: Delivery, reply: str, now: dt.datetime, retry_at: dt.datetime
) -> None:
    row.status = DeliveryStatus.DEFERRED.value
    row.attempts += 1
    row.last_reply = reply[:1000]
    row.next_attempt_at = retry_at
    row.lease_owner = None
    row.lease_until = None
    session.add(_event(row, now, "deferred", f"{reply}; next attempt {retry_at.isoformat()}"))
    await session.flush()


async def _final(
    session: AsyncSession, row: Delivery, status: DeliveryStatus, detail: str, now: dt.datetime
) -> None:
    _finish(session, row, status, detail, now)
    await session.flush()
    await _release(session, [row.content_id])


def _finish(
    session: AsyncSession, row: Delivery, status: DeliveryStatus, detail: str, now: dt.datetime
) -> None:
    session.add(_moved(row, status, detail, now))


def _moved(row: Delivery, status: DeliveryStatus, detail: str, now: dt.datetime) -> QueueEvent:
    """Mark `row` final; return its trace event (not yet in the session)."""
    row.status = status.value
    row.attempts += 1
    row.last_reply = detail[:1000]
    row.final_at = now
    row.lease_owner = None
    row.lease_until = None
    return _event(row, now, status.value, detail)


async def _release(session: AsyncSession, content_ids: Iterable[str]) -> None:
    """Drop the sealed contents that no pending or held row needs any more (after the
    flush)."""
    ids = list(content_ids)
    if not ids:
        return
    still_needed = exists().where(Delivery.content_id == QueuedContent.id, Delivery.status.in_(OPEN))
    await session.execute(
        update(QueuedContent)
        .where(QueuedContent.id.in_(ids), QueuedContent.sealed.is_not(None), ~still_needed)
        .values(sealed=None)
        .execution_options(synchronize_session=False)
    )
