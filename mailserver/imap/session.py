"""What a command handler may use: the connection's I/O (send, read a line), the shared
server resources, the user's namespace, the audit trail and the wake-ups."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from config.logging import EventLogger
from config.settings import ImapSettings
from crypto.at_rest import AtRestCipher
from directory.authn import Principal, ThrottlePolicy, usable_mailboxes
from mailserver.imap import framing
from mailserver.imap.commands.parse import CommandLimits
from mailserver.imap.framing import FramingLimits
from mailserver.imap.header_cache import HeaderCache
from mailserver.imap.namespace import Namespace
from mailserver.imap.output import Output
from mailserver.imap.states import NotAuthenticated, Selected, State
from mailserver.store import MailboxEvents
from mailserver.store.group_commit import GroupCommit
from mailserver.store.reader import Reader
from storage.audit import AuditEvent
from storage.database import Database

BASE_CAPABILITIES = (
    "IMAP4rev1",
    "LITERAL+",
    "SASL-IR",
    "ID",
    "ENABLE",
    "IDLE",
    "NAMESPACE",
    "UIDPLUS",
    "MOVE",
    "UNSELECT",
    "CHILDREN",
    "SPECIAL-USE",
    "LIST-EXTENDED",
)


@dataclass(frozen=True, slots=True)
class ServerContext:
    """Shared by every connection of one IMAP service."""

    db: Database
    at_rest: AtRestCipher
    events: MailboxEvents
    settings: ImapSettings
    policy: ThrottlePolicy
    writes: GroupCommit
    reader: Reader
    headers: HeaderCache
    starttls_context: ssl.SSLContext
    command_limits: CommandLimits
    framing_limits: FramingLimits
    write_timeout: float


class Session:
    def __init__(
        self,
        ctx: ServerContext,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        client: str,
        tls: bool,
        log: EventLogger,
    ) -> None:
        self.ctx = ctx
        self.reader = reader
        self.output = Output(writer, ctx.write_timeout)
        self.client = client
        self.tls = tls
        self.log = log
        self.state: State = NotAuthenticated()

    def set_state(self, state: State) -> None:
        """Move to `state`, releasing the folder watch of a folder left behind."""
        old = self.state
        if isinstance(old, Selected) and not (
            isinstance(state, Selected) and state.folder is old.folder
        ):
            old.folder.close()
        self.state = state

    # ---- I/O -------------------------------------------------------------------------
    async def send(self, data: bytes, *, more: bool = False) -> None:
        await self.output.send(data, more=more)

    async def send_all(self, chunks: list[bytes], *, more: bool = False) -> None:
        """`more`: the command's tagged response (or more of its data) follows, so the
        chunks may wait to go out with it (see Output.send)."""
        if chunks:
            await self.output.send(b"".join(chunks), more=more)

    async def read_line(self) -> bytes:
        """One line from the client (a SASL response, IDLE's DONE), without CRLF."""
        line = await asyncio.wait_for(
            framing.read_line(self.reader), self.ctx.settings.idle_timeout
        )
        return line[:-2]

    def pending_input(self) -> int:
        """Bytes the client sent that no command has read yet (STARTTLS injection)."""
        buffered: bytearray = self.reader._buffer  # type: ignore[attr-defined]  # StreamReader keeps no public view
        return len(buffered)

    def peer_certificate(self) -> bytes | None:
        ssl_object: Any = self.output.writer.get_extra_info("ssl_object")
        if ssl_object is None:
            return None
        der: bytes | None = ssl_object.getpeercert(binary_form=True)
        return der

    # ---- what the user may see -------------------------------------------------------
    async def namespace(self, principal: Principal) -> Namespace:
        """Resolved afresh for each command: a revoked delegation takes effect at once."""
        return Namespace(principal, await usable_mailboxes(self.ctx.db, principal))

    def capabilities(self) -> list[str]:
        caps = list(BASE_CAPABILITIES)
        if isinstance(self.state, NotAuthenticated):
            if self.tls:
                caps += ["AUTH=PLAIN", "AUTH=EXTERNAL"]
            else:
                caps += ["STARTTLS", "LOGINDISABLED"]
        return caps

    # ---- side effects ----------------------------------------------------------------
    def audit_event(
        self, principal: Principal, action: str, obj: str, detail: Mapping[str, Any]
    ) -> AuditEvent:
        """Who did what to which folder or messages (identifiers only, never content)."""
        return AuditEvent(principal.address, action, obj, "ok", f"imap:{self.client}", detail)

    async def audit(
        self, principal: Principal, action: str, obj: str, detail: Mapping[str, Any]
    ) -> None:
        """Record an audit event (committed, with other sessions' writes, on return)."""
        await self.ctx.writes.record(self.audit_event(principal, action, obj, detail))

    def publish(self, *mailbox_ids: int, reported: bool = False) -> None:
        """Tell the other sessions (here and on other nodes) that these mailboxes changed.

        `reported`: this session has already sent the change to its client (STORE, the
        implicit \\Seen, EXPUNGE), so its own watch is not woken by it.
        """
        own = None
        if reported and isinstance(self.state, Selected):
            own = self.state.folder.watch
        for mailbox_id in set(mailbox_ids):
            self.ctx.events.publish(mailbox_id, skip=own)
