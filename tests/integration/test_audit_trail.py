"""The audit chain verifies when whole, and `verify` names what was altered or removed:
an entry's content, entries at the start (outside retention), in the middle or at the
end; retention's own removals leave a chain that verifies. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, update

from config.settings import load_settings
from mailserver.retention import purge_audit
from storage import audit
from storage.audit import AuditEntry, AuditEvent
from storage.base import utcnow
from storage.database import Database
from storage.errors import AuditChainBroken

SALUS = Path(sys.executable).parent / "salus"
FROM_THE_START = "missing from the start of the chain (removed outside retention)"


def _event(n: int) -> AuditEvent:
    return AuditEvent("admin", "mailbox.add", f"dr{n}@salus.test", "ok", "cli", {"n": n})


async def test_chain_verifies_and_exports(db: Database) -> None:
    await audit.record(db, *(_event(n) for n in range(5)))
    async with db.write() as session:
        await audit.append(session, _event(5))
    assert await audit.verify(db) == 6
    rows = [e async for e in audit.export(db)]
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5, 6]
    later = [e async for e in audit.export(db, dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))]
    assert later == []


async def test_altered_entry_is_named(db: Database) -> None:
    await audit.record(db, *(_event(n) for n in range(4)))
    async with db.write() as session:
        await session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(result="denied"))
    with pytest.raises(AuditChainBroken) as info:
        await audit.verify(db)
    assert info.value.seq == 3


async def test_rolled_back_action_leaves_no_entry(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.write() as session:
            await audit.append(session, _event(1))
            raise RuntimeError("action failed")
    assert await audit.verify(db) == 0


async def test_concurrent_first_appends_form_one_chain(db: Database) -> None:
    """On a fresh database, the first appends of concurrent writers (several nodes on
    PostgreSQL) lock the head row the migration created; none fails, one chain."""
    import asyncio  # noqa: PLC0415

    await asyncio.gather(*(audit.record(db, _event(n)) for n in range(8)))
    assert await audit.verify(db) == 8


async def test_entries_appended_during_the_walk_are_left_for_the_next_run(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`salus audit verify` on a running server: what the server appends while the
    chain is walked is not taken for a removal at the end."""
    await audit.record(db, *(_event(n) for n in range(6)))
    walk = audit._entries  # the walk, with an append in the middle of it

    async def appended_meanwhile(*args: Any, **kwargs: Any) -> AsyncIterator[AuditEntry]:
        async for entry in walk(*args, **kwargs):
            if entry.seq == 2:
                await audit.record(db, _event(100), _event(101))
            yield entry

    monkeypatch.setattr(audit, "_entries", appended_meanwhile)
    assert await audit.verify(db, batch=2) == 6
    monkeypatch.undo()
    assert await audit.verify(db) == 8


async def _remove(db: Database, *seqs: int) -> None:
    """What someone with write access to the database, not retention, would do."""
    async with db.write() as session:
        await session.execute(delete(AuditEntry).where(AuditEntry.seq.in_(seqs)))


async def _broken(db: Database) -> tuple[int, str]:
    with pytest.raises(AuditChainBroken) as info:
        await audit.verify(db)
    return info.value.seq, info.value.reason


async def test_first_entries_removed_are_detected(db: Database) -> None:
    await audit.record(db, *(_event(n) for n in range(5)))
    await _remove(db, 1)
    assert await _broken(db) == (2, f"entry 1 is {FROM_THE_START}")
    await _remove(db, 2, 3)
    assert await _broken(db) == (4, f"entries 1 to 3 are {FROM_THE_START}")


async def test_middle_entry_removed_is_detected(db: Database) -> None:
    await audit.record(db, *(_event(n) for n in range(5)))
    await _remove(db, 3)
    assert await _broken(db) == (4, "entry 3 is missing")


