"""Writing to the client with backpressure: large data goes out in chunks, and each
chunk waits until the transport's buffer drains below its high-water mark. A client that
stops reading makes the writer wait, never the memory grow; one that does not read for
`write_timeout` seconds is disconnected.

Untagged responses that a command's tagged response follows at once are held and go out
with it, up to CHUNK bytes: on TLS every write is a record and a `send()` of its own,
and a FETCH of one message made three (its data, other sessions' flag updates, the
tagged OK) where one does."""

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
        self._held: list[bytes] = []
        self._held_size = 0

    async def send(self, data: bytes, *, more: bool = False) -> None:
        """Write `data` after whatever is held. `more`: another send follows before the
        session waits for its client (a tagged response at the latest), so the data may
        be held until then while under CHUNK bytes."""
        if more and self._held_size + len(data) < CHUNK:
            self._held.append(data)
            self._held_size += len(data)
            return
        if self._held:
            self._held.append(data)
            data = b"".join(self._held)
            self._held.clear()
            self._held_size = 0
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
