"""MIME walking under limits: structure found as mail readers find it, bombs stopped at
the limit."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.mime import (
    HeaderLimitExceeded,
    Limits,
    MimeError,
    MimeLimitExceeded,
    parse_headers,
    split_multipart,
    walk,
)

LIMITS = Limits(max_header_count=100, max_header_bytes=64 * 1024, max_depth=10, max_parts=100)


def nested(depth: int) -> bytes:
    body = b"Content-Type: text/plain\r\n\r\ninnermost\r\n"
    for level in range(depth):
        b = f"b{level}".encode()
        body = (
            b"Content-Type: multipart/mixed; boundary=" + b + b"\r\n\r\n--" + b + b"\r\n"
            + body + b"\r\n--" + b + b"--\r\n"
        )
    return b"From: a@salus.test\r\n" + body


def test_walk_finds_leaves_bodies_and_filenames() -> None:
    msg = (
        b"From: a@salus.test\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
        b"preamble\r\n--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        b"--XX\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="result.pdf"\r\n\r\n%PDF-1.4\r\n'
        b"--XX--\r\nepilogue\r\n"
    )
    tree = walk(msg, LIMITS)
    leaves = tree.leaves()
    assert [p.content_type for p in leaves] == ["text/plain", "application/pdf"]
    assert [tree.body(p) for p in leaves] == [b"hello", b"%PDF-1.4"]
    assert leaves[1].filename == "result.pdf"
    assert tree.part_count == 3
    assert tree.max_depth == 2


def test_a_line_that_only_starts_with_the_boundary_is_content() -> None:
    body = b"--XX\r\n\r\none\r\n--XXnot-a-delimiter\r\n--XX--\r\n"
    parts = split_multipart(body, 0, len(body), "XX")
    assert [body[a:b] for a, b in parts] == [b"\r\none\r\n--XXnot-a-delimiter"]


def test_missing_close_delimiter_ends_at_the_end_of_the_body() -> None:
    body = b"--XX\r\n\r\none\r\n--XX\r\n\r\ntwo\r\n"
    parts = split_multipart(body, 0, len(body), "XX")
    assert [body[a:b] for a, b in parts] == [b"\r\none", b"\r\ntwo\r\n"]


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    assert walk(nested(8), LIMITS).max_depth == 9
    with pytest.raises(MimeLimitExceeded, match="nested more than 10 deep"):
        walk(nested(200), LIMITS)


def test_more_parts_than_the_limit_is_refused() -> None:
    parts = b"".join(b"--X\r\n\r\npart\r\n" for _ in range(500))
    msg = b"Content-Type: multipart/mixed; boundary=X\r\n\r\n" + parts + b"--X--\r\n"
    with pytest.raises(MimeLimitExceeded, match="more than 100 MIME parts"):
        walk(msg, LIMITS)


def test_multipart_without_boundary_is_malformed() -> None:
    with pytest.raises(MimeError, match="no boundary"):
        walk(b"Content-Type: multipart/mixed\r\n\r\nx\r\n", LIMITS)


def test_header_count_and_size_limits() -> None:
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(10_000)) + b"\r\nbody"
    with pytest.raises(HeaderLimitExceeded, match="more than 100 header fields"):
        parse_headers(many, max_count=100, max_bytes=10**9)
    with pytest.raises(HeaderLimitExceeded, match="bytes"):
        parse_headers(many, max_count=10**6, max_bytes=1024)


def test_headers_are_unfolded_and_malformed_lines_refused() -> None:
    block, body_start = parse_headers(
        b"Subject: a\r\n b\r\nFrom: x@salus.test\r\n\r\nbody", max_count=10, max_bytes=1000
    )
    assert block.first("subject") == "a b"
    assert body_start == len(b"Subject: a\r\n b\r\nFrom: x@salus.test\r\n\r\n")
    with pytest.raises(MimeError, match="line 1"):
        parse_headers(b"not a header\r\n\r\n", max_count=10, max_bytes=1000)
    with pytest.raises(MimeError, match="continuation"):
        parse_headers(b" folded first\r\n\r\n", max_count=10, max_bytes=1000)


texts = st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=40)


@st.composite
def messages(draw: st.DrawFn, depth: int = 0) -> EmailMessage:
    msg = EmailMessage()
    if depth < 3 and draw(st.booleans()):
        msg.make_mixed()
        for _ in range(draw(st.integers(1, 3))):
            msg.attach(draw(messages(depth + 1)))
    else:
        msg.set_content(draw(texts))
    return msg


@settings(max_examples=60, deadline=None)
@given(messages())
def test_walk_agrees_with_the_standard_library(msg: EmailMessage) -> None:
    raw = msg.as_bytes(policy=email.policy.SMTP)
    tree = walk(raw, LIMITS)
    theirs = [p.get_content().strip() for p in msg.walk() if not p.is_multipart()]
    ours = [tree.body(p).decode().strip() for p in tree.leaves()]
    assert ours == theirs
    assert tree.part_count == sum(1 for _ in msg.walk())
