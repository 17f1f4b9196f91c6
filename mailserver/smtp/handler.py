"""The submission handler: aiosmtpd's hooks, each delegating to the gateway pipeline or
to the queue (STYLE: hooks that only delegate to typed services).

MAIL and RCPT run the pipeline's checks; DATA runs `pipeline.decide` (policy, documents,
sign and encrypt per recipient form, in the crypto process pool), adds the Received field
to each protected copy and commits the message and its delivery rows in one transaction
with the audit entries; only after that commit does the client hear `250 2.0.0 Ok: queued
as ID` (`…, held for review` when the documents name other practitioners and
gateway.consistency is "hold": committed, its deliveries held for an administrator).
A failed commit answers 451 4.3.0 (452 4.3.1 when the disk is full), never 250.
A refused message with an integration MDN to send (an applicative sender that asked for
one) has that MDN queued, and is still refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from config.logging import Event, get_logger
from directory.throttle import ThrottlePolicy
from gateway import mdn, pipeline
from gateway.protection import Protector
from mailserver import metrics
from mailserver.app import Runtime
from mailserver.queue.committer import GroupCommitter
from mailserver.queue.enqueue import Submission
from mailserver.queue.ids import new_queue_id
from mailserver.queue.models import Origin
from mailserver.smtp import replies
from mailserver.smtp.auth import SaslMechanisms
from mailserver.smtp.protocol import SubmissionEnvelope, SubmissionProtocol
from mailserver.smtp.received import Trace, received_field
from mailserver.smtp.session import Authenticated, SessionContext
from storage import audit
from storage.audit import AuditEvent
from storage.base import utcnow
from storage.errors import StorageUnavailable, disk_full

log = get_logger(__name__)
HOLD_RULE = "documents-consistent"  # the check whose difference holds a message


class SubmissionHandler(SaslMechanisms):
    def __init__(
        self, runtime: Runtime, *, on_queued: Callable[[], None], track: Callable[[Any], None]
    ) -> None:
        self.runtime = runtime
        self.db = runtime.db
        self.settings = runtime.settings
        self.throttle = ThrottlePolicy.from_settings(runtime.settings.smtp)
        self.committer = GroupCommitter(runtime.db, runtime.at_rest)
        self.tools = pipeline.Tools(
            Protector(runtime.db, runtime.sealer, runtime.crypto_pool, runtime.settings.data_dir),
            runtime.key_lookup.keys,
        )
        self._on_queued = on_queued
        self._track = track  # keeps background tasks (audit flushes, enqueues) for drain

    async def handle_EHLO(  # noqa: N802 - aiosmtpd hook name
        self,
        server: SubmissionProtocol,
        session: Any,
        envelope: SubmissionEnvelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        lines = [r for r in responses if r != "250 HELP"]
        if server.peer_certificate() is None:
            lines = [_without_mechanism(r, "EXTERNAL") for r in lines]
        lines.append(f"250-SIZE {self.settings.smtp.max_message_size}")
        lines.append(f"250 {replies.ENHANCED}")
        return lines

    async def handle_MAIL(  # noqa: N802 - aiosmtpd hook name
        self,
        server: SubmissionProtocol,
        session: Any,
        envelope: SubmissionEnvelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        ctx = server.context
        identity = ctx.identity
        if not isinstance(identity, Authenticated):
            return "530 5.7.0 Authentication required"
        check = await pipeline.check_sender(
            self.db, address, _declared_size(mail_options), identity.usable, self.settings.smtp
        )
        decision = check.decision
        if decision.refusal is not None:
            ctx.refused(address, decision)
            metrics.MESSAGES_REFUSED.labels(rule=decision.refusal.rule).inc()
            self._flush_if_due(ctx)
            return decision.refusal.reply()
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        ctx.recipients.clear()
        ctx.local_keys.clear()
        ctx.signing = check.keys
        return replies.SENDER_OK

    async def handle_RCPT(  # noqa: N802 - aiosmtpd hook name
        self,
        server: SubmissionProtocol,
        session: Any,
        envelope: SubmissionEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        ctx = server.context
        check = await pipeline.check_recipient(
            self.db, self.settings, address, len(envelope.rcpt_tos),
            lookup=self.runtime.key_lookup.keys,
        )
        if check.decision.refusal is not None or check.mailbox is None:
            refusal = check.decision.refusal
            ctx.refused(address, check.decision)
            if refusal is not None:
                metrics.MESSAGES_REFUSED.labels(rule=refusal.rule).inc()
            self._flush_if_due(ctx)
            return refusal.reply() if refusal else replies.LOCAL_ERROR
        normalised = check.mailbox.address.lower()
        if normalised not in envelope.rcpt_tos:  # the same recipient twice is one delivery
            envelope.rcpt_tos.append(normalised)
            envelope.rcpt_options.extend(rcpt_options)
            ctx.recipients.append(check.mailbox)
            if check.remote is not None:
                ctx.remote_keys[normalised] = check.remote
            if check.keys is not None:
                ctx.local_keys[normalised] = check.keys
        return replies.RECIPIENT_OK

    async def handle_RSET(  # noqa: N802 - aiosmtpd hook name
        self, server: SubmissionProtocol, session: Any, envelope: SubmissionEnvelope
    ) -> str:
        ctx = server.context
        ctx.recipients.clear()
        ctx.local_keys.clear()
        ctx.signing = None
        return "250 2.0.0 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd hook name
        self, server: SubmissionProtocol, session: Any, envelope: SubmissionEnvelope
    ) -> str:
        ctx = server.context
        identity = ctx.identity
        received = envelope.data
        if not isinstance(identity, Authenticated) or received is None:
            return replies.LOCAL_ERROR
        now = utcnow()
        sender = envelope.mail_from or ""
        verdict = await pipeline.decide(
            received.content,
            received.stats,
            pipeline.Envelope(
                sender, tuple(ctx.recipients), identity.usable,
                {a: k for a, k in ctx.remote_keys.items() if a in envelope.rcpt_tos},
                sender_kind=_kind_of(identity, sender),
                signing=ctx.signing,
                local_keys={a: k for a, k in ctx.local_keys.items() if a in envelope.rcpt_tos},
            ),
            self.settings,
            now,
            tools=self.tools,
        )
        if isinstance(verdict, pipeline.Refused):
            refusal = verdict.decision.refusal
            ctx.refused("data", verdict.decision)
            if refusal is not None:
                metrics.MESSAGES_REFUSED.labels(rule=refusal.rule).inc()
            if verdict.notice is not None:
                await self._queue_notice(ctx, verdict.notice)
            await _record(self.runtime, ctx.take_audit())  # with what is pending, in one write
            log.info(Event.SMTP_MESSAGE_REFUSED, client=ctx.client_ip, login=ctx.actor,
                     rule=refusal.rule if refusal else "")
            return refusal.reply() if refusal else replies.LOCAL_ERROR
        queue_id = new_queue_id()
        submission = self._submission(
            server, identity, envelope.mail_from or "", verdict, queue_id=queue_id
        )
        events = [*ctx.take_audit(), _accepted_event(ctx, submission, verdict)]
        try:
            await self.committer.commit(submission, events)
        except StorageUnavailable as exc:
            log.warning(Event.STORAGE_UNAVAILABLE, operation="enqueue", queue_id=queue_id)
            return replies.STORAGE_FULL if disk_full(exc) else replies.STORAGE_UNAVAILABLE
        log.info(Event.SMTP_MESSAGE_ACCEPTED, client=ctx.client_ip, login=ctx.actor,
                 queue_id=queue_id, count=len(envelope.rcpt_tos))
        metrics.MESSAGES_ACCEPTED.labels(listener=ctx.listener).inc()
        if verdict.held:
            return replies.QUEUED_HELD.format(queue_id=queue_id)
        self._on_queued()
        return replies.QUEUED.format(queue_id=queue_id)

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, StorageUnavailable):  # an outage, not a fault of ours
            log.warning(Event.STORAGE_UNAVAILABLE, operation="smtp command")
            return replies.STORAGE_UNAVAILABLE
        log.exception(Event.SMTP_COMMAND_REFUSED, reason="internal error")
        return replies.LOCAL_ERROR

    # ---- helpers ------------------------------------------------------------------
    def _submission(
        self,
        server: SubmissionProtocol,
        identity: Authenticated,
        sender: str,
        verdict: pipeline.Accepted,
        *,
        queue_id: str,
    ) -> Submission:
        ctx = server.context
        ssl_object = server.ssl_object()
        cipher = ssl_object.cipher() if ssl_object is not None else None
        trace = Trace(
            helo=(server.session.host_name if server.session else None) or "",
            client_ip=ctx.client_ip,
            hostname=self.settings.service.hostname,
            queue_id=queue_id,
            tls_version=ssl_object.version() if ssl_object is not None else None,
            cipher=cipher[0] if cipher else None,
        )
        field = received_field(trace, utcnow())
        return Submission(
            queue_id=queue_id,
            message_id=verdict.message_id,
            sender=sender.lower(),
            origin=Origin.SUBMISSION,
            copies=[pipeline.Copy(field + c.content, c.recipients) for c in verdict.copies],
            submitter=identity.principal.address,
            client=ctx.client_ip,
            held=verdict.warning if verdict.held else "",
        )

    async def _queue_notice(self, ctx: SessionContext, notice: pipeline.Copy) -> None:
        """Queue the integration MDN of a refused message (a report: null sender)."""
        queue_id = new_queue_id()
        report = Submission(
            queue_id=queue_id,
            message_id=_message_id_of(notice.content),
            sender="",
            origin=Origin.DSN,
            copies=[notice],
        )
        event = AuditEvent(
            ctx.actor, "mdn.queued", queue_id, "processed/error", ctx.source,
            {"to": list(notice.recipients)},
        )
        try:
            await self.committer.commit(report, [event])
        except StorageUnavailable:
            log.warning(Event.STORAGE_UNAVAILABLE, operation="enqueue", queue_id=queue_id)
            return
        self._on_queued()

    def _flush_if_due(self, ctx: SessionContext) -> None:
        if ctx.audit_due:
            self._flush(ctx)

    def _flush(self, ctx: SessionContext) -> None:
        """Write the session's pending refusals in one transaction, in the background."""
        events = ctx.take_audit()
        if events:
            self._track(asyncio.ensure_future(_record(self.runtime, events)))

    def session_closed(self, ctx: SessionContext) -> None:
        self._flush(ctx)


