"""A raw IMAP connection for attacks: bytes out, lines in, no client library smoothing
anything over."""

from __future__ import annotations

import asyncio

from tests.protocol.imap.running import Running

READ_SECONDS = 10.0


class Raw:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, running: Running, *, tls: bool = True) -> Raw:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1",
            running.tls_port if tls else running.port,
            ssl=running.client_context() if tls else None,
            limit=1 << 20,
        )
        raw = cls(reader, writer)
        greeting = await raw.line()
        assert greeting.startswith(b"* OK")
        return raw

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def line(self) -> bytes:
        """The next line, b"" when the server closed the connection."""
        return await asyncio.wait_for(self.reader.readline(), READ_SECONDS)

    async def until_tagged(self, tag: bytes) -> list[bytes]:
        lines = []
        while True:
            line = await self.line()
            lines.append(line)
            if not line or line.startswith((tag + b" ", b"* BYE")):
                return lines

    async def login(self, running: Running, user: str = "bob") -> None:
        who = running.users[user]
        await self.send(f'L LOGIN {who.address} "{who.password}"\r\n'.encode())
        assert (await self.until_tagged(b"L"))[-1].startswith(b"L OK")

    async def closed(self) -> bool:
        """True when the server has closed its side."""
        try:
            return await asyncio.wait_for(self.reader.read(1), READ_SECONDS) == b""
        except (ConnectionError, OSError):
            return True

    def close(self) -> None:
        self.writer.close()
