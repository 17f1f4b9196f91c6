"""IHE XDM: the writer's packages read back; metadata checked against the bytes."""

from __future__ import annotations

import hashlib

import pytest

from gateway.attachments import xdm
from gateway.attachments.errors import CdaError, XdmError
from gateway.attachments.index_page import index_page_fault
from gateway.attachments.parties import IdScheme, Party, PartyId
from gateway.attachments.xdm_metadata import recipient
from tests.unit.documents.builders import cda, raw_zip, xdm_entries
from tests.unit.documents.builders import xdm as build_xdm

LIMITS = xdm.XdmLimits()
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"


def metadata(
    uri: str = "DOC.XML", size: int | str = 0, digest: str = "", recipients: str = ""
) -> bytes:
    slot = lambda n, v: f'<Slot name="{n}"><ValueList><Value>{v}</Value></ValueList></Slot>'  # noqa: E731
    intended = slot("intendedRecipient", recipients) if recipients else ""
    return (
        f'<SubmitObjectsRequest xmlns="{LCM}"><RegistryObjectList xmlns="{RIM}">'
        f'<ExtrinsicObject id="d1" mimeType="text/xml">{slot("URI", uri)}{slot("size", size)}{slot("hash", digest)}</ExtrinsicObject>'
        f'<RegistryPackage id="ss">{slot("submissionTime", "20260115")}{intended}</RegistryPackage>'
        "</RegistryObjectList></SubmitObjectsRequest>"
    ).encode()


def package(document: bytes = b"", **kw: object) -> bytes:
    document = document or cda()
    meta = metadata(
        size=kw.pop("size", len(document)),
        digest=str(kw.pop("digest", hashlib.sha1(document).hexdigest())),
        **kw,
    )  # type: ignore[arg-type]
    return raw_zip(xdm_entries(meta, [("DOC.XML", document)]))


def test_written_package_reads_back_with_recipients_and_codes() -> None:
    recipients = [
        Party("x", (PartyId(IdScheme.NATIONAL, "801234567897"),), address="a.martin@salus.test"),
        Party("x", (PartyId(IdScheme.STRUCTURE, "1000000002"),), name="Cabinet Test"),
    ]
    read = xdm.read(build_xdm([cda(), cda(code="18842-5")], recipients=recipients), LIMITS)
    submission = read.submissions[0]
    assert submission.subset == "SUBSET01"
    assert [e.path for e in submission.entries] == [
        "IHE_XDM/SUBSET01/DOC0001.XML",
        "IHE_XDM/SUBSET01/DOC0002.XML",
    ]
    assert [e.cda.code.code for e in submission.entries if e.cda] == ["11502-2", "18842-5"]
    assert [(r.national_id, r.structure_id, r.address) for r in submission.recipients] == [
        ("801234567897", None, "a.martin@salus.test"), (None, "1000000002", None)]  # fmt: skip
    assert read.patient_id_present is True


def test_hand_made_package_is_accepted() -> None:
    assert xdm.read(package(), LIMITS).entries[0].cda is not None


def test_hash_mismatch_is_refused() -> None:
    with pytest.raises(XdmError, match=r"XDM hash mismatch for DOC.XML"):
        xdm.read(package(digest="0" * 40), LIMITS)


def test_size_mismatch_is_refused() -> None:
    with pytest.raises(XdmError, match=r"XDM size mismatch for DOC.XML"):
        xdm.read(package(size=5), LIMITS)


def test_listed_document_must_be_in_the_subset() -> None:
    with pytest.raises(XdmError, match=r"'OTHER.XML' listed in METADATA.XML is not in"):
        xdm.read(package(uri="OTHER.XML"), LIMITS)


@pytest.mark.parametrize("uri", ["../README.TXT", "/etc/passwd", "a\\b.xml", "C:x.xml"])
def test_uri_must_stay_inside_the_subset(uri: str) -> None:
    with pytest.raises(XdmError, match=r"is not a name inside its subset"):
        xdm.read(package(uri=uri), LIMITS)


def test_invalid_cda_inside_is_refused_with_its_name() -> None:
    bad = b"<ClinicalDocument xmlns='urn:hl7-org:v3'/>"
    with pytest.raises(CdaError, match=r"DOC.XML: CDA header element id is missing"):
        xdm.read(package(bad), LIMITS)


@pytest.mark.parametrize("missing", ["README.TXT", "INDEX.HTM"])
def test_readme_and_index_are_required(missing: str) -> None:
    entries = [
        e
        for e in xdm_entries(
            metadata(size=1, digest=hashlib.sha1(b"x").hexdigest()), [("DOC.XML", b"x")]
        )
        if e[0] != missing
    ]
    with pytest.raises(XdmError, match=f"no {missing}"):
        xdm.read(raw_zip(entries), LIMITS)


def test_metadata_must_be_ebrim() -> None:
    with pytest.raises(XdmError, match=r"not an ebRIM 3.0 SubmitObjectsRequest"):
        xdm.read(raw_zip(xdm_entries(b"<Other/>")), LIMITS)


def test_zip_without_subset_is_refused() -> None:
    with pytest.raises(XdmError, match=r"no IHE_XDM/SUBSETnn/METADATA.XML"):
        xdm.read(raw_zip([("README.TXT", b"r"), ("INDEX.HTM", b"<html></html>")]), LIMITS)


@pytest.mark.parametrize(
    ("page", "fault"),
    [
        (b"<html><head><title>x</title></head><body><p>a</body></html>", None),
        (b"<html><title>x</titel></html>", "end tag </titel> closes no open element"),
        (b"<html><body><div>x</body></html>", "<div> is closed by </body>"),
        (b"<html><body><h1>x</h1", "a tag is not finished"),
        (b"<html><body><table>", "<table> is never closed"),
    ],
)
def test_index_page_check(page: bytes, fault: str | None) -> None:
    assert index_page_fault(page) == fault


def test_intended_recipient_forms() -> None:
    person = recipient(
        "|801234567897^MARTIN^Alice^^^^^^&1.2.250.1.71.4.2.1&ISO|^^Internet^A.Martin@Salus.test"
    )
    assert (person.national_id, person.address, person.name) == (
        "801234567897",
        "a.martin@salus.test",
        "Alice MARTIN",
    )
    org = recipient("Cabinet^^^^^&1.2.250.1.71.4.2.2&ISO^^^^1000000002")
    assert org.structure_id == "1000000002" and org.name == "Cabinet"
    mail_only = recipient("||^^Internet^x@salus.test")
    assert mail_only.ids == () and mail_only.address == "x@salus.test"
