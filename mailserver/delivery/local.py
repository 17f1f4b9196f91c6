"""One delivery attempt of one claimed row into a local mailbox.

The row is re-read under lock and must still be pending and leased to this worker; the
message is stored in the recipient's INBOX and the row marked delivered in the same
transaction, so a crash at any instant leaves either both or neither (exactly once). The
mailbox's IDLE watchers are woken after the commit. These transactions are background ones
(`Database.write`): on SQLite the submissions' commits queued with them go first.

Server-decrypt mailboxes receive the message decrypted and verified (`server_decrypt`,
done in the crypto pool before the delivering transaction opens); client-decrypt ones the
ciphertext as it was queued.

A permanent failure (no such mailbox, suspended, over quota, a message that does not
decrypt or verify for a server-decrypt mailbox) bounces the row and queues a DSN to the
sender; anything else is temporary: the row is deferred with back-off, and
bounces when the message has been queued too long. When the database itself is away,
nothing can be recorded: the lease runs out and the row is claimed again.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.logging import Event, get_logger
from directory import repository
from directory.models import MailboxStatus
from directory.repository import MailboxRef
from gateway.dsn import RecipientStatus
from mailserver.app import Runtime
from mailserver.delivery.backoff import delay_notice_due, next_attempt
from mailserver.delivery.bounce import queue_report, wants_report
from mailserver.delivery.server_decrypt import NotDecrypted, plaintexts
from mailserver.notifications import queue_mdn
from mailserver.queue import outcome
from mailserver.queue.enqueue import content_context
from mailserver.queue.models import Delivery, QueuedContent, QueuedMessage
from mailserver.relay.deliver import Relayer
from mailserver.store import QuotaExceeded, deliver
from mailserver.store.deliver import Directory
from storage import audit
from storage.audit import AuditEvent
from storage.base import utcnow
from storage.errors import StorageUnavailable

log = get_logger(__name__)
ACTOR = "salus:delivery"
RETRY_REPLY = "451 4.3.0 Local delivery failed; will retry"
QUOTA_REPLY = "552 5.2.2 The recipient's mailbox is full"
_ENHANCED = re.compile(r"^[245]\d\d ([245]\.\d{1,3}\.\d{1,3})\b")
# Server-decrypt plaintexts made before the delivering transaction, by delivery id.
Prepared = Mapping[int, bytes | NotDecrypted]


class Undeliverable(Exception):
    """A permanent failure, as the reply a DSN quotes."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        super().__init__(reply)


