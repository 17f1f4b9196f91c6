"""The services `salus serve` runs, in start order. Each part of the server adds its
factory here (a callable taking the Runtime)."""

from __future__ import annotations

from crypto.ca import ServiceCa
from mailserver.app import Runtime, Service, ServiceFactory
from mailserver.crl_refresh import CrlRefreshService
from mailserver.delivery.service import delivery_service
from mailserver.http.server import HttpService
from mailserver.imap.service import ImapService
from mailserver.lookup.listener import LookupService
from mailserver.mx.listener import mx_service
from mailserver.queue.wakeup import Wakeup
from mailserver.retention import RetentionService
from mailserver.smtp.listener import submission_services


def http_service(runtime: Runtime) -> Service:
    return HttpService(runtime.settings, runtime.db)


def retention_service(runtime: Runtime) -> Service:
    return RetentionService(runtime.settings, runtime.db, runtime.mailbox_events.publish)


def crl_refresh_service(runtime: Runtime) -> Service:
    # The CA key is opened only when a CRL is due (`runtime.sealer` reads the service key).
    return CrlRefreshService(
        runtime.settings,
        runtime.db,
        lambda: ServiceCa.load(runtime.settings.data_dir, runtime.sealer),
    )


def imap_service(runtime: Runtime) -> Service:
    return ImapService(runtime)


def lookup_service(runtime: Runtime) -> Service:
    return LookupService(runtime)


def crypto_pool_service(runtime: Runtime) -> Service:
    return runtime.crypto_pool


def service_factories() -> list[ServiceFactory]:
    # The HTTP listener stays last: /readyz reports the listeners up because it starts
    # after them and stops before them.
    # Delivery starts before the submission listeners and stops after them (drain).
    # The crypto processes start first and stop last: every listener and worker uses them.
    queued = Wakeup()
    return [
        crypto_pool_service,
        retention_service,
        crl_refresh_service,
        delivery_service(queued),
        *submission_services(queued),
        mx_service(queued),
        lookup_service,
        imap_service,
        http_service,
    ]
