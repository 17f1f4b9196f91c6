"""The document step of the pipeline (DESIGN section 6, issue 7): recognise and validate
a message's structured documents, route a message sent to the routing address by its
documents, check explicit recipients against them, and package them for mail clients.

    inspect      every structured attachment validated   DocumentError     550 5.6.0 file: fault
    route        routing@DOMAIN -> practitioners' boxes   RoutingRefused    550 5.1.1 / 5.1.4 / 5.6.0
    consistency  explicit recipients vs the documents'    ConsistencyRefused 550 5.7.1 ("refuse")
                                                          or held for an administrator ("hold")
    package      bare CDA/HL7 -> IHE_XDM.ZIP, summary, X-MSS-* headers

A message without anything that could be a document (every leaf a text body that starts
like no document) skips the step without being parsed again. Parsing, validation and
packaging are CPU work (an lxml parse, a zip written): they run in the crypto process
pool (`examine`, one round trip), off the event loop and its GIL. An applicative sender that asked for a disposition
notification (Disposition-Notification-To naming itself) gets an integration MDN
`processed/error` with the code and label of the refusal (MSSanté 90x, HL7 1xx/2xx):
its interface engine acts on that, not on an SMTP reply. Success is reported by the
`processed` MDN each recipient's delivery sends (mailserver.notifications).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email
import email.policy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from config.settings import Settings
from directory.models import MailboxKind
from gateway import packaging
from gateway.attachments.detect import content_kind
from gateway.documents import DocumentError, DocumentLimits, DocumentReport, inspect
from gateway.mime import MimeTree, Part
from gateway.policy import Refusal
from gateway.protection import Protector
from gateway.routing import (
    ConsistencyRefused,
    RoutingRefused,
    check_consistency,
    resolve_recipients,
)
from storage.database import Database

_PEEK = 96  # bytes of a body enough to recognise HL7 (MSH + delimiters), XML or a zip
_BODY_TYPES = frozenset({"text/plain", "text/html"})


@dataclass(frozen=True, slots=True)
class Integrated:
    """The message after the step, and what the step found."""

    content: bytes  # packaged when it holds documents, else the submitted bytes
    routed: tuple[str, ...] = ()  # the documents' recipients, for the routing address
    documents: int = 0
    warning: str = ""  # explicit and documents' recipients differ ("warn", "hold" modes)
    held: bool = False  # "hold" mode and a difference: deliveries wait for an administrator


class IntegrationRefused(Exception):
    """A document refusal: the SMTP reply, and the MDN to queue for the sender (or None)."""

    def __init__(self, refusal: Refusal, mdn: bytes | None) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal
        self.mdn = mdn


@dataclass(frozen=True, slots=True)
class Submitted:
    """Who submitted what to whom, as the step sees it."""

    content: bytes
    tree: MimeTree | None  # the policy's MIME walk, for the quick look
    sender: str  # envelope sender
    sender_kind: str  # its mailbox kind: only applicative senders get MDNs
    explicit: Sequence[str]  # envelope recipients other than the routing address
    to_routing: bool  # the routing address is among the recipients


@dataclass(frozen=True, slots=True)
class Examined:
    """What `examine` found, as plain values (it crosses the process pool): the report
    and the packaged message, or the refusal of the first invalid document."""

    report: DocumentReport | None = None
    packaged: bytes | None = None  # None: no document, the message stays as submitted
    refused: tuple[str, str, int] | None = None  # (file name, fault, integration code)

    def valid_report(self) -> DocumentReport:
        """The report, or the DocumentError of the refused document."""
        if self.refused is not None:
            filename, fault, code = self.refused
            raise DocumentError(filename, fault, code=code)
        return self.report or DocumentReport()


def examine(content: bytes, limits: DocumentLimits, domain: str, now: datetime) -> Examined:
    """Parse, inspect and package a message (CPU work, for the process pool)."""
    message = _parse(content)
    try:
        report = inspect(message, limits)
    except DocumentError as exc:  # its pickled form would lose the fields: send values
        return Examined(refused=(exc.filename, exc.fault, exc.code))
    if not report.documents:
        return Examined(report)
    return Examined(report, packaging.package(message, report, domain=domain, now=now))


async def integrate(
    tools: Protector, settings: Settings, submitted: Submitted, now: datetime
) -> Integrated:
    """Run the step; IntegrationRefused with the reply (and MDN) when it refuses."""
    if not submitted.to_routing and not may_hold_documents(submitted.tree):
        return Integrated(submitted.content)
    limits = DocumentLimits.from_settings(settings.smtp)
    domain = settings.service.domain
    examined = await tools.pool.run(examine, submitted.content, limits, domain, now)
    try:
        report = examined.valid_report()
        routed, warning = await _recipients(tools.db, settings, submitted, report)
    except (DocumentError, RoutingRefused, ConsistencyRefused) as exc:
        message = await asyncio.to_thread(_parse, submitted.content)
        raise IntegrationRefused(
            _refusal(exc), _error_mdn(message, exc, settings, submitted, now)
        ) from None
    content = submitted.content if examined.packaged is None else examined.packaged
    held = bool(warning) and settings.gateway.consistency == "hold"
    return Integrated(content, routed, len(report.documents), warning, held)


async def _recipients(
    db: Database, settings: Settings, submitted: Submitted, report: DocumentReport
) -> tuple[tuple[str, ...], str]:
    """(the documents' recipients for the routing address, a consistency warning). In
    "warn" and "hold" modes, documents naming practitioners unknown here are a difference
    too: the explicit recipients cannot be checked against them."""
    if submitted.to_routing:
        async with db.lookup() as session:
            routed = await resolve_recipients(session, report)
        return routed.addresses, ""
    if not report.documents:
        return (), ""
    mode = settings.gateway.consistency
    try:
        async with db.lookup() as session:
            named = await resolve_recipients(session, report)
    except RoutingRefused as exc:
        if mode == "refuse":
            raise
        return (), f"the documents' recipients are not all known here: {exc.reason}"
    consistency = check_consistency(submitted.explicit, named, mode=mode)
    return (), "" if consistency.consistent else consistency.describe()


def may_hold_documents(tree: MimeTree | None) -> bool:
    """False when no leaf of the message can be a structured document: every leaf a
    text body without a file name whose first bytes are not HL7, XML or a zip."""
    if tree is None:
        return True
    return any(_may_be_document(tree, leaf) for leaf in tree.leaves())


def _may_be_document(tree: MimeTree, leaf: Part) -> bool:
    if leaf.filename or leaf.content_type not in _BODY_TYPES:
        return True
    if leaf.content_type == "text/html":
        return False  # HTML bodies are never documents (gateway.documents)
    head = tree.raw[leaf.body_start : min(leaf.body_end, leaf.body_start + 2 * _PEEK)]
    encoding = (leaf.headers.first("Content-Transfer-Encoding") or "").strip().lower()
    if encoding == "base64":
        compact = b"".join(head.split())
        try:
            head = base64.b64decode(compact[: len(compact) // 4 * 4])
        except binascii.Error:
            return True
    return content_kind(head[:_PEEK]) is not None


def _parse(content: bytes) -> EmailMessage:
    return email.message_from_bytes(content, _class=EmailMessage, policy=email.policy.default)


def _refusal(exc: DocumentError | RoutingRefused | ConsistencyRefused) -> Refusal:
    if isinstance(exc, DocumentError):
        return Refusal("documents-valid", exc.smtp_code, exc.status, exc.text)
    if isinstance(exc, RoutingRefused):
        return Refusal("documents-routable", exc.smtp_code, exc.status, exc.reason)
    return Refusal("documents-consistent", exc.smtp_code, exc.status, exc.report.describe())


def _error_mdn(
    message: EmailMessage,
    exc: DocumentError | RoutingRefused | ConsistencyRefused,
    settings: Settings,
    submitted: Submitted,
    now: datetime,
) -> bytes | None:
    """The `processed/error` MDN an applicative sender asked for, or None."""
    if submitted.sender_kind != MailboxKind.APPLICATIVE.value:
        return None
    to = packaging.mdn_recipient(message, submitted.sender)
    if to is None:
        return None
    routing = settings.routing_address
    final = routing if submitted.to_routing or not submitted.explicit else submitted.explicit[0]
    code, text = packaging.integration_error(exc)
    return packaging.build_integration_mdn(
        message,
        from_address=routing,
        to_address=to,
        final_recipient=final,
        reporting_ua=settings.service.hostname,
        now=now,
        error_code=code,
        error_text=text,
    )