async def test_last_entries_removed_are_detected(db: Database) -> None:
    await audit.record(db, *(_event(n) for n in range(5)))
    head = (5, "the chain head does not match the last entry (entries removed)")
    await _remove(db, 4, 5)
    assert await _broken(db) == head
    await _remove(db, 1, 2, 3)
    assert await _broken(db) == head


async def test_retention_purge_verifies_and_a_removal_after_it_is_detected(db: Database) -> None:
    await audit.record(db, *(_event(n) for n in range(3)))
    cutoff = utcnow()
    await audit.record(db, *(_event(n) for n in range(3, 5)))
    assert await purge_audit(db, cutoff) == 3
    # Entries 4 and 5, and 6: the purge's own entry.
    assert await audit.verify(db) == 3
    await _remove(db, 4)
    assert await _broken(db) == (5, f"entry 4 is {FROM_THE_START}")


async def test_a_purge_during_the_walk_is_not_taken_for_tampering(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another node's retention purges while `salus audit verify` walks: the entries it
    removed ahead of the walk are its, and the walk starts again from the new start."""
    await audit.record(db, *(_event(n) for n in range(4)))
    cutoff = utcnow()
    await audit.record(db, *(_event(n) for n in range(4, 6)))
    walk = audit._entries  # the walk, with the purge in the middle of its first pass
    purged: list[int] = []

    async def purged_meanwhile(*args: Any, **kwargs: Any) -> AsyncIterator[AuditEntry]:
        async for entry in walk(*args, **kwargs):
            yield entry
            if entry.seq == 1 and not purged:
                purged.append(await purge_audit(db, cutoff))

    monkeypatch.setattr(audit, "_entries", purged_meanwhile)
    # Left: entries 5 and 6, and 7, the purge's own (the second walk reads the head again).
    assert await audit.verify(db, batch=1) == 3
    assert purged == [4]


async def test_retention_purge_of_every_entry_verifies(db: Database) -> None:
    await audit.record(db, *(_event(n) for n in range(3)))
    assert await purge_audit(db, utcnow() + dt.timedelta(days=1)) == 3
    assert await audit.verify(db) == 1
    await _remove(db, 4)
    assert (await _broken(db))[0] == 4  # the head's


async def test_purge_cuts_by_sequence_when_clocks_disagree(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry written at a node whose clock lags, after an entry that is kept, is kept:
    cutting by time would leave a hole in the middle of the chain."""
    await audit.record(db, _event(1))
    cutoff = utcnow()
    await audit.record(db, _event(2))
    monkeypatch.setattr(audit, "utcnow", lambda: utcnow() - dt.timedelta(minutes=1))
    await audit.record(db, _event(3))
    monkeypatch.undo()
    async with db.write() as session:
        assert await audit.purge_before(session, cutoff) == 1
        await audit.append(session, _event(4))
    assert [e["seq"] async for e in audit.export(db)] == [2, 3, 4]
    assert await audit.verify(db) == 3


def _salus(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SALUS), *args], check=False, capture_output=True, text=True, timeout=120
    )


async def test_cli_names_entries_removed_from_the_start(tmp_path: Path, database_url: str) -> None:
    data_dir = tmp_path / "data"
    backend = [] if database_url.startswith("sqlite") else ["--database-url", database_url]
    done = _salus("init", "--data-dir", str(data_dir), "--domain", "salus.test", *backend)
    assert done.returncode == 0, done.stderr
    db = Database(load_settings(data_dir, {}).database_url)
    try:
        await audit.record(db, *(_event(n) for n in range(3)))
        count = await audit.verify(db)
        verified = _salus("audit", "verify", "--data-dir", str(data_dir))
        assert (verified.returncode, verified.stdout) == (
            0,
            f"audit trail intact: {count} entries\n",
        )
        await _remove(db, 1)
    finally:
        await db.dispose()
    broken = _salus("audit", "verify", "--data-dir", str(data_dir))
    assert broken.returncode == 1
    assert broken.stderr == f"salus: audit trail broken at entry 2: entry 1 is {FROM_THE_START}\n"
