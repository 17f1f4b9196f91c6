"""Flags, expunge, copy and move in the store: UIDs never reused, usage exact, blobs
shared within a mailbox and sealed again across mailboxes (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crypto.at_rest import AtRestCipher
from mailserver.store import QuotaExceeded, deliver, reads, sealing, writes
from mailserver.store.errors import FolderNotFound
from mailserver.store.flags import SEEN, Flags
from mailserver.store.models import Blob, StoreMailbox
from mailserver.store.writes import FlagMode
from storage.database import Database
from tests.integration.store.conftest import MakeMailbox

MESSAGE = b"From: a@hopital.test\r\nSubject: x\r\n\r\nbody\r\n"


async def _inbox(db: Database, mailbox_id: int) -> int:
    async with db.read() as session:
        folder = await reads.folder_by_name(session, mailbox_id, "INBOX")
    assert folder is not None
    return folder.id


async def _deliver(db: Database, at_rest: AtRestCipher, mailbox_id: int, n: int) -> None:
    async with db.write() as session:
        for _ in range(n):
            await deliver(session, at_rest, mailbox_id, MESSAGE)


async def _used(db: Database, mailbox_id: int) -> int:
    async with db.read() as session:
        row = await session.get(StoreMailbox, mailbox_id)
    assert row is not None
    return row.used_bytes


async def _blob_count(db: Database) -> int:
    async with db.read() as session:
        return int((await session.execute(select(func.count(Blob.id)))).scalar_one())


async def test_flag_modes(db: Database, at_rest: AtRestCipher, make_mailbox: MakeMailbox) -> None:
    mailbox_id = await make_mailbox("bob@cabinet.test")
    await _deliver(db, at_rest, mailbox_id, 2)
    inbox = await _inbox(db, mailbox_id)
    async with db.write() as session:
        added = await writes.set_flags(
            session, inbox, [1, 2], FlagMode.ADD, Flags.parse(["\\Seen", "urgent"])
        )
        removed = await writes.set_flags(
            session, inbox, [2], FlagMode.REMOVE, Flags.parse(["\\Seen"])
        )
        unchanged = await writes.set_flags(
            session, inbox, [2], FlagMode.REMOVE, Flags.parse(["\\Seen"])
        )
        replaced = await writes.set_flags(
            session, inbox, [1], FlagMode.REPLACE, Flags.parse(["\\Flagged"])
        )
    assert added.flags[1].names() == ["\\Seen", "urgent"]
    assert removed.flags[2].names() == ["urgent"]
    assert unchanged.modseq == 0
    assert replaced.flags[1].names() == ["\\Flagged"]
    assert removed.modseq > added.modseq
    async with db.read() as session:
        changes = await reads.changes_since(session, inbox, added.modseq)
    assert [c.uid for c in changes] == [1, 2]


async def test_expunge_never_reuses_uids_and_frees_space(
    db: Database, at_rest: AtRestCipher, make_mailbox: MakeMailbox
) -> None:
    mailbox_id = await make_mailbox("bob@cabinet.test")
    await _deliver(db, at_rest, mailbox_id, 3)
    inbox = await _inbox(db, mailbox_id)
    async with db.write() as session:
        await writes.set_flags(session, inbox, [2, 3], FlagMode.ADD, Flags.parse(["\\Deleted"]))
        only_three = await writes.expunge(session, mailbox_id, inbox, [3, 1])
        rest = await writes.expunge(session, mailbox_id, inbox)
    assert (only_three, rest) == ([3], [2])
    assert await _used(db, mailbox_id) == len(MESSAGE)
    assert await _blob_count(db) == 1
    await _deliver(db, at_rest, mailbox_id, 1)
    async with db.read() as session:
        assert [uid for uid, _ in await reads.index(session, inbox)] == [1, 4]


async def test_copy_shares_blob_move_keeps_usage(
    db: Database, at_rest: AtRestCipher, make_mailbox: MakeMailbox
) -> None:
    mailbox_id = await make_mailbox("bob@cabinet.test")
    await _deliver(db, at_rest, mailbox_id, 2)
    inbox = await _inbox(db, mailbox_id)
    async with db.write() as session:
        copied = await writes.copy_messages(
            session, at_rest, (mailbox_id, inbox), [1, 2], (mailbox_id, "Archive")
        )
    assert [dst for _, dst in copied.pairs] == [1, 2]
    assert await _blob_count(db) == 2
    assert await _used(db, mailbox_id) == 4 * len(MESSAGE)
    async with db.write() as session:
        moved = await writes.copy_messages(
            session, at_rest, (mailbox_id, inbox), [2], (mailbox_id, "Trash"), move=True
        )
    assert moved.pairs == [(2, 1)]
    assert await _used(db, mailbox_id) == 4 * len(MESSAGE)
    async with db.read() as session:
        assert [uid for uid, _ in await reads.index(session, inbox)] == [1]


async def test_copy_to_another_mailbox_reseals_and_counts_quota(
    db: Database, at_rest: AtRestCipher, make_mailbox: MakeMailbox
) -> None:
    source = await make_mailbox("bob@cabinet.test")
    target = await make_mailbox("secretariat@hopital.test", quota=len(MESSAGE) * 3)
    await _deliver(db, at_rest, source, 2)
    inbox = await _inbox(db, source)
    async with db.write() as session:
        result = await writes.copy_messages(
            session, at_rest, (source, inbox), [1, 2], (target, "INBOX")
        )
    async with db.read() as session:
        [(meta, sealed)] = await reads.sealed_contents(
            session, result.folder_id, [1], header_only=False
        )
    assert sealing.open_message(at_rest, target, meta.blob_id, sealed) == MESSAGE
    assert await _used(db, target) == 2 * len(MESSAGE)
    with pytest.raises(QuotaExceeded):
        async with db.write() as session:
            await writes.copy_messages(session, at_rest, (source, inbox), [1, 2], (target, "INBOX"))
    assert await _used(db, target) == 2 * len(MESSAGE)


async def test_implicit_seen_changes_only_the_rows_lacking_it(
    db: Database, at_rest: AtRestCipher, make_mailbox: MakeMailbox
) -> None:
    # On SQLite these statements run in plain sqlite3 on the writer's connection, on
    # PostgreSQL through SQLAlchemy: the same answers and the same rows either way.
    mailbox_id = await make_mailbox("seen@cabinet.test")
    await _deliver(db, at_rest, mailbox_id, 3)
    inbox = await _inbox(db, mailbox_id)
    async with db.write() as session:
        await writes.set_flags(session, inbox, [2], FlagMode.ADD, Flags.parse(["\\Seen", "lu"]))
    async with db.read() as session:
        before = await reads.folder_state(session, inbox)
    assert before is not None
    async with db.write() as session:
        seen = await writes.add_system_flags(session, inbox, [1, 2, 3, 9], SEEN)
        again = await writes.add_system_flags(session, inbox, [1, 3], SEEN)
    assert seen.changed == {1, 3} and set(seen.flags) == {1, 3}
    assert seen.flags[1].names() == ["\\Seen"]
    assert seen.modseq == before[0] + 1
    assert again.changed == set() and again.modseq == 0
    async with db.read() as session:
        metas = await reads.all_metadata(session, inbox)
        after = await reads.folder_state(session, inbox)
    assert [(m.uid, m.flags.names(), m.modseq) for m in metas] == [
        (1, ["\\Seen"], seen.modseq),
        (2, ["\\Seen", "lu"], metas[1].modseq),
        (3, ["\\Seen"], seen.modseq),
    ]
    assert metas[1].modseq < seen.modseq
    assert after == (seen.modseq + 1, before[1])  # the second call raised it once more
    with pytest.raises(FolderNotFound):
        async with db.write() as session:
            await writes.add_system_flags(session, inbox + 1000, [1], SEEN)
