"""The inbound MX handler: aiosmtpd's hooks, each delegating to the MX rules
(`gateway.trust.mx_rules`), the protection check (`verify`) and the queue.

STARTTLS identifies the peer from its client certificate (`verify_client_peer` against
the current trust list); MAIL needs a verified peer and a sender of its domain; RCPT an
active local mailbox; DATA a message from that domain, signed and encrypted, whose
signature holds for every recipient. Only then is the message queued (origin "mx") with
its audit entry, in one transaction, and the peer hears 250. Everything refused is
audited with the rule that refused it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from email.utils import format_datetime
from typing import Any

from config.logging import Event, get_logger
from directory import repository
from gateway import mdn
from gateway.pipeline import bare_message_id
from gateway.policy import Decision, run_chain
from gateway.trust import mx_rules
from gateway.trust.inbound import InboundDeferred, InboundRefused
from mailserver import metrics
from mailserver.app import Runtime
from mailserver.mx import verify
from mailserver.mx.protocol import MxContext, MxEnvelope, MxProtocol
from mailserver.notifications import record_report
from mailserver.queue.enqueue import Submission, enqueue
from mailserver.queue.ids import new_queue_id
from mailserver.queue.models import Origin
from mailserver.smtp import replies
from mailserver.trust_tls import PeerRefused, peer_certificate, verify_client_peer
from storage import audit
from storage.audit import AuditEvent
from storage.base import utcnow
from storage.errors import StorageUnavailable, disk_full

log = get_logger(__name__)
PROTECTION_RULE = "inbound-protection"  # the metric's name for a refusal by `verify`


class MxHandler:
    def __init__(self, runtime: Runtime, *, on_queued: Callable[[], None]) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self._on_queued = on_queued

    async def handle_EHLO(  # noqa: N802 - aiosmtpd hook name
        self,
        server: MxProtocol,
        session: Any,
        envelope: MxEnvelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        lines = [r for r in responses if r != "250 HELP" and not r[4:].startswith("AUTH")]
        lines.append(f"250-SIZE {self.settings.smtp.max_message_size}")
        lines.append(f"250 {replies.ENHANCED}")
        return lines

    def handle_STARTTLS(  # noqa: N802 - aiosmtpd hook name (synchronous)
        self, server: MxProtocol, session: Any, envelope: MxEnvelope
    ) -> bool:
        """Identify the peer as soon as TLS is up (RFC 3207 §4.1). The handshake already
        demanded a certificate from a trusted CA; refusals are answered at MAIL."""
        ctx = server.context
        ssl_object = (session.ssl or {}).get("ssl_object")
        try:
            ctx.peer = verify_client_peer(
                peer_certificate(ssl_object), self.runtime.trust.latest_snapshot().peers, utcnow()
            )
        except PeerRefused as refused:
            ctx.peer_problem = str(refused)
            log.warning(Event.TRUST_PEER_REFUSED, listener="mx", client=ctx.client_ip)
        return True

    async def handle_MAIL(  # noqa: N802 - aiosmtpd hook name
        self,
        server: MxProtocol,
        session: Any,
        envelope: MxEnvelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        ctx = server.context
        peer = ctx.peer.domain if ctx.peer else None
        sender = "" if address in ("", "<>") else address.lower()  # "<>": a report
        decision = run_chain(
            "mail", mx_rules.MAIL, mx_rules.PeerFacts(peer, ctx.peer_problem, sender)
        )
        if decision.refusal is not None:
            await self._refused(ctx, sender or "<>", decision)
            return decision.refusal.reply()
        envelope.mail_from = sender or "<>"  # aiosmtpd reads "" as "no MAIL yet"
        envelope.mail_options.extend(mail_options)
        ctx.recipients.clear()
        return replies.SENDER_OK

    async def handle_RCPT(  # noqa: N802 - aiosmtpd hook name
        self,
        server: MxProtocol,
        session: Any,
        envelope: MxEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        ctx = server.context
        async with self.runtime.db.read() as db_session:
            mailbox = await repository.mailbox_ref(db_session, address)
        if mailbox is not None and not mailbox.local:
            mailbox = None
        facts = mx_rules.InboundRecipientFacts(
            address.lower(),
            len(ctx.recipients),
            self.settings.service.local_domains,
            None if mailbox is None else mailbox.status,
            self.settings.smtp,
        )
        decision = run_chain("rcpt", mx_rules.RCPT, facts)
        if decision.refusal is not None or mailbox is None:
            await self._refused(ctx, address, decision)
            return decision.refusal.reply() if decision.refusal else replies.LOCAL_ERROR
        if mailbox.address not in envelope.rcpt_tos:
            envelope.rcpt_tos.append(mailbox.address)
            envelope.rcpt_options.extend(rcpt_options)
            ctx.recipients.append(mailbox)
        return replies.RECIPIENT_OK

    async def handle_RSET(  # noqa: N802 - aiosmtpd hook name
        self, server: MxProtocol, session: Any, envelope: MxEnvelope
    ) -> str:
        server.context.recipients.clear()
        return "250 2.0.0 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd hook name
        self, server: MxProtocol, session: Any, envelope: MxEnvelope
    ) -> str:
        ctx = server.context
        received = envelope.data
        trusted = self.runtime.trust.latest_snapshot().peer(ctx.peer.domain) if ctx.peer else None
        if received is None or ctx.peer is None or trusted is None:
            return replies.LOCAL_ERROR
        facts = mx_rules.InboundContentFacts(
            received.content, received.stats, self.settings.smtp, trusted.domain
        )
        decision = run_chain("data", mx_rules.DATA, facts)
        if decision.refusal is not None or received.content is None:
            await self._refused(ctx, "data", decision)
            return decision.refusal.reply() if decision.refusal else replies.LOCAL_ERROR
        sender = mx_rules.from_address(facts)
        try:
            checked = await verify.check_recipients(
                self.runtime,
                message=received.content,
                sender=sender,
                peer=trusted,
                recipients=tuple(ctx.recipients),
            )
        except InboundRefused as refused:
            await self._refused_protection(ctx, sender, refused)
            return refused.reply()
        return await self._queue(server, envelope, received.content, checked, facts)

    async def handle_exception(self, error: Exception) -> str:
        """A hook that failed. Without this method aiosmtpd answers `500 Error: (class)
        text`: a permanent refusal that makes the peer bounce the message, with our
        internals in it."""
        if isinstance(error, StorageUnavailable):  # an outage: the peer retries later
            log.warning(Event.STORAGE_UNAVAILABLE, operation="mx command")
            return replies.STORAGE_UNAVAILABLE
        log.exception(Event.SMTP_COMMAND_REFUSED, listener="mx", reason="internal error")
        return replies.LOCAL_ERROR

    async def _queue(
        self,
        server: MxProtocol,
        envelope: MxEnvelope,
        content: bytes,
        checked: list[verify.Checked],
        facts: mx_rules.InboundContentFacts,
    ) -> str:
        ctx = server.context
        submission = self._submission(server, envelope, content, checked, facts)
        event = self._accepted(ctx, submission, checked)
        reports = [
            (c.mailbox.address, found)
            for c in checked
            if (found := mdn.read_report(c.verified.content)) is not None
        ]
        # The commit runs in its own task: a peer that drops the connection cancels its
        # session, never a transaction halfway through its commit.
        task = asyncio.ensure_future(self._commit(submission, [event], reports))
        try:
            await asyncio.shield(task)
        except StorageUnavailable as exc:
            log.warning(
                Event.STORAGE_UNAVAILABLE, operation="enqueue", queue_id=submission.queue_id
            )
            return replies.STORAGE_FULL if disk_full(exc) else replies.STORAGE_UNAVAILABLE
        log.info(
            Event.SMTP_MESSAGE_ACCEPTED,
            listener="mx",
            client=ctx.client_ip,
            domain=ctx.actor,
            queue_id=submission.queue_id,
            count=len(checked),
        )
        metrics.MESSAGES_ACCEPTED.labels(listener="mx").inc()
        self._on_queued()
        return replies.QUEUED.format(queue_id=submission.queue_id)

    def _submission(
        self,
        server: MxProtocol,
        envelope: MxEnvelope,
        content: bytes,
        checked: list[verify.Checked],
        facts: mx_rules.InboundContentFacts,
    ) -> Submission:
        queue_id = new_queue_id()
        headers = facts.headers
        written = headers.first("Message-ID") if not isinstance(headers, Exception) else None
        return Submission(
            queue_id=queue_id,
            message_id=bare_message_id(written) if written else "",
            sender="" if envelope.mail_from in (None, "<>") else str(envelope.mail_from),
            origin=Origin.MX,
            copies=verify.copies(
                content,
                checked,
                trace=self._received(server, queue_id, utcnow()),
                hostname=self.settings.service.hostname,
            ),
            submitter=server.context.actor,
            client=server.context.client_ip,
        )

    async def _commit(
        self,
        submission: Submission,
        events: list[AuditEvent],
        reports: list[tuple[str, mdn.ReportSeen]],
    ) -> None:
        """Queue the message; an MDN or DSN about one of our messages is also recorded
        on that message's trace, in the same transaction."""
        now = utcnow()
        async with self.runtime.db.write() as session:
            await enqueue(session, self.runtime.at_rest, submission, events)
            for recipient, report in reports:
                await record_report(
                    session,
                    report,
                    about_sender=recipient,
                    arrived_as=submission.queue_id,
                    now=now,
                )

    def _received(self, server: MxProtocol, queue_id: str, now: dt.datetime) -> bytes:
        ssl_object = server.transport.get_extra_info("ssl_object") if server.transport else None
        cipher = ssl_object.cipher() if ssl_object is not None else None
        tls = f"{ssl_object.version()} with cipher {cipher[0]}" if ssl_object and cipher else "TLS"
        helo = "".join(
            c if c.isalnum() or c in ".-[]:" else "?"
            for c in ((server.session.host_name if server.session else None) or "")
        )
        peer = server.context.peer
        return (
            f"Received: from {helo[:255] or 'unknown'} ([{server.context.client_ip}])\r\n"
            f"\tby {self.settings.service.hostname} (Salus MX) with ESMTPS id {queue_id}\r\n"
            f"\t(using {tls}; peer certificate of {peer.domain if peer else '?'});\r\n"
            f"\t{format_datetime(now)}\r\n"
        ).encode("ascii", "replace")

    def _accepted(
        self, ctx: MxContext, submission: Submission, checked: list[verify.Checked]
    ) -> AuditEvent:
        peer = ctx.peer
        return AuditEvent(
            ctx.actor,
            "mx.accept",
            submission.queue_id,
            "accepted",
            ctx.source,
            {
                "message_id": submission.message_id,
                "sender": submission.sender,
                "recipients": [c.mailbox.address for c in checked],
                "form": checked[0].verified.form if checked else "",
                "peer_certificate": peer.serial if peer else "",
            },
        )

    async def _refused(self, ctx: MxContext, what: str, decision: Decision) -> None:
        if decision.refusal is not None:
            metrics.MESSAGES_REFUSED.labels(rule=decision.refusal.rule).inc()
        detail = dict(decision.audit_detail())
        await self._record(AuditEvent(ctx.actor, "mx.refuse", what, "refused", ctx.source, detail))

    async def _refused_protection(
        self, ctx: MxContext, sender: str, refused: InboundRefused
    ) -> None:
        log.info(Event.CRYPTO_UNPROTECT_FAILED, listener="mx", client=ctx.client_ip)
        metrics.MESSAGES_REFUSED.labels(rule=PROTECTION_RULE).inc()
        event = AuditEvent(
            ctx.actor,
            "mx.refuse",
            "data",
            "deferred" if isinstance(refused, InboundDeferred) else "refused",
            ctx.source,
            {"stage": "protection", "sender": sender, "reason": refused.reason},
        )
        await self._record(event)

    async def _record(self, event: AuditEvent) -> None:
        try:
            await audit.record(self.runtime.db, event)
        except StorageUnavailable:
            log.warning(Event.STORAGE_UNAVAILABLE, operation="audit")
