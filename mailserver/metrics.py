"""Prometheus metrics of one Salus node, served by the HTTP listener at `/metrics`.

The parts of the server count into the metric objects below (prometheus_client, one
registry of our own rather than the library's global one). Labels take values from closed
sets written in code (a listener name, a rule name, an outcome), never from input, so the
number of series stays bounded. Gauges that describe shared state (queue depth and age)
are computed from the database at scrape time, so every node reports the same cluster-wide
figure; counters are per process.

Typical use:

    metrics.SESSIONS.labels(listener="submission").inc()
    metrics.MESSAGES_REFUSED.labels(rule="sender-owns-envelope").inc()

The crypto pool reports each job to `observe_crypto`, which times the operations in the
table below by their round trip as the event loop waits for them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from sqlalchemy import func, select, text

from crypto import openpgp, smime
from gateway.trust import inbound
from mailserver.queue.models import OPEN, PENDING, Delivery
from storage.base import utcnow
from storage.database import Database
from storage.errors import StorageUnavailable

CONTENT_TYPE: Final = CONTENT_TYPE_PLAIN_0_0_4

REGISTRY: Final = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

# Sessions, by listener: submission | submissions | mx | imap | imaps | lookup | http.
SESSIONS: Final = Counter(
    "salus_sessions", "Sessions opened, by listener.", ["listener"], registry=REGISTRY
)
SESSIONS_ACTIVE: Final = Gauge(
    "salus_sessions_active", "Sessions open now, by listener.", ["listener"], registry=REGISTRY
)
# reason: per_client_cap | capacity.
CONNECTIONS_REFUSED: Final = Counter(
    "salus_connections_refused",
    "Connections closed at once because a connection limit was reached.",
    ["listener", "reason"],
    registry=REGISTRY,
)
MESSAGES_ACCEPTED: Final = Counter(
    "salus_messages_accepted",
    "Messages answered 250 (committed to the queue), by listener.",
    ["listener"],
    registry=REGISTRY,
)
# rule: the name of the policy rule that refused (a sender at MAIL, a recipient at RCPT, the
# content at DATA), on submission and MX alike.
MESSAGES_REFUSED: Final = Counter(
    "salus_messages_refused",
    "Senders, recipients or messages refused, by the policy rule that refused them.",
    ["rule"],
    registry=REGISTRY,
)
# outcome: delivered | deferred | bounced | relayed (the status the attempt committed).
DELIVERIES: Final = Counter(
    "salus_deliveries", "Delivery attempts recorded, by outcome.", ["outcome"], registry=REGISTRY
)
# protocol: smtp | imap.
AUTH_FAILURES: Final = Counter(
    "salus_auth_failures",
    "Failed or throttled authentications, by protocol.",
    ["protocol"],
    registry=REGISTRY,
)
# operation: the values of CRYPTO_OPERATIONS below.
CRYPTO_SECONDS: Final = Histogram(
    "salus_crypto_seconds",
    "Time of one crypto operation in the process pool, as the caller waits it.",
    ["operation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
HTTP_REQUESTS: Final = Counter(
    "salus_http_requests",
    "HTTP requests answered, by route and status code.",
    ["route", "status"],
    registry=REGISTRY,
)
RETENTION_PURGED: Final = Counter(
    "salus_retention_purged",
    "Messages and audit entries removed by the retention policy.",
    ["what"],
    registry=REGISTRY,
)
DATABASE_UP: Final = Gauge(
    "salus_database_up", "1 when the database answered the last scrape.", registry=REGISTRY
)
# status: the queue row status (queued, deferred, ...); computed from the database.
QUEUE_DEPTH: Final = Gauge(
    "salus_queue_depth",
    "Deliveries waiting in the shared queue, by status (held: for an administrator).",
    ["status"],
    registry=REGISTRY,
)
QUEUE_OLDEST_AGE: Final = Gauge(
    "salus_queue_oldest_age_seconds",
    "Age of the oldest delivery still waiting in the shared queue.",
    registry=REGISTRY,
)

# The crypto pool's jobs that are crypto operations (document parsing also runs there, and
# is not timed here), by the function the pool runs.
CRYPTO_OPERATIONS: Final[dict[Callable[..., object], str]] = {
    smime.sign_and_encrypt: "smime_protect",
    smime.sign: "smime_sign",
    smime.encrypt: "smime_encrypt",
    smime.verify: "smime_verify",
    smime.unprotect: "smime_unprotect",
    inbound.verify_smime: "smime_unprotect",
    openpgp.sign_and_encrypt: "openpgp_protect",
    openpgp.decrypt_and_verify: "openpgp_unprotect",
    inbound.verify_openpgp: "openpgp_unprotect",
}


def observe_crypto(fn: Callable[..., object], seconds: float) -> None:
    """The crypto pool's observer: one sample per crypto operation."""
    operation = CRYPTO_OPERATIONS.get(fn)
    if operation is not None:
        CRYPTO_SECONDS.labels(operation=operation).observe(seconds)


async def database_answers(db: Database) -> bool:
    """One trivial query: does the database answer now?"""
    try:
        async with db.read() as session:
            await session.execute(text("SELECT 1"))
    except StorageUnavailable:
        return False
    return True


async def refresh_queue_gauges(db: Database) -> None:
    """Queue depth by status (pending or held) and the age of the oldest pending
    delivery (held ones wait for an administrator, not for the workers)."""
    query = (
        select(Delivery.status, func.count(), func.min(Delivery.created_at))
        .where(Delivery.status.in_(OPEN))
        .group_by(Delivery.status)
    )
    async with db.read() as session:
        rows = (await session.execute(query)).all()
    counts = dict.fromkeys(OPEN, 0)
    firsts: list[dt.datetime] = []
    for status, count, first in rows:
        counts[status] = int(count)
        if first is not None and status in PENDING:
            firsts.append(first)
    oldest = min(firsts, default=None)
    for status, count in counts.items():
        QUEUE_DEPTH.labels(status=status).set(count)
    QUEUE_OLDEST_AGE.set(max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0)


async def exposition(db: Database) -> bytes:
    """The Prometheus text exposition, after refreshing the database-derived gauges."""
    try:
        await refresh_queue_gauges(db)
    except StorageUnavailable:
        DATABASE_UP.set(0)
    else:
        DATABASE_UP.set(1)
    return generate_latest(REGISTRY)
