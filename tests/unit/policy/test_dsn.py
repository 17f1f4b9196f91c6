"""DSNs are RFC 3464 reports the standard library reads back: the recipients, their
status, and the original header block (never the body)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy

from gateway import dsn

ORIGINAL = (
    b"From: doctor.1@salus.test\r\nTo: doctor.2@salus.test\r\nSubject: lab results\r\n"
    b"Message-ID: <abc@salus.test>\r\n\r\nConfidential body\r\n"
)
NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def report(action: str = "failed") -> dsn.Report:
    return dsn.Report(
        reporting_mta="mail.salus.test",
        postmaster="postmaster@salus.test",
        to="doctor.1@salus.test",
        queue_id="Q1",
        arrival=NOW,
        original=ORIGINAL,
        recipients=[
            dsn.RecipientStatus(
                "doctor.2@salus.test", action, "5.2.2", "552 5.2.2 mailbox full", NOW
            )
        ],
        message_id="dsn.Q1@mail.salus.test",
    )


def test_failure_report_structure() -> None:
    raw = dsn.build(report(), NOW)
    assert b"\n" not in raw.replace(b"\r\n", b"")
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["To"].addresses[0].addr_spec == "doctor.1@salus.test"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "message/delivery-status", "text/rfc822-headers",
    ]
    assert "doctor.2@salus.test" in parts[0].get_content()
    status = parts[1].as_string()
    assert "Reporting-MTA: dns; mail.salus.test" in status
    assert "Final-Recipient: rfc822; doctor.2@salus.test" in status
    assert "Action: failed" in status and "Status: 5.2.2" in status
    headers = raw.split(b"Content-Type: text/rfc822-headers\r\n\r\n")[1]
    assert b"Message-ID: <abc@salus.test>" in headers
    assert b"Confidential body" not in raw


def test_delay_report_says_it_keeps_trying() -> None:
    raw = dsn.build(report("delayed"), NOW)
    assert b"Subject: Delivery delayed" in raw
    assert b"Action: delayed" in raw
