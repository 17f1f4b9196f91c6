"""Each named rule refuses what it names, with an enhanced status code and a reason, and
lets ordinary submissions through."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.settings import SmtpSettings
from gateway.policy import chains, run_chain
from gateway.policy.facts import ContentFacts, DataStats, RecipientFacts, SenderFacts
from gateway.policy.rules import strict_crlf

LIMITS = SmtpSettings(max_recipients=3, max_message_size=10_000, max_header_count=20)
ME = frozenset({"doctor.1@salus.test", "cardio@salus.test"})
GOOD = (
    b"From: Dr One <doctor.1@salus.test>\r\nTo: doctor.2@salus.test\r\n"
    b"Subject: results\r\n\r\nHello\r\n"
)


def sender(mail_from: str, size: int | None = None, *, key: bool = True) -> SenderFacts:
    return SenderFacts(mail_from, size, ME, LIMITS, signing_key=key)


def recipient(address: str, *, status: str | None = "active", trusted: bool = False,
              accepted: int = 0, key: bool = True) -> RecipientFacts:
    return RecipientFacts(address, accepted, status, trusted, ("salus.test",), LIMITS,
                          key_issued=key)


def content(raw: bytes, *, longest: int | None = None, total: int | None = None) -> ContentFacts:
    lines = raw.split(b"\r\n")
    stats = DataStats(
        total_bytes=len(raw) if total is None else total,
        longest_line=max(len(x) for x in lines) if longest is None else longest,
    )
    return ContentFacts(raw, stats, ME, LIMITS)


def test_sender_may_use_own_and_delegated_mailboxes_in_any_case() -> None:
    assert run_chain("mail", chains.MAIL, sender("Doctor.1@Salus.Test")).accepted
    assert run_chain("mail", chains.MAIL, sender("cardio@salus.test")).accepted


def test_sending_as_another_mailbox_is_refused_at_mail() -> None:
    decision = run_chain("mail", chains.MAIL, sender("doctor.2@salus.test"))
    refusal = decision.refusal
    assert refusal is not None
    assert (refusal.rule, refusal.code, refusal.status) == ("sender-owns-envelope", 553, "5.7.1")
    assert "doctor.1@salus.test" in refusal.reply()
    assert decision.checked == ("declared-size", "sender-owns-envelope")


def test_a_sender_without_a_signing_key_is_refused_at_mail() -> None:
    decision = run_chain("mail", chains.MAIL, sender("doctor.1@salus.test", key=False))
    refusal = decision.refusal
    assert refusal is not None
    assert refusal.reply().startswith("550 5.7.1 <doctor.1@salus.test> has no active signing key")
    assert refusal.rule == "sender-has-key"


def test_a_local_recipient_without_keys_is_refused_by_name() -> None:
    refusal = run_chain("rcpt", chains.RCPT, recipient("doctor.2@salus.test", key=False)).refusal
    assert refusal is not None and refusal.rule == "recipient-has-key"
    assert refusal.reply().startswith(
        "550 5.7.1 <doctor.2@salus.test>: the keys of this mailbox are not issued"
    )
    # Suspended or unknown mailboxes keep their own reason; keys are asked of none.
    suspended = recipient("doctor.3@salus.test", status="suspended", key=False)
    assert run_chain("rcpt", chains.RCPT, suspended).refusal.rule == "recipient-is-local"  # type: ignore[union-attr]


def test_declared_size_over_the_limit_is_refused_before_the_data() -> None:
    refusal = run_chain("mail", chains.MAIL, sender("doctor.1@salus.test", 10_001)).refusal
    assert refusal is not None and refusal.reply().startswith("552 5.3.4 ")


@pytest.mark.parametrize(
    ("address", "fragment"),
    [
        ("@relay.test,@b.test:doctor.2@salus.test", "source routes"),
        ("doctor.2%evil.test@salus.test", "'%'"),
        ("evil.test!doctor.2@salus.test", "'!'"),
        ('"doctor.2@evil.test"@salus.test', "quoted"),
        ("doctor.2@[127.0.0.1]", "address literals"),
        ("doctor.2@bad_domain", "not a valid domain"),
    ],
)
def test_open_relay_address_forms_are_refused(address: str, fragment: str) -> None:
    refusal = run_chain("rcpt", chains.RCPT, recipient(address)).refusal
    assert refusal is not None
    assert (refusal.rule, refusal.code, refusal.status) == ("recipient-syntax", 553, "5.1.3")
    assert fragment in refusal.reason


@pytest.mark.parametrize(
    ("facts", "code", "status", "fragment"),
    [
        (recipient("nobody@salus.test", status=None), 550, "5.1.1", "no such mailbox"),
        (recipient("doctor.3@salus.test", status="suspended"), 550, "5.2.1", "suspended"),
        (recipient("dr@other.test", status=None, trusted=True), 550, "5.7.1",
         "no key was looked up for it"),
        (recipient("someone@gmail.test", status=None), 550, "5.7.1", "relaying is not allowed"),
    ],
)
def test_recipient_must_be_an_active_local_mailbox(
    facts: RecipientFacts, code: int, status: str, fragment: str
) -> None:
    refusal = run_chain("rcpt", chains.RCPT, facts).refusal
    assert refusal is not None
    assert (refusal.rule, refusal.code, refusal.status) == ("recipient-is-local", code, status)
    assert fragment in refusal.reason


def test_recipient_count_is_a_temporary_refusal_past_the_limit() -> None:
    assert run_chain("rcpt", chains.RCPT, recipient("doctor.2@salus.test", accepted=2)).accepted
    refusal = run_chain("rcpt", chains.RCPT, recipient("doctor.2@salus.test", accepted=3)).refusal
    assert refusal is not None and refusal.temporary
    assert refusal.reply().startswith("452 4.5.3 ")


def test_an_ordinary_message_passes_every_content_rule() -> None:
    decision = run_chain("data", chains.DATA, content(GOOD))
    assert decision.accepted
    assert decision.checked == tuple(rule.name for rule in chains.DATA)


@pytest.mark.parametrize(
    ("raw", "rule", "fragment"),
    [
        (GOOD.replace(b"Hello\r\n", b"Hel\x00lo\r\n"), "nul-bytes", "NUL byte (line 5)"),
        (GOOD.replace(b"Hello\r\n", b"Hello\n.\nMAIL FROM:<x@y>\r\n"), "strict-crlf",
         "line 5 contains a bare LF"),
        (GOOD.replace(b"Hello\r\n", b"Hello\r.\r\n"), "strict-crlf", "bare CR"),
        (GOOD.replace(b"Subject", b"Subject\r\n"), "header-syntax", "malformed"),
        (GOOD.replace(b"From: Dr One <doctor.1@salus.test>\r\n", b""), "header-syntax",
         "0 From fields"),
        (GOOD.replace(b"<doctor.1@salus.test>", b"<doctor.2@salus.test>"), "sender-owns-from",
         "doctor.2@salus.test"),
        (GOOD.replace(b"From: Dr One <doctor.1@salus.test>",
                      b'From: "doctor.1@salus.test" <doctor.2@salus.test>'),
         "sender-owns-from", "doctor.2@salus.test"),
        (GOOD.replace(b"From: Dr One <doctor.1@salus.test>",
                      b"From: doctor.2@salus.test (doctor.1@salus.test)"),
         "sender-owns-from", "doctor.2@salus.test"),
        (GOOD.replace(b"Subject", b"Sender: doctor.2@salus.test\r\nSubject"),
         "sender-owns-from", "Sender field"),
        (GOOD.replace(b"Subject: results", b"Content-Type: multipart/mixed"),
         "mime-structure", "no boundary"),
        (b"".join(b"X-H%d: v\r\n" % i for i in range(10_000)) + GOOD, "header-limits",
         "more than 20 header fields"),
    ],
)
def test_content_rules_refuse_what_they_name(raw: bytes, rule: str, fragment: str) -> None:
    refusal = run_chain("data", chains.DATA, content(raw, total=100, longest=80)).refusal
    assert refusal is not None
    assert refusal.rule == rule
    assert refusal.code >= 550 and refusal.status.startswith("5.")
    assert fragment in refusal.reason
    assert f"[{rule}]" in refusal.reply()


def test_size_and_line_length_come_from_the_reader_measurements() -> None:
    too_big = run_chain("data", chains.DATA, content(b"", total=10_001, longest=10)).refusal
    assert too_big is not None and too_big.reply().startswith("552 5.3.4 ")
    too_long = run_chain("data", chains.DATA, content(GOOD, longest=999)).refusal
    assert too_long is not None and too_long.rule == "line-length"


def test_a_reply_is_one_ascii_line_whatever_the_reason() -> None:
    refusal = run_chain("rcpt", chains.RCPT, recipient("x@bad_d\u00e9main\r\n250 ok")).refusal
    assert refusal is not None
    reply = refusal.reply()
    assert "\r" not in reply and "\n" not in reply
    reply.encode("ascii")


@given(st.binary(max_size=300))
def test_strict_crlf_accepts_exactly_the_crlf_only_inputs(raw: bytes) -> None:
    facts = content(b"From: doctor.1@salus.test\r\n\r\n" + raw, total=10, longest=10)
    refusal = strict_crlf.check(facts)
    bare = raw.replace(b"\r\n", b"")
    assert (refusal is None) == (b"\r" not in bare and b"\n" not in bare)
