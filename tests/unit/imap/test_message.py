"""Message views: addresses, ENVELOPE, BODYSTRUCTURE, sections, bounded MIME parsing;
checked on hand-made messages and on the public samples in ../shared/fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailserver.imap import wire
from mailserver.imap.grammar.fetch_attributes import Section
from mailserver.imap.message import addresses, bodystructure, headers, mime, sections
from mailserver.imap.message.envelope import envelope
from mailserver.imap.message.text import body_text

NESTED = (
    b"Subject: outer\r\n"
    b"Content-Type: multipart/mixed; boundary=o\r\n"
    b"\r\n"
    b"--o\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"first\r\n"
    b"--o\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: inner\r\n"
    b"Content-Type: multipart/alternative; boundary=i\r\n"
    b"\r\n"
    b"--i\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"r=E9sultat\r\n"
    b"--i\r\n"
    b"\r\n"
    b"no header here\r\n"
    b"--i--\r\n"
    b"--o--\r\n"
)


def _section(text: str) -> bytes:
    """BODY[text] of NESTED ("2.1.MIME" -> part (2, 1), MIME)."""
    numbers: list[int] = []
    spec = text
    while spec[:1].isdigit():
        head, _, spec = spec.partition(".")
        numbers.append(int(head))
    root = mime.parse(NESTED)
    return sections.extract(root, NESTED, Section(tuple(numbers), spec))


def test_sections_walk_parts_and_encapsulated_messages() -> None:
    assert _section("1") == b"first"
    assert _section("2").startswith(b"Subject: inner\r\n")
    assert _section("2.HEADER").startswith(b"Subject: inner\r\n")
    assert _section("2.TEXT").startswith(b"--i\r\n")
    assert _section("2.1") == b"r=E9sultat"
    assert _section("2.1.MIME").startswith(b"Content-Type: text/plain; charset=iso-8859-1")
    assert _section("2.2") == b"no header here"
    assert _section("2.2.MIME") == b"\r\n"
    assert _section("3") == b""
    assert _section("1.1") == b"first"  # a single part is its own part 1
    assert _section("HEADER") + _section("TEXT") == NESTED


def test_bodystructure_of_nested_message() -> None:
    rendered = wire.encode(bodystructure.structure(mime.parse(NESTED), extensible=False))
    assert rendered == (
        b'(("TEXT" "PLAIN" NIL NIL NIL "7BIT" 5 1)'
        b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 205 '
        b'(NIL "inner" NIL NIL NIL NIL NIL NIL NIL NIL) '
        b'(("TEXT" "PLAIN" ("CHARSET" "iso-8859-1") NIL NIL "QUOTED-PRINTABLE" 10 1)'
        b'("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 14 1) "ALTERNATIVE") 12) "MIXED")'
    )


def test_search_text_decodes_parts() -> None:
    assert "résultat" in body_text(mime.parse(NESTED))
    assert "first" in body_text(mime.parse(NESTED))


def test_mime_nesting_is_bounded() -> None:
    depth = 10_000
    message = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (n, n)
        for n in range(depth)
    )
    root = mime.parse(message)
    levels = 0
    while root.children:
        root = root.children[0]
        levels += 1
    assert levels <= mime.MAX_DEPTH


def test_many_parts_are_bounded() -> None:
    body = b"".join(b"--x\r\n\r\npart\r\n" for _ in range(5000)) + b"--x--\r\n"
    root = mime.parse(b"Content-Type: multipart/mixed; boundary=x\r\n\r\n" + body)
    assert len(root.children) <= mime.MAX_PARTS


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"Alice <alice@h.test>", [(b"Alice", None, b"alice", b"h.test")]),
        (
            b'"Martin, A." <a@h.test>, b@h.test',
            [(b"Martin, A.", None, b"a", b"h.test"), (None, None, b"b", b"h.test")],
        ),
        (b"a@h.test (Alice A)", [(b"Alice A", None, b"a", b"h.test")]),
        (b"<@relay.test:a@h.test>", [(None, b"@relay.test", b"a", b"h.test")]),
        (
            b"team: c@h.test, d@h.test;, e@h.test",
            [
                (None, None, b"team", None),
                (None, None, b"c", b"h.test"),
                (None, None, b"d", b"h.test"),
                (None, None, None, None),
                (None, None, b"e", b"h.test"),
            ],
        ),
        (
            b"undisclosed-recipients:;",
            [(None, None, b"undisclosed-recipients", None), (None, None, None, None)],
        ),
        (b"nodomain", [(None, None, b"nodomain", b"MISSING_DOMAIN")]),
        (b"=?utf-8?q?Jos=C3=A9?= <j@h.test>", [(b"=?utf-8?q?Jos=C3=A9?=", None, b"j", b"h.test")]),
    ],
)
def test_address_lists(raw: bytes, expected: list[tuple[bytes | None, ...]]) -> None:
    assert [(a.name, a.adl, a.mailbox, a.host) for a in addresses.parse(raw)] == expected


def test_hostile_address_list_is_bounded() -> None:
    assert len(addresses.parse(b"a@b," * 10_000)) <= addresses.MAX_ADDRESSES
    addresses.parse(b"(" * 10_000 + b"x@y")  # unbalanced comments end at the input's end


def test_header_subset_keeps_fields_as_written() -> None:
    header = b"Subject: a\r\n  folded\r\nFrom: x@y\r\nsubject: second\r\n\r\n"
    assert headers.subset(header, ["SUBJECT"], exclude=False) == (
        b"Subject: a\r\n  folded\r\nsubject: second\r\n\r\n"
    )
    assert headers.subset(header, ["subject"], exclude=True) == b"From: x@y\r\n\r\n"
    assert headers.first(headers.fields(header), "subject") == b"a  folded"


def _samples(root: Path) -> list[Path]:
    return sorted(
        p for p in (root / "eml").rglob("*") if p.is_file() and p.suffix in (".txt", ".eml")
    )


def test_public_samples_render_and_split(shared_fixtures: Path) -> None:
    samples = _samples(shared_fixtures)
    assert samples
    for path in samples:
        data = path.read_bytes()
        root = mime.parse(data)
        wire.encode(bodystructure.structure(root, extensible=True))
        wire.encode(envelope(root.fields))
        header = sections.extract(root, data, Section((), "HEADER"))
        text = sections.extract(root, data, Section((), "TEXT"))
        assert header + text == data, path.name
