"""Retention removes mail past its mailbox kind's period and audit entries past theirs,
audits every removal, keeps quota usage exact and the audit chain verifiable."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from sqlalchemy import func, select

from config.settings import RetentionSettings, Settings
from crypto import service_key
from crypto.at_rest import AtRestCipher
from directory.models import MailboxKind
from mailserver.retention import PurgeReport, RetentionService, purge_expired
from mailserver.store.models import Blob, Folder, Message, StoreMailbox
from storage import audit
from storage.audit import AuditEntry
from storage.base import utcnow
from storage.database import Database
from tests.integration.ops.operator import add_org_mailbox, deliver_message, message

DAY = dt.timedelta(days=1)


def _cipher(tmp_path: Path) -> AtRestCipher:
    return AtRestCipher(service_key.create(tmp_path / "service.key"))


async def _uids_by_subject(db: Database, mailbox_id: int) -> list[int]:
    async with db.read() as session:
        query = (
            select(Message.uid)
            .join(Folder, Folder.id == Message.folder_id)
            .where(Folder.mailbox_id == mailbox_id)
            .order_by(Message.uid)
        )
        return list((await session.execute(query)).scalars())


async def _purges(db: Database) -> list[dict[str, object]]:
    return [e async for e in audit.export(db) if e["action"].startswith("retention.")]


async def test_mail_past_its_kind_period_is_removed_and_audited(
    db: Database, tmp_path: Path
) -> None:
    at_rest, now = _cipher(tmp_path), utcnow()
    app = await add_org_mailbox(db, "lis@salus.test", MailboxKind.APPLICATIVE)
    org = await add_org_mailbox(db, "secretariat@salus.test", MailboxKind.ORGANIZATIONAL)
    cab = await add_org_mailbox(db, "cabinet@salus.test", MailboxKind.PRACTICE)
    for n, (mailbox, age_days) in enumerate(
        [(app, 40), (app, 31), (app, 1), (org, 1000), (cab, 400), (cab, 100)]
    ):
        await deliver_message(
            db, at_rest, mailbox, message(f"m{n}", "x" * (100 * (n + 1))), when=now - age_days * DAY
        )
    settings = RetentionSettings(applicative_days=30, practice_days=365)
    woken: list[int] = []

    report = await purge_expired(db, settings, now=now, woken=woken.append)

    assert report == PurgeReport(messages=3, mailboxes=2, audit_entries=0)
    assert await _uids_by_subject(db, app) == [3]
    assert len(await _uids_by_subject(db, org)) == 1  # organizational: kept forever
    assert await _uids_by_subject(db, cab) == [2]
    assert sorted(woken) == sorted([app, cab])
    async with db.read() as session:
        usage = dict(
            (await session.execute(select(StoreMailbox.mailbox_id, StoreMailbox.used_bytes))).all()
        )
        sizes = dict(
            (
                await session.execute(
                    select(Folder.mailbox_id, func.sum(Message.size))
                    .join(Folder, Folder.id == Message.folder_id)
                    .group_by(Folder.mailbox_id)
                )
            ).all()
        )
        blobs = (await session.execute(select(func.count()).select_from(Blob))).scalar_one()
    assert usage[app] == sizes[app] and usage[cab] == sizes[cab]
    assert blobs == 3  # the removed messages' sealed bytes are gone too
    purges = await _purges(db)
    assert [(p["action"], p["object"], p["detail"]["messages"]) for p in purges] == [  # type: ignore[index]
        ("retention.purge", "lis@salus.test", 2),
        ("retention.purge", "cabinet@salus.test", 1),
    ]
    assert await audit.verify(db) > 0

    # A second pass finds nothing and audits nothing.
    assert await purge_expired(db, settings, now=now) == PurgeReport()
    assert len(await _purges(db)) == 2


async def test_batches_split_large_purges(db: Database, tmp_path: Path) -> None:
    at_rest, now = _cipher(tmp_path), utcnow()
    app = await add_org_mailbox(db, "lis@salus.test", MailboxKind.APPLICATIVE)
    for n in range(7):
        await deliver_message(db, at_rest, app, message(f"m{n}", "x"), when=now - 90 * DAY)
    report = await purge_expired(db, RetentionSettings(applicative_days=30), now=now, batch=3)
    assert report.messages == 7
    assert [p["detail"]["messages"] for p in await _purges(db)] == [3, 3, 1]  # type: ignore[index]
    assert await _uids_by_subject(db, app) == []


async def test_audit_entries_past_their_period_are_removed_and_the_chain_verifies(
    db: Database,
) -> None:
    await audit.record(db, *(audit.AuditEvent("t", "x.test", f"o{n}", "ok") for n in range(5)))
    later = utcnow() + 20 * DAY  # everything so far is 20 days old by then
    report = await purge_expired(db, RetentionSettings(audit_days=10), now=later)
    assert report.audit_entries == 5
    entries = [e async for e in audit.export(db)]
    assert [(e["seq"], e["action"]) for e in entries] == [(6, "retention.purge_audit")]
    assert entries[0]["detail"]["entries"] == 5
    assert await audit.verify(db) == 1
    await audit.record(db, audit.AuditEvent("t", "x.test", "after", "ok"))
    assert await audit.verify(db) == 2


async def test_recent_audit_entries_stay(db: Database) -> None:
    await audit.record(db, *(audit.AuditEvent("t", "x.test", f"o{n}", "ok") for n in range(3)))
    assert (
        await purge_expired(db, RetentionSettings(audit_days=10), now=utcnow())
    ).audit_entries == 0
    async with db.read() as session:
        assert (
            await session.execute(select(func.count()).select_from(AuditEntry))
        ).scalar_one() == 3


async def test_the_periodic_service_runs_passes(db: Database, tmp_path: Path) -> None:
    at_rest = _cipher(tmp_path)
    app = await add_org_mailbox(db, "lis@salus.test", MailboxKind.APPLICATIVE)
    await deliver_message(db, at_rest, app, message("old", "x"), when=utcnow() - 90 * DAY)
    settings = Settings(data_dir=tmp_path, retention=RetentionSettings(applicative_days=30))
    woken: list[int] = []
    service = RetentionService(settings, db, woken.append, interval=0.05, first_delay=0)
    await service.start()
    try:
        async with asyncio.timeout(60):
            while service.passes < 2:
                await asyncio.sleep(0.02)
    finally:
        await service.stop()
    assert woken == [app]
    assert await _uids_by_subject(db, app) == []


async def test_service_is_idle_without_periods(db: Database, tmp_path: Path) -> None:
    service = RetentionService(Settings(data_dir=tmp_path), db, lambda _m: None, first_delay=0)
    await service.start()
    await asyncio.sleep(0.05)
    await service.stop()
    assert service.passes == 0
