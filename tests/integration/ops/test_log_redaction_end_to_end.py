"""A message with a marker in its subject, body, attachment name and patient data goes
through `salus serve` (submission, queue, protection, delivery): the markers appear in no
log line, while the events of its way through are there."""

from __future__ import annotations

import asyncio
import json
import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from tests.integration.ops.operator import (
    PASSWORD,
    RECIPIENT,
    SENDER,
    prepare_submission,
    start_node,
    stop_node,
    until_queue_empty,
)

MARKERS = {
    "subject": "SUBJ-9c1e",
    "body": "BODY-41f7",
    "attachment": "FILE-e2a0",
    "patient": "PATIENT-77b3",
}


def _message() -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"], msg["To"] = SENDER, RECIPIENT
    msg["Subject"] = f"Résultats {MARKERS['subject']}"
    msg.set_content(f"Bonjour, voici les résultats. {MARKERS['body']}\n")
    hl7 = (
        "MSH|^~\\&|LIS|LAB|DPI|HOP|20261128100000||ORU^R01|MSG0001|P|2.5\r"
        f"PID|1||123456^^^HOP^PI||{MARKERS['patient']}^JEANNE||19800101|F\r"
        "OBR|1||R1|718-7^Hemoglobin^LN||||||||||||810000000001^LAB^PAUL\r"  # OBR-16
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


async def test_no_marker_reaches_the_logs(tmp_path: Path) -> None:
    data_dir = tmp_path / "op"
    await prepare_submission(data_dir)
    process, ports = await start_node(data_dir, SALUS_LOGGING__LEVEL="debug")
    try:
        await asyncio.to_thread(_submit, ports["SMTP__SUBMISSIONS"], data_dir / "ca" / "root.crt")
        await until_queue_empty(ports["HTTP__LISTEN"])
    finally:
        stdout, stderr = await stop_node(process)
    logs = stdout.decode() + stderr.decode()
    for where, marker in MARKERS.items():
        assert marker not in logs, f"the {where} marker reached the logs"
    events = [
        json.loads(line)["event"] for line in stderr.decode().splitlines() if line.startswith("{")
    ]
    assert "smtp.message.accepted" in events
    assert "delivery.delivered" in events
