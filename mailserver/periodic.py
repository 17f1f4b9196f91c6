"""A background pass that `salus serve` runs shortly after start, then at an interval.

Retention and the CRL refresh are such passes: each subclass says whether it has work
(`enabled`), what one pass does (`run_pass`) and which event names its failures. A pass
that fails is logged and retried at the next interval; the service never dies silently.
A database outage is a warning (it is expected to end), anything else an error with its
traceback. `sleep` is injectable so that tests move time instead of waiting for it.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable

from config.logging import Event, get_logger
from storage.errors import StorageUnavailable

log = get_logger(__name__)


class PeriodicService(ABC):
    """Runs `run_pass` after `first_delay` seconds, then every `interval` seconds."""

    name: str
    failed: Event

    def __init__(
        self,
        *,
        interval: float,
        first_delay: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._interval = interval
        self._first_delay = first_delay
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self.passes = 0

    def enabled(self) -> bool:
        """Whether this node has anything for the pass to do."""
        return True

    @abstractmethod
    async def run_pass(self) -> None:
        """One pass of the service's work."""

    def describe_failure(self, exc: Exception) -> str | None:
        """A reason to log for an expected failure (logged with its traceback); None for
        an unexpected one."""
        return None

    async def start(self) -> None:
        if self.enabled():
            self._task = asyncio.create_task(self._loop(), name=f"salus-{self.name}")
        log.info(Event.SERVICE_STARTED, service=self.name, status="on" if self._task else "off")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        log.info(Event.SERVICE_STOPPED, service=self.name)

    async def _loop(self) -> None:
        delay = self._first_delay
        while True:
            await self._sleep(delay)
            delay = self._interval
            try:
                await self.run_pass()
            except StorageUnavailable:
                log.warning(self.failed, reason="database unavailable")
            except Exception as exc:
                # The next pass retries; the service must not die silently.
                reason = self.describe_failure(exc)
                log.exception(self.failed, **({} if reason is None else {"reason": reason}))
            self.passes += 1
