"""Message bodies are text, not documents: an HTML body or a note that opens with "<" is
never refused as malformed XML, while a file declared as XML still is."""

from __future__ import annotations

import email
import email.policy

import pytest

from gateway.documents import DocumentError, DocumentLimits, inspect


def parsed(raw: bytes) -> email.message.Message:
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_an_html_alternative_body_is_not_a_document() -> None:
    raw = (
        b"From: a@salus.test\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        b"--b\r\nContent-Type: text/html\r\n\r\n<html><body><p>hi<br></body></html>\r\n--b--\r\n"
    )
    assert inspect(parsed(raw), DocumentLimits()).documents == ()


def test_a_plain_note_opening_with_a_bracket_is_not_a_document() -> None:
    raw = b"From: a@salus.test\r\nContent-Type: text/plain\r\n\r\n<b>Ferritin & iron: normal\r\n"
    assert inspect(parsed(raw), DocumentLimits()).documents == ()


def test_a_malformed_xml_file_is_still_refused_by_name() -> None:
    raw = (
        b"From: a@salus.test\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nresults attached\r\n"
        b'--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename="cr.xml"\r\n'
        b"\r\n<ClinicalDocument><unclosed></ClinicalDocument>\r\n--b--\r\n"
    )
    with pytest.raises(DocumentError) as caught:
        inspect(parsed(raw), DocumentLimits())
    assert caught.value.reply().startswith("550 5.6.0 cr.xml: not well-formed XML")
