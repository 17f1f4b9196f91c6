"""An operator with data in it, for backup and retention tests: the real `salus` command
line, the directory admin API and the mailbox store."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import socket
import sys
import urllib.request
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, select

from config.settings import load_settings
from crypto import service_key
from crypto.at_rest import AtRestCipher
from directory.admin.credentials import set_password
from directory.admin.mailboxes import add_mailbox
from directory.admin.organisations import OrganisationInput, add_organisation
from directory.models import MailboxKind
from mailserver.store.deliver import deliver
from storage.database import Database

SALUS = Path(sys.executable).parent / "salus"
# The output readers of each running node, by pid (start_node, stop_node).
_OUTPUT: dict[int, tuple[asyncio.Future[bytes], asyncio.Future[bytes]]] = {}
LOCAL = ("salus.test",)


async def run_salus(
    *args: str, env: dict[str, str] | None = None, stdin: bytes = b""
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(SALUS),
        *args,
        env={**os.environ, **(env or {})},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(stdin)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def cipher(data_dir: Path) -> AtRestCipher:
    current, previous = service_key.load_with_previous(service_key.key_path(data_dir))
    return AtRestCipher(current, previous)


async def add_org_mailbox(db: Database, address: str, kind: MailboxKind) -> int:
    org_id = "org-" + address.partition("@")[0]
    async with db.write() as session:
        await add_organisation(session, "test", OrganisationInput(id=org_id, name=f"Org {org_id}"))
        mailbox = await add_mailbox(
            session, "test", address, kind, local_domains=LOCAL, organisation=org_id
        )
        return mailbox.id


async def deliver_message(
    db: Database,
    at_rest: AtRestCipher,
    mailbox_id: int,
    body: bytes,
    *,
    when: dt.datetime | None = None,
) -> None:
    async with db.write() as session:
        await deliver(session, at_rest, mailbox_id, body, internal_date=when)


def message(subject: str, text: str) -> bytes:
    return (
        f"From: lab@salus.test\r\nTo: x@salus.test\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@salus.test>\r\n\r\n{text}\r\n"
    ).encode()


async def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order, bytes normalised."""
    metadata = MetaData()
    async with db.read() as session:
        conn = await session.connection()
        await conn.run_sync(metadata.reflect)
        tables: dict[str, list[tuple[Any, ...]]] = {}
        for table in metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            rows = (await session.execute(select(table).order_by(*order))).all()
            tables[table.name] = [
                tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows
            ]
    return tables


SENDER, RECIPIENT = "lis@salus.test", "secretariat@salus.test"
PASSWORD = "Lab-System-Password-2026!"
LISTENERS = ("SMTP__SUBMISSION", "SMTP__SUBMISSIONS", "SMTP__MX", "IMAP__LISTEN",
             "IMAP__LISTEN_TLS", "HTTP__LISTEN", "LOOKUP__LISTEN")  # fmt: skip


async def prepare_submission(data_dir: Path, *init_args: str) -> None:
    """`salus init`, a sender mailbox with a password, a recipient mailbox, their keys."""
    code, _, err = await run_salus(
        "init", "--data-dir", str(data_dir), "--domain", "salus.test", *init_args
    )
    assert code == 0, err
    db = Database(load_settings(data_dir).database_url)
    try:
        await add_org_mailbox(db, SENDER, MailboxKind.APPLICATIVE)
        await add_org_mailbox(db, RECIPIENT, MailboxKind.ORGANIZATIONAL)
        async with db.write() as session:
            await set_password(session, "test", SENDER, PASSWORD)
    finally:
        await db.dispose()
    for address in (SENDER, RECIPIENT):
        code, _, err = await run_salus("keys", "issue", address, "--data-dir", str(data_dir))
        assert code == 0, err


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [int(s.getsockname()[1]) for s in sockets]
    for s in sockets:
        s.close()
    return ports


async def start_node(
    data_dir: Path, **extra_env: str
) -> tuple[asyncio.subprocess.Process, dict[str, int]]:
    """`salus serve` on fresh loopback ports; returns once /readyz answers 200."""
    ports = dict(zip(LISTENERS, free_ports(len(LISTENERS)), strict=True))
    env = {**os.environ, **extra_env}
    env |= {f"SALUS_{name}": f"127.0.0.1:{port}" for name, port in ports.items()}
    process = await asyncio.create_subprocess_exec(
        str(SALUS), "serve", "--data-dir", str(data_dir), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    # Read the output as it comes: a server whose log fills the pipe (64 KiB) would
    # block on its next log line and stall every session.
    assert process.stdout is not None and process.stderr is not None
    _OUTPUT[process.pid] = (
        asyncio.ensure_future(process.stdout.read()),
        asyncio.ensure_future(process.stderr.read()),
    )
    async with asyncio.timeout(60):
        while True:
            assert process.returncode is None, "salus serve exited during start-up"
            try:
                if (await asyncio.to_thread(_http_status, ports["HTTP__LISTEN"], "/readyz")) == 200:
                    return process, ports
            except OSError:
                pass
            await asyncio.sleep(0.2)


async def stop_node(
    process: asyncio.subprocess.Process, timeout: float = 60
) -> tuple[bytes, bytes]:
    """SIGTERM a node from `start_node` (unless it has exited) and wait for it; its whole
    stdout and stderr."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(process.wait(), timeout)
    stdout, stderr = _OUTPUT.pop(process.pid)
    return await stdout, await stderr


def _http_status(port: int, path: str) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return int(response.status)


def metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return str(response.read().decode())


async def until_queue_empty(http_port: int, within: float = 120) -> None:
    async with asyncio.timeout(within):
        while True:
            text = await asyncio.to_thread(metrics_text, http_port)
            if 'salus_queue_depth{status="queued"} 0.0' in text and (
                'salus_queue_depth{status="deferred"} 0.0' in text
            ):
                return
            await asyncio.sleep(0.2)
