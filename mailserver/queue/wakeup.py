"""An in-process nudge from the submission listeners to the delivery workers, so a
queued message is delivered at once instead of at the workers' next poll."""

from __future__ import annotations

import asyncio
import contextlib


class Wakeup:
    """A broadcast: `notify` wakes every current waiter; later waiters wait for the next."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, within: float) -> None:
        """Return at the next `notify`, or after `within` seconds."""
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), within)
