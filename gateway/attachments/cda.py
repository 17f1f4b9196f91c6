"""CDA R2 documents (HL7 v3 ClinicalDocument): header facts for routing and packaging.

Reads the header only (CDA R2 §4.2): document id, code, title, effectiveTime, language,
confidentiality, author, custodian, informationRecipient (with national ids by OID, see
`parties`) and whether recordTarget carries a patient INS. Refuses what a recipient's
viewer could be harmed by or misled with: a DOCTYPE (see `xml_reader`), a wrong root
(a section fragment is not a document), a missing required header element, an
xml-stylesheet that points outside the document (a remote URL would make every viewer
fetch it), and a level 1 body whose base64 does not decode.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

from gateway.attachments.codes import Code
from gateway.attachments.errors import CdaError
from gateway.attachments.parties import IdScheme, Party, PartyId, party_id
from gateway.attachments.xml_reader import (
    Element,
    XmlLimits,
    local_name,
    namespace,
    parse_xml,
    stylesheet_hrefs,
)

V3 = "urn:hl7-org:v3"
_NS = {"v3": V3}
_REMOTE = re.compile(r"^\s*([a-zA-Z][a-zA-Z0-9+.-]*:|//|\\\\)")
# Header elements CDA R2 requires (1..1 or 1..*), as XPath under the root.
_REQUIRED = (
    "v3:id",
    "v3:code[@code]",
    "v3:effectiveTime[@value]",
    "v3:recordTarget",
    "v3:author",
    "v3:custodian",
)


@dataclass(frozen=True, slots=True)
class CdaDocument:
    document_id: str  # id root^extension
    code: Code
    title: str
    effective_time: str  # TS as written
    language: str
    confidentiality: str
    author: str  # name of the first author (person, else device, else organisation)
    author_ids: tuple[PartyId, ...]
    custodian: str
    recipients: tuple[Party, ...]
    patient_id_present: bool  # recordTarget/patientRole/id holds an INS
    patient_cx: str  # the INS as an XDS CX value ("id^^^&oid&ISO"), "" when absent
    template_ids: tuple[str, ...]


def read(data: bytes, limits: XmlLimits) -> CdaDocument:
    """Parse and validate one CDA R2 document; raise CdaError naming the fault."""
    return from_root(parse_xml(data, limits, CdaError))


def looks_clinical(root: Element) -> bool:
    """Is this XML meant as HL7 v3 / CDA content (and so to be validated as a document)?"""
    if namespace(root) == V3 or local_name(root) == "ClinicalDocument":
        return True
    return any(local_name(child) in ("templateId", "typeId") for child in root[:8])


def from_root(root: Element) -> CdaDocument:
    _check(root)
    code = root.find("v3:code", _NS)
    patient_ids = [_id(e) for e in root.iterfind("v3:recordTarget/v3:patientRole/v3:id", _NS)]
    ins = next(
        (
            e
            for e in root.iterfind("v3:recordTarget/v3:patientRole/v3:id", _NS)
            if _id(e).scheme is IdScheme.PATIENT
        ),
        None,
    )
    author = root.find("v3:author/v3:assignedAuthor", _NS)
    return CdaDocument(
        document_id=_ii(root.find("v3:id", _NS)),
        code=Code(code.get("code", ""), code.get("codeSystem", ""), code.get("displayName", "")),
        title=_text(root.find("v3:title", _NS)),
        effective_time=root.find("v3:effectiveTime", _NS).get("value", ""),
        language=_attr(root.find("v3:languageCode", _NS), "code"),
        confidentiality=_attr(root.find("v3:confidentialityCode", _NS), "code"),
        author=_author_name(author),
        author_ids=tuple(_id(e) for e in author.iterfind("v3:id", _NS))
        if author is not None
        else (),
        custodian=_text(
            root.find(
                "v3:custodian/v3:assignedCustodian/v3:representedCustodianOrganization/v3:name", _NS
            )
        ),
        recipients=tuple(
            _recipient(e)
            for e in root.iterfind("v3:informationRecipient/v3:intendedRecipient", _NS)
        ),
        patient_id_present=any(i.scheme is IdScheme.PATIENT for i in patient_ids),
        patient_cx=""
        if ins is None
        else f"{ins.get('extension', '')}^^^&{ins.get('root', '')}&ISO",
        template_ids=tuple(e.get("root", "") for e in root.iterfind("v3:templateId", _NS)),
    )


def _check(root: Element) -> None:
    """The refusals: wrong root, missing header elements, remote stylesheet, bad level 1 body."""
    if namespace(root) != V3 or local_name(root) != "ClinicalDocument":
        ns = namespace(root) or "no namespace"
        raise CdaError(
            f"not a CDA R2 document: root element is <{local_name(root)}> ({ns}), "
            f"not ClinicalDocument in {V3}"
        )
    for path in _REQUIRED:
        if root.find(path, _NS) is None:
            raise CdaError(
                f"CDA header element {path.removeprefix('v3:').split('[')[0]} is missing"
            )
    for href in stylesheet_hrefs(root):
        if _REMOTE.match(href):
            raise CdaError(f"xml-stylesheet points outside the document ({href[:80]})")
    _check_non_xml_body(root)


def _check_non_xml_body(root: Element) -> None:
    """Level 1 (CDA R2 §4.3.2): nonXMLBody/text with representation="B64" must decode."""
    text = root.find("v3:component/v3:nonXMLBody/v3:text", _NS)
    if text is None or text.get("representation", "TXT") != "B64":
        return
    payload = "".join((text.text or "").split())
    try:
        binascii.a2b_base64(payload.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise CdaError(f"nonXMLBody text is not valid base64 ({exc})") from None


def _recipient(intended: Element) -> Party:
    ids = [_id(e) for e in intended.iterfind("v3:id", _NS)]
    ids += [_id(e) for e in intended.iterfind("v3:receivedOrganization/v3:id", _NS)]
    address = next(
        (
            t.get("value", "")[7:].strip().lower()
            for t in intended.iterfind("v3:telecom", _NS)
            if t.get("value", "").lower().startswith("mailto:")
        ),
        None,
    )
    name = _person_name(intended.find("v3:informationRecipient/v3:name", _NS))
    if not name:
        name = _text(intended.find("v3:receivedOrganization/v3:name", _NS))
    return Party("informationRecipient", tuple(i for i in ids if i.value), name, address or None)


def _author_name(author: Element | None) -> str:
    if author is None:
        return ""
    person = _person_name(author.find("v3:assignedPerson/v3:name", _NS))
    device = _text(author.find("v3:assignedAuthoringDevice/v3:softwareName", _NS))
    org = _text(author.find("v3:representedOrganization/v3:name", _NS))
    return person or device or org


def _person_name(name: Element | None) -> str:
    if name is None:
        return ""
    parts = [_text(name.find(f"v3:{p}", _NS)) for p in ("prefix", "given", "family")]
    return " ".join(p for p in parts if p) or _text(name)


def _id(element: Element) -> PartyId:
    return party_id(element.get("root", ""), element.get("extension", ""))


def _ii(element: Element | None) -> str:
    if element is None:
        return ""
    root, ext = element.get("root", ""), element.get("extension", "")
    return f"{root}^{ext}" if ext else root


def _attr(element: Element | None, name: str) -> str:
    return "" if element is None else str(element.get(name, ""))


def _text(element: Element | None) -> str:
    return "" if element is None else " ".join("".join(element.itertext()).split())