class Deliverer:
    """Delivers the rows one worker has claimed."""

    def __init__(self, runtime: Runtime, owner: str) -> None:
        self.runtime = runtime
        self.db = runtime.db
        self.owner = owner
        self.relayer = Relayer(runtime, owner)

    async def attempt(
        self,
        delivery_id: int,
        prepared: Prepared | None = None,
        recipients: Mapping[int, str] | None = None,
    ) -> str | None:
        """Try once; return the row's new status, or None when it was not ours to try.
        `prepared`: server-decrypt plaintexts already made for this row (a batch's);
        `recipients`: the claimed rows' recipients, by row id."""
        now = utcnow()
        try:
            if prepared is None:
                prepared = await plaintexts(self.runtime, [delivery_id], recipients)
            async with self.db.write(background=True) as session:
                (done,) = await self._deliver_rows(session, [delivery_id], now, prepared)
        except QuotaExceeded:
            return await self._failed(delivery_id, QUOTA_REPLY, permanent=True)
        except Undeliverable as exc:
            return await self._failed(delivery_id, exc.reply, permanent=True)
        except StorageUnavailable:
            log.warning(Event.STORAGE_UNAVAILABLE, operation="deliver", delivery_id=str(delivery_id))
            return None
        except Exception:
            log.exception(Event.DELIVERY_FAILED, delivery_id=str(delivery_id))
            return await self._failed(delivery_id, RETRY_REPLY, permanent=False)
        if done is None:
            return None
        self._delivered(*done)
        return "delivered"

    async def attempt_batch(
        self, ids: Sequence[int], recipients: Mapping[int, str] | None = None
    ) -> list[str | None]:
        """Deliver several rows in one transaction (one fsync); if any of them fails, the
        batch rolls back and each row is tried alone, so failures stay per recipient.
        Rows of other operators' recipients go to the relay (mailserver.relay).
        `recipients`: each row's recipient as the claim returned it (else read here)."""
        if recipients is None:
            remote = await self.relayer.remote_ids(ids)
        else:
            remote = [i for i in ids if self.relayer.is_remote(recipients[i])]
        if remote:
            local = [i for i in ids if i not in remote]
            outcomes = dict(zip(local, await self.attempt_batch(local, recipients), strict=True))
            outcomes |= await self.relayer.attempt_all(remote, self._failed)
            return [outcomes[i] for i in ids]
        if len(ids) < 2:
            return [await self.attempt(i, recipients=recipients) for i in ids]
        try:
            prepared = await plaintexts(self.runtime, ids, recipients)
            async with self.db.write(background=True) as session:
                done = await self._deliver_rows(session, ids, utcnow(), prepared)
        except Exception:  # any failure: retry row by row, which reports it
            return [await self.attempt(i) for i in ids]
        for item in done:
            if item is not None:
                self._delivered(*item)
        return [None if item is None else "delivered" for item in done]

    async def _deliver_rows(
        self, session: AsyncSession, ids: Sequence[int], now: dt.datetime, prepared: Prepared
    ) -> list[tuple[outcome.Pending, MailboxRef] | None]:
        """Store the message of each row still ours (None for the others) and mark those
        rows delivered. The rows and the contents are each read in one statement, and the
        outcomes and audit entries written once for the batch, all in Core statements."""
        rows = await outcome.pending_rows(session, self.db, ids, self.owner)
        sealed = await _sealed_contents(session, list(rows.values()), prepared)
        mailboxes: dict[str, MailboxRef] = {}
        done: list[tuple[outcome.Pending, MailboxRef] | None] = []
        replies: list[tuple[outcome.Pending, str]] = []
        for delivery_id in ids:
            row = rows.get(delivery_id)
            if row is None:
                done.append(None)
                continue
            target, reply = await self._store(
                session, row, now, prepared=prepared, mailboxes=mailboxes, sealed=sealed
            )
            done.append((row, target))
            replies.append((row, reply))
        await outcome.delivered_rows(session, replies, now)
        # Last: on PostgreSQL the audit head stays locked from here to the commit.
        await audit.append(
            session, *(_event(row, "delivery.delivered", "delivered", reply) for row, reply in replies)
        )
        return done

    async def _store(
        self,
        session: AsyncSession,
        row: outcome.Pending,
        now: dt.datetime,
        *,
        prepared: Prepared,
        mailboxes: dict[str, MailboxRef],
        sealed: Mapping[str, bytes | None],
    ) -> tuple[MailboxRef, str]:
        """Store the row's message in its recipient's INBOX; return the mailbox and the
        reply to record. `mailboxes`: the recipients already looked up in this batch;
        `sealed`: the batch's queued contents."""
        target = mailboxes.get(row.recipient) or await _local_mailbox(session, row.recipient)
        mailboxes[row.recipient] = target
        ready = prepared.get(row.id)
        if isinstance(ready, NotDecrypted):
            raise Undeliverable(ready.reply)
        content = ready if ready is not None else self._open(row, sealed.get(row.content_id))
        stored = await deliver(
            session, self.runtime.at_rest, target.id, content,
            directory=Directory(target.quota, target.local),
        )
        await queue_mdn(session, self.runtime, row, content, now)
        return target, f"250 2.0.0 stored in INBOX as UID {stored.uid}"

    def _open(self, row: outcome.Pending, sealed: bytes | None) -> bytes:
        if sealed is None:
            raise Undeliverable("554 5.3.0 The queued message content is no longer available")
        return self.runtime.at_rest.open(sealed, content_context(row.content_id))

    def _delivered(self, row: outcome.Pending, target: MailboxRef) -> None:
        """After the commit: wake the mailbox's IDLE watchers."""
        self.runtime.mailbox_events.publish(target.id)
        log.info(Event.DELIVERY_DELIVERED, queue_id=row.queue_id, delivery_id=str(row.id),
                 mailbox_id=target.id)

    async def _failed(self, delivery_id: int, reply: str, *, permanent: bool) -> str | None:
        now = utcnow()
        settings = self.runtime.settings
        try:
            async with self.db.write(background=True) as session:
                row = await outcome.locked_pending(session, self.db, delivery_id, self.owner)
                message = None if row is None else await session.get(QueuedMessage, row.queue_id)
                if row is None or message is None:
                    return None
                retry_at = None if permanent else next_attempt(
                    row.attempts + 1, queued_at(message, row), now, settings.delivery
                )
                if retry_at is None:
                    final = reply if permanent else _expired(row, reply)
                    return await self._bounce(session, message, row, final, now)
                return await self._defer(session, message, row, reply, now, retry_at=retry_at)
        except StorageUnavailable:
            log.warning(Event.STORAGE_UNAVAILABLE, operation="record", delivery_id=str(delivery_id))
            return None

    async def _bounce(
        self,
        session: AsyncSession,
        message: QueuedMessage,
        row: Delivery,
        reply: str,
        now: dt.datetime,
    ) -> str:
        if wants_report(message):
            original = await _content(session, self.runtime, row)
            status = RecipientStatus(row.recipient, "failed", _status_of(reply), reply, now)
            await queue_report(
                session, self.runtime.at_rest, self.runtime.settings,
                message=message, rows=[row], original=original, statuses=[status], now=now,
            )
        await outcome.bounced(session, row, reply, now)
        await audit.append(session, _event(row, "delivery.bounced", "bounced", reply))
        log.info(Event.DELIVERY_BOUNCED, queue_id=row.queue_id, delivery_id=str(row.id),
                 status=_status_of(reply))
        return "bounced"

    async def _defer(
        self,
        session: AsyncSession,
        message: QueuedMessage,
        row: Delivery,
        reply: str,
        now: dt.datetime,
        *,
        retry_at: dt.datetime,
    ) -> str:
        settings = self.runtime.settings
        if (
            not row.delay_notified
            and wants_report(message)
            and delay_notice_due(queued_at(message, row), now, settings.delivery)
        ):
            original = await _content(session, self.runtime, row)
            status = RecipientStatus(row.recipient, "delayed", _status_of(reply), reply, now)
            await queue_report(
                session, self.runtime.at_rest, settings,
                message=message, rows=[row], original=original, statuses=[status], now=now,
            )
            row.delay_notified = True
        await outcome.deferred(session, row, reply, now, retry_at)
        await audit.append(session, _event(row, "delivery.deferred", "deferred", reply))
        log.info(Event.DELIVERY_DEFERRED, queue_id=row.queue_id, delivery_id=str(row.id),
                 retry_in=int((retry_at - now).total_seconds()))
        return "deferred"


