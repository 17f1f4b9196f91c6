"""One SMTP transaction to a peer operator's MX, over mutual TLS (DESIGN sections 3, 5.5).

The conversation (RFC 5321 §3, RFC 3207): greeting, EHLO, STARTTLS (refused to go on
without it), the TLS handshake with our service certificate as client certificate and
only the peer domain's CA as trust anchor, the peer certificate checked to name a host
under the peer domain (`verify_server_peer`), EHLO again, MAIL, RCPT, DATA (CRLF only,
dot-stuffed: `wire`), QUIT.

There is no fallback: no STARTTLS, a failed handshake, a certificate of another domain
or CA, a timeout or a dropped connection all end the attempt as a temporary failure, so
the delivery worker defers and tries again later; only the peer's own 5xx replies are
permanent. Nothing is written to the peer before TLS is up but EHLO and STARTTLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

from config.settings import HostPort
from mailserver.relay.wire import dot_stuffed
from mailserver.trust_tls import (
    PeerIdentity,
    PeerRefused,
    TrustedPeer,
    TrustSpace,
    peer_certificate,
    verify_server_peer,
)
from storage.base import utcnow

MAX_REPLY_LINES = 100
LINE_LIMIT = 2048


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds per step; RFC 5321 §4.5.3.2 allows longer, a lease bounds ours."""

    connect: float = 30.0
    command: float = 120.0
    data_end: float = 300.0

    @property
    def total(self) -> float:
        return self.connect + 6 * self.command + self.data_end


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the peer accepted, and over what (for `salus trace`)."""

    peer: PeerIdentity
    address: HostPort
    tls_version: str
    cipher: str
    reply: str

    def describe(self) -> str:
        return (
            f"relayed to {self.peer.domain} at {self.address} over {self.tls_version}"
            f" ({self.cipher}); peer certificate {self.peer.describe()}; peer said: {self.reply}"
        )


class RelayFailed(Exception):
    """The attempt failed; `reply` is what a DSN or `salus trace` quotes."""

    def __init__(self, reply: str, *, temporary: bool) -> None:
        super().__init__(reply)
        self.reply = reply
        self.temporary = temporary


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return f"{self.code} {' '.join(self.lines)}".strip()


class _Conversation:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeouts: Timeouts
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.timeouts = timeouts

    async def reply(self, within: float | None = None) -> Reply:
        lines: list[str] = []
        async with asyncio.timeout(within or self.timeouts.command):
            while len(lines) < MAX_REPLY_LINES:
                raw = await self.reader.readuntil(b"\n")
                line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
                if len(line) < 3 or not line[:3].isdigit():
                    raise RelayFailed(
                        "451 4.5.0 The peer answered something that is not SMTP", temporary=True
                    )
                lines.append(line[4:])
                if line[3:4] != "-":
                    return Reply(int(line[:3]), tuple(lines))
        raise RelayFailed("451 4.5.0 The peer's reply is too long", temporary=True)

    async def command(self, line: str) -> Reply:
        self.writer.write(line.encode("ascii") + b"\r\n")
        await self.writer.drain()
        return await self.reply()

    async def expect(self, line: str, code: int, what: str) -> Reply:
        reply = await self.command(line)
        if reply.code != code:
            raise _refusal(reply, what)
        return reply


def _refusal(reply: Reply, what: str) -> RelayFailed:
    return RelayFailed(f"{reply.text} (in reply to {what})", temporary=reply.code < 500)


def _extensions(reply: Reply) -> set[str]:
    return {line.split(" ", 1)[0].upper() for line in reply.lines[1:]}


def _sni(host: str) -> str | None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    return None


async def relay(
    trust: TrustSpace,
    *,
    domain: str,
    sender: str,
    recipients: Sequence[str],
    content: bytes,
    helo: str,
    timeouts: Timeouts | None = None,
) -> Receipt:
    """Send `content` for `recipients` of `domain` to that domain's registered MX."""
    limits = timeouts or Timeouts()
    try:
        context, peer = await trust.client_context(domain)
    except PeerRefused as exc:
        raise RelayFailed(f"550 5.7.1 {exc}: not relaying", temporary=False) from None
    where = peer.relay
    talk = await _connect(domain, where, limits)
    writer = talk.writer
    try:
        return await _transaction(
            talk, context, peer, helo=helo, sender=sender, recipients=recipients, content=content
        )
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        raise RelayFailed(
            f"451 4.4.2 The connection to {domain} at {where} was lost ({type(exc).__name__})",
            temporary=True,
        ) from None
    except TimeoutError:
        raise RelayFailed(
            f"451 4.4.2 The MX of {domain} at {where} timed out", temporary=True
        ) from None
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(5):
                await writer.wait_closed()


