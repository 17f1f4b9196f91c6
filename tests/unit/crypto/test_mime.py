"""The byte-level MIME under S/MIME: parts come back exactly as signed, line ends are
canonical, and a message's outer headers separate from the protected entity and return."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.smime import mime

_LINE = st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
_PART = st.lists(_LINE, min_size=1, max_size=8).map(b"\r\n".join)
BOUNDARY = "----salus-test-boundary"


@given(st.lists(_PART, min_size=1, max_size=5))
def test_split_multipart_returns_each_part_byte_for_byte(parts: list[bytes]) -> None:
    parts = [p for p in parts if BOUNDARY.encode() not in p]
    body = b"preamble\r\n" + b"".join(f"--{BOUNDARY}\r\n".encode() + p + b"\r\n" for p in parts)
    body += f"--{BOUNDARY}--\r\nepilogue".encode()
    split = mime.split_multipart(body, BOUNDARY)
    assert split.parts == tuple(parts)
    assert split.closed
    assert split.epilogue == b"epilogue"


def test_boundary_text_inside_a_line_is_not_a_delimiter() -> None:
    body = f"--{BOUNDARY}\r\nsee --{BOUNDARY} here\r\n--{BOUNDARY}--\r\n".encode()
    assert mime.split_multipart(body, BOUNDARY).parts == (f"see --{BOUNDARY} here".encode(),)


def test_an_unclosed_multipart_is_reported() -> None:
    body = f"--{BOUNDARY}\r\na\r\n--{BOUNDARY}\r\nb".encode()
    split = mime.split_multipart(body, BOUNDARY)
    assert split.parts == (b"a", b"b")
    assert not split.closed


@given(st.binary(max_size=300))
def test_to_crlf_leaves_no_bare_line_feed_and_is_idempotent(data: bytes) -> None:
    once = mime.to_crlf(data)
    assert re.search(rb"(?<!\r)\n", once) is None
    assert mime.to_crlf(once) == once
    assert once.replace(b"\r\n", b"\n") == data.replace(b"\r\n", b"\n")


def test_parse_unfolds_headers_and_keeps_the_body() -> None:
    entity = mime.parse(
        b'Content-Type: multipart/signed;\r\n boundary="a b";\r\n\tprotocol="application/pkcs7-signature"\r\n\r\nbody\r\n'
    )
    assert entity.content_type == "multipart/signed"
    assert entity.param("boundary") == "a b"
    assert entity.param("protocol") == "application/pkcs7-signature"
    assert entity.body == b"body\r\n"


def test_split_and_join_message_keep_outer_headers_outside() -> None:
    message = (
        b"From: Alice <alice@salus.test>\r\nTo: bob@salus.test\r\nSubject: results\r\n"
        b"Content-Type: text/plain;\r\n charset=utf-8\r\nMIME-Version: 1.0\r\n\r\nline one\nline two\n"
    )
    outer, entity = mime.split_message(message)
    assert (
        outer
        == b"From: Alice <alice@salus.test>\r\nTo: bob@salus.test\r\nSubject: results\r\nMIME-Version: 1.0\r\n"
    )
    assert entity == b"Content-Type: text/plain;\r\n charset=utf-8\r\n\r\nline one\r\nline two\r\n"
    assert mime.join_message(outer, entity) == mime.to_crlf(message).replace(
        b"Content-Type: text/plain;\r\n charset=utf-8\r\nMIME-Version: 1.0\r\n",
        b"MIME-Version: 1.0\r\nContent-Type: text/plain;\r\n charset=utf-8\r\n",
    )


def test_join_message_adds_mime_version_when_missing() -> None:
    outer, entity = mime.split_message(b"From: a@salus.test\r\n\r\nhello\r\n")
    assert mime.join_message(outer, entity).startswith(
        b"From: a@salus.test\r\nMIME-Version: 1.0\r\n"
    )


_SIZES = st.sampled_from([0, 1, 2, 56, 57, 58, 57 * 256 - 1, 57 * 256, 57 * 256 + 1, 40_000])


@given(st.lists(_SIZES.flatmap(lambda n: st.binary(min_size=n, max_size=n)), max_size=6))
def test_base64_of_parts_is_the_standard_76_character_encoding_of_their_concatenation(
    parts: list[bytes],
) -> None:
    expected = base64.encodebytes(b"".join(parts)).replace(b"\n", b"\r\n")
    assert mime.base64_parts(parts) == expected
    assert mime.base64_parts([memoryview(p) for p in parts], b"X: y\r\n\r\n") == (
        b"X: y\r\n\r\n" + expected
    )
    assert mime.base64_body(b"".join(parts)) == expected


def test_base64_body_refuses_a_head_without_its_line_end() -> None:
    with pytest.raises(ValueError, match="CRLF"):
        mime.base64_body(b"data", b"X: y")


@given(st.lists(st.sampled_from([b"a", b"\r", b"\n", b"\r\n", b"\xe9"]), max_size=40))
def test_canonical_text_comes_back_as_it_is_and_any_bare_line_feed_is_found(
    pieces: list[bytes],
) -> None:
    data = b"".join(pieces)
    bare = re.search(rb"(?<!\r)\n", data) is not None
    assert mime.has_bare_lf(data) is bare
    assert (mime.to_crlf(data) is data) is not bare


@pytest.mark.parametrize("at", [64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1])
def test_a_line_end_across_two_scanned_slices(at: int) -> None:
    canonical = b"a" * at + b"\r\n" + b"b" * 10
    assert not mime.has_bare_lf(canonical)
    assert mime.has_bare_lf(b"a" * at + b"\n" + b"b" * 10)
    assert mime.has_bare_lf(canonical + b"\n")
