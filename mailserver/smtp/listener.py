"""The submission listeners as services of `salus serve`: sockets, the session registry
(per-client connection cap, drain) and the TLS context tracked for SIGHUP reload.

`submission` (smtp.submission) speaks plain SMTP and requires STARTTLS before anything
else; `submissions` (smtp.submissions) is implicit TLS (RFC 8314 §3.3). On stop, the
listener closes its socket, answers 421 to idle sessions at once, lets sessions in a
transaction finish it for up to `drain_grace` seconds, then closes what is left with 421
and waits for the commits and audit writes it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import Counter
from collections.abc import Callable
from typing import Any

from config.logging import Event, get_logger
from config.settings import HostPort
from mailserver import metrics
from mailserver.app import Runtime, Service, ServiceFactory
from mailserver.queue.wakeup import Wakeup
from mailserver.smtp import replies
from mailserver.smtp.handler import SubmissionHandler
from mailserver.smtp.protocol import SubmissionProtocol
from mailserver.tls import server_context

log = get_logger(__name__)
GREETING_PAUSE = 0.2  # seconds a client must stay silent before our 220
DRAIN_GRACE = 10.0
TLS_HANDSHAKE_TIMEOUT = 30.0


class SubmissionListener:
    def __init__(
        self,
        runtime: Runtime,
        wakeup: Wakeup,
        *,
        name: str,
        address: HostPort,
        implicit_tls: bool,
        greeting_pause: float = GREETING_PAUSE,
        drain_grace: float = DRAIN_GRACE,
    ) -> None:
        self.name = name
        self.runtime = runtime
        self.address = address
        self.implicit_tls = implicit_tls
        self.greeting_pause = greeting_pause
        self.drain_grace = drain_grace
        self.draining = False
        self.sessions: set[SubmissionProtocol] = set()
        self._per_client: Counter[str] = Counter()
        self._tasks: set[asyncio.Future[Any]] = set()
        self._server: asyncio.Server | None = None
        self._all_closed = asyncio.Event()
        self.handler = SubmissionHandler(runtime, on_queued=wakeup.notify, track=self._track)

    @property
    def port(self) -> int:
        """The bound port (the configured one, or the one picked for port 0)."""
        if self._server is None or not self._server.sockets:
            return self.address.port
        return int(self._server.sockets[0].getsockname()[1])

    # ---- registry -------------------------------------------------------------------
    def admit(self, session: SubmissionProtocol) -> str | None:
        if self.draining:
            return replies.SHUTTING_DOWN
        client = session.context.client_ip
        if self._per_client[client] >= self.runtime.settings.smtp.max_connections_per_client:
            log.warning(Event.SMTP_CONNECTION_REFUSED, client=client, listener=self.name,
                        reason="connection cap")
            metrics.CONNECTIONS_REFUSED.labels(listener=self.name, reason="per_client_cap").inc()
            return replies.TOO_MANY_CONNECTIONS
        self._per_client[client] += 1
        self.sessions.add(session)
        metrics.SESSIONS.labels(listener=self.name).inc()
        metrics.SESSIONS_ACTIVE.labels(listener=self.name).inc()
        return None

    def release(self, session: SubmissionProtocol) -> None:
        client = session.context.client_ip
        self._per_client[client] -= 1
        if self._per_client[client] <= 0:
            del self._per_client[client]
        self.sessions.discard(session)
        metrics.SESSIONS_ACTIVE.labels(listener=self.name).dec()
        self.handler.session_closed(session.context)
        if self.draining and not self.sessions:
            self._all_closed.set()

    def _track(self, task: asyncio.Future[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- life cycle -----------------------------------------------------------------
    async def start(self) -> None:
        # aiosmtpd logs peers and commands on "mail.log"; our own events say what matters.
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        context = self._tls_context()
        self._server = await asyncio.get_running_loop().create_server(
            self._protocol_factory(context),
            self.address.host,
            self.address.port,
            ssl=context if self.implicit_tls else None,
            ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT if self.implicit_tls else None,
        )
        log.info(Event.SERVICE_STARTED, service=self.name, port=self.port)

    async def stop(self) -> None:
        self.draining = True
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.drain()
        if self.sessions:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_closed.wait(), self.drain_grace)
        for session in list(self.sessions):
            session.close_with(replies.SHUTTING_DOWN)
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self.drain_grace)
        await self.handler.committer.close()
        log.info(Event.SERVICE_STOPPED, service=self.name)

    def _protocol_factory(self, context: ssl.SSLContext) -> Callable[[], SubmissionProtocol]:
        settings = self.runtime.settings

        def make() -> SubmissionProtocol:
            return SubmissionProtocol(
                self.handler,
                self,
                limits=settings.smtp,
                hostname=settings.service.hostname,
                tls_context=context,
                implicit_tls=self.implicit_tls,
                greeting_pause=self.greeting_pause,
            )

        return make

    def _tls_context(self) -> ssl.SSLContext:
        """The service certificate; client certificates from the service CA are asked
        for (optional) so that SASL EXTERNAL can use them."""
        ca_dir = self.runtime.settings.data_dir / "ca"
        cas = [
            path.read_text(encoding="ascii")
            for path in (ca_dir / "issuing.crt", ca_dir / "root.crt")
            if path.exists()
        ]
        context = server_context(self.runtime.tls.material, client_cas_pem=cas)
        return self.runtime.tls.track(context)


def submission_services(wakeup: Wakeup) -> list[ServiceFactory]:
    """Factories of the two submission listeners, sharing the queue's wake-up."""

    def submission(runtime: Runtime) -> Service:
        return SubmissionListener(
            runtime, wakeup, name="submission",
            address=runtime.settings.smtp.submission, implicit_tls=False,
        )

    def submissions(runtime: Runtime) -> Service:
        return SubmissionListener(
            runtime, wakeup, name="submissions",
            address=runtime.settings.smtp.submissions, implicit_tls=True,
        )

    return [submission, submissions]
