"""The services `salus serve` runs, in start order. Each part of the server adds its
factory here (a callable taking the Runtime)."""

from __future__ import annotations

from mailserver.app import ServiceFactory


def service_factories() -> list[ServiceFactory]:
    return []
