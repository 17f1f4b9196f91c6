"""Package a message's structured documents for mail clients, and build integration MDNs.

`package` (DESIGN section 6, issue 7 item 3): bare CDA and HL7 attachments are wrapped
into one IHE_XDM.ZIP (HL7 messages with their OBX-5 embedded documents beside them), the
message gets a readable text/plain summary and `X-MSS-*` headers (document codes, number
of documents, presence of a patient national id: never the id itself, since headers stay
outside the encryption). Headers of that family arriving from the sender are removed so
they cannot be forged. Returns the new message bytes with CRLF line ends.

`build_integration_mdn` (issue 7 item 4): an RFC 8098 MDN, `processed` or
`processed/error` with the integration code and label (MSSanté 90x, HL7 1xx/2xx) for the
applicative sender that asked for one. Pure builders: the SMTP side sends.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import quopri
import uuid
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage, Message, MIMEPart

from gateway.attachments.detect import Kind
from gateway.attachments.errors import APPLICATION_OTHER_ERROR
from gateway.attachments.parties import Party
from gateway.attachments.summary import summary_text
from gateway.attachments.xdm_writer import PackagedDocument, oid_from_text, write_package
from gateway.documents import Document, DocumentError, DocumentReport
from gateway.routing import ConsistencyRefused, RoutingRefused

XDM_FILENAME = "IHE_XDM.ZIP"
HEADER_CODES = "X-MSS-CODECDA"
HEADER_COUNT = "X-MSS-DOCUMENTS"
HEADER_PATIENT_ID = "X-MSS-PATIENT-NATIONAL-ID"
_SUFFIXES = {"text/xml": "XML", "application/pdf": "PDF", "application/hl7-v2": "HL7"}


def package(message: Message, report: DocumentReport, *, domain: str, now: datetime) -> bytes:
    """The message with bare documents wrapped into IHE_XDM.ZIP, a summary and X-MSS headers."""
    raw = message.as_bytes(policy=email.policy.SMTP)
    copy = email.message_from_bytes(raw, EmailMessage, policy=email.policy.default)
    for name in {k for k in copy if k.upper().startswith("X-MSS-")}:
        del copy[name]
    if not report.documents:
        return copy.as_bytes(policy=email.policy.SMTP)
    bare = [d for d in report.documents if d.kind in (Kind.CDA, Kind.HL7V2)]
    files, homes = _packaged_documents(bare)
    indexes = {d.part_index for d in bare}
    if 0 in indexes:
        copy.clear_content()  # the whole message was one bare document
    else:
        _remove_parts(copy, indexes)
    if copy.get_content_type() != "multipart/mixed":
        copy.make_mixed()
    children = list(copy.iter_parts())
    at = 1 if children and _is_body(children[0]) else 0
    summary = MIMEPart()
    summary.set_content(summary_text(report.documents, homes), disposition="inline")
    parts: list[Message | str] = [*children[:at], summary, *children[at:]]
    if files:
        zipped = write_package(
            files,
            recipients=_unique_parties(bare),
            author=bare[0].author,
            source_oid=oid_from_text(domain),
            submitted_at=now,
        )
        archive = MIMEPart()
        archive.set_content(zipped, maintype="application", subtype="zip", filename=XDM_FILENAME)
        parts.append(archive)
    copy.set_payload(parts)
    _set_headers(copy, report)
    return copy.as_bytes(policy=email.policy.SMTP)


def _packaged_documents(bare: Sequence[Document]) -> tuple[list[PackagedDocument], dict[str, str]]:
    """The files of the package and, per attachment, where its content now lives."""
    files: list[PackagedDocument] = []
    homes: dict[str, str] = {}
    for doc in bare:
        first = len(files)
        if doc.kind is Kind.HL7V2:
            code = doc.codes[0] if doc.codes else None
            files.append(
                PackagedDocument(
                    name=_file_name(len(files) + 1, doc.media_type),
                    content=doc.content,
                    media_type=doc.media_type,
                    title=f"{doc.message_type} {doc.title}".strip(),
                    code=code,
                    creation_time=doc.date,
                    author=doc.author,
                    unique_id="",
                )
            )
        for clinical in doc.clinical:
            files.append(
                PackagedDocument(
                    name=_file_name(len(files) + 1, clinical.media_type),
                    content=clinical.content,
                    media_type=clinical.media_type,
                    title=clinical.title,
                    code=clinical.code,
                    creation_time=clinical.date,
                    author=clinical.author,
                    unique_id=clinical.unique_id,
                    patient_cx=clinical.patient_cx,
                )
            )
        names = ", ".join(f.name for f in files[first:])
        homes[doc.filename] = f"{XDM_FILENAME} ({names})"
    return files, homes


def _file_name(number: int, media_type: str) -> str:
    return f"DOC{number:04d}.{_SUFFIXES.get(media_type, 'BIN')}"


def _unique_parties(documents: Sequence[Document]) -> list[Party]:
    seen: dict[str, Party] = {}
    for doc in documents:
        for party in doc.recipients:
            seen.setdefault(party.label(), party)
    return list(seen.values())


def _remove_parts(root: Message, indexes: set[int]) -> None:
    """Remove the parts at `indexes` (the depth-first numbering of `documents.walk_parts`)."""
    stack: list[tuple[Message, Message | None]] = [(root, None)]
    index = -1
    while stack:
        part, parent = stack.pop()
        index += 1
        if index in indexes and parent is not None:
            parent.set_payload([c for c in parent.get_payload() if c is not part])
        if part.is_multipart() and part.get_content_maintype() == "multipart":
            children = [c for c in part.get_payload() if isinstance(c, Message)]
            stack.extend((child, part) for child in reversed(children))


def _is_body(part: Message) -> bool:
    disposition = part.get_content_disposition() or "inline"
    return disposition == "inline" and part.get_content_maintype() in ("text", "multipart")


def _set_headers(message: Message, report: DocumentReport) -> None:
    for code in report.codes:
        message[HEADER_CODES] = f"{code.code}^{code.system_name}" if code.system else code.code
    message[HEADER_COUNT] = str(len(report.documents))
    message[HEADER_PATIENT_ID] = "present" if report.patient_id_present else "absent"


# MSSanté applicationErrorCondition labels and HL7 table 0357 messageErrorCondition labels,
# as the integration guide lists them (codes carried by MDNs and ACK ERR segments).
INTEGRATION_LABELS = {
    100: "Segment sequence error",
    101: "Required field missing",
    102: "Data type error",
    199: "Other HL7 Error",
    200: "Unsupported message type",
    203: "Unsupported version",
    900: "Version du document incorrecte",
    901: "Auteur non autorisé à remplacer ou supprimer un document",
    902: "Identifiant patient inconnu",
    903: "INS non présent dans le document",
    906: "Erreur 'Autre'",
}


def integration_error(
    error: DocumentError | RoutingRefused | ConsistencyRefused,
) -> tuple[int, str]:
    """The (code, text) an MDN carries for a refusal: the document's code, else 906 "Autre"."""
    if isinstance(error, DocumentError):
        return error.code, error.text
    return APPLICATION_OTHER_ERROR, str(error)


