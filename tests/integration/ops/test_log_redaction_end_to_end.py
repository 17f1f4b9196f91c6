"""A message with a marker in its subject, body, attachment name and patient data goes
through `salus serve` (submission, queue, protection, delivery): the markers appear in no
log line, while the events of its way through are there."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from config.settings import load_settings
from directory.admin.credentials import set_password
from directory.models import MailboxKind
from storage.database import Database
from tests.integration.ops.operator import SALUS, add_org_mailbox, run_salus
from tests.protocol.http.test_autoconfig import fetch

MARKERS = {
    "subject": "SUBJ-9c1e",
    "body": "BODY-41f7",
    "attachment": "FILE-e2a0",
    "patient": "PATIENT-77b3",
}
SENDER, RECIPIENT = "lis@salus.test", "secretariat@salus.test"
PASSWORD = "Lab-System-Password-2026!"
LISTENERS = ("SMTP__SUBMISSION", "SMTP__SUBMISSIONS", "SMTP__MX", "IMAP__LISTEN",
             "IMAP__LISTEN_TLS", "HTTP__LISTEN", "LOOKUP__LISTEN")  # fmt: skip


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _message() -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"], msg["To"] = SENDER, RECIPIENT
    msg["Subject"] = f"Résultats {MARKERS['subject']}"
    msg.set_content(f"Bonjour, voici les résultats. {MARKERS['body']}\n")
    hl7 = (
        "MSH|^~\\&|LIS|LAB|DPI|HOP|20261128100000||ORU^R01|MSG0001|P|2.5\r"
        f"PID|1||123456^^^HOP^PI||{MARKERS['patient']}^JEANNE||19800101|F\r"
        "OBR|1||R1|718-7^Hemoglobin^LN\r"
        "OBX|1|NM|718-7^Hemoglobin^LN||13.2|g/dL|||||F\r"
    )
    msg.add_attachment(hl7.encode(), maintype="application", subtype="hl7-v2",
                       filename=f"{MARKERS['attachment']}.hl7")  # fmt: skip
    return msg.as_bytes()


def _submit(port: int, ca: Path) -> None:
    context = ssl.create_default_context(cafile=str(ca))
    context.check_hostname = False  # loopback; the chain is verified
    with smtplib.SMTP_SSL("127.0.0.1", port, context=context, timeout=60) as client:
        client.login(SENDER, PASSWORD)
        client.sendmail(SENDER, [RECIPIENT], _message())


async def _prepare(data_dir: Path) -> None:
    code, _, err = await run_salus("init", "--data-dir", str(data_dir), "--domain", "salus.test")
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


async def _ready(http_port: int, process: asyncio.subprocess.Process) -> None:
    async with asyncio.timeout(60):
        while True:
            assert process.returncode is None, "salus serve exited during start-up"
            try:
                if (await fetch(http_port, "GET", "/readyz"))[0] == 200:
                    return
            except OSError:
                pass
            await asyncio.sleep(0.2)


async def _delivered(http_port: int) -> None:
    async with asyncio.timeout(120):
        while True:
            status, _, body = await fetch(http_port, "GET", "/metrics")
            text = body.decode()
            if (
                status == 200
                and 'salus_queue_depth{status="queued"} 0.0' in text
                and ('salus_queue_depth{status="deferred"} 0.0' in text)
            ):
                return
            await asyncio.sleep(0.2)


async def test_no_marker_reaches_the_logs(tmp_path: Path) -> None:
    data_dir = tmp_path / "op"
    await _prepare(data_dir)
    ports = dict(zip(LISTENERS, _free_ports(len(LISTENERS)), strict=True))
    env = {**os.environ, "SALUS_LOGGING__LEVEL": "debug"}
    env |= {f"SALUS_{name}": f"127.0.0.1:{port}" for name, port in ports.items()}
    process = await asyncio.create_subprocess_exec(
        str(SALUS), "serve", "--data-dir", str(data_dir), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await _ready(ports["HTTP__LISTEN"], process)
        await asyncio.to_thread(_submit, ports["SMTP__SUBMISSIONS"], data_dir / "ca" / "root.crt")
        await _delivered(ports["HTTP__LISTEN"])
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    logs = stdout.decode() + stderr.decode()
    for where, marker in MARKERS.items():
        assert marker not in logs, f"the {where} marker reached the logs"
    events = [
        json.loads(line)["event"] for line in stderr.decode().splitlines() if line.startswith("{")
    ]
    assert "smtp.message.accepted" in events
    assert "delivery.delivered" in events
