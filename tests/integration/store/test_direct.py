"""The inline SQLite reads (mailserver/store/direct.py) answer what the SQLAlchemy reads
(mailserver/store/reads.py) answer: contents, metadata and what changed since a modseq,
after deliveries, flag changes and expunges. On PostgreSQL the Reader has no inline
path and these compare the Reader with the session reads it then uses."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from pathlib import Path

import pytest

from crypto.at_rest import AtRestCipher
from mailserver.store import deliver, reads, writes
from mailserver.store.direct import DirectBusy, DirectReads
from mailserver.store.flags import DELETED, SEEN, Flags
from mailserver.store.reader import Reader
from mailserver.store.reads import Delta, MessageMeta
from storage.database import Database
from tests.integration.store.conftest import MakeMailbox


async def _folder(db: Database, at_rest: AtRestCipher, mailbox: int, count: int) -> int:
    async with db.write() as session:
        for n in range(count):
            body = f"From: s{n}@labo.test\r\nSubject: {n}\r\n\r\nbody {n}\r\n".encode()
            stored = await deliver(
                session,
                at_rest,
                mailbox,
                body,
                internal_date=dt.datetime(2024, 3, 4, 10, n, tzinfo=dt.UTC),
            )
    return stored.folder_id


async def _session_delta(db: Database, folder: int, since: int, **kw: object) -> Delta | None:
    async with db.read() as session:
        return await reads.delta(session, folder, since, **kw)  # type: ignore[arg-type]


async def test_reader_answers_like_the_session_reads(
    db: Database, at_rest: AtRestCipher, make_mailbox: MakeMailbox
) -> None:
    mailbox = await make_mailbox("direct@hopital.test")
    folder = await _folder(db, at_rest, mailbox, 6)
    reader = Reader(db)
    try:
        async with db.read() as session:
            expected = await reads.sealed_contents(session, folder, [2, 4, 9], header_only=False)
            all_meta = await reads.all_metadata(session, folder)
            start = (await reads.folder_state(session, folder) or (0, 0))[0]
        assert [m.uid for m, _ in expected] == [2, 4]
        assert await reader.sealed_contents(folder, [2, 4, 9], header_only=False) == expected
        assert await reader.metadata(folder, None) == all_meta
        assert await reader.metadata(folder, [6, 1, 7]) == [all_meta[0], all_meta[5]]
        assert all_meta[0].internal_date == dt.datetime(2024, 3, 4, 10, 0, tzinfo=dt.UTC)
        async with db.read() as session:
            opened = await reads.opening(session, mailbox, "INBOX")
        assert opened is not None and opened.folder_id == folder
        assert opened.index == [(m.uid, m.flags.system) for m in all_meta]
        assert await reader.opening(mailbox, "INBOX") == opened
        assert await reader.opening(mailbox, "inbox-not-there") is None

        async with db.write() as session:
            seen = await writes.add_system_flags(session, folder, [1, 2], SEEN)
            await writes.set_flags(session, folder, [3, 5], writes.FlagMode.ADD, Flags(DELETED))
            await writes.expunge(session, mailbox, folder, [3])
        known = [1, 2, 3, 4, 5, 6]
        cases: list[tuple[set[int], list[int] | None, bool]] = [
            (set(), known, False),
            ({seen.modseq}, known, False),
            (set(), None, True),
        ]
        for excluding, known_uids, look in cases:
            args = {"excluding": excluding, "known": known_uids, "look": look}
            delta = await reader.delta(
                folder, start, excluding=excluding, known=known_uids, look=look
            )
            assert delta == await _session_delta(db, folder, start, **args)
        delta = await reader.delta(folder, start, excluding=(), known=known, look=False)
        assert delta is not None and delta.alive == {1, 2, 4, 5, 6}
        assert {c.uid for c in delta.changes} == {1, 2, 5}
        unchanged = await reader.delta(folder, delta.highest, excluding=(), known=known, look=False)
        assert unchanged == Delta(delta.highest, [], None)
        async with db.read() as session:
            reopened = await reads.opening(session, mailbox, "INBOX")
        assert reopened is not None and reopened.highestmodseq == delta.highest
        assert [uid for uid, _ in reopened.index] == [1, 2, 4, 5, 6]
        assert reopened.index[0][1] & SEEN and not reopened.index[2][1] & SEEN
        assert await reader.opening(mailbox, "INBOX") == reopened
        assert await reader.delta(folder + 1000, 0, excluding=(), known=None, look=False) is None
    finally:
        reader.close()


async def test_direct_reads_never_write_and_give_way_when_busy(
    db: Database, at_rest: AtRestCipher, make_mailbox: MakeMailbox, tmp_path: Path
) -> None:
    direct = DirectReads.of(db)
    if direct is None:
        assert db.is_postgres
        pytest.skip("no inline reads on PostgreSQL")
    mailbox = await make_mailbox("busy@hopital.test")
    folder = await _folder(db, at_rest, mailbox, 1)
    try:
        assert [m.uid for m in direct.metadata(folder, None)] == [1]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            direct._connection().execute("DELETE FROM store_messages")
    finally:
        direct.close()
    # A database another connection holds exclusively (as recovery after a crash does):
    # the inline read gives way at once instead of blocking the event loop.
    path = str(tmp_path / "locked.db")
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("PRAGMA journal_mode=WAL")
    locker.execute(
        "CREATE TABLE store_messages (folder_id, uid, system_flags, keywords, "
        "internal_date, size, modseq, blob_id)"
    )
    locker.execute("PRAGMA locking_mode=EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")
    locked = DirectReads(path)
    try:
        started = time.monotonic()
        with pytest.raises(DirectBusy):
            locked.metadata(1, None)
        assert time.monotonic() - started < 1
    finally:
        locker.execute("ROLLBACK")
        locker.close()
        locked.close()


async def test_all_metadata_is_read_again_only_when_the_folder_changed(
    db: Database, at_rest: AtRestCipher, make_mailbox: MakeMailbox
) -> None:
    mailbox = await make_mailbox("cache@hopital.test")
    folder = await _folder(db, at_rest, mailbox, 3)
    reader = Reader(db)

    async def session_rows() -> list[MessageMeta]:
        async with db.read() as session:
            return await reads.all_metadata(session, folder)

    try:
        first = await reader.all_metadata(folder)
        assert first == await session_rows()
        again = await reader.all_metadata(folder)
        assert (again is first) == db.is_sqlite  # kept while nothing changed
        changes = [
            lambda s: writes.add_system_flags(s, folder, [2], SEEN),
            lambda s: deliver(s, at_rest, mailbox, b"Subject: new\r\n\r\nx\r\n"),
            lambda s: writes.set_flags(s, folder, [1], writes.FlagMode.ADD, Flags(DELETED)),
            lambda s: writes.expunge(s, mailbox, folder),
        ]
        for change in changes:
            async with db.write() as session:
                await change(session)
            assert await reader.all_metadata(folder) == await session_rows()
        assert [m.uid for m in await reader.all_metadata(folder)] == [2, 3, 4]
    finally:
        reader.close()