def mdn_recipient(message: Message, envelope_sender: str) -> str | None:
    """Where to send an automatic MDN, if one was asked for (RFC 8098 §2.1, §3.2 MDN loops).

    Only when Disposition-Notification-To names the envelope sender: an MDN to another
    address needs a person's consent, which an automatic gateway cannot give.
    """
    asked = email.utils.getaddresses(
        [str(v) for v in message.get_all("Disposition-Notification-To", [])]
    )
    wanted = {addr.lower() for _, addr in asked if addr}
    sender = envelope_sender.strip().lower()
    return sender if sender and sender in wanted else None


def build_integration_mdn(
    original: Message,
    *,
    from_address: str,
    to_address: str,
    final_recipient: str,
    reporting_ua: str,
    now: datetime,
    error_code: int | None = None,
    error_text: str = "",
) -> bytes:
    """An RFC 8098 multipart/report MDN: `processed`, or `processed/error` with the code.

    The error travels as `code^label` in the Error field (RFC 8098 §3.2.7) and in the
    human-readable part; the subject follows the MSSanté integration guide
    ("[KO Intégration système !][code] <original subject>").
    """
    original_id = _one_line(original.get("Message-ID", ""))
    subject = _one_line(original.get("Subject", ""))
    final_recipient = _one_line(final_recipient)
    domain = from_address.rpartition("@")[2] or "localhost"
    subject, human, disposition, label = _mdn_texts(original_id, subject, error_code, error_text)
    report = EmailMessage()
    report["From"] = from_address
    report["To"] = to_address
    report["Subject"] = subject
    report["Date"] = email.utils.format_datetime(now)
    report["Message-ID"] = email.utils.make_msgid(domain=domain)
    report["Auto-Submitted"] = "auto-replied"  # RFC 3834 §5
    if original_id:
        report["In-Reply-To"] = original_id
        report["References"] = original_id
    fields = [
        f"Reporting-UA: {reporting_ua}; Salus",
        f"Final-Recipient: rfc822;{final_recipient}",
        *([f"Original-Message-ID: {original_id}"] if original_id else []),
        f"Disposition: {disposition}",
        *([f"Error: {error_code}^{label}"] if error_code is not None else []),
    ]
    return _multipart_report(report, human, "\r\n".join(fields) + "\r\n", _header_block(original))


def _mdn_texts(
    original_id: str, subject: str, error_code: int | None, error_text: str
) -> tuple[str, str, str, str]:
    """Subject, human-readable text, disposition and error label of an MDN."""
    label = INTEGRATION_LABELS.get(error_code or 0, INTEGRATION_LABELS[APPLICATION_OTHER_ERROR])
    if error_code is None:
        human = (
            f"The message {original_id} was processed: its documents were recognised and routed."
        )
        return subject, human, "automatic-action/MDN-sent-automatically; processed", label
    human = (
        f"The message {original_id} could not be integrated automatically.\n"
        f"Error {error_code}: {label}.\n{error_text}"
    ).rstrip()
    subject = f"[KO Intégration système !][{error_code}] {subject}"
    return subject, human, "automatic-action/MDN-sent-automatically; processed/error", label


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def _header_block(original: Message) -> str:
    raw = original.as_bytes(policy=email.policy.SMTP)
    return raw.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace") + "\r\n"


def _multipart_report(head: EmailMessage, human: str, fields: str, headers: str) -> bytes:
    """RFC 6522 multipart/report with the RFC 8098 parts, written out with CRLF."""
    boundary = f"=_salus_mdn_{uuid.uuid4().hex}"
    header_block = head.as_bytes(policy=email.policy.SMTP).split(b"\r\n\r\n", 1)[0]
    mime = (
        "MIME-Version: 1.0\r\nContent-Type: multipart/report;"
        f' report-type=disposition-notification;\r\n boundary="{boundary}"\r\n'
    )
    text = quopri.encodestring(human.encode("utf-8")).decode("ascii").replace("\n", "\r\n")
    body = (
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: quoted-printable\r\n\r\n{text}\r\n"
        f"--{boundary}\r\nContent-Type: message/disposition-notification\r\n\r\n{fields}"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n{headers}"
        f"--{boundary}--\r\n"
    )
    return header_block + b"\r\n" + mime.encode("ascii") + b"\r\n" + body.encode("ascii", "replace")
