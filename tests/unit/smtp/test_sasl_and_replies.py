"""SASL decoding, the enhanced status code on every reply, and the Received field."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailserver.smtp.received import Trace, received_field
from mailserver.smtp.replies import enhance
from mailserver.smtp.sasl import PlainCredentials, SaslError, decode_response, parse_plain


def test_plain_fields_and_authzid() -> None:
    creds = parse_plain(b"\0doctor.1@salus.test\0s\xc3\xa9cret")
    assert creds == PlainCredentials("", "doctor.1@salus.test", "s\u00e9cret")
    assert not creds.authorizes_other
    assert not parse_plain(b"Doctor.1@Salus.Test\0doctor.1@salus.test\0x").authorizes_other
    assert parse_plain(b"doctor.2@salus.test\0doctor.1@salus.test\0x").authorizes_other
    assert "s\u00e9cret" not in repr(creds)


@pytest.mark.parametrize(
    "message", [b"", b"only-one", b"a\0b", b"a\0b\0c\0d", b"\0\0pw", b"\0user\0", b"\0\xff\0pw"]
)
def test_malformed_plain_is_refused(message: bytes) -> None:
    with pytest.raises(SaslError):
        parse_plain(message)


def test_base64_responses() -> None:
    assert decode_response("=") == b""
    assert decode_response(base64.b64encode(b"abc").decode()) == b"abc"
    with pytest.raises(SaslError):
        decode_response("not base64!")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("250 OK", "250 2.0.0 OK"),
        ("221 Bye", "221 2.0.0 Bye"),
        ("500 Command line too long", "500 5.5.2 Command line too long"),
        ("503 Error: need RCPT command", "503 5.5.1 Send RCPT TO first"),
        ("501 Syntax: RSET", "501 5.5.4 Syntax: RSET"),
        ("502 EXPN not implemented", "502 5.5.1 EXPN not implemented"),
        ("530 5.7.0 Authentication required", "530 5.7.0 Authentication required"),
        ("354 End data with <CR><LF>.<CR><LF>", "354 End data with <CR><LF>.<CR><LF>"),
        ("334 ", "334 "),
        ("250-SIZE 1000", "250-SIZE 1000"),
        ("250 HELP", "250 HELP"),
        ("220 mail.salus.test Salus ESMTP", "220 mail.salus.test Salus ESMTP"),
    ],
)
def test_enhanced_codes(raw: str, expected: str) -> None:
    assert enhance(raw) == expected


@given(st.sampled_from(["421", "450", "451", "452", "500", "501", "503", "550", "554"]),
       st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=2, max_size=20))
def test_every_final_error_reply_carries_a_code_of_its_class(code: str, text: str) -> None:
    reply = enhance(f"{code} {text} {text}")
    assert reply.split()[1][0] == code[0] and reply.split()[1].count(".") == 2


def test_received_field_is_folded_ascii_without_the_login() -> None:
    trace = Trace("client\r\nInjected: yes", "192.0.2.7", "mail.salus.test", "Q1", "TLSv1.3",
                  "TLS_AES_256_GCM_SHA384")
    field = received_field(trace, dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    assert field.startswith(b"Received: from client??Injected:?yes ([192.0.2.7])\r\n")
    assert b"with ESMTPSA id Q1" in field and b"TLSv1.3" in field
    assert field.endswith(b"\r\n") and field.count(b"\r\n") == 4
