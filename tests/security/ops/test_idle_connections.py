"""2,000 idle clients on SMTP submission and 2,000 on IMAP of one `salus serve`, each from
an address of its own (as 2,000 users' clients come, so no per-client cap applies): the
process holds them in bounded memory (its resident set, measured before and after),
counts them as open sessions, serves a new client at once, and lets them all go."""

from __future__ import annotations

import asyncio
import resource
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.integration.ops.mail_clients import faults, sample, scrape
from tests.integration.ops.operator import run_salus, start_node, stop_node

IDLE = 2000
AT_ONCE = 200  # connections opened concurrently (the SMTP greeting waits 0.2 s)
# Measured here (the test prints it): ~19 KiB of resident memory per idle SMTP session,
# ~9 KiB per IMAP one, on plain connections. The bound leaves room for allocator noise,
# not for a per-connection buffer the size of a message or of TLS read buffers.
MAX_BYTES_PER_CONNECTION = 32 * 1024
Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/PID/status")


def _enough_descriptors(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"needs {needed} file descriptors, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _source(n: int) -> str:
    """The n-th client's own loopback address (all of 127.0.0.0/8 is loopback)."""
    return f"127.77.{n // 250}.{n % 250 + 1}"


async def _greeted(port: int, n: int, greeting: bytes) -> Stream:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(_source(n), 0))
    line = await asyncio.wait_for(reader.readline(), 30)
    assert line.startswith(greeting), line
    return reader, writer


@asynccontextmanager
async def idle_clients(port: int, greeting: bytes, count: int) -> AsyncIterator[list[Stream]]:
    """`count` clients that read the greeting and then say nothing."""
    held: list[Stream] = []
    try:
        for first in range(0, count, AT_ONCE):
            batch = range(first, min(first + AT_ONCE, count))
            held += await asyncio.gather(*(_greeted(port, n, greeting) for n in batch))
        yield held
    finally:
        for _, writer in held:
            writer.close()


async def _until_open(http_port: int, submission: int, imap: int) -> None:
    async with asyncio.timeout(60):
        while True:
            samples = await asyncio.to_thread(scrape, http_port)
            if (
                sample(samples, "salus_sessions_active", listener="submission") == submission
                and sample(samples, "salus_sessions_active", listener="imap") == imap
            ):
                return
            await asyncio.sleep(0.1)


async def _served(submission_port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", submission_port)
    try:
        await asyncio.wait_for(reader.readline(), 30)
        writer.write(b"EHLO client.salus.test\r\n")
        return await asyncio.wait_for(reader.readline(), 30)
    finally:
        writer.close()


async def test_two_thousand_idle_clients_per_listener_in_bounded_memory(tmp_path: Path) -> None:
    _enough_descriptors(4 * IDLE + 500)  # this process's ends and the server's
    data_dir = tmp_path / "op"
    code, _, err = await run_salus("init", "--data-dir", str(data_dir), "--domain", "salus.test")
    assert code == 0, err
    process, ports = await start_node(data_dir)
    submission, imap, http = ports["SMTP__SUBMISSION"], ports["IMAP__LISTEN"], ports["HTTP__LISTEN"]
    try:
        # Warm up: the first sessions import and allocate what every later one shares.
        async with idle_clients(submission, b"220 ", 20), idle_clients(imap, b"* OK ", 20):
            await _until_open(http, 20, 20)
        await _until_open(http, 0, 0)
        before = _rss(process.pid)
        async with idle_clients(submission, b"220 ", IDLE):
            await _until_open(http, IDLE, 0)
            with_smtp = _rss(process.pid)
            async with idle_clients(imap, b"* OK ", IDLE):
                await _until_open(http, IDLE, IDLE)
                with_both = _rss(process.pid)
                answer = await _served(submission)
        await _until_open(http, 0, 0)
    finally:
        _, stderr = await stop_node(process)
    smtp_each, imap_each = (with_smtp - before) / IDLE, (with_both - with_smtp) / IDLE
    print(
        f"RSS {before / 2**20:.1f} MiB, {with_smtp / 2**20:.1f} with {IDLE} idle SMTP clients"
        f" ({smtp_each / 1024:.1f} KiB each), {with_both / 2**20:.1f} with {IDLE} IMAP ones"
        f" too ({imap_each / 1024:.1f} KiB each)"
    )
    assert answer.startswith(b"250"), answer
    assert smtp_each < MAX_BYTES_PER_CONNECTION
    assert imap_each < MAX_BYTES_PER_CONNECTION
    assert process.returncode == 0
    assert faults(stderr) == []
