"""Reading and steering the queue for administrators (`salus queue`, `salus trace`).

Views are plain values (no ORM objects leave here). `retry` makes a message's pending
rows due now; `delete` gives them their final outcome, bounced "deleted by an
administrator", without a DSN. Both are audited; neither ever touches a final row, nor a
held one (mailserver.queue.hold releases or refuses those).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.pipeline import bare_message_id
from mailserver.queue import outcome
from mailserver.queue.models import (
    OPEN,
    PENDING,
    Delivery,
    DeliveryStatus,
    QueuedMessage,
    QueueEvent,
)
from storage import audit
from storage.audit import AuditEvent
from storage.base import utcnow
from storage.database import Database

DELETED_REPLY = "550 5.7.0 Deleted from the queue by an administrator"


@dataclass(frozen=True, slots=True)
class DeliveryView:
    id: int
    recipient: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_reply: str
    final_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class EventView:
    at: dt.datetime
    delivery_id: int | None
    event: str
    detail: str


@dataclass(frozen=True, slots=True)
class MessageView:
    queue_id: str
    message_id: str
    sender: str
    origin: str
    submitter: str
    client: str
    size: int
    received_at: dt.datetime
    deliveries: tuple[DeliveryView, ...]
    events: tuple[EventView, ...] = ()

    @property
    def pending(self) -> bool:
        return any(d.status in PENDING for d in self.deliveries)

    @property
    def held(self) -> bool:
        return any(d.status == DeliveryStatus.HELD.value for d in self.deliveries)

    @property
    def hold_reason(self) -> str:
        """Why it was held (its `held` trace event), when the view has its events."""
        return next((e.detail for e in self.events if e.event == DeliveryStatus.HELD.value), "")


async def pending(
    db: Database, *, include_final: bool = False, held_only: bool = False, limit: int = 1000
) -> list[MessageView]:
    """Messages with a pending or held delivery, newest first (all of them with
    `include_final`, only those with a held one with `held_only`)."""
    query = select(QueuedMessage).order_by(QueuedMessage.received_at.desc()).limit(limit)
    if held_only:
        held = select(Delivery.queue_id).where(Delivery.status == DeliveryStatus.HELD.value)
        query = query.where(QueuedMessage.id.in_(held))
    elif not include_final:
        waiting = select(Delivery.queue_id).where(Delivery.status.in_(OPEN))
        query = query.where(QueuedMessage.id.in_(waiting))
    async with db.read() as session:
        messages = list((await session.execute(query)).scalars())
        return [await _view(session, m, with_events=False) for m in messages]


async def show(db: Database, queue_id: str) -> MessageView | None:
    async with db.read() as session:
        message = await session.get(QueuedMessage, queue_id.strip().upper())
        return None if message is None else await _view(session, message, with_events=True)


async def find(db: Database, ident: str) -> list[MessageView]:
    """Messages by queue id, or by the Message-ID the client wrote (with or without <>)."""
    text = ident.strip()
    message_id = bare_message_id(text)
    async with db.read() as session:
        messages = (
            await session.execute(
                select(QueuedMessage)
                .where(or_(QueuedMessage.id == text.upper(), QueuedMessage.message_id == message_id))
                .order_by(QueuedMessage.received_at)
            )
        ).scalars()
        return [await _view(session, m, with_events=True) for m in messages]


async def retry(db: Database, queue_id: str, *, actor: str) -> int:
    """Make the message's pending rows due now (and free their leases); return how many."""
    now = utcnow()
    async with db.write() as session:
        result = await session.execute(
            update(Delivery)
            .where(Delivery.queue_id == queue_id.upper(), Delivery.status.in_(PENDING))
            .values(next_attempt_at=now, lease_owner=None, lease_until=None)
            .returning(Delivery.id)
        )
        changed = [row.id for row in result]
        for delivery_id in changed:
            session.add(QueueEvent(queue_id=queue_id.upper(), delivery_id=delivery_id, at=now,
                                   event="retry", detail=f"made due now by {actor}"))
        await audit.append(
            session,
            AuditEvent(actor, "queue.retry", queue_id.upper(), "ok", "cli", {"rows": len(changed)}),
        )
    return len(changed)


async def delete(db: Database, queue_id: str, *, actor: str) -> int:
    """Bounce the message's pending rows without a DSN; return how many."""
    now = utcnow()
    async with db.write() as session:
        ids = (
            await session.execute(
                select(Delivery.id).where(
                    Delivery.queue_id == queue_id.upper(), Delivery.status.in_(PENDING)
                )
            )
        ).scalars().all()
        for delivery_id in ids:
            row = await outcome.locked_pending(session, db, delivery_id, None)
            if row is not None:
                await outcome.bounced(session, row, f"{DELETED_REPLY} ({actor})", now)
        await audit.append(
            session,
            AuditEvent(actor, "queue.delete", queue_id.upper(), "ok", "cli", {"rows": len(ids)}),
        )
    return len(ids)


async def _view(session: AsyncSession, message: QueuedMessage, *, with_events: bool) -> MessageView:
    rows = list(
        (
            await session.execute(
                select(Delivery).where(Delivery.queue_id == message.id).order_by(Delivery.id)
            )
        ).scalars()
    )
    events: tuple[EventView, ...] = ()
    held = any(r.status == DeliveryStatus.HELD.value for r in rows)
    if with_events or held:  # a list shows why a message is held, not its history
        query = select(QueueEvent).where(QueueEvent.queue_id == message.id)
        if not with_events:
            query = query.where(QueueEvent.event == DeliveryStatus.HELD.value)
        found = (await session.execute(query.order_by(QueueEvent.at, QueueEvent.id))).scalars()
        events = tuple(EventView(e.at, e.delivery_id, e.event, e.detail) for e in found)
    return MessageView(
        queue_id=message.id,
        message_id=message.message_id,
        sender=message.sender,
        origin=message.origin,
        submitter=message.submitter,
        client=message.client,
        size=message.size,
        received_at=message.received_at,
        deliveries=tuple(
            DeliveryView(r.id, r.recipient, r.status, r.attempts, r.next_attempt_at,
                         r.last_reply, r.final_at)
            for r in rows
        ),
        events=events,
    )
