"""Messages held for review (gateway.consistency "hold"), end to end on SQLite and
PostgreSQL: a practitioner sends a colleague a CDA report that names another practitioner;
smtplib hears 250 "held for review", the delivery workers leave it alone, `salus queue
release` delivers it once, and `salus queue delete` refuses another one with a DSN to
the sender and nothing delivered."""

from __future__ import annotations

import asyncio
import email.policy
import json
import secrets
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from mailserver.tls import TlsMaterial
from storage.audit import AuditEntry
from tests.integration.directory.seed import rpps
from tests.protocol.e2e.node import GCM, Node, node, wait_until
from tests.protocol.smtp.harness import COLLEAGUE, DOCTOR
from tests.unit.documents.builders import RPPS_OID, cda

DIFFERENCE = (
    f"documents name recipients not addressed: {GCM}; "
    f"addressed recipients not named by the documents: {COLLEAGUE}"
)


@pytest.fixture
async def holding(
    tmp_path: Path, server_tls: TlsMaterial, database_url: str
) -> AsyncIterator[Node]:
    if database_url.startswith("sqlite"):
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'op' / 'salus.db'}"
    async with node(
        tmp_path / "op", database_url, server_tls, tmp_path / "ca.crt",
        gateway={"consistency": "hold"},
    ) as running:  # fmt: skip
        yield running


def letter(*, report_for: str | None) -> bytes:
    """doctor.1's mail to doctor.2: a CDA report for the practitioner `report_for` names
    (doctor.4's national id), or a plain note."""
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = DOCTOR
    message["To"] = COLLEAGUE
    message["Subject"] = "Compte rendu"
    message["Message-ID"] = f"<{secrets.token_hex(8)}@client.salus.test>"
    message.set_content("Compte rendu joint.")
    if report_for is not None:
        document = cda(recipients=[(report_for, RPPS_OID)])
        message.add_attachment(document, maintype="text", subtype="xml", filename="cr.xml")
    return message.as_bytes()


async def submitted_held(salus: Node) -> str:
    code, reply = await asyncio.to_thread(salus.submit, letter(report_for=rpps(4)), [COLLEAGUE])
    text = reply.decode()
    assert code == 250 and text.startswith("2.0.0 Ok: queued as ") and "held for review" in text
    return text.removeprefix("2.0.0 Ok: queued as ").split(",")[0]


async def test_a_held_message_is_delivered_once_released(holding: Node) -> None:
    queue_id = await submitted_held(holding)
    # A plain message sent after it is delivered: the workers ran, and left it held.
    code, _ = await asyncio.to_thread(holding.submit, letter(report_for=None), [COLLEAGUE])
    assert code == 250
    await holding.settled(1)
    statuses = sorted(status for _, status, _ in await holding.deliveries())
    assert statuses == ["delivered", "held"]
    assert len(await asyncio.to_thread(holding.inbox, COLLEAGUE)) == 1

    listed = json.loads(await asyncio.to_thread(holding.salus, "queue", "list", "--held", "--json"))
    assert [m["queue_id"] for m in listed] == [queue_id]
    assert listed[0]["held"] == DIFFERENCE
    shown = (await asyncio.to_thread(holding.salus, "queue", "show", queue_id)).decode()
    assert f"held for review: {DIFFERENCE}" in shown and f"<{COLLEAGUE}>  held" in shown

    out = await asyncio.to_thread(holding.salus, "queue", "release", queue_id)
    assert b"1 held recipient(s) released" in out
    rows = await holding.settled(2)
    assert [status for _, status, _ in rows] == ["delivered", "delivered"]
    assert len(await asyncio.to_thread(holding.inbox, COLLEAGUE)) == 2  # each once
    assert json.loads(
        await asyncio.to_thread(holding.salus, "queue", "list", "--held", "--json")
    ) == []

    accepted = await _audit(holding, "smtp.accept", queue_id)
    assert accepted["held"] == "documents-consistent"
    assert accepted["consistency"] == DIFFERENCE
    assert (await _audit(holding, "queue.release", queue_id))["rows"] == 1


async def test_a_deleted_held_message_is_reported_to_its_sender(holding: Node) -> None:
    queue_id = await submitted_held(holding)
    out = await asyncio.to_thread(holding.salus, "queue", "delete", queue_id)
    assert b"1 held recipient(s) refused" in out
    rows = await holding.settled(2)  # the refused row, and the report to doctor.1
    assert sorted((r, s) for r, s, _ in rows) == [(DOCTOR, "delivered"), (COLLEAGUE, "bounced")]
    assert "Refused by an administrator" in next(t for r, _, t in rows if r == COLLEAGUE)
    (report,) = await asyncio.to_thread(holding.inbox, DOCTOR)
    assert b"multipart/report; report-type=delivery-status" in report
    assert b"Action: failed" in report and b"Status: 5.7.1" in report
    assert await asyncio.to_thread(holding.inbox, COLLEAGUE) == []
    deleted = await _audit(holding, "queue.delete", queue_id)
    assert deleted == {"rows": 1, "held": True, "report": True}


async def test_a_consistent_document_is_not_held(holding: Node) -> None:
    code, reply = await asyncio.to_thread(
        holding.submit, letter(report_for=rpps(2)), [COLLEAGUE]
    )  # doctor.2's own report
    assert code == 250 and b"held" not in reply
    await wait_until(lambda: _delivered(holding))


async def _delivered(salus: Node) -> bool:
    return [s for _, s, _ in await salus.deliveries()] == ["delivered"]


async def _audit(salus: Node, action: str, queue_id: str) -> dict[str, object]:
    async with salus.db.read() as session:
        entry = (
            await session.execute(
                select(AuditEntry).where(AuditEntry.action == action, AuditEntry.object == queue_id)
            )
        ).scalar_one()
    detail: dict[str, object] = json.loads(entry.detail)
    return detail
