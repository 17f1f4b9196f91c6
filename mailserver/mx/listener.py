"""The inbound MX as a service of `salus serve` (`smtp.mx`).

Plain SMTP with STARTTLS required (RFC 3207, as operators' MXs speak it); each new
connection gets the server context of the current trust list (`TrustSpace`: client
certificate demanded, from any trusted domain's CA), kept fresh by a background task.
On stop: close the socket, answer 421 to idle sessions, let a transaction finish for
`drain_grace` seconds, then close what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable

from config.logging import Event, get_logger
from mailserver import metrics
from mailserver.app import Runtime, Service, ServiceFactory
from mailserver.mx.handler import MxHandler
from mailserver.mx.protocol import MxProtocol
from mailserver.queue.wakeup import Wakeup
from mailserver.smtp import replies

log = get_logger(__name__)
DRAIN_GRACE = 10.0


class MxListener:
    name = "mx"

    def __init__(
        self, runtime: Runtime, wakeup: Wakeup, *, drain_grace: float = DRAIN_GRACE
    ) -> None:
        self.runtime = runtime
        self.drain_grace = drain_grace
        self.draining = False
        self.sessions: set[MxProtocol] = set()
        self.handler = MxHandler(runtime, on_queued=wakeup.notify)
        self._per_client: Counter[str] = Counter()
        self._server: asyncio.Server | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._all_closed = asyncio.Event()

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self.runtime.settings.smtp.mx.port
        return int(self._server.sockets[0].getsockname()[1])

    def admit(self, session: MxProtocol) -> str | None:
        if self.draining:
            return replies.SHUTTING_DOWN
        client = session.context.client_ip
        if self._per_client[client] >= self.runtime.settings.smtp.max_connections_per_client:
            log.warning(
                Event.SMTP_CONNECTION_REFUSED,
                client=client,
                listener=self.name,
                reason="connection cap",
            )
            metrics.CONNECTIONS_REFUSED.labels(listener=self.name, reason="per_client_cap").inc()
            return replies.TOO_MANY_CONNECTIONS
        self._per_client[client] += 1
        self.sessions.add(session)
        metrics.SESSIONS.labels(listener=self.name).inc()
        metrics.SESSIONS_ACTIVE.labels(listener=self.name).inc()
        return None

    def release(self, session: MxProtocol) -> None:
        client = session.context.client_ip
        self._per_client[client] -= 1
        if self._per_client[client] <= 0:
            del self._per_client[client]
        self.sessions.discard(session)
        metrics.SESSIONS_ACTIVE.labels(listener=self.name).dec()
        if self.draining and not self.sessions:
            self._all_closed.set()

    async def start(self) -> None:
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        trust = self.runtime.trust
        await trust.server_context()
        self._refresher = asyncio.create_task(trust.keep_fresh())
        listen = self.runtime.settings.smtp.mx
        self._server = await asyncio.get_running_loop().create_server(
            self._factory(), listen.host, listen.port
        )
        log.info(Event.SERVICE_STARTED, service=self.name, port=self.port)

    async def stop(self) -> None:
        self.draining = True
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.drain()
        if self.sessions:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_closed.wait(), self.drain_grace)
        for session in list(self.sessions):
            session.close_with(replies.SHUTTING_DOWN)
        log.info(Event.SERVICE_STOPPED, service=self.name)

    def _factory(self) -> Callable[[], MxProtocol]:
        settings = self.runtime.settings

        def make() -> MxProtocol:
            return MxProtocol(
                self.handler,
                self,
                limits=settings.smtp,
                hostname=settings.service.hostname,
                tls_context=self.runtime.trust.current_server_context(),
            )

        return make


def mx_service(wakeup: Wakeup) -> ServiceFactory:
    def make(runtime: Runtime) -> Service:
        return MxListener(runtime, wakeup)

    return make
