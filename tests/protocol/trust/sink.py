"""Postfix's `smtp-sink` as the receiving end of the relay, and a STARTTLS front for it.

smtp-sink speaks no TLS, and the relay never sends without it; so the front answers the
greeting, EHLO and STARTTLS itself, does the TLS handshake as the peer operator would
(its certificate, a client certificate demanded), then joins the decrypted stream to
smtp-sink (swallowing smtp-sink's own greeting, which the client already had from us).
It records every byte the relay wrote after TLS: the wire form under test.
smtp-sink in capture mode (`-d`) writes each transaction to a file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sink:
    port: int
    directory: Path

    def captures(self) -> list[bytes]:
        return [p.read_bytes() for p in sorted(self.directory.iterdir()) if p.is_file()]


@asynccontextmanager
async def smtp_sink() -> AsyncIterator[Sink]:
    """smtp-sink on a loopback port, capturing each transaction into a directory."""
    if not os.path.exists(SMTP_SINK):
        pytest.skip("smtp-sink not found (Debian package postfix)")
    directory = Path(tempfile.mkdtemp(prefix="salus-sink-"))
    directory.chmod(0o777)  # smtp-sink drops to an unprivileged user to write
    port = _free_port()
    privileges = ["-u", "nobody"] if os.geteuid() == 0 else []
    process = subprocess.Popen(
        [SMTP_SINK, *privileges, "-d", f"{directory}/%M.", f"127.0.0.1:{port}", "10"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            await asyncio.sleep(0.05)
        yield Sink(port, directory)
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class StartTlsFront:
    context: ssl.SSLContext
    sink_port: int
    recorded: bytearray = field(default_factory=bytearray)
    server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", 0)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(b"220 front.b.test ESMTP\r\n")
            await reader.readline()  # EHLO
            writer.write(b"250-front.b.test\r\n250 STARTTLS\r\n")
            await reader.readline()  # STARTTLS
            writer.write(b"220 2.0.0 Ready to start TLS\r\n")
            await writer.drain()
            await writer.start_tls(self.context)
            sink_reader, sink_writer = await asyncio.open_connection("127.0.0.1", self.sink_port)
            await sink_reader.readline()  # smtp-sink's greeting: the client had ours
            await asyncio.gather(
                self._pipe(reader, sink_writer, record=True),
                self._pipe(sink_reader, writer, record=False),
            )
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _pipe(
        self, source: asyncio.StreamReader, target: asyncio.StreamWriter, *, record: bool
    ) -> None:
        while chunk := await source.read(65536):
            if record:
                self.recorded.extend(chunk)
            target.write(chunk)
            await target.drain()
        with contextlib.suppress(OSError):
            target.write_eof()
