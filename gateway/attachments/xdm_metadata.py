"""IHE XDM METADATA.XML: the ebRIM 3.0 SubmitObjectsRequest (IHE ITI TF-3 §4.2.3, §4.3).

Reads the submission set (RegistryPackage: submissionTime, author, intendedRecipient) and
the document entries (ExtrinsicObject: URI, size, hash, creationTime, title, typeCode,
author). Values are kept as written; `xdm` checks them against the archive.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.attachments.codes import Code
from gateway.attachments.errors import XdmError
from gateway.attachments.parties import Party, PartyId, party_id
from gateway.attachments.xml_reader import Element, local_name, namespace

LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
_NS = {"rim": RIM}
# XDS classification schemes and nodes (ITI TF-3 Table 4.2.5-1).
TYPE_CODE_SCHEME = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
CLASS_CODE_SCHEME = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
FORMAT_CODE_SCHEME = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
DOCUMENT_AUTHOR_SCHEME = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
SUBMISSION_AUTHOR_SCHEME = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
STABLE_DOCUMENT_ENTRY = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
DOCUMENT_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DOCUMENT_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
SUBMISSION_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SUBMISSION_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SUBMISSION_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"


@dataclass(frozen=True, slots=True)
class EntryMetadata:
    uri: str
    mime_type: str
    size: str
    hash: str
    title: str
    creation_time: str
    type_code: Code | None
    author: str
    patient_ids: tuple[PartyId, ...]


@dataclass(frozen=True, slots=True)
class SubmissionMetadata:
    submission_time: str
    author: str
    recipients: tuple[Party, ...]
    entries: tuple[EntryMetadata, ...]
    patient_ids: tuple[PartyId, ...]


def read_metadata(root: Element) -> SubmissionMetadata:
    if namespace(root) != LCM or local_name(root) != "SubmitObjectsRequest":
        raise XdmError("METADATA.XML is not an ebRIM 3.0 SubmitObjectsRequest")
    objects = root.find("rim:RegistryObjectList", _NS)
    if objects is None:
        raise XdmError("METADATA.XML has no RegistryObjectList")
    package = _submission_set(objects)
    entries = tuple(_entry(e) for e in objects.iterfind("rim:ExtrinsicObject", _NS))
    if not entries:
        raise XdmError("METADATA.XML lists no document entry")
    slots = _slots(package)
    return SubmissionMetadata(
        submission_time=_one(slots, "submissionTime"),
        author=_author(package, SUBMISSION_AUTHOR_SCHEME),
        recipients=tuple(recipient(v) for v in slots.get("intendedRecipient", []) if v),
        entries=entries,
        patient_ids=_external_ids(package, SUBMISSION_PATIENT_ID),
    )


def _submission_set(objects: Element) -> Element:
    packages = list(objects.iterfind("rim:RegistryPackage", _NS))
    if not packages:
        raise XdmError("METADATA.XML has no submission set (RegistryPackage)")
    marked = {
        c.get("classifiedObject")
        for c in objects.iter(f"{{{RIM}}}Classification")
        if c.get("classificationNode") == SUBMISSION_SET_NODE
    }
    return next((p for p in packages if p.get("id") in marked), packages[0])


def _entry(element: Element) -> EntryMetadata:
    slots = _slots(element)
    uri = _one(slots, "URI")
    if not uri:
        raise XdmError(f"document entry {element.get('id', '?')!r} has no URI slot")
    for name in ("size", "hash"):
        if not _one(slots, name):
            raise XdmError(f"document entry {uri!r} has no {name} slot")
    return EntryMetadata(
        uri=uri,
        mime_type=element.get("mimeType", ""),
        size=_one(slots, "size"),
        hash=_one(slots, "hash"),
        title=_localized(element.find("rim:Name", _NS)),
        creation_time=_one(slots, "creationTime"),
        type_code=_type_code(element),
        author=_author(element, DOCUMENT_AUTHOR_SCHEME),
        patient_ids=_external_ids(element, DOCUMENT_PATIENT_ID),
    )


def _type_code(element: Element) -> Code | None:
    for c in element.iterfind("rim:Classification", _NS):
        if c.get("classificationScheme") == TYPE_CODE_SCHEME and c.get("nodeRepresentation"):
            scheme = _one(_slots(c), "codingScheme")
            return Code(c.get("nodeRepresentation"), scheme, _localized(c.find("rim:Name", _NS)))
    return None


def _author(element: Element, scheme: str) -> str:
    for c in element.iterfind("rim:Classification", _NS):
        if c.get("classificationScheme") == scheme:
            slots = _slots(c)
            person = _one(slots, "authorPerson")
            if person:
                comps = person.split("^")
                name = " ".join(x for x in (_at(comps, 6), _at(comps, 3), _at(comps, 2)) if x)
                return name or _at(comps, 1)
            return _one(slots, "authorInstitution").split("^")[0]
    return ""


def _external_ids(element: Element, scheme: str) -> tuple[PartyId, ...]:
    found = []
    for e in element.iterfind("rim:ExternalIdentifier", _NS):
        if e.get("identificationScheme") == scheme and e.get("value"):
            comps = e.get("value").split("^")
            authority = _at(comps, 4).split("&")
            found.append(party_id(_at(authority, 2), _at(comps, 1), type_code=_at(comps, 5)))
    return tuple(found)


def recipient(value: str) -> Party:
    """An intendedRecipient value, `XON|XCN|XTN` (ITI TF-3 §4.2.3.3.11)."""
    parts = [*value.split("|"), "", ""][:3]
    org, person, telecom = (p.split("^") for p in parts)
    ids: list[PartyId] = []
    if _at(person, 1):
        authority = _at(person, 9).split("&")
        ids.append(
            party_id(
                _at(authority, 2), _at(person, 1), namespace=authority[0], type_code=_at(person, 13)
            )
        )
    org_id = _at(org, 10) or _at(org, 3)
    if org_id:
        authority = _at(org, 6).split("&")
        ids.append(party_id(_at(authority, 2), org_id, namespace=authority[0]))
    address = _at(telecom, 4).strip().lower() or None
    name = " ".join(x for x in (_at(person, 6), _at(person, 3), _at(person, 2)) if x)
    return Party(
        "intendedRecipient",
        tuple(ids),
        name or _at(org, 1),
        address if address and "@" in address else None,
    )


def _slots(element: Element) -> dict[str, list[str]]:
    slots: dict[str, list[str]] = {}
    for slot in element.iterfind("rim:Slot", _NS):
        values = [(v.text or "").strip() for v in slot.iterfind("rim:ValueList/rim:Value", _NS)]
        slots.setdefault(slot.get("name", ""), []).extend(values)
    return slots


def _one(slots: dict[str, list[str]], name: str) -> str:
    values = slots.get(name, [])
    return values[0] if values else ""


def _localized(name: Element | None) -> str:
    if name is None:
        return ""
    string = name.find("rim:LocalizedString", _NS)
    return "" if string is None else str(string.get("value", ""))


def _at(items: list[str], position: int) -> str:
    return items[position - 1] if 0 < position <= len(items) else ""
