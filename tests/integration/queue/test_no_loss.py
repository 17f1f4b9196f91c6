"""The no-loss invariant (DESIGN section 8), under `kill -9`.

`salus serve` runs as a subprocess on a data dir made by `salus init`; concurrent
clients submit messages to two recipients each and keep a ledger of every 250. The
server is killed with SIGKILL at random instants (during start-up, sessions, commits and
deliveries) and restarted, KILLS times; then it runs until the queue is empty. Every
message answered 250 must be in each recipient's INBOX exactly once; a message that was
not answered may be delivered (its commit raced the kill) but never to only some of its
recipients.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
from collections import Counter
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import func, select

from config.settings import load_settings
from mailserver.queue.models import PENDING, Delivery
from storage.database import Database
from tests.integration.directory.seed import PASSWORD
from tests.integration.ops.operator import SALUS, cipher, run_salus
from tests.integration.queue.conftest import inbox
from tests.protocol.smtp.harness import COLLEAGUE, DOCTOR, SHARED, seed_directory

KILLS = 20
CLIENTS = 4
MESSAGES_PER_CONNECTION = 5
RECIPIENTS = (COLLEAGUE, SHARED)

# About 100 s per backend on a 2-core machine at load 10; the timeout leaves room for worse.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@dataclass
class Ledger:
    acked: set[str] = field(default_factory=set)  # Message-IDs answered 250
    attempted: set[str] = field(default_factory=set)  # DATA sent, answer unknown or error
    refused: Counter[str] = field(default_factory=Counter)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.process: asyncio.subprocess.Process | None = None
        self.env = {
            **os.environ,
            "SALUS_SMTP__SUBMISSION": f"127.0.0.1:{port}",
            **{f"SALUS_{name}": "127.0.0.1:0" for name in (
                "SMTP__SUBMISSIONS", "SMTP__MX", "IMAP__LISTEN", "IMAP__LISTEN_TLS",
                "HTTP__LISTEN", "LOOKUP__LISTEN")},
        }

    async def start(self) -> None:
        log = (self.data_dir / "serve.log").open("ab")
        self.process = await asyncio.create_subprocess_exec(
            str(SALUS), "serve", "--data-dir", str(self.data_dir),
            env=self.env, stdout=asyncio.subprocess.DEVNULL, stderr=log,
        )
        log.close()

    async def ready(self) -> None:
        async with asyncio.timeout(60):
            while True:
                assert self.process is not None and self.process.returncode is None, "serve died"
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    greeting = await reader.readline()
                    writer.close()
                    if greeting.startswith(b"220"):
                        return
                except OSError:
                    pass
                await asyncio.sleep(0.1)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def ensure_stopped(self) -> None:
        if self.process is not None and self.process.returncode is None:
            await self.kill()

    async def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), 60)


async def client(number: int, port: int, ca_file: Path, ledger: Ledger, stop: asyncio.Event) -> None:
    import ssl  # noqa: PLC0415

    tls = ssl.create_default_context(cafile=str(ca_file))
    tls.check_hostname = False
    sequence = 0
    while not stop.is_set():
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=True,
                               tls_context=tls, timeout=30)
        try:
            await smtp.connect()
            await smtp.login(DOCTOR, PASSWORD)
            for _ in range(MESSAGES_PER_CONNECTION):
                if stop.is_set():
                    break
                sequence += 1
                message_id = f"c{number}.{sequence}@noloss.test"
                raw = (
                    f"From: <{DOCTOR}>\r\nTo: <{COLLEAGUE}>, <{SHARED}>\r\n"
                    f"Subject: ledger {message_id}\r\nMessage-ID: <{message_id}>\r\n\r\n"
                    f"entry {message_id}\r\n"
                ).encode()
                ledger.attempted.add(message_id)
                _, reply = await smtp.sendmail(DOCTOR, list(RECIPIENTS), raw)
                if reply.startswith("2.0.0 Ok: queued as"):
                    ledger.acked.add(message_id)
            await smtp.quit()
        except aiosmtplib.SMTPResponseException as exc:
            ledger.refused[str(exc.code)] += 1
            await asyncio.sleep(0.05)
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            await asyncio.sleep(0.05)  # the server is down or was killed: reconnect
        finally:
            smtp.close()  # never leave a session open on the server (connection cap)


async def traffic(ledger: Ledger) -> None:
    """Wait (up to 20 s) for the next 250, so the kill lands while mail is flowing."""
    seen = len(ledger.acked)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(20):
            while len(ledger.acked) == seen:
                await asyncio.sleep(0.02)


async def delivered_everything(url: str) -> bool:
    db = Database(url)
    try:
        async with db.read() as session:
            pending = await session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status.in_(PENDING))
            )
    finally:
        await db.dispose()
    return pending == 0


async def inbox_message_ids(data_dir: Path, url: str) -> dict[str, Counter[str]]:
    from directory.repository import mailbox_ref  # noqa: PLC0415

    db = Database(url)
    found: dict[str, Counter[str]] = {}
    try:
        for address in RECIPIENTS:
            async with db.read() as session:
                ref = await mailbox_ref(session, address)
            assert ref is not None
            messages = await inbox(db, cipher(data_dir), ref.id)
            ids = [BytesHeaderParser().parsebytes(m)["Message-ID"].strip("<>") for m in messages]
            found[address] = Counter(ids)
    finally:
        await db.dispose()
    return found


async def submit_and_kill(server: Server, data_dir: Path, ledger: Ledger) -> None:
    """Clients submit while the server is killed KILLS times, then restarted."""
    stop = asyncio.Event()
    ca_file = data_dir / "ca" / "root.crt"
    await server.start()
    await server.ready()
    clients = [asyncio.create_task(client(n, server.port, ca_file, ledger, stop))
               for n in range(CLIENTS)]
    rng = random.Random()
    try:
        for kill in range(KILLS):
            if kill % 4 == 3:
                await asyncio.sleep(rng.uniform(0.0, 1.5))  # during start-up
            else:
                await server.ready()
                await traffic(ledger)
                await asyncio.sleep(rng.uniform(0.0, 1.0))  # during sessions and deliveries
            await server.kill()
            await server.start()
        await server.ready()
        await asyncio.sleep(1.0)
    finally:
        stop.set()
        await asyncio.gather(*clients)


async def test_no_message_answered_250_is_lost_under_kill_9(
    tmp_path: Path, database_url: str
) -> None:
    data_dir = tmp_path / "op"
    code, _, err = await run_salus(
        "init", "--data-dir", str(data_dir), "--domain", "salus.test", "--database-url", database_url
    )
    assert code == 0, err
    db = Database(load_settings(data_dir).database_url)
    await seed_directory(db)
    await db.dispose()
    for address in (DOCTOR, *RECIPIENTS):  # every message is signed and encrypted
        code, _, err = await run_salus("keys", "issue", address, "--data-dir", str(data_dir))
        assert code == 0, err

    server = Server(data_dir, free_port())
    ledger = Ledger()
    try:
        await submit_and_kill(server, data_dir, ledger)
        async with asyncio.timeout(90):  # a killed worker's lease is 15 s
            while not await delivered_everything(database_url):
                await asyncio.sleep(0.5)
        assert await server.terminate() == 0
    finally:
        await server.ensure_stopped()  # never leave a server behind a failed test

    found = await inbox_message_ids(data_dir, database_url)
    duplicates = sum(n - 1 for per in found.values() for n in per.values() if n > 1)
    unanswered = ledger.attempted - ledger.acked
    half_visible = [m for m in unanswered if len({a for a in RECIPIENTS if found[a][m]}) == 1]
    delivered_unanswered = [m for m in unanswered if all(found[a][m] for a in RECIPIENTS)]
    print(  # the report: counts only
        f"\nno-loss: {KILLS} kills, {len(ledger.acked)} answered 250, "
        f"{len(unanswered)} unanswered ({len(delivered_unanswered)} of them delivered), "
        f"{duplicates} duplicate deliveries, refusals {dict(ledger.refused)}"
    )
    assert len(ledger.acked) >= KILLS // 2  # mail was flowing between the kills
    lost = {a: [m for m in ledger.acked if found[a][m] == 0] for a in RECIPIENTS}
    assert lost == {a: [] for a in RECIPIENTS}
    assert duplicates == 0
    assert half_visible == []
    strangers = {m for per in found.values() for m in per} - ledger.attempted
    assert strangers == set()
