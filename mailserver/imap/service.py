"""The IMAP service: a plain listener (STARTTLS before any login) and an implicit-TLS
listener, sharing one TLS context that SIGHUP reloads (mailserver/tls.py). Connections
per client address are capped (imap.max_connections_per_client); on stop every session
gets BYE and is closed."""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import contextlib
import secrets
from collections import Counter
from functools import partial
from pathlib import Path

from config.logging import Event, get_logger
from directory.authn import ThrottlePolicy
from mailserver import metrics
from mailserver.app import Runtime
from mailserver.imap import connection
from mailserver.imap.commands.parse import CommandLimits
from mailserver.imap.framing import FramingLimits
from mailserver.imap.grammar.limits import Limits
from mailserver.imap.header_cache import HeaderCache
from mailserver.imap.responses import Status, untagged_status
from mailserver.imap.session import ServerContext, Session
from mailserver.store.group_commit import GroupCommit
from mailserver.store.reader import Reader
from mailserver.tls import server_context

log = get_logger(__name__)
# asyncio gives every TLS connection a 256 KiB read buffer (sslproto.SSLProtocol.max_size),
# allocated and zeroed up front: 1,000 idle IMAP clients would hold 256 MB for nothing.
# One TLS record (16 KiB) per read is enough for a mail protocol. The setting is a class
# attribute, so it applies to every TLS listener of the process (docs/decisions.md).
TLS_READ_BUFFER = 16 * 1024
WRITE_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 5.0


def client_certificate_cas(data_dir: Path) -> list[str]:
    """The service CA (`salus init`): client certificates it issued may log in by
    AUTHENTICATE EXTERNAL once bound to a mailbox."""
    found = []
    for name in ("root.crt", "issuing.crt"):
        path = data_dir / "ca" / name
        if path.exists():
            found.append(path.read_text(encoding="ascii"))
    return found


class ImapService:
    name = "imap"

    def __init__(self, runtime: Runtime, *, write_timeout: float = WRITE_TIMEOUT_SECONDS) -> None:
        self.runtime = runtime
        self.write_timeout = write_timeout
        self.sessions: set[Session] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._per_client: Counter[str] = Counter()
        self._servers: list[asyncio.Server] = []
        self._ctx: ServerContext | None = None

    def _context(self) -> ServerContext:
        """Shared by every connection of this service (built at start)."""
        settings = self.runtime.settings
        cas = client_certificate_cas(settings.data_dir)
        tls = self.runtime.tls.track(server_context(self.runtime.tls.material, client_cas_pem=cas))
        return ServerContext(
            db=self.runtime.db,
            at_rest=self.runtime.at_rest,
            events=self.runtime.mailbox_events,
            settings=settings.imap,
            policy=ThrottlePolicy.from_settings(settings.smtp),
            writes=GroupCommit(self.runtime.db),
            reader=Reader(self.runtime.db),
            headers=HeaderCache(),
            starttls_context=tls,
            command_limits=CommandLimits(
                Limits(max_string=settings.imap.max_line), settings.imap.max_literal
            ),
            framing_limits=FramingLimits(settings.imap.max_line, settings.imap.max_literal),
            write_timeout=self.write_timeout,
        )

    async def start(self) -> None:
        asyncio.sslproto.SSLProtocol.max_size = TLS_READ_BUFFER
        ctx = self._context()
        self._ctx = ctx
        imap = self.runtime.settings.imap
        limit = imap.max_line
        plain = await asyncio.start_server(
            partial(self._connected, ctx, tls=False),
            imap.listen.host,
            imap.listen.port,
            limit=limit,
        )
        implicit = await asyncio.start_server(
            partial(self._connected, ctx, tls=True),
            imap.listen_tls.host,
            imap.listen_tls.port,
            ssl=ctx.starttls_context,
            ssl_handshake_timeout=connection.TLS_HANDSHAKE_SECONDS,
            limit=limit,
        )
        self._servers = [plain, implicit]
        log.info(Event.SERVICE_STARTED, service=self.name, port=self.ports[0])

    @property
    def ports(self) -> tuple[int, int]:
        """(plain, implicit TLS) ports actually bound (tests listen on port 0)."""
        plain, implicit = (s.sockets[0].getsockname()[1] for s in self._servers)
        return plain, implicit

    async def _connected(
        self,
        ctx: ServerContext,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        tls: bool,
    ) -> None:
        peer = writer.get_extra_info("peername")
        client = str(peer[0]) if peer else "unknown"
        session_log = log.bind(client=client, session=secrets.token_hex(4), tls=tls)
        listener = "imaps" if tls else "imap"
        if self._per_client[client] >= ctx.settings.max_connections_per_client:
            session_log.warning(Event.IMAP_CONNECTION_REFUSED, reason="too many connections")
            metrics.CONNECTIONS_REFUSED.labels(listener=listener, reason="per_client_cap").inc()
            with contextlib.suppress(Exception):
                writer.write(untagged_status(Status.BYE, "Too many connections from your address"))
                await asyncio.wait_for(writer.drain(), 5)
            writer.close()
            return
        session = Session(ctx, reader, writer, client=client, tls=tls, log=session_log)
        task = asyncio.current_task()
        self._per_client[client] += 1
        self.sessions.add(session)
        if task is not None:
            self._tasks.add(task)
        session_log.info(Event.IMAP_SESSION_OPENED)
        metrics.SESSIONS.labels(listener=listener).inc()
        metrics.SESSIONS_ACTIVE.labels(listener=listener).inc()
        try:
            await connection.serve(session)
        finally:
            metrics.SESSIONS_ACTIVE.labels(listener=listener).dec()
            self.sessions.discard(session)
            if task is not None:
                self._tasks.discard(task)
            self._per_client[client] -= 1
            if self._per_client[client] <= 0:
                del self._per_client[client]
            await session.output.close()
            session_log.info(Event.IMAP_SESSION_CLOSED)

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for session in list(self.sessions):
            with contextlib.suppress(Exception):
                session.output.writer.write(untagged_status(Status.BYE, "Server shutting down"))
            session.output.writer.close()
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=STOP_GRACE_SECONDS)
            if pending:
                for session in list(self.sessions):
                    session.output.abort()
                await asyncio.wait(pending, timeout=STOP_GRACE_SECONDS)
        for server in self._servers:
            await server.wait_closed()
        if self._ctx is not None:
            await self._ctx.writes.close()
            self._ctx.reader.close()
        log.info(Event.SERVICE_STOPPED, service=self.name)
