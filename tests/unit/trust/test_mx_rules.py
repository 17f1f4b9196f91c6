"""The inbound MX's rules, stage by stage (DESIGN section 5.7)."""

from __future__ import annotations

import pytest

from config.settings import SmtpSettings
from gateway.policy import run_chain
from gateway.policy.facts import DataStats
from gateway.trust import mx_rules
from gateway.trust.inbound import OPENPGP, SMIME, protection_form, without_foreign_results
from gateway.trust.remote_keys import MAX_DOCUMENT_BYTES
from mailserver.lookup.answer import exact_address
from mailserver.lookup.https import parse_response_head

LIMITS = SmtpSettings()
SMIME_BODY = (
    b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQAx\r\n"
)


def mail(peer: str | None, sender: str) -> str | None:
    facts = mx_rules.PeerFacts(peer, "no certificate", sender)
    refusal = run_chain("mail", mx_rules.MAIL, facts).refusal
    return None if refusal is None else refusal.reply()


def test_mail_needs_a_verified_peer_and_a_sender_of_its_domain() -> None:
    assert mail("a.test", "doctor.1@a.test") is None
    assert mail("a.test", "") is None  # reports travel with a null reverse-path
    assert mail(None, "doctor.1@a.test") == (
        "550 5.7.1 not a peer of the trust space: no certificate [peer-verified]"
    )
    refused = mail("a.test", "doctor.1@b.test")
    assert refused is not None and refused.startswith("550 5.7.1 <doctor.1@b.test> is not")


@pytest.mark.parametrize(
    ("address", "status", "reply"),
    [
        ("doctor.2@b.test", "active", None),
        ("nobody@b.test", None, "550 5.1.1"),
        ("doctor.3@b.test", "suspended", "550 5.2.1"),
        ("doctor.2@c.test", None, "550 5.7.1"),
    ],
)
def test_recipients_are_active_local_mailboxes(
    address: str, status: str | None, reply: str | None
) -> None:
    facts = mx_rules.InboundRecipientFacts(address, 0, ("b.test",), status, LIMITS)
    refusal = run_chain("rcpt", mx_rules.RCPT, facts).refusal
    assert (refusal.reply()[:9] if refusal else None) == reply


def data(message: bytes) -> str | None:
    facts = mx_rules.InboundContentFacts(
        message,
        DataStats(len(message), max(len(line) for line in message.split(b"\r\n"))),
        LIMITS,
        "a.test",
    )
    refusal = run_chain("data", mx_rules.DATA, facts).refusal
    return None if refusal is None else refusal.rule


def test_data_must_come_from_the_peer_domain_signed_and_encrypted() -> None:
    head = b"From: Dr A <doctor.1@a.test>\r\nTo: doctor.2@b.test\r\nMIME-Version: 1.0\r\n"
    assert data(head + SMIME_BODY) is None
    assert data(head.replace(b"a.test>", b"c.test>") + SMIME_BODY) == "from-of-peer-domain"
    assert data(head + b"From: x@a.test\r\n" + SMIME_BODY) == "header-syntax"  # two From
    assert data(head + b"Content-Type: text/plain\r\n\r\nclear text\r\n") == "signed-and-encrypted"
    assert data(head + SMIME_BODY.replace(b"\r\n\r\n", b"\n\n")) == "strict-crlf"


def test_protection_forms() -> None:
    assert protection_form(b"From: x\r\n" + SMIME_BODY) == SMIME
    assert protection_form(SMIME_BODY.replace(b"enveloped-data", b"authEnveloped-data")) == SMIME
    assert protection_form(SMIME_BODY.replace(b"enveloped-data", b"signed-data")) is None
    pgp = b'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary=x\r\n\r\n'
    assert protection_form(pgp) == OPENPGP
    assert protection_form(b"Content-Type: multipart/signed\r\n\r\n") is None


def test_results_written_by_others_are_removed() -> None:
    message = (
        b"Authentication-Results: mail.b.test;\r\n\tsmime=pass\r\nFrom: x@a.test\r\n\r\n"
        b"Authentication-Results: in the body stays\r\n"
    )
    assert without_foreign_results(message) == (
        b"From: x@a.test\r\n\r\nAuthentication-Results: in the body stays\r\n"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Doctor.2@B.test", "doctor.2@b.test"),
        # "*" and "%" are legal in a local part: matched as written, never as patterns.
        ("*@b.test", "*@b.test"),
        ("%@b.test", "%@b.test"),
        ("doctor.*", None),
        ("doctor", None),
        ("", None),
        ("a@b", None),
    ],
)
def test_only_exact_addresses_are_looked_up(text: str, expected: str | None) -> None:
    assert exact_address(text) == expected


def test_response_heads() -> None:
    limit = MAX_DOCUMENT_BYTES
    assert parse_response_head(
        b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", max_body=limit
    ) == (200, 12)
    assert parse_response_head(b"HTTP/1.1 404 Not Found\r\n\r\n", max_body=limit) == (404, 0)
    for bad in (
        b"SMTP 220 hi\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n",
    ):
        with pytest.raises(ValueError):
            parse_response_head(bad, max_body=limit)
