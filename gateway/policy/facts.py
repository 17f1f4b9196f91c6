"""The facts each chain's rules look at. The edges (SMTP session, directory) gather them;
the rules only read them."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from config.settings import SmtpSettings
from gateway.mime import HeaderBlock, Limits, MimeError, MimeTree, parse_headers, walk
from gateway.trust.remote_keys import KeyLookupFailed, RemoteKeys


@dataclass(frozen=True, slots=True)
class SenderFacts:
    """MAIL FROM: the envelope sender, its declared SIZE, what the client may send as."""

    mail_from: str
    declared_size: int | None
    usable: frozenset[str]  # lowercase addresses of the mailboxes the client may use
    limits: SmtpSettings
    # The sender's mailbox has an active key to sign with (looked up after the rules
    # that need no look-up have passed).
    signing_key: bool = False


@dataclass(frozen=True, slots=True)
class RecipientFacts:
    """RCPT TO: one recipient, how many were accepted before it, what the directory says."""

    address: str
    already_accepted: int
    mailbox_status: str | None  # "active", "suspended"; None: no local mailbox by that name
    trusted_domain: bool  # the domain is another operator of the trust space
    local_domains: tuple[str, ...]
    limits: SmtpSettings
    # For a trusted domain: the keys its certificate lookup published for the address,
    # or why there are none (None: not asked).
    remote_key: RemoteKeys | KeyLookupFailed | None = None
    # For a local mailbox: it has an active, unexpired key to encrypt to.
    key_issued: bool = False

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()


@dataclass(frozen=True, slots=True)
class DataStats:
    """What the DATA reader measured while receiving (RFC 5321 §4.5.2 unstuffed)."""

    total_bytes: int
    longest_line: int  # octets, without the CRLF


class ContentFacts:
    """DATA: the message bytes (None when the reader dropped them past a limit), the
    reader's measurements, and the header block and MIME tree parsed on first use."""

    def __init__(
        self,
        content: bytes | None,
        stats: DataStats,
        usable: frozenset[str],
        limits: SmtpSettings,
    ) -> None:
        self.content = content
        self.stats = stats
        self.usable = usable
        self.limits = limits

    @property
    def raw(self) -> bytes:
        return self.content or b""

    @property
    def mime_limits(self) -> Limits:
        return Limits(
            max_header_count=self.limits.max_header_count,
            max_header_bytes=self.limits.max_header_bytes,
            max_depth=self.limits.max_mime_depth,
            max_parts=self.limits.max_mime_parts,
        )

    @functools.cached_property
    def headers(self) -> HeaderBlock | MimeError:
        try:
            block, _ = parse_headers(
                self.raw,
                max_count=self.limits.max_header_count,
                max_bytes=self.limits.max_header_bytes,
            )
        except MimeError as exc:
            return exc
        return block

    @functools.cached_property
    def mime(self) -> MimeTree | MimeError:
        try:
            return walk(self.raw, self.mime_limits)
        except MimeError as exc:
            return exc
