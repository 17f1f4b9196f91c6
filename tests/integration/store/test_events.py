"""MailboxEvents: in-process wake-ups, and on PostgreSQL a NOTIFY from one node waking a
subscriber of another (two independent MailboxEvents on one database)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest

from mailserver.store import MailboxEvents
from mailserver.store.events import APPLICATION_NAME
from storage.database import Database
from tests.conftest import _drop_postgres, _fresh_postgres, postgres_url


async def test_publish_wakes_only_watchers_of_that_mailbox(db: Database) -> None:
    events = MailboxEvents(db)
    try:
        with events.subscribe([1]) as one, events.subscribe([2]) as two:
            events.publish(1)
            assert await one.wait(within=5)
            assert not await two.wait(within=0.05)
    finally:
        await events.close()


async def test_wake_up_is_kept_until_consumed(db: Database) -> None:
    events = MailboxEvents(db)
    try:
        with events.subscribe([7]) as sub:
            events.publish(7)
            events.publish(7)
            assert await sub.wait(within=5)
            assert not await sub.wait(within=0.05)
    finally:
        await events.close()


@contextlib.asynccontextmanager
async def two_nodes() -> AsyncIterator[tuple[MailboxEvents, MailboxEvents, str]]:
    """The mailbox events of two nodes on a fresh PostgreSQL database (of this test
    alone: a test that kills listeners touches no other test's), and its URL."""
    base = postgres_url()
    url = await _fresh_postgres(base)
    node_a, node_b = Database(url), Database(url)
    events_a, events_b = MailboxEvents(node_a), MailboxEvents(node_b)
    try:
        yield events_a, events_b, url
    finally:
        await events_a.close()
        await events_b.close()
        await node_a.dispose()
        await node_b.dispose()
        await _drop_postgres(base, url)


@pytest.mark.postgres
async def test_notify_crosses_nodes_and_survives_a_lost_connection() -> None:
    async with two_nodes() as (events_a, events_b, url):
        with events_b.subscribe([42]) as sub:
            await asyncio.wait_for(events_b.listening.wait(), 10)
            events_a.publish(42)
            assert await sub.wait(within=10)

            # The listener's connection is killed by the server: it reconnects, wakes
            # its subscribers (notifications may have been missed) and relays again.
            admin = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
            try:
                killed = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = $1 AND datname = current_database()",
                    APPLICATION_NAME,
                )
            finally:
                await admin.close()
            assert killed >= 1
            assert await sub.wait(within=15)
            await asyncio.wait_for(events_b.listening.wait(), 10)
            events_a.publish(42)
            assert await sub.wait(within=10)


@pytest.mark.postgres
async def test_publishes_of_one_moment_reach_the_other_node_together() -> None:
    # A busy delivery publishes once per message: the publishes made while a NOTIFY is
    # on its way go out in one statement, and each mailbox's watchers still wake.
    async with two_nodes() as (events_a, events_b, _):
        with events_b.subscribe([7]) as seven, events_b.subscribe([8]) as eight:
            with events_b.subscribe([9]) as nine:
                await asyncio.wait_for(events_b.listening.wait(), 10)
                for mailbox in (7, 8, 7):
                    events_a.publish(mailbox)
                assert await seven.wait(within=10) and await eight.wait(within=10)
                assert not await nine.wait(within=0.5)  # not published: not woken
                events_a.publish(9)
                assert await nine.wait(within=10)


@pytest.mark.postgres
async def test_a_notify_cancelled_before_it_runs_does_not_stop_the_next_ones() -> None:
    # A NOTIFY task cancelled (its loop shutting down) before it took the mailboxes to
    # send: a later publish still starts a NOTIFY of its own.
    async with two_nodes() as (events_a, events_b, _):
        with events_b.subscribe([5]) as sub:
            await asyncio.wait_for(events_b.listening.wait(), 10)
            events_a.publish(5)
            for task in list(events_a._tasks):
                task.cancel()
            await asyncio.sleep(0.1)
            events_a.publish(5)
            assert await sub.wait(within=10)
