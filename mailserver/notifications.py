"""Notifications about delivered messages: the `processed` MDN a recipient's Salus sends
when a message asks for one (RFC 8098), and tying the reports that come back (MDNs and
DSNs) to the original message, so that `salus trace` shows them.

`queue_mdn` runs inside the delivering transaction: the message lands in the mailbox
and its MDN is queued together, or neither. The MDN is a report (null reverse-path,
RFC 8098 §3, no DSN about it); when it goes to another operator the relay signs it with
the recipient's key and encrypts it for the original sender (`relay.outbound`).
`record_report` runs inside the MX's accepting transaction, with the decrypted report.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import mdn
from gateway.pipeline import Copy, bare_message_id
from mailserver.app import Runtime
from mailserver.queue.enqueue import Submission, enqueue
from mailserver.queue.ids import new_queue_id
from mailserver.queue.models import Delivery, Origin, QueuedMessage, QueueEvent
from mailserver.queue.outcome import Pending
from storage import audit
from storage.audit import AuditEvent

ACTOR = "salus:delivery"


async def queue_mdn(
    session: AsyncSession,
    runtime: Runtime,
    row: Delivery | Pending,
    content: bytes,
    now: dt.datetime,
) -> str | None:
    """Queue a `processed` MDN for the message `row` just delivered, if it asks for one
    (and is no report itself); return the MDN's queue id."""
    if not mdn.may_ask(content):
        return None
    message = await session.get(QueuedMessage, row.queue_id)
    if message is None or message.origin == Origin.DSN.value:
        return None
    headers = mdn.headers_of(content)
    to = mdn.wanted(headers, message.sender)
    if to is None:
        return None
    hostname = runtime.settings.service.hostname
    body = mdn.processed(headers, recipient=row.recipient, to=to, hostname=hostname, now=now)
    queue_id = new_queue_id()
    report_id = bare_message_id(str(mdn.headers_of(body).get("Message-ID", "")))
    submission = Submission(queue_id, report_id, "", Origin.DSN, [Copy(body, (to,))])
    event = AuditEvent(
        ACTOR,
        "mdn.queued",
        queue_id,
        "processed",
        "",
        {"about": message.id, "recipient": row.recipient, "to": to},
    )
    await enqueue(session, runtime.at_rest, submission, [event])
    session.add(
        QueueEvent(
            queue_id=message.id,
            delivery_id=row.id,
            at=now,
            event="mdn-sent",
            detail=f"processed MDN {queue_id} to <{to}>",
        )
    )
    return queue_id


async def _original(session: AsyncSession, message_id: str, sender: str) -> QueuedMessage | None:
    """The latest message `sender` submitted here with that Message-ID."""
    query = (
        select(QueuedMessage)
        .where(
            QueuedMessage.message_id == message_id,
            QueuedMessage.sender == sender.lower(),
            QueuedMessage.origin == Origin.SUBMISSION.value,
        )
        .order_by(QueuedMessage.received_at.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def record_report(
    session: AsyncSession,
    report: mdn.ReportSeen,
    *,
    about_sender: str,
    arrived_as: str,
    now: dt.datetime,
) -> str | None:
    """Tie an incoming report to the message it is about: sent by `about_sender` (the
    report's recipient here) with that Message-ID. Returns the original's queue id."""
    original = await _original(session, report.original_message_id, about_sender)
    if original is None:
        return None
    row = (
        await session.execute(
            select(Delivery).where(
                Delivery.queue_id == original.id, Delivery.recipient == report.recipient
            )
        )
    ).scalar_one_or_none()
    name = "mdn-received" if report.kind == "mdn" else "dsn-received"
    session.add(
        QueueEvent(
            queue_id=original.id,
            delivery_id=None if row is None else row.id,
            at=now,
            event=name,
            detail=f"{report.outcome} for <{report.recipient}> (report {arrived_as})",
        )
    )
    await audit.append(
        session,
        AuditEvent(
            "salus:mx",
            f"{report.kind}.received",
            original.id,
            report.outcome[:64],
            "",
            {"recipient": report.recipient, "report": arrived_as},
        ),
    )
    return original.id
