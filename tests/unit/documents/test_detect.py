"""Recognition from content, and declared types held to it."""

from __future__ import annotations

import pytest

from gateway.attachments.detect import Kind, detect
from gateway.attachments.errors import DetectError
from gateway.attachments.zip_reader import ZipLimits
from tests.unit.documents.builders import cda, oru, raw_zip, xdm

LIMITS = ZipLimits()


@pytest.mark.parametrize(
    ("content", "declared", "name", "kind"),
    [
        (oru(), "application/octet-stream", "result.bin", Kind.HL7V2),
        (oru(), "text/plain", "", Kind.HL7V2),
        (oru(), "application/hl7-v2", "lab.hl7", Kind.HL7V2),
        (cda(), "application/octet-stream", "", Kind.CDA),
        (cda(), "text/xml", "doc.xml", Kind.CDA),
        (b"\xef\xbb\xbf" + cda(), "application/xml", "", Kind.CDA),
        (xdm(), "application/zip", "IHE_XDM.ZIP", Kind.XDM),
        (xdm(), "application/octet-stream", "", Kind.XDM),
        (raw_zip([("word/document.xml", b"<x/>")]), "application/zip", "letter.docx", None),
        (b"%PDF-1.7", "application/pdf", "report.pdf", None),
        (b"Hello", "text/plain", "", None),
        (b"MSH: notes of the meeting", "text/plain", "", None),
        (b"MSH|^~\\&", "text/plain", "", Kind.HL7V2),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 60 else None,
)
def test_kinds(content: bytes, declared: str, name: str, kind: Kind | None) -> None:
    assert detect(content, declared, name, LIMITS) is kind


@pytest.mark.parametrize(
    ("content", "declared", "name", "fault"),
    [
        (xdm(), "text/xml", "doc.xml", "a zip archive declared as XML"),
        (cda(), "application/zip", "IHE_XDM.ZIP", "XML declared as a zip archive"),
        (oru(), "text/xml", "", "an HL7 v2 message declared as XML"),
        (
            b"PID|1",
            "application/hl7-v2",
            "",
            "declared as an HL7 v2 message but the content is not",
        ),
        (
            b"%PDF",
            "application/octet-stream",
            "lab.hl7",
            "declared as an HL7 v2 message but the content is not",
        ),
        (b"%PDF", "application/xml", "", "declared as XML but the content is not XML"),
        (cda(), "application/xml", "data.zip", "XML declared as a zip archive"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 60 else "content",
)
def test_declared_type_contradicting_content_is_refused(
    content: bytes, declared: str, name: str, fault: str
) -> None:
    with pytest.raises(DetectError, match=fault):
        detect(content, declared, name, LIMITS)
