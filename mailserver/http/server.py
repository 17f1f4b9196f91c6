"""The HTTP listener service: bounded connections, one request each, then close.

What it must not do: hold a connection open for a client that sends slowly (a read
deadline covers the whole request head and body), buffer more than the head and body
limits, let one address take every connection (a per-client cap), or echo any part of a
request back (errors are fixed sentences).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass
from http import HTTPStatus

from config.logging import Event, get_logger
from config.settings import Settings
from mailserver import metrics
from mailserver.http.autoconfig import Endpoints
from mailserver.http.errors import HttpError
from mailserver.http.request import Request, body_length, parse_head
from mailserver.http.response import Response
from mailserver.http.routes import Route, RouteContext, find_route
from storage.database import Database

log = get_logger(__name__)
LISTENER = "http"
LINGER_SECONDS = 1.0
DISCARD_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """Bounds on what one client, and all clients together, may hold."""

    max_connections: int = 1024
    max_connections_per_client: int = 32
    max_head_bytes: int = 16 * 1024
    max_header_fields: int = 64
    max_body_bytes: int = 16 * 1024
    read_deadline: float = 10.0
    write_deadline: float = 10.0


@dataclass(frozen=True, slots=True)
class _Outcome:
    response: Response
    route: str
    head_only: bool = False
    quiet: bool = False


class HttpService:
    """`http.listen`: autoconfig, Autodiscover, /metrics, /healthz, /readyz."""

    name = "http"

    def __init__(self, settings: Settings, db: Database, limits: HttpLimits | None = None):
        self._listen = settings.http.listen
        self._limits = limits or HttpLimits()
        self._accepting = False
        self._context = RouteContext(
            Endpoints.from_settings(settings), db, accepting=lambda: self._accepting
        )
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # admitted connections
        self._refusing: set[asyncio.Task[None]] = set()  # refused, being answered 503
        self._per_client: Counter[str] = Counter()

    @property
    def port(self) -> int:
        """The bound port (useful when `http.listen` asks for port 0)."""
        if self._server is None:
            raise RuntimeError("the HTTP listener is not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def open_connections(self) -> int:
        return len(self._tasks)

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._connection,
            self._listen.host,
            self._listen.port,
            limit=self._limits.max_head_bytes,
            backlog=min(self._limits.max_connections, 4096),
        )
        self._accepting = True
        log.info(Event.SERVICE_STARTED, service=self.name, listener=str(self._listen))

    async def stop(self) -> None:
        self._accepting = False
        if self._server is not None:
            self._server.close()
        pending = [*self._tasks, *self._refusing]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        log.info(Event.SERVICE_STOPPED, service=self.name)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # asyncio runs each connection callback in a task of its own; stop() cancels them.
        task = asyncio.current_task()
        if task is None:
            writer.transport.abort()
            return
        peer = writer.get_extra_info("peername")
        client = str(peer[0]) if isinstance(peer, tuple) else "local"
        refusal = self._refusal(client)
        try:
            if refusal:
                await self._refuse(task, reader, writer, client, refusal)
            else:
                await self._serve(task, reader, writer, client)
        except asyncio.CancelledError:
            # stop(): this task is the outermost frame of the connection, nothing awaits it.
            writer.transport.abort()

    async def _refuse(
        self,
        task: asyncio.Task[None],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client: str,
        refusal: str,
    ) -> None:
        metrics.CONNECTIONS_REFUSED.labels(listener=LISTENER, reason=refusal).inc()
        log.warning(Event.HTTP_CONNECTION_REFUSED, client=client, reason=refusal)
        if len(self._refusing) >= self._limits.max_connections:
            writer.transport.abort()  # a flood: not even a polite answer
            return
        self._refusing.add(task)
        try:
            writer.write(Response.text(HTTPStatus.SERVICE_UNAVAILABLE, "busy\n").render())
            await self._close(reader, writer)
        finally:
            self._refusing.discard(task)

    async def _serve(
        self,
        task: asyncio.Task[None],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client: str,
    ) -> None:
        self._tasks.add(task)
        self._per_client[client] += 1
        metrics.SESSIONS.labels(listener=LISTENER).inc()
        metrics.SESSIONS_ACTIVE.labels(listener=LISTENER).inc()
        try:
            await self._exchange(reader, writer, client)
            await self._close(reader, writer)
        finally:
            metrics.SESSIONS_ACTIVE.labels(listener=LISTENER).dec()
            self._per_client[client] -= 1
            if self._per_client[client] <= 0:
                del self._per_client[client]
            self._tasks.discard(task)

    def _refusal(self, client: str) -> str:
        if not self._accepting or len(self._tasks) >= self._limits.max_connections:
            return "capacity"
        if self._per_client[client] >= self._limits.max_connections_per_client:
            return "per_client_cap"
        return ""

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: str
    ) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with asyncio.timeout(self._limits.read_deadline):
                request, body = await self._read(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            return  # the client went away before a whole request: nothing to answer
        except TimeoutError:
            outcome = _Outcome(HttpError(HTTPStatus.REQUEST_TIMEOUT).response(), "invalid")
        except HttpError as exc:
            outcome = _Outcome(exc.response(), "invalid")
        else:
            outcome = await self._dispatch(request, body)
        await self._send(writer, outcome)
        status = int(outcome.response.status)
        metrics.HTTP_REQUESTS.labels(route=outcome.route, status=str(status)).inc()
        fields = {
            "route": outcome.route,
            "http_status": status,
            "client": client,
            "duration_ms": round((loop.time() - started) * 1000, 3),
        }
        if outcome.route == "invalid":
            log.info(Event.HTTP_BAD_REQUEST, **fields)
        elif outcome.quiet:
            log.debug(Event.HTTP_REQUEST, **fields)
        else:
            log.info(Event.HTTP_REQUEST, **fields)

    async def _read(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[Request, bytes]:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError as exc:
            raise HttpError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE) from exc
        request = parse_head(head, max_fields=self._limits.max_header_fields)
        length = body_length(request, limit=self._limits.max_body_bytes)
        expect = request.headers.get("expect", "").lower()
        if expect and expect != "100-continue":
            raise HttpError(HTTPStatus.EXPECTATION_FAILED)
        if expect and length and request.version == "HTTP/1.1":
            # RFC 9110 §10.1.1: the client waits for this before sending the body.
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        body = await reader.readexactly(length) if length else b""
        return request, body

    async def _dispatch(self, request: Request, body: bytes) -> _Outcome:
        route = find_route(request.path)
        if route is None:
            return _Outcome(HttpError(HTTPStatus.NOT_FOUND).response(), "unknown")
        head_only = request.method == "HEAD"
        if request.method not in route.methods:
            allow = ", ".join(sorted(route.methods))
            error = HttpError(HTTPStatus.METHOD_NOT_ALLOWED, allow=allow)
            return _Outcome(error.response(), route.name)
        return _Outcome(
            await self._handle(route, request, body), route.name, head_only, route.quiet
        )

    async def _handle(self, route: Route, request: Request, body: bytes) -> Response:
        try:
            return await route.handler(request, body, self._context)
        except HttpError as exc:
            return exc.response()
        except Exception:
            log.exception(Event.SERVICE_FAILED, service=self.name, route=route.name)
            return HttpError(HTTPStatus.INTERNAL_SERVER_ERROR).response()

    async def _send(self, writer: asyncio.StreamWriter, outcome: _Outcome) -> None:
        writer.write(outcome.response.render(head_only=outcome.head_only))
        with contextlib.suppress(ConnectionError, TimeoutError):
            async with asyncio.timeout(self._limits.write_deadline):
                await writer.drain()

    async def _close(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Close after the response without resetting it away (RFC 9112 §9.6).

        Closing with unread request bytes makes the kernel send a reset, which can destroy
        the response before the client reads it. So: half-close, discard what the client
        still sends for a short, bounded time, then close.
        """
        try:
            if writer.can_write_eof():
                writer.write_eof()
            async with asyncio.timeout(LINGER_SECONDS):
                while await reader.read(DISCARD_CHUNK):
                    pass
        except (ConnectionError, TimeoutError):
            pass
        writer.close()
        try:
            async with asyncio.timeout(self._limits.write_deadline):
                await writer.wait_closed()
        except (ConnectionError, TimeoutError):
            writer.transport.abort()
