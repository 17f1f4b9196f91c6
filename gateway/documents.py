"""Find, recognise and validate the structured documents of a message (DESIGN section 6).

`inspect` walks the MIME tree under depth and part limits, recognises each leaf from its
content and declared type (`attachments.detect`), validates it with its parser, and
returns a `DocumentReport`: per attachment its kind, codes, title, date, author, the
recipients it names (national ids) and whether a patient national id (INS) is present.
The first invalid document stops the walk with a `DocumentError` that renders the SMTP
refusal `550 5.6.0 <file>: <fault>`. Pure: no I/O; parsing is CPU work, so callers on the
event loop run `inspect` in an executor for large messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage, Message

from config.settings import SmtpSettings
from gateway.attachments import cda, hl7v2, xdm
from gateway.attachments.codes import Code
from gateway.attachments.detect import Kind, detect
from gateway.attachments.errors import APPLICATION_OTHER_ERROR, AttachmentError, CdaError
from gateway.attachments.hl7v2_grammar import Hl7Limits
from gateway.attachments.parties import Party
from gateway.attachments.xml_reader import XmlLimits, parse_xml
from gateway.attachments.zip_reader import ZipLimits

_UNSAFE_REPLY = re.compile(r"[^\x20-\x7e]")
# Message bodies (no file name): XML is recognised in them only when it parses.
_TEXT_BODIES = frozenset({"text/plain", "text/html"})
_MAX_REPLY = 400


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    max_depth: int = 20
    max_parts: int = 500
    hl7: Hl7Limits = field(default_factory=Hl7Limits)
    xml: XmlLimits = field(default_factory=XmlLimits)
    zip: ZipLimits = field(default_factory=ZipLimits)

    @classmethod
    def from_settings(cls, smtp: SmtpSettings) -> DocumentLimits:
        size = smtp.max_message_size
        return cls(
            max_depth=smtp.max_mime_depth,
            max_parts=smtp.max_mime_parts,
            hl7=Hl7Limits(max_bytes=size),
            xml=XmlLimits(max_bytes=size),
            zip=ZipLimits(max_bytes=size, max_entry_bytes=4 * size, max_total_bytes=4 * size),
        )


class DocumentError(Exception):
    """An attachment is refused; renders `550 5.6.0 <file>: <fault>` (RFC 3463 X.6.0)."""

    smtp_code = 550
    status = "5.6.0"

    def __init__(self, filename: str, fault: str, *, code: int = APPLICATION_OTHER_ERROR) -> None:
        self.filename = filename
        self.fault = fault
        self.code = code  # integration error code for an MDN (HL7 1xx/2xx, MSSanté 90x)
        super().__init__(f"{filename}: {fault}")

    @property
    def text(self) -> str:
        """The reply text: printable ASCII only, one line, bounded (the name is the sender's)."""
        return _UNSAFE_REPLY.sub("?", f"{self.filename}: {self.fault}")[:_MAX_REPLY]

    def reply(self) -> str:
        return f"{self.smtp_code} {self.status} {self.text}"


@dataclass(frozen=True, slots=True)
class ClinicalDocument:
    """One clinical document: a CDA, a document embedded in HL7, or an XDM entry."""

    name: str  # where it came from ("lab.hl7 OBX 1", "IHE_XDM/SUBSET01/TOC.XML")
    media_type: str
    content: bytes
    code: Code | None
    title: str
    date: str  # HL7 TS as written
    author: str
    unique_id: str = ""
    patient_cx: str = ""
    patient_id_present: bool = False


@dataclass(frozen=True, slots=True)
class Document:
    """One structured attachment of the message."""

    filename: str
    kind: Kind
    part_index: int  # position of the MIME part in depth-first order (root = 0)
    media_type: str
    content: bytes
    codes: tuple[Code, ...]
    title: str
    date: str
    author: str
    recipients: tuple[Party, ...]
    patient_id_present: bool
    message_type: str = ""  # HL7 MSH-9 ("ORU^R01")
    clinical: tuple[ClinicalDocument, ...] = ()

    @property
    def national_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.national_id for p in self.recipients if p.national_id))


@dataclass(frozen=True, slots=True)
class DocumentReport:
    documents: tuple[Document, ...] = ()

    @property
    def recipients(self) -> tuple[Party, ...]:
        return tuple(p for d in self.documents for p in d.recipients)

    @property
    def patient_id_present(self) -> bool:
        return any(d.patient_id_present for d in self.documents)

    @property
    def codes(self) -> tuple[Code, ...]:
        unique: dict[str, Code] = {}
        for document in self.documents:
            for code in document.codes:
                unique.setdefault(code.code, code)
        return tuple(unique.values())


def inspect(message: EmailMessage | Message, limits: DocumentLimits) -> DocumentReport:
    """Recognise and validate every structured attachment; raise DocumentError on the first fault."""
    documents = []
    for index, part in walk_parts(message, limits):
        document = _inspect_part(index, part, limits)
        if document is not None:
            documents.append(document)
    return DocumentReport(tuple(documents))


def walk_parts(message: Message, limits: DocumentLimits) -> Iterator[tuple[int, Message]]:
    """Leaf parts in depth-first order with their index; forwarded messages are not entered."""
    stack: list[tuple[Message, int]] = [(message, 0)]
    index = -1
    while stack:
        part, depth = stack.pop()
        index += 1
        if index >= limits.max_parts:
            raise DocumentError("message", f"more than {limits.max_parts} MIME parts")
        if depth > limits.max_depth:
            raise DocumentError("message", f"MIME nesting deeper than {limits.max_depth} levels")
        if part.is_multipart() and part.get_content_maintype() == "multipart":
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend((c, depth + 1) for c in reversed(children) if isinstance(c, Message))
            continue
        if part.get_content_type() != "message/rfc822":
            yield index, part


