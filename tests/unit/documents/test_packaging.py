"""Packaging for mail clients and the integration MDN."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from gateway.attachments import xdm
from gateway.attachments.detect import Kind
from gateway.documents import DocumentLimits, inspect
from gateway.packaging import (
    HEADER_CODES,
    HEADER_PATIENT_ID,
    build_integration_mdn,
    integration_error,
    mdn_recipient,
    package,
)
from tests.unit.documents.builders import NOW, cda, mail, oru

LIMITS = DocumentLimits()


def _packaged(message: EmailMessage) -> tuple[bytes, EmailMessage]:
    out = package(message, inspect(message, LIMITS), domain="salus.test", now=NOW)
    parsed = email.message_from_bytes(out, EmailMessage, policy=email.policy.default)
    return out, parsed


def test_bare_documents_are_wrapped_into_one_xdm_package() -> None:
    message = mail((oru(embedded=cda()), "application/hl7-v2", "lab.hl7"), (cda(code="11490-0"), "text/xml", "letter.xml"),
                   (b"%PDF-1.4", "application/pdf", "scan.pdf"))  # fmt: skip
    out, parsed = _packaged(message)
    assert b"\n" not in out.replace(b"\r\n", b"")  # CRLF only
    names = [p.get_filename() for p in parsed.iter_attachments() if p.get_filename()]
    assert names == ["scan.pdf", "IHE_XDM.ZIP"]
    archive = next(
        p for p in parsed.iter_attachments() if p.get_filename() == "IHE_XDM.ZIP"
    ).get_content()
    package_read = xdm.read(archive, xdm.XdmLimits())
    assert [(e.path.rsplit("/", 1)[1], e.mime_type) for e in package_read.entries] == [
        ("DOC0001.HL7", "application/hl7-v2"), ("DOC0002.XML", "text/xml"), ("DOC0003.XML", "text/xml")]  # fmt: skip
    assert [r.national_id for r in package_read.recipients] == ["801234567897"]
    # The packaged message is itself a valid document message.
    assert [d.kind for d in inspect(parsed, LIMITS).documents] == [Kind.XDM]


def test_summary_and_headers_say_what_is_there_without_patient_data() -> None:
    _, parsed = _packaged(mail((cda(), "text/xml", "result.xml")))
    body, summary = [p.get_content() for p in parsed.walk() if p.get_content_type() == "text/plain"]
    assert body.startswith("Please find the results attached.")
    assert "Compte rendu d'examens biologiques" in summary
    assert "Date: 2026-01-15 10:15 +01:00" in summary
    assert "Author: Dr Paul LAB" in summary
    assert "Patient national identifier (INS): present" in summary
    assert "299999999999999" not in summary and "TEST" not in summary
    assert parsed.get_all(HEADER_CODES) == ["11502-2^LOINC"]
    assert parsed[HEADER_PATIENT_ID] == "present"
    assert "299999999999999" not in str(parsed.items())


def test_forged_mss_headers_are_replaced() -> None:
    message = mail((cda(patient_ins=False), "text/xml", "result.xml"))
    message[HEADER_PATIENT_ID] = "forged"
    message["X-MSS-Other"] = "forged"
    _, parsed = _packaged(message)
    assert parsed.get_all(HEADER_PATIENT_ID) == ["absent"]
    assert parsed["X-MSS-Other"] is None


def test_message_that_is_one_bare_document() -> None:
    message = EmailMessage()
    message["From"] = "lis@lab.salus.test"
    message.set_content(oru(), maintype="application", subtype="hl7-v2", filename="lab.hl7")
    _, parsed = _packaged(message)
    assert parsed.get_content_type() == "multipart/mixed"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "application/zip"]


def test_existing_xdm_is_left_as_is_and_plain_mail_unchanged() -> None:
    _, parsed = _packaged(mail())
    assert parsed.get_content_type() == "text/plain" and parsed[HEADER_CODES] is None


def test_mdn_processed_and_error() -> None:
    original = mail(sender="lis@lab.salus.test")
    original["Disposition-Notification-To"] = "LIS@lab.salus.test"
    assert mdn_recipient(original, "lis@lab.salus.test") == "lis@lab.salus.test"
    assert mdn_recipient(original, "someone@else.test") is None
    ok = build_integration_mdn(original, from_address="routing@salus.test", to_address="lis@lab.salus.test",
                               final_recipient="routing@salus.test", reporting_ua="mail.salus.test", now=NOW)  # fmt: skip
    report = email.message_from_bytes(ok, EmailMessage, policy=email.policy.default)
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "disposition-notification"
    parts = list(report.iter_parts())
    assert [p.get_content_type() for p in parts] == [
        "text/plain",
        "message/disposition-notification",
        "text/rfc822-headers",
    ]
    assert "Disposition: automatic-action/MDN-sent-automatically; processed\r\n" in ok.decode()
    assert "Original-Message-ID: <msg-1@lab.salus.test>" in ok.decode()
    assert report["Auto-Submitted"] == "auto-replied"
    try:
        inspect(mail((oru(obr16=""), "application/hl7-v2", "lab.hl7")), LIMITS)
    except Exception as exc:
        code, text = integration_error(exc)  # type: ignore[arg-type]
    failed = build_integration_mdn(original, from_address="routing@salus.test", to_address="lis@lab.salus.test",
                                   final_recipient="routing@salus.test", reporting_ua="mail.salus.test", now=NOW,
                                   error_code=code, error_text=text).decode()  # fmt: skip
    assert code == 101
    assert "Disposition: automatic-action/MDN-sent-automatically; processed/error\r\n" in failed
    assert "Error: 101^Required field missing\r\n" in failed
    parsed = email.message_from_string(failed, EmailMessage, policy=email.policy.default)
    assert parsed["Subject"] == "[KO Intégration système !][101] Résultats"
    assert "OBR-16 ordering provider missing" in next(parsed.iter_parts()).get_content()
