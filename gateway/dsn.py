"""Delivery status notifications (RFC 3464) in a multipart/report (RFC 6522).

Pure: takes what happened to which recipients and the original message's header block,
returns the DSN entity (headers and body, CRLF). It sends nothing; the delivery worker
queues it to the sender with a null envelope sender, so a DSN never causes another DSN
(RFC 5321 §4.5.5).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import format_datetime

from gateway.mime import header_end

CRLF = "\r\n"


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    """One recipient's fate: `action` "failed" (final) or "delayed" (still trying)."""

    address: str
    action: str
    status: str  # enhanced status code, RFC 3463
    diagnostic: str  # the reply that explains it, "550 5.2.1 …"
    last_attempt: dt.datetime


@dataclass(frozen=True, slots=True)
class Report:
    reporting_mta: str  # our host name
    postmaster: str  # the From address of the report
    to: str  # the original envelope sender
    queue_id: str
    arrival: dt.datetime
    original: bytes  # the original message; only its header block is attached
    recipients: Sequence[RecipientStatus]
    message_id: str  # for the report itself, without <>


def original_headers(message: bytes) -> bytes:
    """The header block of `message`, for the text/rfc822-headers part."""
    end, _ = header_end(message)
    return message[:end]


def build(report: Report, now: dt.datetime) -> bytes:
    """The DSN as bytes: a human explanation, the machine-readable status, the headers."""
    boundary = "salus-dsn-" + secrets.token_hex(12)
    failed = any(r.action == "failed" for r in report.recipients)
    subject = (
        "Undelivered mail returned to sender" if failed else "Delivery delayed: still trying"
    )
    head = [
        f"From: Mail Delivery System <{report.postmaster}>",
        f"To: <{report.to}>",
        f"Subject: {subject}",
        f"Date: {format_datetime(now)}",
        f"Message-ID: <{report.message_id}>",
        "Auto-Submitted: auto-replied",  # RFC 3834 §5
        "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=delivery-status;",
        f'\tboundary="{boundary}"',
        "",
    ]
    parts = [
        _part("text/plain; charset=utf-8", _explanation(report, failed)),
        _part("message/delivery-status", _status(report)),
    ]
    text = CRLF.join(head) + CRLF
    for body in parts:
        text += f"--{boundary}{CRLF}{body}{CRLF}"
    headers = original_headers(report.original)
    return (
        text.encode("utf-8")
        + f"--{boundary}{CRLF}Content-Type: text/rfc822-headers{CRLF}{CRLF}".encode()
        + headers
        + f"{CRLF}--{boundary}--{CRLF}".encode()
    )


def _part(content_type: str, body: str) -> str:
    return f"Content-Type: {content_type}{CRLF}{CRLF}{body}"


def _explanation(report: Report, failed: bool) -> str:
    lines = [
        f"This is the mail system at {report.reporting_mta}.",
        "",
        (
            "Your message could not be delivered to the recipients below."
            if failed
            else "Your message has not been delivered yet to the recipients below;"
            " the mail system keeps trying and will tell you if it gives up."
        ),
        f"Queue identifier: {report.queue_id}",
        "",
    ]
    for r in report.recipients:
        lines.append(f"<{r.address}>: {r.diagnostic}")
    return CRLF.join(lines) + CRLF


def _status(report: Report) -> str:
    # RFC 3464 §2.2 per-message fields, then one §2.3 block per recipient.
    blocks = [
        CRLF.join(
            (
                f"Reporting-MTA: dns; {report.reporting_mta}",
                f"X-Salus-Queue-ID: {report.queue_id}",
                f"Arrival-Date: {format_datetime(report.arrival)}",
            )
        )
    ]
    for r in report.recipients:
        blocks.append(
            CRLF.join(
                (
                    f"Final-Recipient: rfc822; {r.address}",
                    f"Action: {r.action}",
                    f"Status: {r.status}",
                    f"Diagnostic-Code: smtp; {_one_line(r.diagnostic)}",
                    f"Last-Attempt-Date: {format_datetime(r.last_attempt)}",
                )
            )
        )
    return (CRLF + CRLF).join(blocks) + CRLF


def _one_line(text: str) -> str:
    return " ".join(text.split())
