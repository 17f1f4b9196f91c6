"""Putting an accepted message into the queue, inside the caller's write transaction.

The message, its sealed contents and one delivery row per recipient are added together
with the caller's audit entries; the caller's `db.write()` commits them, and only then may
the client hear 250 (DESIGN section 5.4). Contents are sealed under the service key with
the content id as associated data, so a sealed blob does not open under another row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from crypto.at_rest import AtRestCipher
from gateway.pipeline import Copy
from mailserver.queue.models import Delivery, Origin, QueuedContent, QueuedMessage, QueueEvent
from storage import audit
from storage.audit import AuditEvent
from storage.base import utcnow


@dataclass(frozen=True, slots=True)
class Submission:
    queue_id: str
    message_id: str  # without <>
    sender: str  # envelope sender; "" for a DSN
    origin: Origin
    copies: Sequence[Copy]
    submitter: str = ""
    client: str = ""


def content_context(content_id: str) -> bytes:
    return b"salus-queue-content:" + content_id.encode("ascii")


async def enqueue(
    session: AsyncSession,
    at_rest: AtRestCipher,
    submission: Submission,
    audit_events: Sequence[AuditEvent] = (),
) -> list[str]:
    """Add `submission` to the session; return the recipients, in queue order."""
    now = utcnow()
    session.add(
        QueuedMessage(
            id=submission.queue_id,
            message_id=submission.message_id,
            sender=submission.sender,
            origin=submission.origin.value,
            submitter=submission.submitter,
            client=submission.client,
            size=max((len(c.content) for c in submission.copies), default=0),
            received_at=now,
        )
    )
    # No ORM relationships here: flush each level so parents are inserted first.
    await session.flush()
    recipients: list[str] = []
    for number, copy in enumerate(submission.copies):
        content_id = f"{submission.queue_id}.{number}"
        sealed = at_rest.seal(copy.content, content_context(content_id))
        session.add(QueuedContent(id=content_id, queue_id=submission.queue_id, sealed=sealed))
        await session.flush()
        for recipient in copy.recipients:
            session.add(
                Delivery(
                    queue_id=submission.queue_id,
                    content_id=content_id,
                    recipient=recipient,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            recipients.append(recipient)
    session.add(
        QueueEvent(
            queue_id=submission.queue_id,
            at=now,
            event="accepted",
            detail=f"from <{submission.sender}> for {len(recipients)} recipient(s)",
        )
    )
    await session.flush()
    await audit.append(session, *audit_events)
    return recipients
