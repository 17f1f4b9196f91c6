"""The submission pipeline: what the gateway decides at each SMTP stage.

    MAIL FROM  check_sender     policy chain MAIL (declared size, sender owns the address)
    RCPT TO    check_recipient  directory look-up, then policy chain RCPT
    DATA       decide           policy chain DATA (size, lines, CRLF, headers, From, MIME)
                                → [document inspection: recognise, validate, route]
                                → complete the header (Message-ID, Date)
                                → [protect: sign and encrypt per recipient form]
                                → the copies to queue, one per group of recipients

The bracketed steps belong to the document and end-to-end work; they plug in where
`decide` marks them, between the policy verdict and the copies. Until the protect step
lands, a message is queued as submitted (one copy for every recipient).

Everything here is pure except the look-ups of `check_recipient` (the directory, and the
certificate lookup of another operator, given as a callable by the edge).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import format_datetime

from config.settings import Settings, SmtpSettings
from directory import repository
from directory.repository import MailboxRef
from gateway.mime import HeaderBlock
from gateway.policy import Decision, run_chain
from gateway.policy import chains as policy
from gateway.policy.facts import ContentFacts, DataStats, RecipientFacts, SenderFacts
from gateway.trust.remote_keys import KeyLookupFailed, RemoteKeys
from storage.database import Database


def check_sender(
    mail_from: str, declared_size: int | None, usable: frozenset[str], limits: SmtpSettings
) -> Decision:
    """MAIL FROM: may this client use this envelope sender, at this size?"""
    return run_chain("mail", policy.MAIL, SenderFacts(mail_from, declared_size, usable, limits))


@dataclass(frozen=True, slots=True)
class RecipientCheck:
    decision: Decision
    mailbox: MailboxRef | None  # for another operator's mailbox: `remote_ref`
    remote: RemoteKeys | None = None  # its published keys


KeyLookup = Callable[[str], Awaitable[RemoteKeys]]


async def check_recipient(
    db: Database,
    settings: Settings,
    address: str,
    already_accepted: int,
    *,
    lookup: KeyLookup | None = None,
) -> RecipientCheck:
    """RCPT TO: the address's shape first (no look-up for relay tricks), then the
    directory: a local mailbox and its status, or a trusted domain, whose certificate
    lookup (`lookup`) must publish a key for the address."""
    local_domains = tuple(d.lower() for d in settings.service.local_domains)
    shape = RecipientFacts(address, already_accepted, None, False, local_domains, settings.smtp)
    first = run_chain("rcpt", policy.RCPT_SHAPE, shape)
    if not first.accepted:
        return RecipientCheck(first, None)
    domain = shape.domain
    async with db.read() as session:
        mailbox = await repository.mailbox_ref(session, address)
        trusted = (
            domain not in local_domains
            and await repository.trust_domain(session, domain) is not None
        )
    if mailbox is not None and not mailbox.local:
        mailbox = None
    remote: RemoteKeys | KeyLookupFailed | None = None
    if trusted and lookup is not None:
        try:
            remote = await lookup(address)
        except KeyLookupFailed as exc:
            remote = exc
    facts = RecipientFacts(
        address,
        already_accepted,
        None if mailbox is None else mailbox.status,
        trusted,
        local_domains,
        settings.smtp,
        remote,
    )
    second = run_chain("rcpt", policy.RCPT_DIRECTORY, facts)
    merged = Decision("rcpt", first.checked + second.checked, second.hits)
    if not merged.accepted:
        return RecipientCheck(merged, None)
    if isinstance(remote, RemoteKeys):
        return RecipientCheck(merged, remote_ref(remote), remote)
    return RecipientCheck(merged, mailbox)


def remote_ref(keys: RemoteKeys) -> MailboxRef:
    """Another operator's mailbox as the session and the protect step see it: not
    local, in the form its operator publishes (`keys.crypto`)."""
    return MailboxRef(
        id=0,
        address=keys.address,
        kind="remote",
        crypto=keys.crypto,
        delivery="client-decrypt",
        quota=None,
        status="active",
        local=False,
        display_name="",
    )


@dataclass(frozen=True, slots=True)
class Copy:
    """The bytes a group of recipients receives."""

    content: bytes
    recipients: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Accepted:
    decision: Decision
    message_id: str  # without <>
    copies: tuple[Copy, ...]


@dataclass(frozen=True, slots=True)
class Refused:
    decision: Decision


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the SMTP session gathered before DATA."""

    sender: str
    recipients: Sequence[MailboxRef]
    usable: frozenset[str]
    # Other operators' recipients (MailboxRef.local False): their published keys, by
    # address, for the protect step to encrypt to.
    remote_keys: Mapping[str, RemoteKeys] = field(default_factory=dict)


def decide(
    content: bytes | None,
    stats: DataStats,
    envelope: Envelope,
    settings: Settings,
    now: dt.datetime,
) -> Accepted | Refused:
    """DATA: run the content rules, then turn the message into the copies to queue."""
    facts = ContentFacts(content, stats, envelope.usable, settings.smtp)
    decision = run_chain("data", policy.DATA, facts)
    headers = facts.headers
    if not decision.accepted or content is None or not isinstance(headers, HeaderBlock):
        return Refused(decision)
    # Document inspection goes here: it reads facts.mime (already parsed under limits)
    # and may refuse with a Decision of its own or name the routed recipients.
    message_id, completed = complete_header(content, headers, settings.service.hostname, now)
    # The protect step goes here: it signs and encrypts `completed` once per crypto form
    # of `envelope.recipients` (MailboxRef.crypto) and returns one Copy per form.
    recipients = tuple(r.address for r in envelope.recipients)
    return Accepted(decision, message_id, (Copy(completed, recipients),))


def complete_header(
    content: bytes, headers: HeaderBlock, hostname: str, now: dt.datetime
) -> tuple[str, bytes]:
    """The message's Message-ID (without <>) and the message with a Message-ID and a Date
    added when the client wrote none (RFC 6409 §8.2 and §8.3)."""
    added = b""
    written = headers.first("Message-ID")
    message_id = bare_message_id(written) if written else ""
    if not message_id:
        message_id = f"{secrets.token_hex(12)}@{hostname}"
        added += f"Message-ID: <{message_id}>\r\n".encode("ascii")
    if headers.first("Date") is None:
        added += f"Date: {format_datetime(now)}\r\n".encode("ascii")
    return message_id, added + content


def bare_message_id(value: str) -> str:
    """A Message-ID as stored and searched: without <> and surrounding whitespace."""
    text = value.strip()
    if text.startswith("<") and ">" in text:
        text = text[1 : text.index(">")]
    return text.strip()[:998]
