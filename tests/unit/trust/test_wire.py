"""The DATA section the relay writes: CRLF only, dot-stuffed, read back exactly by the
receiving side's reader (RFC 5321 §4.1.1.4, §4.5.2)."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from mailserver.relay.wire import crlf_only, dot_stuffed
from mailserver.smtp.data import read_data


def test_bare_line_ends_become_crlf() -> None:
    assert crlf_only(b"a\nb\rc\r\nd\n\re") == b"a\r\nb\r\nc\r\nd\r\n\r\ne"


def test_leading_dots_are_doubled_and_the_data_is_ended() -> None:
    assert dot_stuffed(b".hidden\r\n..two\r\nnot.this\r\n.") == (
        b"..hidden\r\n...two\r\nnot.this\r\n..\r\n.\r\n"
    )


def test_smuggling_end_of_data_variants_stay_inside_the_message() -> None:
    # "\n.\n" and "\r.\r" would end DATA at a lenient peer: here they become stuffed lines.
    wire = dot_stuffed(b"first\n.\nMAIL FROM:<x@evil.test>\r.\rsecond")
    assert wire.count(b"\r\n.\r\n") == 1 and wire.endswith(b"\r\n.\r\n")
    assert b"\r\n..\r\nMAIL FROM" in wire


def test_empty_content_is_just_the_end() -> None:
    assert dot_stuffed(b"") == b".\r\n"


def _read_back(wire: bytes) -> bytes | None:
    async def go() -> bytes | None:
        reader = asyncio.StreamReader(limit=2**20)
        reader.feed_data(wire)
        reader.feed_eof()
        received = await read_data(reader, max_bytes=2**20, max_line=2**20)
        return received.content

    return asyncio.run(go())


@settings(max_examples=300)
@given(
    st.binary(max_size=2000)
    | st.lists(st.sampled_from([b".", b"\r", b"\n", b"x", b".."])).map(b"".join)
)
def test_the_receivers_reader_gets_the_content_back(content: bytes) -> None:
    wire = dot_stuffed(content)
    assert b"\n" not in wire.replace(b"\r\n", b"") and b"\r" not in wire.replace(b"\r\n", b"")
    expected = crlf_only(content)
    if expected and not expected.endswith(b"\r\n"):
        expected += b"\r\n"
    assert _read_back(wire) == expected
