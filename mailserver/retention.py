"""Retention: mail older than its mailbox kind's period, and audit entries older than the
audit period, are removed, and every removal is itself audited.

Mail: `retention.<kind>_days` (0 keeps forever) against the message's internal date (the
date IMAP shows: delivery time, or the date an APPEND gave). Messages go through the
store's own `remove_messages`, under the same mailbox-then-folder locks as an IMAP
EXPUNGE, so quota usage, modseq and shared blobs stay exact, and sessions watching the
mailbox are woken after the commit. Each transaction removes at most `batch` messages
of one mailbox and appends one `retention.purge` audit entry naming the mailbox, the
count and the cutoff (never content).

Audit: `retention.audit_days`. Entries are removed by sequence number, below the first
entry written at or after the cutoff (`storage.audit.purge_before`: with several nodes,
clocks may disagree by a little, and cutting by time alone could leave a hole in the
middle of the chain). What remains is one contiguous chain from its first kept entry,
which the audit head records as the chain's start in the same transaction, and which
`salus audit verify` checks.

Running on every node is harmless: the row locks serialise the work and a second pass
finds nothing left to remove (and audits nothing).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.logging import Event, get_logger
from config.settings import RetentionSettings, Settings
from directory.models import Mailbox, MailboxKind
from mailserver import metrics
from mailserver.periodic import PeriodicService
from mailserver.store.mailboxes import lock_mailbox
from mailserver.store.models import Folder, Message
from mailserver.store.writes import lock_folder_by_id, remove_messages
from storage import audit
from storage.base import utcnow
from storage.database import Database

ACTOR = "system:retention"
BATCH = 500
log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class PurgeReport:
    messages: int = 0
    mailboxes: int = 0
    audit_entries: int = 0


def mail_periods(settings: RetentionSettings) -> dict[str, int]:
    """Mailbox kind → days to keep, for the kinds with a period."""
    days = {
        MailboxKind.PERSONAL.value: settings.personal_days,
        MailboxKind.ORGANIZATIONAL.value: settings.organizational_days,
        MailboxKind.APPLICATIVE.value: settings.applicative_days,
        MailboxKind.PRACTICE.value: settings.practice_days,
    }
    return {kind: n for kind, n in days.items() if n > 0}


async def purge_expired(
    db: Database,
    settings: RetentionSettings,
    *,
    now: dt.datetime,
    woken: Callable[[int], None] = lambda _mailbox_id: None,
    batch: int = BATCH,
) -> PurgeReport:
    """One retention pass: audit entries first (so this pass's own entries stay), then mail."""
    audit_entries = 0
    if settings.audit_days > 0:
        audit_entries = await purge_audit(db, now - dt.timedelta(days=settings.audit_days))
    messages = mailboxes = 0
    for kind, days in mail_periods(settings).items():
        cutoff = now - dt.timedelta(days=days)
        for mailbox_id, address in await _mailboxes_with_expired_mail(db, kind, cutoff):
            removed = await _purge_mailbox(db, mailbox_id, address, cutoff, days=days, batch=batch)
            if removed:
                woken(mailbox_id)
                messages += removed
                mailboxes += 1
    return PurgeReport(messages, mailboxes, audit_entries)


async def purge_audit(db: Database, cutoff: dt.datetime) -> int:
    """Remove the entries before the first one written at or after `cutoff`; audit it."""
    async with db.write() as session:
        removed = await audit.purge_before(session, cutoff)
        if removed:
            detail = {"entries": removed, "cutoff": cutoff.isoformat(timespec="seconds")}
            await audit.append(
                session,
                audit.AuditEvent(
                    ACTOR, "retention.purge_audit", "audit_log", "ok", "system", detail
                ),
            )
    if removed:
        metrics.RETENTION_PURGED.labels(what="audit_entries").inc(removed)
        log.info(Event.RETENTION_PURGED, audit_entries=removed, cutoff=cutoff.isoformat())
    return removed


async def _mailboxes_with_expired_mail(
    db: Database, kind: str, cutoff: dt.datetime
) -> list[tuple[int, str]]:
    query = (
        select(Mailbox.id, Mailbox.address)
        .where(Mailbox.kind == kind, Mailbox.local.is_(True))
        .where(
            select(Message.id)
            .join(Folder, Folder.id == Message.folder_id)
            .where(Folder.mailbox_id == Mailbox.id, Message.internal_date < cutoff)
            .exists()
        )
        .order_by(Mailbox.id)
    )
    async with db.read() as session:
        return [(row.id, row.address) for row in (await session.execute(query)).all()]


async def _purge_mailbox(
    db: Database, mailbox_id: int, address: str, cutoff: dt.datetime, *, days: int, batch: int
) -> int:
    """Remove the mailbox's expired messages, `batch` per transaction; return the count."""
    total = 0
    while True:
        async with db.write() as session:
            removed = await _purge_batch(session, mailbox_id, cutoff, batch)
            if removed:
                detail = {
                    "messages": removed,
                    "days": days,
                    "cutoff": cutoff.isoformat(timespec="seconds"),
                }
                await audit.append(
                    session,
                    audit.AuditEvent(ACTOR, "retention.purge", address, "ok", "system", detail),
                )
        total += removed
        if removed < batch:
            break
    if total:
        metrics.RETENTION_PURGED.labels(what="messages").inc(total)
        log.info(Event.RETENTION_PURGED, mailbox=address, messages=total, days=days)
    return total


async def _purge_batch(
    session: AsyncSession, mailbox_id: int, cutoff: dt.datetime, batch: int
) -> int:
    # Same lock order as an IMAP EXPUNGE: the store mailbox row, then the folder row.
    locked = await lock_mailbox(session, mailbox_id)
    expired = (
        select(Message.folder_id, Message.uid)
        .join(Folder, Folder.id == Message.folder_id)
        .where(Folder.mailbox_id == mailbox_id, Message.internal_date < cutoff)
        .order_by(Message.folder_id, Message.uid)
        .limit(batch)
    )
    by_folder: dict[int, list[int]] = {}
    for folder_id, uid in (await session.execute(expired)).all():
        by_folder.setdefault(folder_id, []).append(uid)
    for folder_id in sorted(by_folder):
        folder = await lock_folder_by_id(session, folder_id)
        await remove_messages(session, locked, folder, by_folder[folder_id])
    return sum(len(uids) for uids in by_folder.values())


class RetentionService(PeriodicService):
    """Runs a retention pass shortly after start, then every `interval` seconds."""

    name = "retention"
    failed = Event.RETENTION_FAILED

    def __init__(
        self,
        settings: Settings,
        db: Database,
        woken: Callable[[int], None],
        *,
        interval: float = 3600.0,
        first_delay: float = 60.0,
    ) -> None:
        super().__init__(interval=interval, first_delay=first_delay)
        self._settings = settings.retention
        self._db = db
        self._woken = woken

    def enabled(self) -> bool:
        return bool(mail_periods(self._settings)) or self._settings.audit_days > 0

    async def run_pass(self) -> None:
        await purge_expired(self._db, self._settings, now=utcnow(), woken=self._woken)
