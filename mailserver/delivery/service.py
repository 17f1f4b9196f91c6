"""The delivery workers as a service of `salus serve`.

`delivery.workers` tasks (one on SQLite) each loop: look for due rows (a cheap read),
claim a batch with a lease, attempt each, and sleep until the next nudge from the
submission listeners or the poll interval. The workers of a node claim one at a time,
and after a claim that found less than a full batch the node's next claim waits
`gather_seconds`: the rows of concurrent sessions gather into one delivery transaction
instead of each worker, woken by each nudge, claiming the one or two rows that came
since another worker's claim (on PostgreSQL, with four workers, that made batches of 1.4
rows at one session). A full batch lets the next worker claim at once, so a backlog
drains with every worker. On SQLite, where one node owns the database, leases left by a
previous process are released at start; on PostgreSQL other nodes may be alive, so a
dead node's leases simply expire. Stop lets each worker finish its current attempt.
"""

from __future__ import annotations

import asyncio

from config.logging import Event, get_logger
from mailserver import metrics
from mailserver.app import Runtime, Service, ServiceFactory
from mailserver.delivery.local import Deliverer
from mailserver.queue.claim import Claimed, Lease, any_due, claim_rows, release_all_leases
from mailserver.queue.wakeup import Wakeup
from storage.errors import StorageUnavailable

log = get_logger(__name__)
# A dead worker's rows wait this long. Correctness does not hang on it: the delivering
# transaction re-checks the lease under lock, so a slow worker whose lease ran out finds
# the row taken and does nothing. A local delivery takes milliseconds.
LEASE_SECONDS = 15.0
POLL_SECONDS = 1.0
GATHER_SECONDS = 0.05
BATCH = 16
STOP_GRACE = 10.0


class DeliveryService:
    name = "delivery"

    def __init__(
        self,
        runtime: Runtime,
        wakeup: Wakeup,
        *,
        lease_seconds: float = LEASE_SECONDS,
        poll_seconds: float = POLL_SECONDS,
        gather_seconds: float = GATHER_SECONDS,
        batch: int = BATCH,
    ) -> None:
        self.runtime = runtime
        self.wakeup = wakeup
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.gather_seconds = gather_seconds
        self.batch = batch
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._claiming = asyncio.Lock()
        self._claim_after = 0.0  # loop time before which the node's next claim waits

    async def start(self) -> None:
        db = self.runtime.db
        if db.is_sqlite:
            released = await release_all_leases(db)
            if released:
                log.info(Event.QUEUE_CLAIMED, operation="release leases", count=released)
        self._stopping = False
        self._claiming = asyncio.Lock()  # this loop's
        self._claim_after = 0.0
        self._tasks = [
            asyncio.create_task(self._work(f"{self.runtime.node_id}/{n}"))
            for n in range(self.worker_count())
        ]
        log.info(Event.SERVICE_STARTED, service=self.name, count=len(self._tasks))

    def worker_count(self) -> int:
        """`delivery.workers` on PostgreSQL. SQLite has one writer: more workers would only
        queue for it (and all wake at each nudge), so one worker delivers in batches."""
        return 1 if self.runtime.db.is_sqlite else self.runtime.settings.delivery.workers

    async def stop(self) -> None:
        self._stopping = True
        self.wakeup.notify()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=STOP_GRACE)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        log.info(Event.SERVICE_STOPPED, service=self.name)

    async def _work(self, owner: str) -> None:
        deliverer = Deliverer(self.runtime, owner)
        lease = Lease(owner, self.lease_seconds)
        while not self._stopping:
            rows = await self._claim_in_turn(lease)
            ids = [row.id for row in rows]
            recipients = {row.id: row.recipient for row in rows}
            statuses = await deliverer.attempt_batch(ids, recipients) if ids else []
            for status in statuses:
                if status is not None:  # committed: delivered, deferred, bounced, relayed
                    metrics.DELIVERIES.labels(outcome=status).inc()
            if None in statuses and not self._stopping:
                # Rows taken by someone else, or left leased to this worker because the
                # database went away: the next claim retries those, after the pause a
                # failed claim takes (an outage is not retried in a tight loop).
                await asyncio.sleep(self.poll_seconds)
            if len(ids) < self.batch and not self._stopping:
                if not ids:
                    await self.wakeup.wait(self.poll_seconds)
                # Let the rows of concurrent sessions gather: one delivery transaction for
                # many, and the submission commits are not queued behind one per message.
                await asyncio.sleep(self.gather_seconds)

    async def _claim_in_turn(self, lease: Lease) -> list[Claimed]:
        """Claim when the node's turn comes (nothing once stopping); after a failed
        claim, pause outside the turn so the other workers are not held behind it."""
        loop = asyncio.get_running_loop()
        async with self._claiming:
            wait = self._claim_after - loop.time()
            if wait > 0 and not self._stopping:
                await asyncio.sleep(wait)
            if self._stopping:
                return []
            rows = await self._claim(lease)
            if rows is None or len(rows) < self.batch:
                self._claim_after = loop.time() + self.gather_seconds
        if rows is None:
            await asyncio.sleep(self.poll_seconds)  # an outage is not retried in a tight loop
            return []
        return rows

    async def _claim(self, lease: Lease) -> list[Claimed] | None:
        """The rows claimed, or None when the claim failed."""
        db = self.runtime.db
        try:
            if not await any_due(db, owner=lease.owner):
                return []
            return await claim_rows(db, lease, limit=self.batch)
        except StorageUnavailable:
            log.warning(Event.STORAGE_UNAVAILABLE, operation="claim")
        except Exception:  # a worker never dies of one bad claim; it tries again later
            log.exception(Event.DELIVERY_FAILED, operation="claim")
        return None


def delivery_service(wakeup: Wakeup) -> ServiceFactory:
    def make(runtime: Runtime) -> Service:
        return DeliveryService(runtime, wakeup)

    return make
