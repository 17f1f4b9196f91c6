"""Per-client connection caps of the listeners peers use: the MX (smtp.max_connections_per_
client) and the certificate lookup (LookupLimits). One address cannot hold every slot; a
refused connection is counted in /metrics; a slot freed is a slot to take again."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

from mailserver import metrics
from mailserver.lookup.listener import LookupLimits, LookupService
from mailserver.tls import client_context
from tests.integration.trust.operators import operators


def _refused(listener: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "salus_connections_refused_total", {"listener": listener, "reason": "per_client_cap"}
    )
    return value or 0.0


def _open(listener: str) -> float:
    return metrics.REGISTRY.get_sample_value("salus_sessions_active", {"listener": listener}) or 0.0


def _greetings(port: int, count: int) -> list[str]:
    """Open `count` connections at once; the first line each one hears."""
    clients = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(count)]
    try:
        return [c.makefile("rb").readline().decode() for c in clients]
    finally:
        for c in clients:
            c.close()


async def test_the_mx_caps_connections_per_client(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    limits = {"b.test": {"smtp.max_connections_per_client": 2}}
    async with operators(operator_templates, tmp_path, per_operator=limits) as ops:
        b = ops["b.test"]
        await b.serve("mx")
        before = _refused("mx")
        held = await asyncio.to_thread(_greetings, b.port("mx"), 3)
        async with asyncio.timeout(30):  # the server sees the closes, then a slot is free
            while b.service("mx").sessions:
                await asyncio.sleep(0.05)
        again = await asyncio.to_thread(_greetings, b.port("mx"), 1)
    assert [g[:3] for g in held] == ["220", "220", "421"]
    assert held[2].startswith("421 4.7.0 Too many connections from your address")
    assert again[0].startswith("220")
    assert _refused("mx") == before + 1


async def test_the_lookup_caps_connections_per_client(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        limits = LookupLimits(max_connections_per_client=2, read_seconds=30)
        await b.start("lookup", lambda rt: LookupService(rt, limits))
        await b.trust(a)
        context = client_context(a.runtime.tls.material, [b.ca_chain().decode("ascii")])
        context.check_hostname = False
        before, opened = _refused("lookup"), _open("lookup")

        async def peer() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await asyncio.open_connection("127.0.0.1", b.port("lookup"), ssl=context)

        held = [await peer(), await peer()]
        async with asyncio.timeout(30):
            while _open("lookup") < opened + 2:  # both handshakes done, both admitted
                await asyncio.sleep(0.05)
        reader, writer = await peer()
        try:
            closed = await asyncio.wait_for(reader.read(), 30)  # refused: no answer at all
        except (ConnectionError, ssl.SSLError):
            closed = b""
        writer.close()
        for _, w in held:
            w.close()
    assert closed == b""
    assert _refused("lookup") == before + 1
