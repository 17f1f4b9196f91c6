"""Connection limits of the HTTP listener: a per-client cap, a total cap, and idle
connections that cost a bounded amount of memory each."""

from __future__ import annotations

import asyncio
import resource
import socket
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from mailserver.http.server import HttpLimits
from tests.protocol.http.running import raw_exchange, running_http, status_of, until_open

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: salus.test\r\n\r\n"
IDLE = 2000
MAX_BYTES_PER_IDLE_CONNECTION = 16 * 1024


@asynccontextmanager
async def idle_sockets(port: int, count: int) -> AsyncIterator[list[socket.socket]]:
    """`count` connected sockets that never send a byte."""
    loop = asyncio.get_running_loop()
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.setblocking(False)
            sockets.append(sock)
            await loop.sock_connect(sock, ("127.0.0.1", port))
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


async def test_per_client_cap_refuses_the_next_connection_then_recovers(tmp_path: Path) -> None:
    limits = HttpLimits(max_connections_per_client=4, read_deadline=60)
    async with running_http(tmp_path, limits) as server:
        async with idle_sockets(server.port, 4) as held:
            await asyncio.wait_for(until_open(server, 4), 30)
            refused = await raw_exchange(server.port, HEALTHZ)
            held.pop().close()
            await asyncio.wait_for(until_open(server, 3), 30)
            served = await raw_exchange(server.port, HEALTHZ)
    assert status_of(refused) == 503
    assert status_of(served) == 200


async def test_total_cap_refuses_beyond_capacity(tmp_path: Path) -> None:
    limits = HttpLimits(max_connections=3, max_connections_per_client=100, read_deadline=60)
    async with running_http(tmp_path, limits) as server, idle_sockets(server.port, 3):
        await asyncio.wait_for(until_open(server, 3), 30)
        refused = await raw_exchange(server.port, HEALTHZ)
    assert status_of(refused) == 503


def _enough_descriptors(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"needs {needed} file descriptors, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


async def test_many_idle_connections_are_held_in_bounded_memory(tmp_path: Path) -> None:
    _enough_descriptors(2 * IDLE + 200)
    limits = HttpLimits(max_connections=IDLE, max_connections_per_client=IDLE, read_deadline=600)
    async with running_http(tmp_path, limits) as server:
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            async with idle_sockets(server.port, IDLE):
                await asyncio.wait_for(until_open(server, IDLE), 120)
                after = tracemalloc.take_snapshot()
                over = await raw_exchange(server.port, HEALTHZ)
        finally:
            tracemalloc.stop()
        await asyncio.wait_for(until_open(server, 0), 60)
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    print(f"{IDLE} idle connections: {grown / IDLE:.0f} bytes of Python heap each")
    assert grown / IDLE < MAX_BYTES_PER_IDLE_CONNECTION
    assert status_of(over) == 503
