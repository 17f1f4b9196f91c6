"""Queueing a DSN to the sender of a message that bounced or is delayed.

The report is a new queued message with a null envelope sender (RFC 5321 §4.5.5), so it
is delivered by the same workers with the same guarantees, and a failure to deliver it
never produces another report. Called inside the transaction that records the outcome.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from crypto.at_rest import AtRestCipher
from gateway import dsn
from gateway.pipeline import Copy
from mailserver.queue.enqueue import Submission, enqueue
from mailserver.queue.ids import new_queue_id
from mailserver.queue.models import Delivery, Origin, QueuedMessage, QueueEvent
from storage.audit import AuditEvent


def wants_report(message: QueuedMessage) -> bool:
    """Reports go to real senders only: never to "<>", never about a report."""
    return bool(message.sender) and message.origin != Origin.DSN.value


async def queue_report(
    session: AsyncSession,
    at_rest: AtRestCipher,
    settings: Settings,
    *,
    message: QueuedMessage,
    rows: Sequence[Delivery],
    original: bytes,
    statuses: Sequence[dsn.RecipientStatus],
    now: dt.datetime,
) -> str:
    """Queue one report about `rows` (each with its status, in order) to the sender of
    `message`; return its queue id."""
    queue_id = new_queue_id()
    hostname = settings.service.hostname
    report = dsn.Report(
        reporting_mta=hostname,
        postmaster=f"postmaster@{settings.service.domain}",
        to=message.sender,
        queue_id=message.id,
        arrival=message.received_at,
        original=original,
        recipients=list(statuses),
        message_id=f"dsn.{queue_id}@{hostname}",
    )
    body = dsn.build(report, now)
    submission = Submission(
        queue_id=queue_id,
        message_id=report.message_id,
        sender="",
        origin=Origin.DSN,
        copies=[Copy(body, (message.sender,))],
    )
    events = [
        AuditEvent(
            "salus:delivery",
            "dsn.queued",
            queue_id,
            status.action,
            "",
            {"about": message.id, "recipient": row.recipient, "status": status.status},
        )
        for row, status in zip(rows, statuses, strict=True)
    ]
    await enqueue(session, at_rest, submission, events)
    session.add_all(
        QueueEvent(
            queue_id=message.id,
            delivery_id=row.id,
            at=now,
            event="dsn-queued",
            detail=f"{status.action} report {queue_id} to <{message.sender}>",
        )
        for row, status in zip(rows, statuses, strict=True)
    )
    return queue_id
