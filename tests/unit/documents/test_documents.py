"""Every public sample through recognition and validation, and the MIME walk's limits."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from gateway.attachments.detect import Kind
from gateway.documents import DocumentError, DocumentLimits, inspect
from tests.unit.documents.builders import cda, mail, oru, xdm

LIMITS = DocumentLimits()
HL7 = "hl7v2/ansforge-hl7v2-exemples/"
# (sample, expected kind or None for an ordinary attachment, expected refusal or None)
SAMPLES = [
    ("cda/ansforge-testcontenucda/BIO-CR-BIO_2024.01_TSH_1.xml", Kind.CDA, None),
    ("cda/ansforge-testcontenucda/BIO-CR-BIO_2024.01_Microbiologie_V2.xml", Kind.CDA, None),
    ("cda/ansforge-testcontenucda/LDL-SES_2022.01.xml", Kind.CDA, None),
    ("cda/ansforge-testcontenucda/LDL-EES_2022.01.xml", Kind.CDA, None),
    ("cda/ansforge-testcontenucda/DOC_NON_STRUCTURE_CDA-R2-N1.xml", Kind.CDA, None),
    ("cda/hl7-ccda-examples/Discharge_Summary.xml", Kind.CDA, None),
    ("cda/onc-ett/CCDA_Ambulatory.xml", Kind.CDA, None),
    # A results section cut out of a document: its xsi prefix is declared nowhere.
    ("cda/hl7-ccda-examples/Basic_Metabolic_Panel_with_Troponin_C-CDA2.1.xml", None, "not well-formed XML"),
    ("cda/onc-ett/ToC_Ambulatory_Bad_Stylesheet.xml", None,
     "xml-stylesheet points outside the document (http://transport-testing.nist.gov"),
    (HL7 + "ORU_R01_vague2_INIT_message_ORU_CR_Bio_INIT_N3_SEGUR.hl7", Kind.HL7V2, None),
    (HL7 + "ACK_R01_v2.1_INIT_ack.hl7", Kind.HL7V2, None),
    # The published examples replace OBX-5's CDA by a placeholder sentence.
    (HL7 + "ORU_R01_v2.1_INIT_message_ORU_CR_Bio_INIT_N1_N3.hl7", None, "OBX 1 embedded CDA: not well-formed XML"),
    (HL7 + "ORU_R01_v2.1_RPLC_message_ORU_CR_Bio_RPLC_N1_N3.er7", None, "OBX 1 embedded CDA: not well-formed XML"),
    (HL7 + "MDM_T02_LPS_MSS_v1.1_INIT_message_MDM__LPS_MSS_CR_Radio_INIT_N1.er7", None,
     "OBX 1 embedded CDA: not well-formed XML"),
    (HL7 + "ZAM_Z02_v2.1_Message_metier_reception_MSS.er7", None, "message type ZAM^Z02 is not supported"),
    ("xdm/onc-ett/TOC_XDM_FULL_METADATA.ZIP", Kind.XDM, None),
    ("xdm/onc-ett/TOC_XDM_LIMITED_METADATA.ZIP", Kind.XDM, None),
    ("xdm/onc-ett/CCDA_INPATIENT_IN_XDM.ZIP", Kind.XDM, None),
    ("xdm/onc-ett/ToC_Ambulatory.zip", Kind.XDM, None),
    ("xdm/onc-ett/BadXHTML.zip", None, "INDEX.HTM is not well-formed XHTML: end tag </titel>"),
    ("xdm/ansforge-testcontenucda/CDAHeaderToXDM.xsl", None, None),  # an XSLT: ordinary XML
]  # fmt: skip


@pytest.mark.parametrize(
    ("sample", "kind", "fault"), SAMPLES, ids=[s[0].rsplit("/", 1)[1] for s in SAMPLES]
)
def test_public_sample(
    shared_fixtures: Path, sample: str, kind: Kind | None, fault: str | None
) -> None:
    name = sample.rsplit("/", 1)[1]
    message = mail(((shared_fixtures / sample).read_bytes(), "application/octet-stream", name))
    if fault is not None:
        with pytest.raises(DocumentError) as caught:
            inspect(message, LIMITS)
        assert caught.value.reply().startswith(f"550 5.6.0 {name}: ")
        assert fault in caught.value.fault
        return
    report = inspect(message, LIMITS)
    assert [d.kind for d in report.documents] == ([kind] if kind else [])


def test_every_sample_is_listed(shared_fixtures: Path) -> None:
    on_disk = {
        str(p.relative_to(shared_fixtures))
        for f in ("cda", "hl7v2", "xdm")
        for p in (shared_fixtures / f).rglob("*.*")
    }
    assert on_disk == {s[0] for s in SAMPLES}


def test_segur_oru_facts(shared_fixtures: Path) -> None:
    data = (
        shared_fixtures / HL7 / "ORU_R01_vague2_INIT_message_ORU_CR_Bio_INIT_N3_SEGUR.hl7"
    ).read_bytes()
    document = inspect(mail((data, "application/hl7-v2", "result.hl7")), LIMITS).documents[0]
    assert document.message_type == "ORU^R01"
    assert document.national_ids == ("801234567897",)
    assert document.patient_id_present
    assert [c.code for c in document.codes] == ["11502-2"]
    assert document.clinical[0].title == "Compte rendu d'examens biologiques"


def test_report_lists_each_document_of_a_message() -> None:
    message = mail((oru(embedded=cda()), "application/hl7-v2", "lab.hl7"), (cda(code="11490-0"), "text/xml", "letter.xml"),
                   (xdm(), "application/zip", "IHE_XDM.ZIP"), (b"%PDF-1.4", "application/pdf", "scan.pdf"))  # fmt: skip
    report = inspect(message, LIMITS)
    assert [(d.filename, d.kind) for d in report.documents] == [
        ("lab.hl7", Kind.HL7V2), ("letter.xml", Kind.CDA), ("IHE_XDM.ZIP", Kind.XDM)]  # fmt: skip
    assert [c.code for c in report.codes] == ["11502-2", "11490-0"]
    assert report.patient_id_present
    assert [p.national_id for p in report.recipients] == [
        "801234567897",
        "801234567897",
        "801234567897",
    ]


def test_plain_mail_has_no_documents() -> None:
    assert inspect(mail(), LIMITS).documents == ()


def test_refusal_names_the_file_and_keeps_the_reply_on_one_printable_line() -> None:
    message = mail((oru(obr16=""), "application/hl7-v2", "bad\r\nname é.hl7"))
    with pytest.raises(DocumentError) as caught:
        inspect(message, LIMITS)
    reply = caught.value.reply()
    assert reply.startswith("550 5.6.0 bad")
    assert "OBR-16 ordering provider missing" in reply
    assert "\r" not in reply and "\n" not in reply and reply.isascii()


def test_mime_part_and_depth_limits() -> None:
    many = mail(*((b"x", "text/plain", f"{i}.txt") for i in range(10)))
    with pytest.raises(DocumentError, match="more than 5 MIME parts"):
        inspect(many, DocumentLimits(max_parts=5))
    leaf = EmailMessage()
    leaf.set_content("x")
    for _ in range(6):
        parent = EmailMessage()
        parent.set_type("multipart/mixed")
        parent.set_payload([leaf])
        leaf = parent
    with pytest.raises(DocumentError, match="deeper than 3 levels"):
        inspect(leaf, DocumentLimits(max_depth=3))
    assert inspect(leaf, DocumentLimits(max_depth=6)).documents == ()
