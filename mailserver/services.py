"""The services `salus serve` runs, in start order. Each part of the server adds its
factory here (a callable taking the Runtime)."""

from __future__ import annotations

from mailserver.app import Runtime, Service, ServiceFactory
from mailserver.http.server import HttpService
from mailserver.retention import RetentionService


def http_service(runtime: Runtime) -> Service:
    return HttpService(runtime.settings, runtime.db)


def retention_service(runtime: Runtime) -> Service:
    return RetentionService(runtime.settings, runtime.db, runtime.mailbox_events.publish)


def service_factories() -> list[ServiceFactory]:
    # The HTTP listener stays last: /readyz reports the listeners up because it starts
    # after them and stops before them.
    return [retention_service, http_service]
