"""What tests of a running `salus serve` (operator.start_node) share beside the operator:
client TLS contexts trusting its CA, a password for the reading mailbox, messages from
the sender of `operator.prepare_submission`, `/metrics` as parsed samples, the events it
logged, and the moment a delivery worker has claimed a message (read from the database)."""

from __future__ import annotations

import asyncio
import imaplib
import json
import ssl
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from config.settings import load_settings
from directory.admin.credentials import set_password
from mailserver.queue.models import Delivery, QueuedMessage
from storage.database import Database
from tests.integration.ops.operator import RECIPIENT, SENDER, metrics_text

READER_PASSWORD = "Secretariat-Reads-2026!"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def client_context(data_dir: Path) -> ssl.SSLContext:
    """Trusts the operator's CA; the certificate names its hostname, not 127.0.0.1."""
    ctx = ssl.create_default_context(cafile=str(data_dir / "ca" / "root.crt"))
    ctx.check_hostname = False
    return ctx


async def reader_password(data_dir: Path) -> None:
    """Give RECIPIENT a password, so that IMAP clients can read what was delivered."""
    db = Database(load_settings(data_dir).database_url)
    try:
        async with db.write() as session:
            await set_password(session, "test", RECIPIENT, READER_PASSWORD)
    finally:
        await db.dispose()


def message(message_id: str, body: str = "result\r\n") -> str:
    """A plain message from SENDER to RECIPIENT (Salus signs and encrypts it)."""
    return (
        f"From: {SENDER}\r\nTo: {RECIPIENT}\r\nSubject: report\r\n"
        f"Message-ID: <{message_id}>\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\n\r\n{body}"
    )


def message_ids(client: imaplib.IMAP4) -> list[str]:
    """The Message-IDs in the selected folder of a logged-in IMAP client, in order."""
    _, data = client.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    return [
        bytes(part[1]).decode().split("<", 1)[1].split(">", 1)[0]
        for part in data
        if isinstance(part, tuple)
    ]


def scrape(http_port: int) -> Samples:
    """Every sample of `/metrics`, by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics_text(http_port))
        for s in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; a labelled counter never incremented is absent, so 0."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def until_claimed(db: Database, message_id: str, *, within: float = 30) -> None:
    """Wait until a delivery worker has leased the row of the message `message_id`."""
    query = (
        select(Delivery.lease_owner)
        .join(QueuedMessage, QueuedMessage.id == Delivery.queue_id)
        .where(QueuedMessage.message_id == message_id)
    )
    async with asyncio.timeout(within):
        while True:
            async with db.read() as session:
                if await session.scalar(query):
                    return
            await asyncio.sleep(0.01)


def faults(stderr: bytes) -> list[dict[str, object]]:
    """The events `salus serve` logged (JSON lines on stderr) at level error or critical."""
    events = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    return [e for e in events if e.get("level") in ("error", "critical")]
