"""The submission pipeline: what the gateway decides at each SMTP stage.

    MAIL FROM  check_sender     policy chain MAIL (declared size, sender owns the address),
                                then the sender's signing key
    RCPT TO    check_recipient  the routing address, or the directory look-up, then policy
                                chain RCPT (local and active, or published by its operator;
                                keys issued)
    DATA       decide           policy chain DATA (size, lines, CRLF, headers, From, MIME)
                                → documents: recognise, validate, route, package
                                  (gateway.integration)
                                → complete the header (Message-ID, Date)
                                → protect: sign and encrypt per recipient form
                                  (gateway.protect)
                                → the copies to queue, one per crypto form, held for
                                  an administrator when the documents name other
                                  recipients (gateway.consistency "hold")

Everything here is pure except the look-ups (the directory, the key store, another
operator's certificate lookup given as a callable by the edge) and the crypto work, which
runs in the process pool the edge hands in.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.utils import format_datetime

from sqlalchemy import and_, bindparam, select

from config.logging import Event, get_logger
from config.settings import Settings, SmtpSettings
from crypto import keystore
from crypto.errors import CryptoError
from crypto.models import KeyStatus, MailboxKey
from directory import repository
from directory.models import Mailbox
from directory.repository import MailboxRef
from gateway import integration, protect
from gateway.mime import HeaderBlock, MimeTree
from gateway.policy import Decision, Refusal, run_chain
from gateway.policy import chains as policy
from gateway.policy.facts import ContentFacts, DataStats, RecipientFacts, SenderFacts
from gateway.policy.rules.sender_owns_from import header_addresses
from gateway.protection import Order, ProtectionRefused, Protector
from gateway.trust.remote_keys import KeyLookupFailed, RemoteKeys
from storage.base import utcnow
from storage.database import Database
from storage.inline import rows

ROUTING = "routing"  # MailboxRef.kind of the routing address (DESIGN section 6)
PROTECT_RULE = "protect"
LOCAL_FAULT = Refusal(
    PROTECT_RULE, 451, "4.3.0", "the message could not be signed and encrypted now; try again later"
)
log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class SenderCheck:
    decision: Decision
    keys: keystore.ActiveKeys | None = None  # the generation DATA signs with, when usable


async def check_sender(
    db: Database,
    mail_from: str,
    declared_size: int | None,
    usable: frozenset[str],
    limits: SmtpSettings,
) -> SenderCheck:
    """MAIL FROM: may this client use this envelope sender, at this size, and can the
    sender sign (an active key)? The key is looked up only for a sender it may use,
    with its sealed private part: DATA signs with the generation checked here."""
    facts = SenderFacts(mail_from, declared_size, usable, limits)
    first = run_chain("mail", policy.MAIL_SHAPE, facts)
    if not first.accepted:
        return SenderCheck(first)
    keys = await keystore.signing_keys(db, mail_from)
    signing_key = keys is not None and keys.usable(utcnow())
    second = run_chain("mail", policy.MAIL_KEY, replace(facts, signing_key=signing_key))
    decision = Decision("mail", first.checked + second.checked, second.hits)
    return SenderCheck(decision, keys if signing_key else None)


# RCPT's look-up: the mailbox and its active key generation, in one statement.
_RECIPIENT = (
    select(
        *repository.REF_COLUMNS,
        MailboxKey.not_after,
        MailboxKey.smime_cert_pem,
        MailboxKey.openpgp_public,
    )
    .select_from(Mailbox)
    .outerjoin(
        MailboxKey,
        and_(MailboxKey.address == Mailbox.address, MailboxKey.status == KeyStatus.ACTIVE.value),
    )
    .where(Mailbox.address == bindparam("address"))
)


async def _recipient(
    db: Database, address: str
) -> tuple[MailboxRef | None, keystore.ActiveKeys | None]:
    """The mailbox at `address` and its active keys (None without a mailbox, or
    without an active generation)."""
    found = await rows(db, _RECIPIENT, address=repository.normalise_address(address))
    if not found:
        return None, None
    row = found[0]
    mailbox = MailboxRef(*row[: len(repository.REF_COLUMNS)])
    if row.not_after is None:
        return mailbox, None
    keys = keystore.ActiveKeys(
        mailbox.address, row.not_after, row.smime_cert_pem, row.openpgp_public or ""
    )
    return mailbox, keys


@dataclass(frozen=True, slots=True)
class RecipientCheck:
    decision: Decision
    mailbox: MailboxRef | None  # for another operator's mailbox: `remote_ref`
    remote: RemoteKeys | None = None  # its published keys
    keys: keystore.ActiveKeys | None = None  # a local mailbox's, checked usable


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
    routing address (its recipients come from the documents at DATA), then the
    directory: a local mailbox, its status and its keys, or a trusted domain, whose
    certificate lookup (`lookup`) must publish a key for the address."""
    local_domains = tuple(d.lower() for d in settings.service.local_domains)
    shape = RecipientFacts(address, already_accepted, None, False, local_domains, settings.smtp)
    first = run_chain("rcpt", policy.RCPT_SHAPE, shape)
    if not first.accepted:
        return RecipientCheck(first, None)
    if address.lower() == settings.routing_address.lower():
        return RecipientCheck(first, routing_ref(settings.routing_address))
    domain = shape.domain
    # Point look-ups, inline on SQLite (storage.inline): one snapshot each.
    mailbox, keys = await _recipient(db, address)
    trusted = domain not in local_domains and await repository.trusted(db, domain)
    key_issued = keys is not None and keys.usable(utcnow())
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
        key_issued,
    )
    second = run_chain("rcpt", policy.RCPT_DIRECTORY, facts)
    merged = Decision("rcpt", first.checked + second.checked, second.hits)
    if not merged.accepted:
        return RecipientCheck(merged, None)
    if isinstance(remote, RemoteKeys):
        return RecipientCheck(merged, remote_ref(remote), remote)
    return RecipientCheck(merged, mailbox, keys=keys if mailbox is not None else None)


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


