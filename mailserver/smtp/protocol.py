"""aiosmtpd's SMTP protocol with the session rules of submission.

What this adds to aiosmtpd 1.4.6 (PITFALLS "aiosmtpd"):
- every command but EHLO/HELO/NOOP/RSET/QUIT/STARTTLS answers `530 5.7.0 Must issue a
  STARTTLS command first` until TLS is up (RFC 3207 §4);
- a client that speaks before the greeting is refused (RFC 5321 §4.3.1: the client waits
  for the 220), and so is one address's connection past its cap;
- an absolute session deadline on top of aiosmtpd's idle timer;
- our DATA reader (`data.read_data`), limits per setting and strict end of data;
- over-long command lines closed after a few; enhanced status codes on every reply;
- drain: in a shutdown, a session between transactions gets 421 at once, one in a
  transaction finishes it and then gets 421.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import warnings
from collections.abc import Awaitable, Callable
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError
from typing import Any, Protocol

from aiosmtpd.smtp import SMTP, Envelope

from config.settings import SmtpSettings
from mailserver.smtp import replies
from mailserver.smtp.data import ReceivedData, read_data
from mailserver.smtp.session import SessionContext

ALLOWED_BEFORE_TLS = frozenset({"EHLO", "HELO", "NOOP", "QUIT", "RSET", "STARTTLS"})
LONG_LINES_BEFORE_CLOSE = 3


# A command argument longer than this is parsed every time rather than cached; the
# line limit (smtp.max_line_length) bounds it anyway.
PARSE_CACHE_MAX = 1024


def _parse_path(arg: str) -> tuple[str | None, str | None]:
    """(the address, the rest of the line) of a MAIL or RCPT argument, as aiosmtpd
    parses it; (None, None) when it does not parse; a source route `<@a,@b:x@y>` kept
    in front of the address as `@a,@b:x@y`."""
    try:
        if arg.lstrip().startswith("<"):
            angle, rest = get_angle_addr(arg)
            address = str(angle.addr_spec)
        else:
            spec, rest = get_addr_spec(arg)
            address = str(spec.addr_spec)
    except HeaderParseError:
        return None, None
    text = arg.lstrip()
    if address and text.startswith("<@") and ":" in text:
        return f"{text[1 : text.index(':')]}:{address}", rest
    return address, rest


parse_path = functools.lru_cache(maxsize=1024)(_parse_path)


class Registry(Protocol):
    """What a session needs from its listener."""

    name: str
    draining: bool

    def admit(self, session: SubmissionProtocol) -> str | None: ...

    def release(self, session: SubmissionProtocol) -> None: ...


class SubmissionEnvelope(Envelope):
    def __init__(self) -> None:
        super().__init__()
        self.data: ReceivedData | None = None


class SubmissionProtocol(SMTP):
    def __init__(
        self,
        handler: Any,
        registry: Registry,
        *,
        limits: SmtpSettings,
        hostname: str,
        tls_context: ssl.SSLContext | None,
        implicit_tls: bool,
        greeting_pause: float,
    ) -> None:
        # The stream buffer bounds a line: 998 octets, a stuffed dot and CRLF.
        self.line_length_limit = limits.max_line_length + 3
        with warnings.catch_warnings():
            # On the implicit-TLS port AUTH needs no STARTTLS: TLS is the transport.
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            super().__init__(
                handler,
                data_size_limit=None,  # SIZE is the declared-size rule's; DATA is ours
                hostname=hostname,
                ident=replies.GREETING_IDENT,
                tls_context=None if implicit_tls else tls_context,
                timeout=limits.idle_timeout,
                auth_required=True,
                auth_require_tls=not implicit_tls,
                loop=asyncio.get_running_loop(),
            )
        self.registry = registry
        self.limits = limits
        self.implicit_tls = implicit_tls
        self.greeting_pause = greeting_pause
        self.context = SessionContext(client_ip="", listener=registry.name)
        self.busy = False  # a DATA reply is being prepared (an enqueue may be in flight)
        self._deadline: asyncio.TimerHandle | None = None
        self._close_after_reply: str | None = None
        self._long_lines = 0
        self._admitted = False
        for name, method in list(self._smtp_methods.items()):
            self._smtp_methods[name] = self._guarded(name, method)

    # ---- state ----------------------------------------------------------------------
    @property
    def tls_active(self) -> bool:
        return self.implicit_tls or self._tls_protocol is not None

    @property
    def in_transaction(self) -> bool:
        return self.busy or (self.envelope is not None and self.envelope.mail_from is not None)

    def ssl_object(self) -> ssl.SSLObject | None:
        if self.transport is None:
            return None
        found = self.transport.get_extra_info("ssl_object")
        return found if isinstance(found, ssl.SSLObject) else None

    def peer_certificate(self) -> bytes | None:
        """The client certificate's DER, when one was presented and verified."""
        obj = self.ssl_object()
        return obj.getpeercert(binary_form=True) if obj is not None else None

    def _create_envelope(self) -> SubmissionEnvelope:
        return SubmissionEnvelope()

    def current(self) -> SubmissionEnvelope:
        """The transaction's envelope (there is one from connection to close). A method,
        not a property: aiosmtpd's inspect.getmembers() reads properties in __init__."""
        envelope = self.envelope
        if not isinstance(envelope, SubmissionEnvelope):
            raise TypeError("no submission envelope outside a session")
        return envelope

    # ---- session life ---------------------------------------------------------------
    async def _handle_client(self) -> None:
        peer = self.transport.get_extra_info("peername") if self.transport else None
        self.context.client_ip = str(peer[0]) if peer else "unknown"
        refusal = self.registry.admit(self)
        self._admitted = refusal is None
        if refusal is None and await self._spoke_first():
            refusal = replies.SPOKE_FIRST
        if refusal is not None:
            self.close_with(refusal)
            return
        self._deadline = self.loop.call_later(self.limits.session_deadline, self._deadline_reached)
        await super()._handle_client()

    async def _spoke_first(self) -> bool:
        """True when the client sends anything (or leaves) before our greeting."""
        if self.greeting_pause <= 0:
            return False
        try:
            await asyncio.wait_for(self._reader.read(1), self.greeting_pause)
        except TimeoutError:
            return False
        return True

    def connection_lost(self, error: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        if self._admitted:
            self._admitted = False
            self.registry.release(self)
        super().connection_lost(error)

    def _deadline_reached(self) -> None:
        if self.busy:
            self._close_after_reply = replies.SESSION_EXPIRED
        else:
            self.close_with(replies.SESSION_EXPIRED)

    def drain(self) -> None:
        """Shutdown: close now if between transactions, else after the current one."""
        if self.in_transaction:
            self._close_after_reply = replies.SHUTTING_DOWN
        else:
            self.close_with(replies.SHUTTING_DOWN)

    def close_with(self, reply: str) -> None:
        """Write a final reply and close (usable from callbacks: no await)."""
        if self.transport is None or self.transport.is_closing():
            return
        self._writer.write(reply.encode("ascii") + b"\r\n")
        self.transport.close()

    # ---- replies and dispatch -------------------------------------------------------
    async def push(self, status: str | bytes) -> None:
        if isinstance(status, bytes):
            await super().push(status)
            return
        reply = replies.enhance(status)
        if reply.startswith("500 5.5.2 Command line too long"):
            self._long_lines += 1
            if self._long_lines >= LONG_LINES_BEFORE_CLOSE:
                self.close_with(replies.TOO_MANY_LONG_LINES)
                return
        await super().push(reply)

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

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's parse of a MAIL or RCPT argument, without the class aiosmtpd
        1.4.6 defines at each call (a typing Protocol: ~0.1 ms a command) and cached
        per argument text; and a source route kept, which aiosmtpd drops silently, so
        the policy refuses it by name (RFC 5321 §4.1.1.3)."""
        if not arg:
            return "", ""
        address, rest = parse_path(arg) if len(arg) <= PARSE_CACHE_MAX else _parse_path(arg)
        if address is None:
            return None, None
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, rest

    async def smtp_DATA(self, arg: str | None) -> None:  # noqa: N802 - aiosmtpd's verb name
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        envelope = self.current()
        if not envelope.rcpt_tos:
            await self.push("503 5.5.1 Send RCPT TO first")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        received = await read_data(
            self._reader,
            max_bytes=self.limits.max_message_size,
            max_line=self.limits.max_line_length,
            on_progress=self._reset_timeout,
        )
        envelope.data = received
        envelope.content = envelope.original_content = received.content
        self.busy = True
        try:
            status = await self._call_handler_hook("DATA")
        finally:
            self.busy = False
        self.envelope = self._create_envelope()
        await self.push(status)
        if self.registry.draining and self._close_after_reply is None:
            self._close_after_reply = replies.SHUTTING_DOWN
        if self._close_after_reply is not None:
            self.close_with(self._close_after_reply)
