"""Message disposition notifications (RFC 8098) on delivery, and reading the reports
(MDNs and DSNs, RFC 3464) that come back, so they can be tied to the original message.

- `wanted`: does a delivered message ask for an MDN we may send automatically? Only when
  `Disposition-Notification-To` names the envelope sender (RFC 8098 §2.1, the rule of
  `gateway.packaging.mdn_recipient`), never for a report or an automatic message (RFC
  3834 §2, RFC 8098 §3.2: no MDN loops).
- `processed`: the `processed` MDN itself, a multipart/report framed like the
  integration MDNs of `gateway.packaging` (which this module reuses);
- `read_report`: what an incoming report says about which message and recipient.

Pure: headers in, bytes or values out. Sending and correlating is the mailserver's.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from email.policy import compat32

from gateway import packaging

REPORTING_UA = "Salus"
_AUTOMATIC = ("auto-generated", "auto-replied", "auto-notified")


_HEADER_SEARCH = 1024 * 1024  # past any header section the listeners accept
_ASKED = b"disposition-notification-to"


def headers_of(message: bytes) -> Message:
    """The header block of `message`, parsed (the body is not read: the parser would
    still decode and copy all of it, for every message delivered)."""
    limit = min(len(message), _HEADER_SEARCH)
    ends = [
        i for i in (message.find(b"\r\n\r\n", 0, limit), message.find(b"\n\n", 0, limit)) if i >= 0
    ]
    head = message[: min(ends) + 2] if ends else message
    return BytesHeaderParser(policy=compat32).parsebytes(head, headersonly=True)


def may_ask(message: bytes) -> bool:
    """Whether the header block of `message` has a Disposition-Notification-To field at
    all: what delivery checks before parsing the header of each message it stores."""
    limit = min(len(message), _HEADER_SEARCH)
    ends = [
        i for i in (message.find(b"\r\n\r\n", 0, limit), message.find(b"\n\n", 0, limit)) if i >= 0
    ]
    head = message[: min(ends)] if ends else message[:limit]
    return _ASKED in head.lower()


def wanted(headers: Message, envelope_sender: str) -> str | None:
    """The address to send a `processed` MDN to, or None."""
    if (headers.get("Auto-Submitted", "no").strip().lower()).startswith(_AUTOMATIC):
        return None
    if headers.get_content_type() == "multipart/report":
        return None
    return packaging.mdn_recipient(headers, envelope_sender)


def processed(
    original: Message, *, recipient: str, to: str, hostname: str, now: dt.datetime
) -> bytes:
    """The RFC 8098 §3.2.6 `processed` MDN from `recipient` (whose mailbox now holds the
    message) to `to`, CRLF. Its human text names the message, never its content."""
    original_id = " ".join(str(original.get("Message-ID", "")).split())
    report = EmailMessage()
    report["From"] = recipient
    report["To"] = to
    report["Subject"] = f"Delivered: {' '.join(str(original.get('Subject', '')).split())}"[:900]
    report["Date"] = email.utils.format_datetime(now)
    report["Message-ID"] = email.utils.make_msgid(domain=hostname)
    report["Auto-Submitted"] = "auto-replied"  # RFC 3834 §5
    if original_id:
        report["In-Reply-To"] = original_id
        report["References"] = original_id
    fields = "".join(
        f"{line}\r\n"
        for line in (
            f"Reporting-UA: {hostname}; {REPORTING_UA}",
            f"Final-Recipient: rfc822;{recipient}",
            *([f"Original-Message-ID: {original_id}"] if original_id else []),
            "Disposition: automatic-action/MDN-sent-automatically; processed",
        )
    )
    human = (
        f"The message {original_id or 'without Message-ID'} was delivered to the mailbox"
        f" of {recipient} on {email.utils.format_datetime(now)}. This does not say that"
        " it has been read."
    )
    # The MDN framing of gateway.packaging, shared on purpose (one RFC 6522 writer).
    return packaging._multipart_report(
        report,
        human,
        fields,
        packaging._header_block(original),
    )


@dataclass(frozen=True, slots=True)
class ReportSeen:
    """What an incoming report says: its kind ("mdn" or "dsn"), the original message,
    the recipient it speaks of, and the outcome (disposition or action + status)."""

    kind: str
    original_message_id: str  # without <>
    recipient: str
    outcome: str


def read_report(entity: bytes) -> ReportSeen | None:
    """Read a multipart/report entity (an MDN or a DSN); None when it is neither."""
    if headers_of(entity).get_content_type() != "multipart/report":
        return None  # the common case: no need to parse the body
    message = BytesParser(policy=compat32).parsebytes(entity)
    if message.get_content_type() != "multipart/report" or not message.is_multipart():
        return None
    kind = str(message.get_param("report-type", "")).lower()
    payload = message.get_payload()
    if not isinstance(payload, list):
        return None
    parts = [p for p in payload if isinstance(p, Message)]
    if kind == "disposition-notification":
        return _mdn(parts)
    if kind == "delivery-status":
        return _dsn(parts)
    return None


def _blocks(part: Message) -> list[Message]:
    """The header blocks of a message/disposition-notification or message/delivery-status
    part (the parser reads message/* bodies as header blocks already)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    body = part.get_payload(decode=True)
    text = body if isinstance(body, bytes) else str(payload).encode()
    blocks = text.replace(b"\r\n", b"\n").strip().split(b"\n\n")
    return [BytesHeaderParser(policy=compat32).parsebytes(b) for b in blocks]


def _bare(value: str) -> str:
    text = value.strip()
    if text.startswith("<") and ">" in text:
        text = text[1 : text.index(">")]
    return text.strip()


def _address(value: str) -> str:
    return value.partition(";")[2].strip().lower() or value.strip().lower()


def _mdn(parts: list[Message]) -> ReportSeen | None:
    for part in parts:
        if part.get_content_type() == "message/disposition-notification":
            fields = next(iter(_blocks(part)), Message())
            original = _bare(str(fields.get("Original-Message-ID", "")))
            disposition = str(fields.get("Disposition", "")).partition(";")[2].strip()
            recipient = _address(str(fields.get("Final-Recipient", "")))
            if original:
                return ReportSeen("mdn", original, recipient, disposition or "unknown")
    return None


def _dsn(parts: list[Message]) -> ReportSeen | None:
    status: Message | None = None
    original = ""
    for part in parts:
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            # RFC 3464 §2.1: per-message fields, then one block per recipient.
            blocks = _blocks(part)
            status = blocks[1] if len(blocks) > 1 else None
        elif ctype in ("text/rfc822-headers", "message/rfc822"):
            headers = _blocks(part)
            original = _bare(str(headers[0].get("Message-ID", ""))) if headers else ""
    if status is None or not original:
        return None
    outcome = f"{status.get('Action', '').strip()} {status.get('Status', '').strip()}".strip()
    return ReportSeen("dsn", original, _address(str(status.get("Final-Recipient", ""))), outcome)
