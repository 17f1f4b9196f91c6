"""GroupCommit: concurrent writers share commits on SQLite (one transaction each on
PostgreSQL), one job's failure undoes only that job, and every caller returns after its
write is committed."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from mailserver.store.group_commit import GroupCommit
from storage import audit
from storage.audit import AuditEntry, AuditEvent
from storage.base import utcnow
from storage.database import Database


async def _entries(db: Database) -> int:
    async with db.read() as session:
        return int((await session.execute(select(func.count(AuditEntry.seq)))).scalar_one())


async def test_jobs_commit_and_failures_stay_alone(db: Database) -> None:
    # The chain's head row exists once anything was audited (a login, in real life).
    await audit.record(db, AuditEvent("t", "test.setup", "-", "ok"))
    writes = GroupCommit(db)
    commits = 0
    original = db.write

    def counting_write():  # type: ignore[no-untyped-def]  # wraps Database.write
        nonlocal commits
        commits += 1
        return original()

    db.write = counting_write  # type: ignore[method-assign]

    async def good(n: int) -> int:
        async def job(session: AsyncSession) -> int:
            await audit.append(session, AuditEvent("t", "test.write", str(n), "ok"))
            return n

        return await writes.run(job)

    async def bad(session: AsyncSession) -> None:
        await audit.append(session, AuditEvent("t", "test.write", "bad", "ok"))
        raise ValueError("this job fails")

    results = await asyncio.gather(
        *(good(n) for n in range(20)), writes.run(bad), return_exceptions=True
    )
    await writes.close()
    db.write = original  # type: ignore[method-assign]
    assert results[:20] == list(range(20))
    assert isinstance(results[20], ValueError)
    assert await _entries(db) == 21
    assert await audit.verify(db) == 21
    if db.is_sqlite:
        assert commits < 20  # shared commits
    else:
        assert commits == 21  # one transaction each


async def test_a_job_alone_in_its_batch_fails_alone(db: Database) -> None:
    # Without others to share its commit the job runs without a SAVEPOINT: its failure
    # rolls back the transaction, its events are not appended, its caller gets its error.
    await audit.record(db, AuditEvent("t", "test.setup", "-", "ok"))
    writes = GroupCommit(db)

    async def bad(session: AsyncSession) -> None:
        await audit.append(session, AuditEvent("t", "test.write", "bad", "ok"))
        raise ValueError("this job fails")

    async def good(session: AsyncSession) -> str:
        await audit.append(session, AuditEvent("t", "test.write", "good", "ok"))
        return "done"

    events = [AuditEvent("t", "test.event", "bad", "ok")]
    try:
        await writes.run(bad, events=events)
    except ValueError as exc:
        assert str(exc) == "this job fails"
    else:
        raise AssertionError("the failing job's error was not raised")
    assert await _entries(db) == 1
    assert await writes.run(good) == "done"
    await writes.close()
    assert await _entries(db) == 2
    assert await audit.verify(db) == 2


async def test_reads_are_recorded_without_fsync_and_every_other_write_with_it(
    db: Database,
) -> None:
    # SQLite's synchronous level seen inside each transaction: NORMAL (1) only for a
    # batch made of records of reads, FULL (2) for any batch holding another write and
    # for every transaction that follows, whoever opens it.
    await audit.record(db, AuditEvent("t", "test.setup", "-", "ok"))
    writes = GroupCommit(db)

    async def level(session: AsyncSession) -> int:
        if db.is_postgres:  # PostgreSQL keeps its own durability settings
            return 0
        return int((await session.execute(text("PRAGMA synchronous"))).scalar_one())

    read = AuditEvent("t", "imap.fetch", "INBOX", "ok")
    alone = await writes.run(level, events=[read], fsync=False)
    mixed = await asyncio.gather(
        writes.run(level, events=[read], fsync=False), writes.run(level), writes.record(read)
    )
    reads_only = await asyncio.gather(
        writes.run(level, fsync=False), writes.run(level, fsync=False)
    )
    async with db.write() as session:
        after = await level(session)
    await writes.close()
    if db.is_sqlite:
        assert (alone, mixed[:2], reads_only, after) == (1, [2, 2], [1, 1], 2)
    assert await audit.verify(db) == 4


async def test_entries_appended_in_plain_sqlite_read_back_like_the_orms(db: Database) -> None:
    # On SQLite the batch's entries are written on the writer's sqlite3 connection: the
    # rows must be the ones SQLAlchemy would store (the datetime's text above all), or
    # the chain no longer verifies and `at` reads back wrong.
    await audit.record(db, AuditEvent("t", "test.setup", "-", "ok"))  # alone, before the batch
    writes = GroupCommit(db)
    detail = {"uidvalidity": 7, "uids": "1:3,9", "items": "BODY[]", "nom": "Éloïse"}
    before = utcnow()
    await asyncio.gather(
        writes.record(AuditEvent("a@salus.test", "imap.fetch", "a/INBOX", "ok", "imap:x", detail)),
        writes.record(AuditEvent("b@salus.test", "imap.select", "b/INBOX", "ok"), fsync=False),
    )
    await writes.close()
    assert await audit.verify(db) == 3
    async with db.read() as session:
        entries = list(
            (await session.execute(select(AuditEntry).order_by(AuditEntry.seq))).scalars()
        )
        if db.is_sqlite:
            stored = [r[0] for r in await session.execute(text("SELECT at FROM audit_log"))]
    # SQLite appends one batch in the order the jobs came; PostgreSQL runs each in its
    # own transaction, which take the chain's head in either order.
    appended = entries[1:] if db.is_sqlite else sorted(entries[1:], key=lambda e: e.actor)
    assert [e.seq for e in entries] == [1, 2, 3]
    assert [(e.actor, e.action) for e in appended] == [
        ("a@salus.test", "imap.fetch"),
        ("b@salus.test", "imap.select"),
    ]
    assert json.loads(appended[0].detail) == detail and appended[1].detail == "{}"
    assert all(before <= e.at <= utcnow() and e.at.tzinfo is not None for e in entries[1:])
    if db.is_sqlite:
        assert len({len(text_at) for text_at in stored}) == 1  # one format for every entry


async def test_an_atomic_job_that_fails_leaves_its_batch_committed(db: Database) -> None:
    # An atomic job raises before it writes anything: it shares the batch without a
    # SAVEPOINT, and its failure still touches nobody else's write.
    await audit.record(db, AuditEvent("t", "test.setup", "-", "ok"))
    writes = GroupCommit(db)

    async def refused(_session: AsyncSession) -> None:
        raise LookupError("nothing to change")

    async def good(n: int) -> int:
        async def job(session: AsyncSession) -> int:
            await audit.append(session, AuditEvent("t", "test.write", str(n), "ok"))
            return n

        return await writes.run(job, atomic=n % 2 == 0)

    event = AuditEvent("t", "test.event", "refused", "ok")
    results = await asyncio.gather(
        good(0),
        writes.run(refused, events=[event], atomic=True),
        good(1),
        good(2),
        return_exceptions=True,
    )
    await writes.close()
    assert results[0] == 0 and results[2:] == [1, 2]
    assert isinstance(results[1], LookupError)
    assert await _entries(db) == 4  # the setup and the three good jobs, not the event
    assert await audit.verify(db) == 4
