"""`deliver`: UIDs, first-use folders, sealing at rest, quota (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import select, text

from crypto.at_rest import AtRestCipher, SealedDataError
from mailserver.store import QuotaExceeded, deliver, reads, sealing
from mailserver.store.errors import FolderNotFound, MailboxUnavailable
from mailserver.store.models import Blob, Folder, StoreMailbox
from storage.database import Database
from tests.integration.store.conftest import MakeMailbox

MESSAGE = (
    b"From: Dr Alice Martin <alice@hopital.test>\r\n"
    b"To: bob@cabinet.test\r\n"
    b"Subject: Confidential lab result MARKER-7731\r\n"
    b"\r\n"
    b"Potassium 5.9 mmol/L MARKER-7731\r\n"
)


async def test_first_delivery_creates_inbox_and_special_use_folders(
    db: Database, at_rest: AtRestCipher, make_mailbox: MakeMailbox
) -> None:
    mailbox_id = await make_mailbox("bob@cabinet.test")
    async with db.write() as session:
        stored = await deliver(session, at_rest, mailbox_id, MESSAGE)
    assert (stored.uid, stored.size) == (1, len(MESSAGE))
    async with db.read() as session:
        folders = (
            await session.execute(
                select(Folder.name, Folder.special_use).where(Folder.mailbox_id == mailbox_id)
            )
        ).all()
    assert dict(folders) == {
        "INBOX": None,
        "Sent": "\\Sent",
        "Drafts": "\\Drafts",
        "Trash": "\\Trash",
        "Junk": "\\Junk",
        "Archive": "\\Archive",
    }


async def test_uids_strictly_increase_across_concurrent_deliveries(
    db: Database, at_rest: AtRestCipher, make_mailbox: MakeMailbox
) -> None:
    mailbox_id = await make_mailbox("bob@cabinet.test")

    async def one() -> int:
        async with db.write() as session:
            return (await deliver(session, at_rest, mailbox_id, MESSAGE)).uid

    uids = await asyncio.gather(*(one() for _ in range(12)))
    assert sorted(uids) == list(range(1, 13))
    async with db.read() as session:
        usage = await session.get(StoreMailbox, mailbox_id)
    assert usage is not None
    assert usage.used_bytes == 12 * len(MESSAGE)


async def test_no_plaintext_at_rest_and_blob_bound_to_its_row(
    db: Database, at_rest: AtRestCipher, make_mailbox: MakeMailbox
) -> None:
    mailbox_id = await make_mailbox("bob@cabinet.test")
    async with db.write() as session:
        await deliver(session, at_rest, mailbox_id, MESSAGE)
        await deliver(session, at_rest, mailbox_id, MESSAGE.replace(b"5.9", b"3.1"))
    async with db.read() as session:
        blobs = list((await session.execute(select(Blob).order_by(Blob.id))).scalars())
        raw = (await session.execute(text("SELECT sealed, sealed_header FROM store_blobs"))).all()
    for sealed, header in raw:
        assert b"MARKER-7731" not in bytes(sealed)
        assert b"MARKER-7731" not in bytes(header)
    first, second = blobs
    assert sealing.open_message(at_rest, mailbox_id, first.id, first.sealed).startswith(b"From:")
    with pytest.raises(SealedDataError):
        sealing.open_message(at_rest, mailbox_id, first.id, second.sealed)
    with pytest.raises(SealedDataError):
        sealing.open_message(at_rest, mailbox_id + 1, first.id, first.sealed)


async def test_quota_refuses_and_writes_nothing(
    db: Database, at_rest: AtRestCipher, make_mailbox: MakeMailbox
) -> None:
    mailbox_id = await make_mailbox("small@cabinet.test", quota=len(MESSAGE) + 10)
    async with db.write() as session:
        await deliver(session, at_rest, mailbox_id, MESSAGE)
    with pytest.raises(QuotaExceeded):
        async with db.write() as session:
            await deliver(session, at_rest, mailbox_id, MESSAGE)
    async with db.read() as session:
        inbox = await reads.folder_by_name(session, mailbox_id, "INBOX")
        assert inbox is not None
        assert [uid for uid, _ in await reads.index(session, inbox.id)] == [1]


async def test_flags_folder_and_date_are_kept(
    db: Database, at_rest: AtRestCipher, make_mailbox: MakeMailbox
) -> None:
    mailbox_id = await make_mailbox("bob@cabinet.test")
    when = dt.datetime(2024, 3, 1, 8, 30, tzinfo=dt.UTC)
    async with db.write() as session:
        stored = await deliver(
            session,
            at_rest,
            mailbox_id,
            MESSAGE,
            folder="Sent",
            flags=("\\Seen", "$Label1"),
            internal_date=when,
        )
    async with db.read() as session:
        [meta] = await reads.metadata(session, stored.folder_id, [stored.uid])
    assert meta.flags.names() == ["\\Seen", "$Label1"]
    assert meta.internal_date == when


async def test_unknown_folder_and_remote_mailbox_are_refused(
    db: Database, at_rest: AtRestCipher, make_mailbox: MakeMailbox
) -> None:
    mailbox_id = await make_mailbox("bob@cabinet.test")
    remote = await make_mailbox("carol@autre-operateur.test", local=False)
    with pytest.raises(FolderNotFound):
        async with db.write() as session:
            await deliver(session, at_rest, mailbox_id, MESSAGE, folder="sent")
    with pytest.raises(MailboxUnavailable):
        async with db.write() as session:
            await deliver(session, at_rest, remote, MESSAGE)
