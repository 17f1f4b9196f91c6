"""Writing to the client with backpressure: large data goes out in chunks, and each
chunk waits until the transport's buffer drains below its high-water mark. A client that
stops reading makes the writer wait, never the memory grow; one that does not read for
`write_timeout` seconds is disconnected."""

from __future__ import annotations

import asyncio

CHUNK = 64 * 1024
CLOSE_SECONDS = 2.0


class WriteStalled(Exception):
    """The client did not read what we sent within the write timeout, or went away."""


class Output:
    def __init__(self, writer: asyncio.StreamWriter, write_timeout: float) -> None:
        self.writer = writer
        self.write_timeout = write_timeout

    async def send(self, data: bytes) -> None:
        view = memoryview(data)
        for start in range(0, len(view), CHUNK):
            self.writer.write(view[start : start + CHUNK])
            await self._drain()

    async def _drain(self) -> None:
        try:
            async with asyncio.timeout(self.write_timeout):
                await self.writer.drain()
        except (TimeoutError, ConnectionError) as exc:
            raise WriteStalled from exc

    def buffered(self) -> int:
        """Bytes waiting in the transport (for the memory-bound tests)."""
        return self.writer.transport.get_write_buffer_size()

    async def close(self) -> None:
        """Close politely (TLS close_notify); abort when the peer does not answer."""
        self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), CLOSE_SECONDS)
        except TimeoutError:
            self.abort()
        except (ConnectionError, OSError):
            pass

    def abort(self) -> None:
        self.writer.transport.abort()
