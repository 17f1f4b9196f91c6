"""Messages held for an administrator (gateway.consistency "hold"): release or refuse.

A held message was committed and answered 250 like any other, but its delivery rows are
`held`, which no worker claims. `release` makes them `queued` and due now, so the
workers take them at their next poll; their delay report and expiry count from the
release (`Delivery.created_at`), not from the arrival. `refuse` gives each its final outcome, bounced
"refused by an administrator", and queues one DSN (RFC 3464, action failed) to the
sender for all of them, as a permanent delivery failure does (mailserver.delivery.bounce).
Each is one transaction with its trace events and its audit entry; neither touches a
row that is not held, so two administrators acting at once move each row once.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from crypto.at_rest import AtRestCipher
from gateway.dsn import RecipientStatus
from mailserver.delivery.bounce import queue_report, wants_report
from mailserver.queue import outcome
from mailserver.queue.enqueue import content_context
from mailserver.queue.models import (
    Delivery,
    DeliveryStatus,
    QueuedContent,
    QueuedMessage,
    QueueEvent,
)
from storage import audit
from storage.audit import AuditEvent
from storage.base import utcnow
from storage.database import Database

REFUSED_STATUS = "5.7.1"
REFUSED_REPLY = f"550 {REFUSED_STATUS} Refused by an administrator after review"
_HELD = DeliveryStatus.HELD.value


async def release(db: Database, queue_id: str, *, actor: str) -> int:
    """Make the message's held rows queued and due now; return how many."""
    ident = queue_id.strip().upper()
    now = utcnow()
    async with db.write() as session:
        result = await session.execute(
            update(Delivery)
            .where(Delivery.queue_id == ident, Delivery.status == _HELD)
            .values(status=DeliveryStatus.QUEUED.value, next_attempt_at=now, created_at=now,
                    lease_owner=None, lease_until=None)
            .returning(Delivery.id)
        )  # fmt: skip
        released = [row.id for row in result]
        for delivery_id in released:
            session.add(QueueEvent(queue_id=ident, delivery_id=delivery_id, at=now,
                                   event="released", detail=f"released by {actor}"))  # fmt: skip
        await audit.append(
            session,
            AuditEvent(actor, "queue.release", ident, "ok", "cli", {"rows": len(released)}),
        )
    return len(released)


async def refuse(
    db: Database, at_rest: AtRestCipher, settings: Settings, queue_id: str, *, actor: str
) -> int:
    """Bounce the message's held rows and report them to its sender; return how many."""
    ident = queue_id.strip().upper()
    now = utcnow()
    reply = f"{REFUSED_REPLY} ({actor})"
    async with db.write() as session:
        query = select(Delivery).where(Delivery.queue_id == ident, Delivery.status == _HELD)
        if db.is_postgres:
            query = query.with_for_update()
        rows = list((await session.execute(query.order_by(Delivery.id))).scalars())
        message = await session.get(QueuedMessage, ident)
        reported = bool(rows) and message is not None and wants_report(message)
        if reported and message is not None:
            original = await _original(session, at_rest, rows[0].content_id)
            await queue_report(
                session, at_rest, settings, message=message, rows=rows, original=original,
                statuses=[RecipientStatus(r.recipient, "failed", REFUSED_STATUS, reply, now)
                          for r in rows],
                now=now,
            )  # fmt: skip
        for row in rows:
            await outcome.bounced(session, row, reply, now)
        await audit.append(
            session,
            AuditEvent(actor, "queue.delete", ident, "ok", "cli",
                       {"rows": len(rows), "held": True, "report": reported}),
        )  # fmt: skip
    return len(rows)


async def _original(session: AsyncSession, at_rest: AtRestCipher, content_id: str) -> bytes:
    """The queued message, whose header block the report quotes (a held message's
    content is kept: only final rows release it)."""
    content = await session.get(QueuedContent, content_id)
    if content is None or content.sealed is None:
        return b""
    return at_rest.open(content.sealed, content_context(content_id))
