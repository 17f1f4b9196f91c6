"""Fixtures for the queue tests: a service-key cipher and a helper that enqueues."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence

import pytest

from crypto.at_rest import AtRestCipher
from crypto.service_key import ServiceKey
from gateway.pipeline import Copy
from mailserver.queue.enqueue import Submission, enqueue
from mailserver.queue.ids import new_queue_id
from mailserver.queue.models import Origin
from storage.database import Database

Enqueue = Callable[..., Awaitable[str]]


@pytest.fixture
def at_rest() -> AtRestCipher:
    return AtRestCipher(ServiceKey(secrets.token_bytes(32)))


def message(sender: str, recipients: Sequence[str], body: str = "Confidential body") -> bytes:
    return (
        f"From: {sender}\r\nTo: {', '.join(recipients)}\r\nSubject: test\r\n"
        f"Message-ID: <{secrets.token_hex(6)}@salus.test>\r\n\r\n{body}\r\n"
    ).encode()


@pytest.fixture
def put(db: Database, at_rest: AtRestCipher) -> Enqueue:
    async def put(
        recipients: Sequence[str],
        *,
        sender: str = "doctor.1@salus.test",
        content: bytes | None = None,
        message_id: str = "m1@salus.test",
    ) -> str:
        queue_id = new_queue_id()
        raw = content if content is not None else message(sender, recipients)
        submission = Submission(
            queue_id=queue_id,
            message_id=message_id,
            sender=sender,
            origin=Origin.SUBMISSION,
            copies=[Copy(raw, tuple(recipients))],
            submitter=sender,
            client="127.0.0.1",
        )
        async with db.write() as session:
            await enqueue(session, at_rest, submission)
        return queue_id

    return put


async def inbox(db: Database, at_rest: AtRestCipher, mailbox_id: int) -> list[bytes]:
    """The messages in a mailbox's INBOX, opened."""
    from mailserver.store import reads, sealing  # noqa: PLC0415

    async with db.read() as session:
        folder = await reads.folder_by_name(session, mailbox_id, "INBOX")
        if folder is None:
            return []
        metas = await reads.all_metadata(session, folder.id)
        sealed = await reads.sealed_contents(
            session, folder.id, [m.uid for m in metas], header_only=False
        )
    return [sealing.open_message(at_rest, mailbox_id, m.blob_id, blob) for m, blob in sealed]
