"""aiosmtpd's SMTP protocol with the session rules of the inbound MX.

What this adds to aiosmtpd 1.4.6 for mail from other operators:
- nothing but EHLO/HELO/NOOP/RSET/QUIT/STARTTLS before TLS (`530 5.7.0`, RFC 3207 §4);
  the STARTTLS handshake demands a client certificate (`TrustSpace` context);
- no AUTH: a peer is identified by its certificate, never by a password;
- the submission's DATA reader (`mailserver.smtp.data.read_data`: strict end of data,
  limits, dot-unstuffing) and enhanced status codes on every reply;
- a per-client connection cap, an absolute session deadline, and drain on stop.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiosmtpd.smtp import SMTP, Envelope

from config.settings import SmtpSettings
from directory.repository import MailboxRef
from mailserver.smtp import replies
from mailserver.smtp.data import ReceivedData, read_data
from mailserver.trust_tls import PeerIdentity

ALLOWED_BEFORE_TLS = frozenset({"EHLO", "HELO", "NOOP", "QUIT", "RSET", "STARTTLS"})
GREETING_IDENT = "Salus ESMTP MX"
NO_AUTH = "502 5.5.1 AUTH is not offered here: peers authenticate with their certificate"


class Registry(Protocol):
    name: str
    draining: bool

    def admit(self, session: MxProtocol) -> str | None: ...

    def release(self, session: MxProtocol) -> None: ...


@dataclass(slots=True)
class MxContext:
    """What one MX session knows: the client, the peer its certificate proves, and the
    transaction's recipients."""

    client_ip: str
    peer: PeerIdentity | None = None
    peer_problem: str = "no client certificate was verified (use STARTTLS)"
    recipients: list[MailboxRef] = field(default_factory=list)

    @property
    def actor(self) -> str:
        return f"peer:{self.peer.domain}" if self.peer else f"peer:unverified@{self.client_ip}"

    @property
    def source(self) -> str:
        return f"mx:{self.client_ip}"


class MxEnvelope(Envelope):
    def __init__(self) -> None:
        super().__init__()
        self.data: ReceivedData | None = None


class MxProtocol(SMTP):
    def __init__(
        self,
        handler: Any,
        registry: Registry,
        *,
        limits: SmtpSettings,
        hostname: str,
        tls_context: ssl.SSLContext,
    ) -> None:
        self.line_length_limit = limits.max_line_length + 3
        super().__init__(
            handler,
            data_size_limit=None,
            hostname=hostname,
            ident=GREETING_IDENT,
            tls_context=tls_context,
            timeout=limits.idle_timeout,
            auth_required=False,
            auth_require_tls=True,
            loop=asyncio.get_running_loop(),
        )
        self.registry = registry
        self.limits = limits
        self.context = MxContext(client_ip="")
        self.busy = False
        self._deadline: asyncio.TimerHandle | None = None
        self._admitted = False
        for name, method in list(self._smtp_methods.items()):
            self._smtp_methods[name] = self._guarded(name, method)

    @property
    def tls_active(self) -> bool:
        return self._tls_protocol is not None

    @property
    def in_transaction(self) -> bool:
        return self.busy or (self.envelope is not None and self.envelope.mail_from is not None)

    def _create_envelope(self) -> MxEnvelope:
        return MxEnvelope()

    def current(self) -> MxEnvelope:
        envelope = self.envelope
        if not isinstance(envelope, MxEnvelope):
            raise TypeError("no MX envelope outside a session")
        return envelope

    async def _handle_client(self) -> None:
        peer = self.transport.get_extra_info("peername") if self.transport else None
        self.context.client_ip = str(peer[0]) if peer else "unknown"
        refusal = self.registry.admit(self)
        self._admitted = refusal is None
        if refusal is not None:
            self.close_with(refusal)
            return
        self._deadline = self.loop.call_later(self.limits.session_deadline, self._expired)
        await super()._handle_client()

    def connection_lost(self, error: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        if self._admitted:
            self._admitted = False
            self.registry.release(self)
        super().connection_lost(error)

    def _expired(self) -> None:
        self.close_with(replies.SESSION_EXPIRED)

    def drain(self) -> None:
        if not self.in_transaction:
            self.close_with(replies.SHUTTING_DOWN)

    def close_with(self, reply: str) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self._writer.write(reply.encode("ascii") + b"\r\n")
        self.transport.close()

    async def push(self, status: str | bytes) -> None:
        if isinstance(status, bytes):
            await super().push(status)
            return
        await super().push(replies.enhance(status))

    def _guarded(
        self, name: str, method: Callable[[str | None], Awaitable[None]]
    ) -> Callable[[str | None], Awaitable[None]]:
        @functools.wraps(method)
        async def guarded(arg: str | None) -> None:
            if self.registry.draining and not self.in_transaction:
                self.close_with(replies.SHUTTING_DOWN)
                return
            if name not in ALLOWED_BEFORE_TLS and not self.tls_active:
                await self.push(replies.STARTTLS_FIRST)
                return
            await method(arg)

        return guarded

    async def smtp_AUTH(self, arg: str) -> None:  # noqa: N802 - aiosmtpd's verb name
        await self.push(NO_AUTH)

    async def smtp_DATA(self, arg: str | None) -> None:  # noqa: N802 - aiosmtpd's verb name
        if await self.check_helo_needed():
            return
        envelope = self.current()
        if not envelope.rcpt_tos:
            await self.push("503 5.5.1 Send RCPT TO first")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        envelope.data = await read_data(
            self._reader,
            max_bytes=self.limits.max_message_size,
            max_line=self.limits.max_line_length,
            on_progress=self._reset_timeout,
        )
        self.busy = True
        try:
            status = await self._call_handler_hook("DATA")
        finally:
            self.busy = False
        self.envelope = self._create_envelope()
        self.context.recipients.clear()
        await self.push(status)
        if self.registry.draining:
            self.close_with(replies.SHUTTING_DOWN)
