"""Write an IHE XDM package (ITI-32, ITI TF-1 §16, TF-3 §4.2.3): what MSSanté calls IHE_XDM.ZIP.

Layout: README.TXT, INDEX.HTM (XHTML), `IHE_XDM/SUBSET01/METADATA.XML` and the documents in
`IHE_XDM/SUBSET01/`. METADATA.XML is an ebRIM 3.0 SubmitObjectsRequest with one submission
set (submissionTime, author, intendedRecipient slots, uniqueId, sourceId) and one stable
document entry per document (URI, size, SHA-1 hash, creationTime, title, typeCode, author,
uniqueId, patientId when the document carries one). Pure: bytes in, bytes out.
"""

from __future__ import annotations

import hashlib
import html
import io
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from lxml import etree
from lxml.builder import ElementMaker

from gateway.attachments.codes import Code
from gateway.attachments.parties import PRACTITIONER_OID, STRUCTURE_OID, Party
from gateway.attachments.xdm_metadata import (
    DOCUMENT_AUTHOR_SCHEME,
    DOCUMENT_PATIENT_ID,
    DOCUMENT_UNIQUE_ID,
    LCM,
    RIM,
    STABLE_DOCUMENT_ENTRY,
    SUBMISSION_AUTHOR_SCHEME,
    SUBMISSION_SET_NODE,
    SUBMISSION_SOURCE_ID,
    SUBMISSION_UNIQUE_ID,
    TYPE_CODE_SCHEME,
)
from gateway.attachments.xml_reader import Element

SUBSET = "IHE_XDM/SUBSET01/"
_CLASSIFICATION = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"
_HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
_APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
_R = ElementMaker(namespace=RIM, nsmap={None: RIM})


@dataclass(frozen=True, slots=True)
class PackagedDocument:
    name: str  # entry name inside SUBSET01 ("DOC0001.XML")
    content: bytes
    media_type: str  # "text/xml", "application/pdf", "application/hl7-v2"
    title: str
    code: Code | None
    creation_time: str  # HL7 TS
    author: str
    unique_id: str  # document id (root^extension), or a generated OID
    patient_cx: str = ""  # "id^^^&oid&ISO" when the document carries one


def oid_from_text(text: str) -> str:
    """A stable OID under 2.25 (ITU-T X.667, UUID-based) for a name such as a domain."""
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_DNS, text).int}"


def write_package(
    documents: Sequence[PackagedDocument],
    *,
    recipients: Sequence[Party],
    author: str,
    source_oid: str,
    submitted_at: datetime,
) -> bytes:
    """The zip bytes of one XDM package holding `documents`."""
    submission_id = f"2.25.{uuid.uuid4().int}"
    metadata = _metadata(
        documents,
        recipients,
        author=author,
        source_oid=source_oid,
        submission_id=submission_id,
        submitted_at=submitted_at,
    )
    files = [
        ("README.TXT", _readme(documents, submitted_at)),
        ("INDEX.HTM", _index(documents)),
        (SUBSET + "METADATA.XML", metadata),
        *((SUBSET + d.name, d.content) for d in documents),
    ]
    stamp = submitted_at.timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files:
            archive.writestr(
                zipfile.ZipInfo(name, date_time=stamp), content, compress_type=zipfile.ZIP_DEFLATED
            )
    return buffer.getvalue()


def _metadata(
    documents: Sequence[PackagedDocument],
    recipients: Sequence[Party],
    *,
    author: str,
    source_oid: str,
    submission_id: str,
    submitted_at: datetime,
) -> bytes:
    set_id = "SubmissionSet01"
    entry_ids = [f"Document{n:02d}" for n in range(1, len(documents) + 1)]
    values = [v for v in (_recipient_value(r) for r in recipients if not r.is_patient) if v]
    slots = [_slot("submissionTime", submitted_at.strftime("%Y%m%d%H%M%S"))]
    if values:
        slots.append(_slot("intendedRecipient", *values))
    package = _submission_set(set_id, slots, author, source_oid, submission_id)
    node = _R.Classification(
        id="set-node",
        classifiedObject=set_id,
        classificationNode=SUBMISSION_SET_NODE,
        objectType=_CLASSIFICATION,
    )
    members = [
        _R.Association(
            _slot("SubmissionSetStatus", "Original"),
            id=f"member-{entry_id}",
            associationType=_HAS_MEMBER,
            sourceObject=set_id,
            targetObject=entry_id,
        )
        for entry_id in entry_ids
    ]
    entries = [_entry(i, d) for i, d in zip(entry_ids, documents, strict=True)]
    root = etree.Element(f"{{{LCM}}}SubmitObjectsRequest", nsmap={None: LCM})
    root.append(_R.RegistryObjectList(*entries, package, node, *members))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _submission_set(
    set_id: str, slots: list[Element], author: str, source_oid: str, submission_id: str
) -> Element:
    author_slot = _slot("authorPerson", author or "Salus")
    return _R.RegistryPackage(
        *slots,
        _R.Name(_R.LocalizedString(value="Submission Set")),
        _classification("set-author", SUBMISSION_AUTHOR_SCHEME, set_id, "", author_slot),
        _external(
            "set-source", set_id, SUBMISSION_SOURCE_ID, source_oid, "XDSSubmissionSet.sourceId"
        ),
        _external(
            "set-unique", set_id, SUBMISSION_UNIQUE_ID, submission_id, "XDSSubmissionSet.uniqueId"
        ),
        id=set_id,
    )


