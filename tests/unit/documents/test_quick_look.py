"""The pipeline's quick look (`gateway.integration.may_hold_documents`): plain letters
skip the document step; anything that could be a document, in any transfer encoding,
goes through it."""

from __future__ import annotations

import base64

import pytest

from gateway.integration import may_hold_documents
from gateway.mime import Limits, walk
from tests.unit.documents.builders import cda, oru

LIMITS = Limits(max_header_count=100, max_header_bytes=64_000, max_depth=10, max_parts=50)


def one_part(body: bytes, headers: str = "Content-Type: text/plain; charset=utf-8\r\n") -> bytes:
    return f"From: a@salus.test\r\n{headers}\r\n".encode() + body


def mixed(*parts: tuple[str, bytes]) -> bytes:
    chunks = [b"From: a@salus.test\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"]
    for headers, body in parts:
        chunks.append(b"--b\r\n" + headers.encode() + b"\r\n" + body + b"\r\n")
    return b"".join(chunks) + b"--b--\r\n"


@pytest.mark.parametrize(
    "message",
    [
        one_part(b"Dear colleague, the results are normal.\r\n"),
        one_part(b"MSH: a word that starts a sentence\r\n"),
        mixed(("Content-Type: text/plain\r\n", b"hello"),
              ("Content-Type: text/html\r\n", b"<html><body>hello</body></html>")),
    ],
    ids=["letter", "msh-word", "html-alternative"],
)
def test_plain_letters_skip_the_document_step(message: bytes) -> None:
    assert not may_hold_documents(walk(message, LIMITS))


@pytest.mark.parametrize(
    "message",
    [
        one_part(oru()),
        one_part(base64.b64encode(oru()),
                 "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n"),
        one_part(cda()),
        mixed(("Content-Type: text/plain\r\n", b"see attached"),
              ("Content-Type: application/octet-stream\r\n", b"anything")),
        mixed(("Content-Type: text/plain\r\n", b"see attached"),
              ('Content-Type: text/plain\r\nContent-Disposition: attachment; filename="r.txt"\r\n',
               b"named")),
    ],
    ids=["hl7-body", "hl7-base64-body", "cda-body", "attachment", "named-text"],
)
def test_what_could_be_a_document_is_inspected(message: bytes) -> None:
    assert may_hold_documents(walk(message, LIMITS))


def test_without_a_tree_the_step_always_runs() -> None:
    assert may_hold_documents(None)
