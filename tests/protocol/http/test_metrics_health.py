"""Prometheus scrapes /metrics; orchestrators probe /healthz and /readyz."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from mailserver import metrics
from storage.database import Database
from tests.protocol.http.running import running_http
from tests.protocol.http.test_autoconfig import fetch


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_parse_and_count_requests(tmp_path: Path) -> None:
    metrics.MESSAGES_REFUSED.labels(rule="sender_owns_address").inc()
    async with running_http(tmp_path) as server:
        await fetch(server.port, "GET", "/healthz")
        status, headers, body = await fetch(server.port, "GET", "/metrics")
        _, _, again = await fetch(server.port, "GET", "/metrics")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    first, second = _samples(body.decode()), _samples(again.decode())
    families = {f.name for f in text_string_to_metric_families(body.decode())}
    assert {
        "salus_sessions",
        "salus_messages_accepted",
        "salus_messages_refused",
        "salus_deliveries",
        "salus_auth_failures",
        "salus_crypto_seconds",
        "salus_queue_depth",
        "salus_queue_oldest_age_seconds",
        "salus_database_up",
        "process_resident_memory_bytes",
    } <= families
    assert first[("salus_database_up", ())] == 1.0
    assert first[("salus_messages_refused_total", (("rule", "sender_owns_address"),))] >= 1
    key = ("salus_http_requests_total", (("route", "metrics"), ("status", "200")))
    # The first scrape is counted once it has been answered: the second one sees it.
    assert second[key] == first.get(key, 0.0) + 1


async def test_healthz_and_readyz(tmp_path: Path) -> None:
    async with running_http(tmp_path) as server:
        health = await fetch(server.port, "GET", "/healthz")
        ready = await fetch(server.port, "GET", "/readyz")
    assert (health[0], health[2]) == (200, b"ok\n")
    assert (ready[0], ready[2]) == (200, b"ready\n")


async def test_readyz_fails_while_the_database_does_not_answer(tmp_path: Path) -> None:
    missing = Database(f"sqlite+aiosqlite:///{tmp_path / 'absent' / 'salus.db'}")
    try:
        async with running_http(tmp_path, db=missing) as server:
            health = await fetch(server.port, "GET", "/healthz")
            ready = await fetch(server.port, "GET", "/readyz")
            _, _, scrape = await fetch(server.port, "GET", "/metrics")
    finally:
        await missing.dispose()
    assert health[0] == 200
    assert ready[0] == 503
    assert b"database" in ready[2]
    assert _samples(scrape.decode())[("salus_database_up", ())] == 0.0