def declared_filename(part: Message) -> str:
    try:
        return part.get_filename() or ""
    except (ValueError, LookupError):  # malformed RFC 2231 parameters
        return ""


def _inspect_part(index: int, part: Message, limits: DocumentLimits) -> Document | None:
    declared = declared_filename(part)
    filename = declared or f"part {index}"
    payload = part.get_payload(decode=True)
    content = payload if isinstance(payload, bytes) else b""
    try:
        kind = detect(content, part.get_content_type(), declared, limits.zip)
        if kind is Kind.HL7V2:
            return _hl7_document(filename, index, content, limits)
        if kind is Kind.CDA:
            text_body = not declared and part.get_content_type() in _TEXT_BODIES
            return _cda_document(filename, index, content, limits, text_body=text_body)
        if kind is Kind.XDM:
            return _xdm_document(filename, index, content, limits)
    except AttachmentError as exc:
        raise DocumentError(filename, exc.fault, code=exc.code) from None
    return None


def _cda_document(
    filename: str, index: int, content: bytes, limits: DocumentLimits, *, text_body: bool
) -> Document | None:
    try:
        root = parse_xml(content, limits.xml, CdaError)
    except CdaError:
        if text_body:  # an HTML body or a note that opens with "<": text, not a document
            return None
        raise
    if not cda.looks_clinical(root):
        return None  # XML that is not meant as HL7 v3 content: an ordinary attachment
    doc = cda.from_root(root)
    clinical = _clinical_from_cda(filename, "text/xml", content, doc)
    return Document(
        filename=filename,
        kind=Kind.CDA,
        part_index=index,
        media_type="text/xml",
        content=content,
        codes=(doc.code,) if doc.code.code else (),
        title=doc.title,
        date=doc.effective_time,
        author=doc.author,
        recipients=doc.recipients,
        patient_id_present=doc.patient_id_present,
        clinical=(clinical,),
    )


def _hl7_document(filename: str, index: int, content: bytes, limits: DocumentLimits) -> Document:
    message = hl7v2.read(content, limits.hl7)
    clinical = _hl7_clinical(filename, message, limits)
    first = clinical[0] if clinical else None
    codes = message.codes + tuple(
        c.code for c in clinical if c.code and c.code not in message.codes
    )
    sender = message.sender.name if message.sender else ""
    return Document(
        filename=filename,
        kind=Kind.HL7V2,
        part_index=index,
        media_type="application/hl7-v2",
        content=content,
        codes=codes,
        title=first.title
        if first
        else (message.codes[0].display if message.codes else message.message_type),
        date=first.date if first else message.sent_at,
        author=(first.author if first else "") or sender,
        recipients=message.recipients,
        patient_id_present=message.patient_id_present
        or any(c.patient_id_present for c in clinical),
        message_type=message.message_type,
        clinical=tuple(clinical),
    )


def _hl7_clinical(
    filename: str, message: hl7v2.Hl7Document, limits: DocumentLimits
) -> list[ClinicalDocument]:
    """The documents an HL7 message embeds in OBX-5, XML ones validated as CDA."""
    clinical: list[ClinicalDocument] = []
    for embedded in message.embedded:
        name = f"{filename} OBX {embedded.obx}"
        if embedded.media_type != "text/xml":
            clinical.append(
                ClinicalDocument(
                    name,
                    embedded.media_type,
                    embedded.content,
                    embedded.code,
                    embedded.code.display,
                    message.sent_at,
                    message.sender.name if message.sender else "",
                )
            )
            continue
        try:
            doc = cda.read(embedded.content, limits.xml)
        except CdaError as exc:
            raise CdaError(f"OBX {embedded.obx} embedded CDA: {exc.fault}", code=exc.code) from None
        clinical.append(_clinical_from_cda(name, "text/xml", embedded.content, doc))
    return clinical


def _xdm_document(filename: str, index: int, content: bytes, limits: DocumentLimits) -> Document:
    package = xdm.read(content, xdm.XdmLimits(zip=limits.zip, xml=limits.xml))
    clinical = []
    for entry in package.entries:
        if entry.cda is not None:
            clinical.append(
                _clinical_from_cda(entry.path, entry.mime_type, entry.content, entry.cda)
            )
        else:
            clinical.append(
                ClinicalDocument(
                    entry.path,
                    entry.mime_type,
                    entry.content,
                    entry.type_code,
                    entry.title,
                    entry.creation_time,
                    entry.author,
                )
            )
    codes: dict[str, Code] = {}
    for c in clinical:
        if c.code is not None:
            codes.setdefault(c.code.code, c.code)
    first = clinical[0]
    return Document(
        filename=filename,
        kind=Kind.XDM,
        part_index=index,
        media_type="application/zip",
        content=content,
        codes=tuple(codes.values()),
        title=first.title,
        date=first.date,
        author=first.author or package.submissions[0].author,
        recipients=package.recipients,
        patient_id_present=package.patient_id_present,
        clinical=tuple(clinical),
    )


def _clinical_from_cda(
    name: str, media_type: str, content: bytes, doc: cda.CdaDocument
) -> ClinicalDocument:
    return ClinicalDocument(
        name=name,
        media_type=media_type,
        content=content,
        code=doc.code if doc.code.code else None,
        title=doc.title,
        date=doc.effective_time,
        author=doc.author,
        unique_id=doc.document_id,
        patient_cx=doc.patient_cx,
        patient_id_present=doc.patient_id_present,
    )