def routing_ref(address: str) -> MailboxRef:
    """The routing address as the session sees it: a recipient that stands for the
    practitioners the documents name, resolved at DATA."""
    return MailboxRef(
        id=0,
        address=address.lower(),
        kind=ROUTING,
        crypto="",
        delivery="",
        quota=None,
        status="active",
        local=True,
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
    forms: tuple[str, ...] = ()  # the crypto form of each copy (gateway.protection)
    documents: int = 0  # structured documents recognised
    warning: str = ""  # explicit recipients differ from the documents' ("warn", "hold")
    held: bool = False  # to hold for an administrator ("hold" mode and a difference)


@dataclass(frozen=True, slots=True)
class Refused:
    decision: Decision
    # An integration MDN for an applicative sender that asked for one (queued although
    # the message is refused: its interface engine reads MDNs, not SMTP replies).
    notice: Copy | None = None


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the SMTP session gathered before DATA."""

    sender: str
    recipients: Sequence[MailboxRef]  # the routing address among them as `routing_ref`
    usable: frozenset[str]
    # Other operators' recipients (MailboxRef.local False): their published keys, by
    # address, for the protect step to encrypt to.
    remote_keys: Mapping[str, RemoteKeys] = field(default_factory=dict)
    sender_kind: str = ""  # the envelope sender's mailbox kind
    # The active generations MAIL and RCPT checked: the sender's (to sign, when the From
    # is the envelope sender) and the local recipients', by address.
    signing: keystore.ActiveKeys | None = None
    local_keys: Mapping[str, keystore.ActiveKeys] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Tools:
    """What DATA needs from the edge: the key store and crypto processes, and the
    certificate lookup for routed recipients of other operators."""

    protector: Protector
    lookup: KeyLookup | None = None


async def decide(
    content: bytes | None,
    stats: DataStats,
    envelope: Envelope,
    settings: Settings,
    now: dt.datetime,
    *,
    tools: Tools,
) -> Accepted | Refused:
    """DATA: run the content rules, the document step and the protect step, and turn
    the message into the copies to queue."""
    facts = ContentFacts(content, stats, envelope.usable, settings.smtp)
    decision = run_chain("data", policy.DATA, facts)
    headers = facts.headers
    if not decision.accepted or content is None or not isinstance(headers, HeaderBlock):
        return Refused(decision)
    signer = _signer(headers)
    if isinstance(signer, Refusal):
        return Refused(_then(decision, signer.rule, signer))
    explicit = [r for r in envelope.recipients if r.kind != ROUTING]
    submitted = integration.Submitted(
        content,
        facts.mime if isinstance(facts.mime, MimeTree) else None,
        envelope.sender,
        envelope.sender_kind,
        [r.address for r in explicit],
        len(explicit) < len(envelope.recipients),
    )
    try:
        integrated = await integration.integrate(tools.protector, settings, submitted, now)
    except integration.IntegrationRefused as exc:
        notice = None if exc.mdn is None else Copy(exc.mdn, (envelope.sender.lower(),))
        return Refused(_then(decision, exc.refusal.rule, exc.refusal), notice)
    decision = _then(decision, "documents")
    routed = await _with_routed(tools, settings, explicit, envelope, integrated.routed)
    if isinstance(routed, Decision):
        return Refused(_then(decision, routed.checked[-1], routed.refusal))
    message_id, completed = complete_header(
        integrated.content, headers, settings.service.hostname, now
    )
    order = replace(routed, message=completed, signer=signer, signing=envelope.signing)
    return await _protected(tools, decision, message_id, order, integrated=integrated, now=now)


async def _protected(
    tools: Tools,
    decision: Decision,
    message_id: str,
    order: Order,
    *,
    integrated: integration.Integrated,
    now: dt.datetime,
) -> Accepted | Refused:
    try:
        sealed = await protect.protect(tools.protector, order, now)
    except ProtectionRefused as exc:
        return Refused(_then(decision, exc.refusal.rule, exc.refusal))
    except CryptoError as exc:  # a local fault (pool, CA, sealed key): the client retries
        log.warning(Event.CRYPTO_PROTECT_FAILED, reason=type(exc).__name__)
        return Refused(_then(decision, PROTECT_RULE, LOCAL_FAULT))
    return Accepted(
        _then(decision, PROTECT_RULE),
        message_id,
        tuple(Copy(s.content, s.recipients) for s in sealed),
        tuple(s.form for s in sealed),
        integrated.documents,
        integrated.warning,
        integrated.held,
    )


async def _with_routed(
    tools: Tools,
    settings: Settings,
    explicit: Sequence[MailboxRef],
    envelope: Envelope,
    routed: Sequence[str],
) -> Order | Decision:
    """The recipients to protect for: the explicit ones and the mailboxes the documents
    of a routed message name, each checked as at RCPT (active, keys issued or published);
    a Decision with the first refusal otherwise."""
    recipients = list(explicit)
    remote_keys = dict(envelope.remote_keys)
    local_keys = dict(envelope.local_keys)
    known = {r.address.lower() for r in explicit}
    for address in routed:
        if address.lower() in known:
            continue
        check = await check_recipient(
            tools.protector.db, settings, address, len(recipients), lookup=tools.lookup
        )
        if check.mailbox is None or not check.decision.accepted:
            return check.decision
        known.add(address.lower())
        recipients.append(check.mailbox)
        if check.remote is not None:
            remote_keys[check.mailbox.address.lower()] = check.remote
        if check.keys is not None:
            local_keys[check.mailbox.address.lower()] = check.keys
    return Order(b"", "", tuple(recipients), remote_keys, local_keys)


def _signer(headers: HeaderBlock) -> str | Refusal:
    """The one From address, whose keys sign (the policy checked the client may use it)."""
    addresses = [a for value in headers.all("From") for a in header_addresses("From", value)]
    if len(addresses) != 1:
        return Refusal(
            PROTECT_RULE,
            550,
            "5.7.1",
            "the From field must name exactly one address: a message is signed by one sender",
        )
    return addresses[0]


def _then(decision: Decision, rule: str, refusal: Refusal | None = None) -> Decision:
    """`decision` with one more rule run (and its refusal, if it refused)."""
    hits = decision.hits + ((refusal,) if refusal is not None else ())
    return Decision(decision.stage, (*decision.checked, rule), hits)


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
