"""Reading a whole mailbox for export (SQLite and PostgreSQL): every folder, INBOX
first, by UID, across pages and byte-bounded batches; a blob that does not open is
reported, not skipped; nothing of another mailbox comes along."""

from __future__ import annotations

import secrets
from typing import Any

from crypto.at_rest import AtRestCipher
from crypto.service_key import ServiceKey
from mailserver.store import deliver, folders
from mailserver.store.export import StoredCopy, batches, stored_messages
from mailserver.store.flags import SEEN, Flags
from mailserver.store.reads import MessageMeta
from storage.base import utcnow
from storage.database import Database
from tests.integration.store.conftest import MakeMailbox


def _message(n: int, size: int = 0) -> bytes:
    return f"Subject: {n}\r\n\r\n".encode() + b"x" * size + b"\r\n"


async def _read(
    db: Database, at_rest: AtRestCipher, mailbox_id: int, **kw: Any
) -> list[StoredCopy]:
    return [copy async for copy in stored_messages(db, at_rest, mailbox_id, **kw)]


async def test_every_folder_in_pages_and_batches(
    db: Database, at_rest: AtRestCipher, make_mailbox: MakeMailbox
) -> None:
    mailbox_id = await make_mailbox("leaving@cabinet.test")
    other = await make_mailbox("staying@cabinet.test")
    placed = [("Archive", 1), ("INBOX", 2), ("INBOX/Labs", 3), ("Sent", 4), ("INBOX", 5),
              ("Archive", 6), ("INBOX", 7), ("Patients/Cardio", 8)]  # fmt: skip
    async with db.write() as session:
        await folders.create_folder(session, mailbox_id, "INBOX/Labs")
        await folders.create_folder(session, mailbox_id, "Patients/Cardio")
        for name, n in placed:
            await deliver(session, at_rest, mailbox_id, _message(n, 3000), folder=name,
                          flags=["\\Seen"] if n % 2 else [])  # fmt: skip
        await deliver(session, at_rest, other, _message(99))
    read = await _read(db, at_rest, mailbox_id, page=2, batch_bytes=4000)
    order = [("INBOX", 2), ("INBOX", 5), ("INBOX", 7), ("INBOX/Labs", 3), ("Archive", 1),
             ("Archive", 6), ("Patients/Cardio", 8), ("Sent", 4)]  # fmt: skip
    assert [(c.folder, c.message) for c in read] == [(f, _message(n, 3000)) for f, n in order]
    assert [c.meta.uid for c in read if c.folder == "INBOX"] == [1, 2, 3]
    assert [c.meta.flags.has(SEEN) for c in read] == [n % 2 == 1 for _, n in order]
    headers = await _read(db, at_rest, mailbox_id, page=3, header_only=True)
    assert [(c.folder, c.message) for c in headers] == [
        (f, f"Subject: {n}\r\n\r\n".encode()) for f, n in order
    ]


async def test_a_blob_that_does_not_open_is_reported(
    db: Database, at_rest: AtRestCipher, make_mailbox: MakeMailbox
) -> None:
    mailbox_id = await make_mailbox("leaving@cabinet.test")
    stranger = AtRestCipher(ServiceKey(secrets.token_bytes(32)))
    async with db.write() as session:
        await deliver(session, at_rest, mailbox_id, _message(1))
        await deliver(session, stranger, mailbox_id, _message(2))
        await deliver(session, at_rest, mailbox_id, _message(3))
    read = await _read(db, at_rest, mailbox_id)
    assert [(c.meta.uid, c.message) for c in read] == [
        (1, _message(1)),
        (2, None),
        (3, _message(3)),
    ]


async def test_a_mailbox_never_used_has_nothing(
    db: Database, at_rest: AtRestCipher, make_mailbox: MakeMailbox
) -> None:
    assert await _read(db, at_rest, await make_mailbox("new@cabinet.test")) == []


def test_batches_bound_bytes_and_keep_order() -> None:
    def meta(uid: int, size: int) -> MessageMeta:
        return MessageMeta(uid, Flags(), utcnow(), size, 1, f"b{uid}")

    metas = [meta(1, 10), meta(2, 10), meta(3, 50), meta(4, 5), meta(5, 10)]
    assert [[m.uid for m in b] for b in batches(metas, 20)] == [[1, 2], [3], [4, 5]]
    assert [[m.uid for m in b] for b in batches(metas, 1000)] == [[1, 2, 3, 4, 5]]
