"""Wake-ups for sessions watching a mailbox (IMAP IDLE and the selected state).

`publish(mailbox_id)` is called after a transaction that changed the mailbox commits. It
wakes the subscribers in this process at once and, on PostgreSQL, sends a NOTIFY that
every other node's listener turns into the same local wake-up (DESIGN section 9). The
listener holds one dedicated asyncpg connection (PITFALLS "PostgreSQL": LISTEN cannot use
a pooled one) and reconnects with back-off; after a reconnect it wakes every subscriber,
since notifications sent while it was away are lost. A wake-up carries no data: the
session re-reads the folder state, so a spurious or duplicated one costs one query.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import text

from config.logging import Event, get_logger
from storage.database import Database

CHANNEL = "salus_mailbox"
APPLICATION_NAME = "salus-mailbox-events"
HEALTH_CHECK_SECONDS = 15.0
RECONNECT_MIN_SECONDS = 0.2
RECONNECT_MAX_SECONDS = 5.0

log = get_logger(__name__)
_NOTIFY = text("SELECT pg_notify(:channel, payload) FROM unnest(CAST(:payloads AS text[])) AS payload")


class Subscription:
    """A set of mailboxes one session watches; `wait` returns when any of them changed."""

    def __init__(self, events: MailboxEvents, mailbox_ids: frozenset[int]) -> None:
        self._events = events
        self.mailbox_ids = mailbox_ids
        self.changed = asyncio.Event()

    async def wait(self, within: float | None = None) -> bool:
        """True when woken, False after `within` seconds; the wake-up is consumed."""
        try:
            await asyncio.wait_for(self.changed.wait(), within)
        except TimeoutError:
            return False
        self.changed.clear()
        return True

    def take(self) -> bool:
        """Whether a wake-up arrived since the last `take` or `wait` (and consume it)."""
        woken = self.changed.is_set()
        self.changed.clear()
        return woken

    def close(self) -> None:
        self._events.unwatch(self)


class MailboxEvents:
    """In-process wake-ups, relayed across nodes by PostgreSQL LISTEN/NOTIFY."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._origin = secrets.token_hex(8)
        self._subscribers: dict[int, set[Subscription]] = defaultdict(set)
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsent: set[int] = set()  # mailboxes to NOTIFY about, in the next statement
        # The NOTIFY task that has not yet taken `_unsent` (a cancelled one never will:
        # `done()` then, and the next publish starts another, which sends these too).
        self._waiting_notify: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    # ---- subscribers ------------------------------------------------------------------
    @contextlib.contextmanager
    def subscribe(self, mailbox_ids: Iterable[int]) -> Iterator[Subscription]:
        sub = self.watch(mailbox_ids)
        try:
            yield sub
        finally:
            sub.close()

    def watch(self, mailbox_ids: Iterable[int]) -> Subscription:
        """A subscription the caller closes (`Subscription.close`) when done."""
        sub = Subscription(self, frozenset(mailbox_ids))
        for mailbox_id in sub.mailbox_ids:
            self._subscribers[mailbox_id].add(sub)
        self._ensure_listener()
        return sub

    def unwatch(self, sub: Subscription) -> None:
        for mailbox_id in sub.mailbox_ids:
            watchers = self._subscribers.get(mailbox_id)
            if watchers is not None:
                watchers.discard(sub)
                if not watchers:
                    del self._subscribers[mailbox_id]

    def publish(self, mailbox_id: int, *, skip: Subscription | None = None) -> None:
        """Wake every watcher of `mailbox_id`, here and (PostgreSQL) on the other nodes;
        `skip` is the publisher's own subscription (it has seen its own change)."""
        self._wake(mailbox_id, skip)
        if not self._db.is_postgres:
            return
        self._unsent.add(mailbox_id)
        waiting = self._waiting_notify
        if waiting is not None and not waiting.done():  # it has not taken `_unsent` yet
            return
        try:
            task = asyncio.get_running_loop().create_task(self._notify())
        except RuntimeError:  # no loop: nothing async runs, nothing to relay to
            return
        self._waiting_notify = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _wake(self, mailbox_id: int, skip: Subscription | None = None) -> None:
        for sub in self._subscribers.get(mailbox_id, ()):
            if sub is not skip:
                sub.changed.set()

    def _wake_all(self) -> None:
        for watchers in self._subscribers.values():
            for sub in watchers:
                sub.changed.set()

    # ---- PostgreSQL relay -------------------------------------------------------------
    async def _notify(self) -> None:
        """One statement notifies about every mailbox published until it runs (a busy
        delivery publishes one per message: a connection and a statement each cost more
        of the loop than the delivery's own statements)."""
        await asyncio.sleep(0)  # the publishes of the same turn of the loop join it
        self._waiting_notify = None  # from here a publish starts the next NOTIFY
        mailboxes, self._unsent = sorted(self._unsent), set()
        try:
            async with self._db.engine.connect() as conn:
                await conn.execute(
                    _NOTIFY,
                    {"channel": CHANNEL, "payloads": [f"{m}:{self._origin}" for m in mailboxes]},
                )
                await conn.commit()
        except Exception:  # a lost notification delays other nodes until their next poll
            log.warning(Event.STORAGE_UNAVAILABLE, operation="notify", count=len(mailboxes))

    def _on_notification(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        mailbox, _, origin = payload.partition(":")
        if origin != self._origin and mailbox.isdigit():
            self._wake(int(mailbox))

    def _ensure_listener(self) -> None:
        if self._db.is_postgres and self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(self._listen_forever())

    async def _listen_forever(self) -> None:
        delay = RECONNECT_MIN_SECONDS
        connected_before = False
        while True:
            try:
                conn = await asyncpg.connect(
                    _asyncpg_dsn(self._db.url),
                    server_settings={"application_name": APPLICATION_NAME},
                )
            except (OSError, asyncpg.PostgresError, TimeoutError):
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
                continue
            delay = RECONNECT_MIN_SECONDS
            try:
                await conn.add_listener(CHANNEL, self._on_notification)
                if connected_before:
                    log.info(Event.EVENTS_LISTENER_RECONNECTED)
                    self._wake_all()
                connected_before = True
                self.listening.set()
                await self._watch(conn)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                pass
            finally:
                self.listening.clear()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 2)

    async def _watch(self, conn: asyncpg.Connection) -> None:
        """Return when the listening connection is lost."""
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _c: lost.set())
        while not lost.is_set() and not conn.is_closed():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), HEALTH_CHECK_SECONDS)
            if not lost.is_set():
                await asyncio.wait_for(conn.fetchval("SELECT 1"), HEALTH_CHECK_SECONDS)

    async def close(self) -> None:
        """Stop listening and let pending notifications finish."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)
