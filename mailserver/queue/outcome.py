"""Recording what happened to a delivery row, inside the delivering transaction.

Each function moves one row and leaves one trace event; the final ones (`delivered`,
`bounced`) also set `final_at` and drop the sealed content once no pending row of the
same content needs it. A row already final is never moved again: callers lock it first
(`locked_pending`), so each recipient gets exactly one final outcome.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mailserver.queue.models import PENDING, Delivery, DeliveryStatus, QueuedContent, QueueEvent
from storage.database import Database


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
    row.status = status.value
    row.attempts += 1
    row.last_reply = detail[:1000]
    row.final_at = now
    row.lease_owner = None
    row.lease_until = None
    session.add(_event(row, now, status.value, detail))
    await session.flush()
    still_needed = await session.scalar(
        select(Delivery.id)
        .where(Delivery.content_id == row.content_id, Delivery.status.in_(PENDING))
        .limit(1)
    )
    if still_needed is None:
        await session.execute(
            update(QueuedContent)
            .where(QueuedContent.id == row.content_id)
            .values(sealed=None)
            .execution_options(synchronize_session=False)
        )