async def _connect(domain: str, where: HostPort, limits: Timeouts) -> _Conversation:
    try:
        async with asyncio.timeout(limits.connect):
            reader, writer = await asyncio.open_connection(where.host, where.port, limit=LINE_LIMIT)
    except (OSError, TimeoutError) as exc:
        raise RelayFailed(
            f"451 4.4.1 Cannot connect to the MX of {domain} at {where} ({type(exc).__name__})",
            temporary=True,
        ) from None
    return _Conversation(reader, writer, limits)


async def _transaction(
    talk: _Conversation,
    context: ssl.SSLContext,
    peer: TrustedPeer,
    *,
    helo: str,
    sender: str,
    recipients: Sequence[str],
    content: bytes,
) -> Receipt:
    domain, where = peer.domain, peer.relay
    greeting = await talk.reply()
    if greeting.code != 220:
        raise _refusal(greeting, "the greeting")
    first = await talk.expect(f"EHLO {helo}", 250, "EHLO")
    if "STARTTLS" not in _extensions(first):
        raise RelayFailed(
            f"451 4.7.4 The MX of {domain} at {where} offers no STARTTLS: not sending in plaintext",
            temporary=True,
        )
    await talk.expect("STARTTLS", 220, "STARTTLS")
    identity, version, cipher = await _secure(talk, context, peer)
    extensions = _extensions(await talk.expect(f"EHLO {helo}", 250, "EHLO after STARTTLS"))
    data = dot_stuffed(content)
    size = f" SIZE={len(data)}" if "SIZE" in extensions else ""
    await talk.expect(f"MAIL FROM:<{sender}>{size}", 250, "MAIL FROM")
    for recipient in recipients:
        await talk.expect(f"RCPT TO:<{recipient}>", 250, f"RCPT TO:<{recipient}>")
    await talk.expect("DATA", 354, "DATA")
    talk.writer.write(data)
    await talk.writer.drain()
    final = await talk.reply(talk.timeouts.data_end)
    if final.code != 250:
        raise _refusal(final, "the end of DATA")
    with contextlib.suppress(OSError, TimeoutError, RelayFailed, asyncio.IncompleteReadError):
        await talk.command("QUIT")
    return Receipt(identity, where, version, cipher, final.text)


async def _secure(
    talk: _Conversation, context: ssl.SSLContext, peer: TrustedPeer
) -> tuple[PeerIdentity, str, str]:
    domain, where = peer.domain, peer.relay
    try:
        await talk.writer.start_tls(
            context, server_hostname=_sni(where.host), ssl_handshake_timeout=talk.timeouts.connect
        )
    except ssl.SSLError as exc:
        raise RelayFailed(
            f"454 4.7.5 TLS with the MX of {domain} at {where} failed ({exc.reason or exc})",
            temporary=True,
        ) from None
    ssl_object = talk.writer.get_extra_info("ssl_object")
    try:
        identity = verify_server_peer(peer_certificate(ssl_object), peer, utcnow())
    except PeerRefused as exc:
        raise RelayFailed(
            f"454 4.7.5 The MX at {where} is not {domain}'s: {exc}", temporary=True
        ) from None
    cipher = ssl_object.cipher() if ssl_object is not None else None
    version = ssl_object.version() if ssl_object is not None else None
    return identity, str(version), cipher[0] if cipher else ""
