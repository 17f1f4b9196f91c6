"""The routes of the HTTP listener: a table from path to handler, and the handlers.

Paths match exactly as sent (no normalisation), except the Autodiscover path, which
Outlook spells in either case. HEAD is answered wherever GET is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus

from mailserver import metrics
from mailserver.http.autoconfig import (
    EMAIL_PLACEHOLDER,
    Endpoints,
    autodiscover_address,
    autodiscover_response,
    local_address,
    local_domain,
    thunderbird_config,
)
from mailserver.http.errors import HttpError
from mailserver.http.request import Request
from mailserver.http.response import Response
from storage.database import Database

XML = "application/xml; charset=utf-8"
AUTODISCOVER_PATH = "/autodiscover/autodiscover.xml"


@dataclass(frozen=True, slots=True)
class RouteContext:
    """What handlers may use: the published endpoints, the database, the ready flag."""

    endpoints: Endpoints
    db: Database
    accepting: Callable[[], bool]


Handler = Callable[[Request, bytes, RouteContext], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Route:
    """A named route; `name` is the metrics label and the log field."""

    name: str
    methods: frozenset[str]
    handler: Handler
    # Probes and scrapes come every few seconds: they are logged at debug level.
    quiet: bool = False


async def autoconfig(request: Request, _body: bytes, ctx: RouteContext) -> Response:
    """Thunderbird: `?emailaddress=` names the account; without it, the Host names the domain."""
    given = request.query.get("emailaddress")
    if given is not None:
        address = local_address(given, ctx.endpoints.local_domains)
        if address is None:
            raise HttpError(HTTPStatus.NOT_FOUND, "no configuration for this address")
        domain, username = address.partition("@")[2], address
    else:
        found = local_domain(request.host, ctx.endpoints.local_domains)
        if found is None:
            raise HttpError(HTTPStatus.NOT_FOUND, "no configuration for this domain")
        domain, username = found, EMAIL_PLACEHOLDER
    return Response(HTTPStatus.OK, thunderbird_config(ctx.endpoints, domain, username), XML)


async def autodiscover(_request: Request, body: bytes, ctx: RouteContext) -> Response:
    """Outlook POX: the address comes in the XML body."""
    try:
        given = autodiscover_address(body)
    except ValueError as exc:
        raise HttpError(HTTPStatus.BAD_REQUEST, "not an Autodiscover request") from exc
    address = local_address(given, ctx.endpoints.local_domains)
    if address is None:
        raise HttpError(HTTPStatus.NOT_FOUND, "no configuration for this address")
    return Response(HTTPStatus.OK, autodiscover_response(ctx.endpoints, address), XML)


async def metrics_text(_request: Request, _body: bytes, ctx: RouteContext) -> Response:
    return Response(HTTPStatus.OK, await metrics.exposition(ctx.db), metrics.CONTENT_TYPE)


async def healthz(_request: Request, _body: bytes, _ctx: RouteContext) -> Response:
    """The process is alive and its event loop answers."""
    return Response.text(HTTPStatus.OK, "ok\n")


async def readyz(_request: Request, _body: bytes, ctx: RouteContext) -> Response:
    """Ready for traffic: the listeners are up (the HTTP listener starts after them and
    stops before them, see mailserver/services.py) and the database answers."""
    if not ctx.accepting():
        return Response.text(HTTPStatus.SERVICE_UNAVAILABLE, "not ready: stopping\n")
    if not await metrics.database_answers(ctx.db):
        return Response.text(HTTPStatus.SERVICE_UNAVAILABLE, "not ready: database unavailable\n")
    return Response.text(HTTPStatus.OK, "ready\n")


_GET = frozenset({"GET", "HEAD"})
_POST = frozenset({"POST"})
ROUTES: dict[str, Route] = {
    "/.well-known/autoconfig/mail/config-v1.1.xml": Route("autoconfig", _GET, autoconfig),
    "/mail/config-v1.1.xml": Route("autoconfig", _GET, autoconfig),
    AUTODISCOVER_PATH: Route("autodiscover", _POST, autodiscover),
    "/metrics": Route("metrics", _GET, metrics_text, quiet=True),
    "/healthz": Route("healthz", _GET, healthz, quiet=True),
    "/readyz": Route("readyz", _GET, readyz, quiet=True),
}


def find_route(path: str) -> Route | None:
    """The route for a path as sent; Autodiscover's path in any letter case."""
    route = ROUTES.get(path)
    if route is None and path.lower() == AUTODISCOVER_PATH:
        return ROUTES[AUTODISCOVER_PATH]
    return route