async def _sealed_contents(
    session: AsyncSession, rows: Sequence[outcome.Pending], prepared: Prepared
) -> dict[str, bytes | None]:
    """The sealed contents the rows deliver as queued (not those made plaintext for a
    server-decrypt mailbox), by content id, in one statement."""
    wanted = {r.content_id for r in rows if r.id not in prepared}
    if not wanted:
        return {}
    query = select(QueuedContent.id, QueuedContent.sealed).where(QueuedContent.id.in_(wanted))
    return {row.id: row.sealed for row in (await session.execute(query)).all()}


async def _content(session: AsyncSession, runtime: Runtime, row: Delivery) -> bytes:
    content = await session.get(QueuedContent, row.content_id)
    if content is None or content.sealed is None:
        raise Undeliverable("554 5.3.0 The queued message content is no longer available")
    return runtime.at_rest.open(content.sealed, content_context(content.id))


async def _local_mailbox(session: AsyncSession, recipient: str) -> MailboxRef:
    """The recipient's mailbox as it is now (it may have changed since RCPT)."""
    ref = await repository.mailbox_ref(session, recipient)
    if ref is None or not ref.local:
        raise Undeliverable(f"550 5.1.1 <{recipient}>: there is no such mailbox here")
    if ref.status != MailboxStatus.ACTIVE:
        raise Undeliverable(f"550 5.2.1 <{recipient}>: this mailbox is suspended")
    return ref


def _expired(row: Delivery, last: str) -> str:
    return (
        f"451 4.4.7 Delivery time expired after {row.attempts + 1} attempts;"
        f" last error: {last}"
    )


def _status_of(reply: str) -> str:
    match = _ENHANCED.match(reply)
    if match:
        return match.group(1)
    return "4.0.0" if reply.startswith("4") else "5.0.0"


def _event(row: Delivery | outcome.Pending, action: str, result: str, reply: str) -> AuditEvent:
    return AuditEvent(
        ACTOR,
        action,
        row.queue_id,
        result,
        "",
        {"recipient": row.recipient, "delivery_id": row.id, "reply": reply[:200]},
    )


def queued_at(message: QueuedMessage, row: Delivery) -> dt.datetime:
    """Since when the row has waited for delivery, which the delay report and the expiry
    count from: its message's arrival, or its release when it was held for review (the
    time an administrator took is not the delivery's delay)."""
    return max(message.received_at, row.created_at)
