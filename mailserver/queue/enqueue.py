"""Putting accepted messages into the queue, inside the caller's write transaction.

Each message, its sealed contents and one delivery row per recipient are inserted with
the caller's audit entries; the caller's `db.write()` commits them, and only then may the
client hear 250 (DESIGN section 5.4). Several messages can go in one transaction (group
commit: one fsync for all of them). Contents are sealed under the service key with the
content id as associated data, so a sealed blob does not open under another row.

Rows are written parents first, without the ORM's unit of work, which would cost more
per message than the commit itself on a busy server: on SQLite by the writer's own
`sqlite3` connection, through Core elsewhere (storage.inline.insert_rows).

A held submission (gateway.consistency "hold") has its rows written `held` and a `held`
trace event with the reason: committed like any other, delivered only once released.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from crypto.at_rest import AtRestCipher
from gateway.pipeline import Copy
from mailserver.queue.models import (
    Delivery,
    DeliveryStatus,
    Origin,
    QueuedContent,
    QueuedMessage,
    QueueEvent,
)
from storage import audit
from storage.audit import AuditEvent
from storage.base import utcnow
from storage.inline import insert_rows


@dataclass(frozen=True, slots=True)
class Submission:
    queue_id: str
    message_id: str  # without <>
    sender: str  # envelope sender; "" for a DSN
    origin: Origin
    copies: Sequence[Copy]
    submitter: str = ""
    client: str = ""
    held: str = ""  # why its deliveries wait for an administrator; "" to deliver

    @property
    def recipients(self) -> list[str]:
        return [r for c in self.copies for r in c.recipients]


def content_context(content_id: str) -> bytes:
    return b"salus-queue-content:" + content_id.encode("ascii")


async def enqueue(
    session: AsyncSession,
    at_rest: AtRestCipher,
    submission: Submission,
    audit_events: Sequence[AuditEvent] = (),
) -> None:
    """Add one submission (and `audit_events`) to the session's transaction."""
    await enqueue_many(session, at_rest, [(submission, audit_events)])


async def enqueue_many(
    session: AsyncSession,
    at_rest: AtRestCipher,
    batch: Sequence[tuple[Submission, Sequence[AuditEvent]]],
) -> None:
    """Add several submissions, each with its audit entries, to one transaction."""
    now = utcnow()
    messages: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for submission, _ in batch:
        messages.append(_message_row(submission, now))
        for number, copy in enumerate(submission.copies):
            content_id = f"{submission.queue_id}.{number}"
            sealed = at_rest.seal(copy.content, content_context(content_id))
            contents.append({"id": content_id, "queue_id": submission.queue_id, "sealed": sealed})
            deliveries += [_delivery_row(submission, content_id, r, now) for r in copy.recipients]
        events.append(
            {
                "queue_id": submission.queue_id,
                "delivery_id": None,
                "at": now,
                "event": "accepted",
                "detail": f"from <{submission.sender}> for {len(submission.recipients)} recipient(s)",
            }
        )
        if submission.held:
            events.append(
                {
                    "queue_id": submission.queue_id,
                    "delivery_id": None,
                    "at": now,
                    "event": DeliveryStatus.HELD.value,
                    "detail": submission.held[:1000],
                }
            )
    for model, rows in (
        (QueuedMessage, messages),
        (QueuedContent, contents),
        (Delivery, deliveries),
        (QueueEvent, events),
    ):
        await insert_rows(session, cast(Table, model.__table__), rows)
    await audit.append(session, *(event for _, entries in batch for event in entries))


def _message_row(submission: Submission, now: Any) -> dict[str, Any]:
    return {
        "id": submission.queue_id,
        "message_id": submission.message_id,
        "sender": submission.sender,
        "origin": submission.origin.value,
        "submitter": submission.submitter,
        "client": submission.client,
        "size": max((len(c.content) for c in submission.copies), default=0),
        "received_at": now,
    }


def _delivery_row(
    submission: Submission, content_id: str, recipient: str, now: Any
) -> dict[str, Any]:
    return {
        "queue_id": submission.queue_id,
        "content_id": content_id,
        "recipient": recipient,
        "status": (DeliveryStatus.HELD if submission.held else DeliveryStatus.QUEUED).value,
        "attempts": 0,
        "next_attempt_at": now,
        "lease_owner": None,
        "lease_until": None,
        "last_reply": "",
        "delay_notified": False,
        "created_at": now,
        "final_at": None,
    }
