"""CDA R2 header reading and refusals."""

from __future__ import annotations

import pytest

from gateway.attachments import cda
from gateway.attachments.errors import CdaError
from gateway.attachments.parties import IdScheme
from gateway.attachments.xml_reader import XmlLimits, parse_xml
from tests.unit.documents.builders import cda as build_cda

LIMITS = XmlLimits()


def test_header_facts_are_read() -> None:
    document = cda.read(
        build_cda(
            recipients=[
                ("801234567897", "1.2.250.1.71.4.2.1"),
                ("01234567896", "1.2.250.1.71.4.2.1"),
            ]
        ),
        LIMITS,
    )
    assert document.code.code == "11502-2" and document.code.system_name == "LOINC"
    assert document.title == "Compte rendu d'examens biologiques"
    assert document.effective_time == "20260115101500+0100"
    assert document.author == "Dr Paul LAB"
    assert document.author_ids[0].value == "810000000001"
    assert document.custodian == "Laboratoire Test"
    assert [r.national_id for r in document.recipients] == ["801234567897", "801234567896"]
    assert document.patient_id_present is True
    assert document.document_id == "1.2.250.1.999.1^DOC-1"


def test_adeli_and_foreign_ids() -> None:
    document = cda.read(
        build_cda(
            recipients=[
                ("0751234567", "1.2.250.1.71.4.2.1"),
                ("1234567893", "2.16.840.1.113883.4.6"),
            ]
        ),
        LIMITS,
    )
    adeli, npi = document.recipients
    assert adeli.national_id == "0751234567"
    assert npi.national_id is None and npi.ids[0].scheme is IdScheme.FOREIGN
    assert "2.16.840.1.113883.4.6:1234567893" in npi.label()


def test_patient_without_ins_is_reported_absent() -> None:
    assert cda.read(build_cda(patient_ins=False), LIMITS).patient_id_present is False


@pytest.mark.parametrize(
    ("data", "fault"),
    [
        (b"<section><title>x</title></section>", r"root element is <section> \(no namespace\)"),
        (b'<ClinicalDocument xmlns="urn:hl7-org:v2"/>', "not ClinicalDocument in urn:hl7-org:v3"),
        (
            b'<ClinicalDocument xmlns="urn:hl7-org:v3"><id root="1"/></ClinicalDocument>',
            "code is missing",
        ),
        (b"<ClinicalDocument", "not well-formed XML"),
        (b"", "not well-formed XML"),
    ],
)
def test_not_a_cda_document_is_refused(data: bytes, fault: str) -> None:
    with pytest.raises(CdaError, match=fault):
        cda.read(data, LIMITS)


@pytest.mark.parametrize(
    "href",
    [
        "http://example.test/cda.xsl",
        "https://x.test/a.xsl",
        "file:///etc/x.xsl",
        "//host.test/x.xsl",
    ],
)
def test_stylesheet_outside_the_document_is_refused(href: str) -> None:
    with pytest.raises(CdaError, match=r"xml-stylesheet points outside the document"):
        cda.read(build_cda(stylesheet=href), LIMITS)


def test_relative_stylesheet_is_accepted() -> None:
    assert cda.read(build_cda(stylesheet="../FeuilleDeStyle/CDA-FO.xsl"), LIMITS).title


def test_level1_body_must_be_valid_base64() -> None:
    good = '<component><nonXMLBody><text mediaType="application/pdf" representation="B64">JVBE\nRi0x</text></nonXMLBody></component>'
    assert cda.read(build_cda(body=good), LIMITS).code.code == "11502-2"
    bad = good.replace("JVBE", "JV!E")
    with pytest.raises(CdaError, match=r"nonXMLBody text is not valid base64"):
        cda.read(build_cda(body=bad), LIMITS)


def test_looks_clinical_separates_hl7_content_from_other_xml() -> None:
    assert cda.looks_clinical(parse_xml(build_cda(), LIMITS, CdaError))
    assert cda.looks_clinical(
        parse_xml(
            b'<section><templateId root="2.16.840.1.113883.10.20.22.2.3.1"/></section>',
            LIMITS,
            CdaError,
        )
    )
    assert not cda.looks_clinical(
        parse_xml(b'<svg xmlns="http://www.w3.org/2000/svg"/>', LIMITS, CdaError)
    )


def test_size_limit_applies_before_parsing() -> None:
    with pytest.raises(CdaError, match=r"over the 100-byte limit"):
        cda.read(build_cda(), XmlLimits(max_bytes=100))
