"""The inbound MX's named rules (DESIGN section 5.7), one chain per SMTP stage.

Mail from another operator is accepted only from a peer whose client certificate was
verified for a trust domain, only from senders of that domain (envelope and header
From), only for active local mailboxes, and only signed and encrypted. The DATA chain
reuses the submission's structural rules (size, line length, NUL, strict CRLF, header
limits and syntax), then adds the MX's own; the signature itself is judged after
decryption (`gateway.trust.inbound`).
"""

from __future__ import annotations

from dataclasses import dataclass

from config.settings import SmtpSettings
from gateway.mime import HeaderBlock
from gateway.policy.decision import Refusal, Rule
from gateway.policy.facts import ContentFacts, DataStats
from gateway.policy.rules import (
    header_limits,
    header_syntax,
    line_length,
    message_size,
    nul_bytes,
    strict_crlf,
)
from gateway.policy.rules.sender_owns_from import header_addresses
from gateway.trust.inbound import protection_form


@dataclass(frozen=True, slots=True)
class PeerFacts:
    """MAIL FROM on the MX: who the TLS layer says the peer is, and the envelope sender."""

    peer_domain: str | None  # None when no trust domain was verified
    peer_problem: str  # why not, for the reply
    mail_from: str


@dataclass(frozen=True, slots=True)
class InboundRecipientFacts:
    address: str
    already_accepted: int
    local_domains: tuple[str, ...]
    mailbox_status: str | None  # of the local mailbox; None when there is none
    limits: SmtpSettings

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()


class InboundContentFacts(ContentFacts):
    """DATA on the MX: the submission's content facts plus the verified peer domain."""

    def __init__(
        self, content: bytes | None, stats: DataStats, limits: SmtpSettings, peer_domain: str
    ) -> None:
        super().__init__(content, stats, frozenset(), limits)
        self.peer_domain = peer_domain


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def peer_verified(facts: PeerFacts) -> Refusal | None:
    if facts.peer_domain is None:
        return Refusal(
            "peer-verified", 550, "5.7.1", f"not a peer of the trust space: {facts.peer_problem}"
        )
    return None


def sender_of_peer_domain(facts: PeerFacts) -> Refusal | None:
    # The null reverse-path of reports (RFC 5321 §4.5.5) is allowed; their From is checked.
    if facts.mail_from and _domain(facts.mail_from) != facts.peer_domain:
        return Refusal(
            "sender-of-peer-domain",
            550,
            "5.7.1",
            f"<{facts.mail_from}> is not an address of {facts.peer_domain}, whose certificate"
            " this connection presented",
        )
    return None


def recipient_count(facts: InboundRecipientFacts) -> Refusal | None:
    if facts.already_accepted >= facts.limits.max_recipients:
        return Refusal("recipient-count", 452, "4.5.3", "too many recipients in one transaction")
    return None


def recipient_is_local_and_active(facts: InboundRecipientFacts) -> Refusal | None:
    name = "recipient-is-local"
    if facts.domain not in facts.local_domains:
        return Refusal(name, 550, "5.7.1", f"<{facts.address}> is not a mailbox here: no relaying")
    if facts.mailbox_status is None:
        return Refusal(name, 550, "5.1.1", f"<{facts.address}>: there is no such mailbox here")
    if facts.mailbox_status != "active":
        return Refusal(name, 550, "5.2.1", f"<{facts.address}>: this mailbox accepts no mail")
    return None


def from_of_peer_domain(facts: ContentFacts) -> Refusal | None:
    headers = facts.headers
    if not isinstance(headers, HeaderBlock) or not isinstance(facts, InboundContentFacts):
        return None  # header-syntax refuses it first
    values = headers.all("From")
    addresses = header_addresses("From", values[0]) if len(values) == 1 else []
    if len(addresses) != 1:
        return Refusal(
            "from-of-peer-domain", 550, "5.7.1", "the From field must name exactly one address"
        )
    if _domain(addresses[0]) != facts.peer_domain:
        return Refusal(
            "from-of-peer-domain",
            550,
            "5.7.1",
            f"the From field names <{addresses[0]}>, not an address of {facts.peer_domain}",
        )
    return None


def signed_and_encrypted(facts: ContentFacts) -> Refusal | None:
    if protection_form(facts.raw) is None:
        return Refusal(
            "signed-and-encrypted",
            550,
            "5.7.1",
            "only signed and encrypted messages (S/MIME or PGP/MIME) are accepted from the trust space",
        )
    return None


MAIL: tuple[Rule[PeerFacts], ...] = (
    Rule("peer-verified", peer_verified),
    Rule("sender-of-peer-domain", sender_of_peer_domain),
)
RCPT: tuple[Rule[InboundRecipientFacts], ...] = (
    Rule("recipient-count", recipient_count),
    Rule("recipient-is-local", recipient_is_local_and_active),
)
DATA: tuple[Rule[ContentFacts], ...] = (
    message_size.RULE,
    line_length.RULE,
    nul_bytes.RULE,
    strict_crlf.RULE,
    header_limits.RULE,
    header_syntax.RULE,
    Rule("from-of-peer-domain", from_of_peer_domain),
    Rule("signed-and-encrypted", signed_and_encrypted),
)


def from_address(facts: ContentFacts) -> str:
    """The one From address (after the DATA chain accepted the message)."""
    headers = facts.headers
    if not isinstance(headers, HeaderBlock):
        raise TypeError("no header block")
    return header_addresses("From", headers.all("From")[0])[0]