async def _record(runtime: Runtime, events: list[AuditEvent]) -> None:
    """Write buffered refusals; a failure is logged, never left in an unawaited task."""
    try:
        await audit.record(runtime.db, *events)
    except StorageUnavailable:
        log.warning(Event.STORAGE_UNAVAILABLE, operation="audit", count=len(events))
    except Exception:
        log.exception(Event.STORAGE_UNAVAILABLE, operation="audit", count=len(events))


def _accepted_event(
    ctx: SessionContext, submission: Submission, verdict: pipeline.Accepted
) -> AuditEvent:
    recipients = [r for c in submission.copies for r in c.recipients]
    return AuditEvent(
        ctx.actor,
        "smtp.accept",
        submission.queue_id,
        "accepted",
        ctx.source,
        {
            "message_id": submission.message_id,
            "sender": submission.sender,
            "recipients": recipients,
            "size": max(len(c.content) for c in submission.copies),
            "rules": list(verdict.decision.checked),
            "listener": ctx.listener,
            "protection": list(verdict.forms),
            "documents": verdict.documents,
            **({"consistency": verdict.warning} if verdict.warning else {}),
            **({"held": HOLD_RULE} if verdict.held else {}),
        },
    )


def _kind_of(identity: Authenticated, address: str) -> str:
    """The kind of the mailbox the client sends as (applicative senders get MDNs)."""
    return identity.kinds.get(address.lower(), "")


def _message_id_of(report: bytes) -> str:
    return pipeline.bare_message_id(str(mdn.headers_of(report).get("Message-ID", "")))


def _declared_size(mail_options: list[str]) -> int | None:
    for option in mail_options:
        key, _, value = option.partition("=")
        if key.upper() == "SIZE" and value.isdigit():
            return int(value)
    return None


def _without_mechanism(line: str, mechanism: str) -> str:
    if not line[4:].startswith("AUTH "):
        return line
    words = [w for w in line[4:].split() if w != mechanism]
    return line[:4] + " ".join(words)
