"""`lookup.listen`: the certificate lookup for peer operators, HTTPS with mutual TLS.

One request per connection: `GET /v1/mailboxes/{address}` answers the published keys of
that exact address (`answer.published_keys`) as JSON, or 404 with the same body whether
the mailbox is unknown, suspended or keyless; `GET /v1/crl` answers this operator's
current CRL (PEM, as the CRL refresh service keeps it), or 404 before there is one, so
that peers can check our certificates for revocation. The TLS handshake demands a client
certificate chaining to a trusted domain's anchors (the context follows the trust list,
`TrustSpace`), then the certificate must name a host under that domain. Every answer and
every refused peer is in the audit trail (identifiers only).

What it must not do: answer anyone outside the trust space, answer a pattern or a
partial address, hold a connection for a slow client, or say why nothing is published.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.parse
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus

from cryptography import x509

from config.logging import Event, get_logger
from crypto import ca, keystore
from gateway.trust import peer_crl
from gateway.trust.remote_keys import PATH_PREFIX, render
from mailserver import metrics
from mailserver.app import Runtime
from mailserver.http.errors import HttpError
from mailserver.http.request import Request, parse_head
from mailserver.http.response import Response
from mailserver.lookup.answer import exact_address, published_keys
from mailserver.trust_tls import PeerIdentity, PeerRefused, peer_certificate, verify_client_peer
from storage import audit
from storage.audit import AuditEvent
from storage.base import utcnow
from storage.errors import StorageUnavailable

log = get_logger(__name__)
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class LookupLimits:
    max_connections: int = 256
    max_connections_per_client: int = 16
    max_head_bytes: int = 8 * 1024
    max_header_fields: int = 32
    handshake_seconds: float = 10.0
    read_seconds: float = 10.0


def _not_published() -> Response:
    body = json.dumps({"error": "not-published"}).encode()
    return Response(HTTPStatus.NOT_FOUND, body, JSON)


class LookupService:
    """The lookup listener, a service of `salus serve`."""

    name = "lookup"

    def __init__(self, runtime: Runtime, limits: LookupLimits | None = None) -> None:
        self.runtime = runtime
        self.limits = limits or LookupLimits()
        self._server: asyncio.Server | None = None
        self._issuing_pem = b""
        self._refresher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._per_client: Counter[str] = Counter()

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self.runtime.settings.lookup.listen.port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        _, issuing = await asyncio.to_thread(ca.load_chain, self.runtime.settings.data_dir)
        self._issuing_pem = ca.pem(issuing)
        listen = self.runtime.settings.lookup.listen
        trust = self.runtime.trust
        await trust.server_context()
        self._refresher = asyncio.create_task(trust.keep_fresh())
        self._server = await asyncio.start_server(
            self._connection,
            listen.host,
            listen.port,
            limit=self.limits.max_head_bytes,
            ssl=trust.front_context(),
            ssl_handshake_timeout=self.limits.handshake_seconds,
        )
        log.info(Event.SERVICE_STARTED, service=self.name, port=self.port)

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        log.info(Event.SERVICE_STOPPED, service=self.name)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None:  # asyncio runs each connection callback in a task of its own
            writer.transport.abort()
            return
        peer = writer.get_extra_info("peername")
        client = str(peer[0]) if isinstance(peer, tuple) else "local"
        refusal = self._refusal(client)
        if refusal:
            log.warning(Event.HTTP_CONNECTION_REFUSED, listener=self.name, client=client)
            metrics.CONNECTIONS_REFUSED.labels(listener=self.name, reason=refusal).inc()
            writer.transport.abort()
            return
        self._tasks.add(task)
        self._per_client[client] += 1
        metrics.SESSIONS.labels(listener=self.name).inc()
        metrics.SESSIONS_ACTIVE.labels(listener=self.name).inc()
        try:
            await self._serve(reader, writer, client)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            metrics.SESSIONS_ACTIVE.labels(listener=self.name).dec()
            self._per_client[client] -= 1
            if self._per_client[client] <= 0:
                del self._per_client[client]
            self._tasks.discard(task)
            writer.close()

    def _refusal(self, client: str) -> str:
        """Why a new connection from `client` is refused ("" when it is admitted)."""
        if len(self._tasks) >= self.limits.max_connections:
            return "capacity"
        if self._per_client[client] >= self.limits.max_connections_per_client:
            return "per_client_cap"
        return ""

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: str
    ) -> None:
        # The handshake (in asyncio's server) demanded a certificate chaining to a trusted
        # domain's CA (`front_context`); which domain, and a name under it, is checked here
        # against the current list.
        snapshot = await self.runtime.trust.snapshot()
        try:
            identity = verify_client_peer(
                peer_certificate(writer.get_extra_info("ssl_object")), snapshot.peers, utcnow()
            )
        except PeerRefused as refused:
            await self._refused_peer(client, str(refused))
            await self._respond(writer, Response.text(HTTPStatus.FORBIDDEN, "not a trusted peer\n"))
            return
        try:
            async with asyncio.timeout(self.limits.read_seconds):
                head = await reader.readuntil(b"\r\n\r\n")
            request = parse_head(head, max_fields=self.limits.max_header_fields)
        except asyncio.LimitOverrunError:
            response = HttpError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE).response()
        except TimeoutError:
            response = HttpError(HTTPStatus.REQUEST_TIMEOUT).response()
        except HttpError as exc:
            response = exc.response()
        else:
            response = await self._answer(request, identity, client)
        await self._respond(writer, response)

    async def _answer(self, request: Request, identity: PeerIdentity, client: str) -> Response:
        answer: Callable[[Request, PeerIdentity, str], Awaitable[Response]]
        if request.path == peer_crl.PATH and not request.query:
            answer = self._crl
        elif request.path.startswith(PATH_PREFIX):
            answer = self._mailbox
        else:
            return HttpError(HTTPStatus.NOT_FOUND).response()
        if request.method != "GET":
            return HttpError(HTTPStatus.METHOD_NOT_ALLOWED, allow="GET").response()
        return await answer(request, identity, client)

    async def _crl(self, _request: Request, identity: PeerIdentity, client: str) -> Response:
        try:
            async with self.runtime.db.write() as session:
                pems = await keystore.crl_pems(session)
                result = "published" if pems else "not-published"
                detail = {"crl_number": _number(pems[0])} if pems else {}
                await audit.append(
                    session,
                    self._event(
                        identity, client, "crl", result, action="lookup.crl", detail=detail
                    ),
                )
        except StorageUnavailable:
            log.warning(Event.STORAGE_UNAVAILABLE, operation="lookup")
            return HttpError(HTTPStatus.SERVICE_UNAVAILABLE).response()
        log.info(Event.LOOKUP_CRL, domain=identity.domain, client=client, outcome=result)
        if not pems:
            return _not_published()
        return Response(HTTPStatus.OK, pems[0], peer_crl.MEDIA_TYPE)

    async def _mailbox(self, request: Request, identity: PeerIdentity, client: str) -> Response:
        try:
            text = urllib.parse.unquote(request.path[len(PATH_PREFIX) :], errors="strict")
        except UnicodeDecodeError:
            text = ""
        address = exact_address(text) if "/" not in text and not request.query else None
        if address is None:
            await self._audit(identity, client, "", "invalid")
            return HttpError(
                HTTPStatus.BAD_REQUEST, "an exact mailbox address is expected"
            ).response()
        settings = self.runtime.settings
        try:
            async with self.runtime.db.write() as session:
                keys = await published_keys(
                    session, settings.service.local_domains, self._issuing_pem, address
                )
                result = "published" if keys is not None else "not-published"
                await audit.append(
                    session, self._event(identity, client, address, result, action="lookup.mailbox")
                )
        except StorageUnavailable:
            log.warning(Event.STORAGE_UNAVAILABLE, operation="lookup")
            return HttpError(HTTPStatus.SERVICE_UNAVAILABLE).response()
        log.info(Event.LOOKUP_REQUEST, domain=identity.domain, client=client, outcome=result)
        if keys is None:
            return _not_published()
        return Response(HTTPStatus.OK, render(keys), JSON)

    def _event(
        self,
        identity: PeerIdentity,
        client: str,
        target: str,
        result: str,
        *,
        action: str,
        detail: Mapping[str, object] | None = None,
    ) -> AuditEvent:
        return AuditEvent(
            f"peer:{identity.domain}",
            action,
            target,
            result,
            f"lookup:{client}",
            {
                "peer_certificate": identity.serial,
                "peer_fingerprint": identity.fingerprint,
                **(detail or {}),
            },
        )

    async def _audit(self, identity: PeerIdentity, client: str, address: str, result: str) -> None:
        event = self._event(identity, client, address, result, action="lookup.mailbox")
        with contextlib.suppress(StorageUnavailable):
            await audit.record(self.runtime.db, event)

    async def _refused_peer(self, client: str, reason: str) -> None:
        log.warning(Event.TRUST_PEER_REFUSED, listener=self.name, client=client)
        event = AuditEvent(
            "peer:unverified",
            "lookup.refused",
            client,
            "refused",
            f"lookup:{client}",
            {"reason": reason[:300]},
        )
        with contextlib.suppress(StorageUnavailable):
            await audit.record(self.runtime.db, event)

    async def _respond(self, writer: asyncio.StreamWriter, response: Response) -> None:
        writer.write(response.render())
        with contextlib.suppress(ConnectionError, TimeoutError):
            async with asyncio.timeout(self.limits.read_seconds):
                await writer.drain()


def _number(pem: bytes) -> int:
    return keystore.crl_number(x509.load_pem_x509_crl(pem))
