"""Processed MDNs on delivery (RFC 8098) and reading the reports that come back."""

from __future__ import annotations

import datetime as dt

from gateway import dsn, mdn

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
ORIGINAL = (
    b"From: Dr One <doctor.1@a.test>\r\nTo: doctor.2@b.test\r\nSubject: Results\r\n"
    b"Message-ID: <m1@a.test>\r\nDisposition-Notification-To: doctor.1@a.test\r\n"
    b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n\r\nMIAGCSqG\r\n"
)


def test_an_mdn_is_wanted_only_for_the_envelope_sender_of_a_person_s_message() -> None:
    headers = mdn.headers_of(ORIGINAL)
    assert mdn.wanted(headers, "doctor.1@a.test") == "doctor.1@a.test"
    assert mdn.wanted(headers, "someone.else@a.test") is None  # no consent to write elsewhere
    assert mdn.wanted(headers, "") is None
    auto = mdn.headers_of(b"Auto-Submitted: auto-replied\r\n" + ORIGINAL)
    assert mdn.wanted(auto, "doctor.1@a.test") is None
    report = mdn.headers_of(
        ORIGINAL.replace(
            b"application/pkcs7-mime; smime-type=enveloped-data",
            b"multipart/report; report-type=disposition-notification; boundary=x",
        )
    )
    assert mdn.wanted(report, "doctor.1@a.test") is None


def test_the_processed_mdn_reads_back_as_a_report_on_the_original() -> None:
    built = mdn.processed(
        mdn.headers_of(ORIGINAL),
        recipient="doctor.2@b.test",
        to="doctor.1@a.test",
        hostname="mail.b.test",
        now=NOW,
    )
    assert b"\n" not in built.replace(b"\r\n", b"")
    head = mdn.headers_of(built)
    assert (head["From"], head["To"], head["In-Reply-To"]) == (
        "doctor.2@b.test",
        "doctor.1@a.test",
        "<m1@a.test>",
    )
    assert head["Auto-Submitted"] == "auto-replied"
    assert b"Disposition: automatic-action/MDN-sent-automatically; processed" in built
    assert b"MIAGCSqG" not in built  # the original's headers only, never its body
    assert mdn.read_report(built) == mdn.ReportSeen(
        "mdn", "m1@a.test", "doctor.2@b.test", "processed"
    )


def test_a_dsn_reads_back_as_a_report_on_the_original() -> None:
    report = dsn.Report(
        reporting_mta="mail.b.test",
        postmaster="postmaster@b.test",
        to="doctor.1@a.test",
        queue_id="Q1",
        arrival=NOW,
        original=ORIGINAL,
        recipients=[
            dsn.RecipientStatus("doctor.2@b.test", "failed", "5.2.2", "552 5.2.2 full", NOW)
        ],
        message_id="dsn.Q2@mail.b.test",
    )
    assert mdn.read_report(dsn.build(report, NOW)) == mdn.ReportSeen(
        "dsn", "m1@a.test", "doctor.2@b.test", "failed 5.2.2"
    )


def test_other_messages_are_not_reports() -> None:
    assert mdn.read_report(ORIGINAL) is None
    assert (
        mdn.read_report(
            b"Content-Type: multipart/report; report-type=other; boundary=x\r\n\r\n--x--\r\n"
        )
        is None
    )