def _entry(entry_id: str, d: PackagedDocument) -> Element:
    parts = [
        _slot("URI", d.name),
        _slot("size", str(len(d.content))),
        _slot("hash", hashlib.sha1(d.content, usedforsecurity=False).hexdigest()),
    ]
    if d.creation_time:
        parts.append(_slot("creationTime", d.creation_time))
    parts.append(_R.Name(_R.LocalizedString(value=d.title or d.name)))
    parts += _entry_classifications(entry_id, d)
    return _R.ExtrinsicObject(
        *parts,
        id=entry_id,
        mimeType=d.media_type,
        objectType=STABLE_DOCUMENT_ENTRY,
        status=_APPROVED,
    )


def _entry_classifications(entry_id: str, d: PackagedDocument) -> list[Element]:
    """Author and typeCode classifications, patientId and uniqueId external identifiers."""
    author = _slot("authorPerson", d.author or "unknown")
    parts = [_classification(f"{entry_id}-author", DOCUMENT_AUTHOR_SCHEME, entry_id, "", author)]
    if d.code is not None:
        name = _R.Name(_R.LocalizedString(value=d.code.display or d.code.code))
        scheme = _slot("codingScheme", d.code.system)
        parts.append(
            _classification(
                f"{entry_id}-type", TYPE_CODE_SCHEME, entry_id, d.code.code, scheme, name
            )
        )
    if d.patient_cx:
        label = "XDSDocumentEntry.patientId"
        parts.append(
            _external(f"{entry_id}-patient", entry_id, DOCUMENT_PATIENT_ID, d.patient_cx, label)
        )
    unique = d.unique_id or f"2.25.{uuid.uuid4().int}"
    label = "XDSDocumentEntry.uniqueId"
    parts.append(_external(f"{entry_id}-unique", entry_id, DOCUMENT_UNIQUE_ID, unique, label))
    return parts


def _slot(name: str, *values: str) -> Element:
    return _R.Slot(_R.ValueList(*(_R.Value(v) for v in values)), name=name)


def _classification(cid: str, scheme: str, target: str, node: str, *children: Element) -> Element:
    return _R.Classification(
        *children,
        id=cid,
        classificationScheme=scheme,
        classifiedObject=target,
        nodeRepresentation=node,
        objectType=_CLASSIFICATION,
    )


def _external(eid: str, target: str, scheme: str, value: str, label: str) -> Element:
    return _R.ExternalIdentifier(
        _R.Name(_R.LocalizedString(value=label)),
        id=eid,
        registryObject=target,
        identificationScheme=scheme,
        value=value,
    )


def _recipient_value(party: Party) -> str:
    """`XON|XCN|XTN` (ITI TF-3 §4.2.3.3.11) with the national ids by OID; "" if nothing to say."""
    person, org = party.national_id, party.structure_id
    xcn = f"{person}^^^^^^^^&{PRACTITIONER_OID}&ISO" if person else ""
    xon = f"{'' if person else party.name}^^^^^&{STRUCTURE_OID}&ISO^^^^{org}" if org else ""
    xtn = f"^^Internet^{party.address}" if party.address else ""
    return f"{xon}|{xcn}|{xtn}".rstrip("|") if xcn or xon or xtn else ""


def _readme(documents: Sequence[PackagedDocument], submitted_at: datetime) -> bytes:
    lines = [
        "README.TXT",
        "",
        "IHE XDM package (ITI-32) assembled by Salus secure health messaging",
        f"on {submitted_at.strftime('%Y-%m-%d %H:%M %Z').strip()}.",
        "",
        "README.TXT                - this file",
        "INDEX.HTM                 - table of contents for a web browser",
        f"{SUBSET}METADATA.XML - XDS metadata (ebRIM SubmitObjectsRequest)",
        *(f"{SUBSET}{d.name:<13} - {d.title or d.media_type}" for d in documents),
        "",
    ]
    return "\r\n".join(lines).encode("utf-8")


def _index(documents: Sequence[PackagedDocument]) -> bytes:
    items = "\n".join(
        f'<li><a href="{SUBSET}{html.escape(d.name)}">{html.escape(d.title or d.name)}</a>'
        f" ({html.escape(str(d.code) if d.code else d.media_type)})</li>"
        for d in documents
    )
    page = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml">\n<head><title>IHE XDM package</title></head>\n'
        f"<body>\n<h1>Documents</h1>\n<ul>\n{items}\n</ul>\n"
        f'<p><a href="README.TXT">README.TXT</a> - <a href="{SUBSET}METADATA.XML">METADATA.XML</a></p>\n'
        "</body>\n</html>\n"
    )
    return page.encode("utf-8")
