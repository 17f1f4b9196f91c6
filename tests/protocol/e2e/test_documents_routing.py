"""Structured documents end to end: a lab information system's applicative mailbox
submits an HL7 v2 ORU^R01 result to the routing address; the ordering practitioner
(OBR-16) finds it in their INBOX, signed and encrypted, packaged as IHE_XDM.ZIP; an
invalid document is refused at DATA with the file and the fault; a lab that asked for
disposition notifications gets an integration MDN either way."""

from __future__ import annotations

import asyncio
import email
import email.policy
import io
import secrets
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.integration.directory.seed import rpps
from tests.protocol.e2e.node import LIS, ROUTING, Node, decrypted
from tests.protocol.smtp.harness import COLLEAGUE
from tests.unit.documents.builders import cda, oru, xcn


def lab_mail(to: str, *attachments: tuple[bytes, str, str], notify: bool = True) -> bytes:
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = LIS
    message["To"] = to
    message["Subject"] = "Résultats de biologie"
    message["Message-ID"] = f"<{secrets.token_hex(8)}@lis.salus.test>"
    if notify:
        message["Disposition-Notification-To"] = LIS
    message.set_content("Résultats joints.")
    for content, content_type, filename in attachments:
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


@pytest.mark.parametrize("terminator", ["\r", "\n"], ids=["CR", "LF"])
async def test_a_lab_result_to_the_routing_address_reaches_the_ordering_practitioner(
    salus: Node, tmp_path: Path, terminator: str
) -> None:
    result = oru(obr16=xcn(rpps(2)), terminator=terminator)  # doctor.2 ordered the tests
    code, reply = await asyncio.to_thread(
        salus.submit, lab_mail(ROUTING, (result, "application/hl7-v2", "resultat.hl7")), [ROUTING],
        LIS,
    )
    assert code == 250, reply
    # The result for doctor.2, and the `processed` MDN doctor.2's delivery sends the lab.
    rows = await salus.settled(2)
    assert sorted((r, s) for r, s, _ in rows) == [(COLLEAGUE, "delivered"), (LIS, "delivered")]

    (stored,) = await asyncio.to_thread(salus.inbox, COLLEAGUE)
    assert b"PID|" not in stored and b"application/pkcs7-mime" in stored
    outer = email.message_from_bytes(stored, policy=email.policy.default)
    assert outer["X-MSS-DOCUMENTS"] == "1" and outer["X-MSS-PATIENT-NATIONAL-ID"] == "present"
    content = await asyncio.to_thread(decrypted, salus, stored, COLLEAGUE, tmp_path)
    inner = email.message_from_bytes(content, policy=email.policy.default)
    files = {p.get_filename(): p for p in inner.walk() if p.get_filename()}
    assert set(files) == {"IHE_XDM.ZIP"}  # the bare HL7 now lives in the package
    package = zipfile.ZipFile(io.BytesIO(files["IHE_XDM.ZIP"].get_content()))
    names = package.namelist()
    assert "IHE_XDM/SUBSET01/METADATA.XML" in names
    (hl7_name,) = [n for n in names if n.endswith(".HL7")]
    assert package.read(hl7_name) == result

    (notification,) = await asyncio.to_thread(salus.inbox, LIS)
    report = email.message_from_bytes(notification, policy=email.policy.default)
    assert report.get_content_type() == "multipart/report"
    assert b"Disposition: automatic-action/MDN-sent-automatically; processed" in notification
    assert f"Final-Recipient: rfc822;{COLLEAGUE}".encode() in notification


async def test_an_invalid_cda_is_refused_naming_the_file(salus: Node) -> None:
    broken = cda().replace(b"</ClinicalDocument>", b"")
    code, reply = await asyncio.to_thread(
        salus.submit, lab_mail(COLLEAGUE, (broken, "text/xml", "compte-rendu.xml"),
                               notify=False), [COLLEAGUE], LIS,
    )  # fmt: skip
    assert code == 550
    assert reply.startswith(b"5.6.0 compte-rendu.xml: not well-formed XML")
    assert await salus.deliveries() == []


async def test_a_refused_result_gets_the_lab_an_integration_mdn(salus: Node) -> None:
    missing_orderer = oru(obr16="")
    code, reply = await asyncio.to_thread(
        salus.submit, lab_mail(ROUTING, (missing_orderer, "application/hl7-v2", "lab.hl7")),
        [ROUTING], LIS,
    )  # fmt: skip
    assert code == 550 and reply.startswith(b"5.6.0 lab.hl7: OBR-16")
    rows = await salus.settled(1)
    assert [(r, s) for r, s, _ in rows] == [(LIS, "delivered")]
    (notification,) = await asyncio.to_thread(salus.inbox, LIS)
    assert b"Disposition: automatic-action/MDN-sent-automatically; processed/error" in notification
    assert b"Error: 101^Required field missing" in notification
    report = email.message_from_bytes(notification, policy=email.policy.default)
    assert str(report["Subject"]).startswith("[KO Intégration système !][101]")
