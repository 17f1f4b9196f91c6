"""The DATA reader: ends only at CRLF.CRLF however the bytes arrive, unstuffs dots,
and drops (but counts) what passes the limits."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from mailserver.smtp.data import read_data


async def read(
    chunks: list[bytes], *, max_bytes: int = 10_000, max_line: int = 998, limit: int = 1001
) -> tuple[bytes | None, int, int, bytes]:
    reader = asyncio.StreamReader(limit=limit)
    for chunk in chunks:
        reader.feed_data(chunk)
    reader.feed_eof()
    received = await read_data(reader, max_bytes=max_bytes, max_line=max_line)
    rest = await reader.read()
    return received.content, received.stats.total_bytes, received.stats.longest_line, rest


async def test_ends_at_crlf_dot_crlf_and_unstuffs() -> None:
    content, total, longest, rest = await read([b"a\r\n..b\r\n.c\r\n.\r\nNOOP\r\n"])
    assert content == b"a\r\n.b\r\nc\r\n"
    assert rest == b"NOOP\r\n"
    assert (total, longest) == (len(content), 2)


async def test_smuggling_lookalikes_do_not_end_data() -> None:
    stream = b"x\n.\nMAIL FROM:<a@b>\r\nx\r.\rRCPT\r\n\r\n.\r\n"
    content, _, _, rest = await read([stream])
    assert content == b"x\n.\nMAIL FROM:<a@b>\r\nx\r.\rRCPT\r\n\r\n"
    assert rest == b""


async def test_over_long_line_is_measured_and_dropped_and_its_tail_is_not_an_end() -> None:
    line = b"y" * 5000 + b".\r\n"  # the tail after the buffer overrun is ".\r\n"
    content, total, longest, rest = await read([b"a\r\n", line, b"b\r\n.\r\nQUIT\r\n"])
    assert content is None
    assert longest == 5001
    assert total == 3 + len(line) + 3
    assert rest == b"QUIT\r\n"


async def test_over_size_is_counted_and_dropped() -> None:
    content, total, _, rest = await read([b"z" * 98 + b"\r\n"] * 200 + [b".\r\n"], max_bytes=1000)
    assert content is None and total == 20_000
    assert rest == b""


def _stuffed(lines: list[bytes]) -> bytes:
    """`lines` as a client sends them: CRLF after each, a dot before a leading dot."""
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)


def _cut(stream: bytes, cuts: list[int]) -> list[bytes]:
    """`stream` in pieces of the sizes `cuts`, then the rest."""
    chunks, position = [], 0
    for cut in cuts:
        chunks.append(stream[position : position + cut])
        position += cut
    return [*chunks, stream[position:]]


body_lines = st.lists(
    st.binary(max_size=40).filter(lambda b: b"\r\n" not in b and not b.endswith(b"\r")),
    max_size=20,
)


@settings(max_examples=100, deadline=None)
@given(body_lines, st.lists(st.integers(1, 50), min_size=1, max_size=10))
def test_any_chunking_gives_the_same_message(lines: list[bytes], cuts: list[int]) -> None:
    stream = _stuffed(lines) + b".\r\n"
    content, _, _, rest = asyncio.run(read(_cut(stream, cuts)))
    assert content == b"".join(line + b"\r\n" for line in lines)
    assert rest == b""


def _reference(
    stream: bytes, max_bytes: int, max_line: int
) -> tuple[bytes | None, int, int, bytes]:
    """What the DATA section of `stream` is, worked out on the whole stream at once:
    it ends at the first ".\\r\\n" that starts a line (the stream starts at one)."""
    end = 0 if stream.startswith(b".\r\n") else stream.index(b"\r\n.\r\n") + 2
    lines = [
        line[1:] if line.startswith(b".") else line for line in stream[:end].split(b"\r\n")[:-1]
    ]
    content = b"".join(line + b"\r\n" for line in lines)
    longest = max((len(line) for line in lines), default=0)
    kept = content if len(content) <= max_bytes and longest <= max_line else None
    return kept, len(content), longest, stream[end + 3 :]


line_bytes = st.one_of(
    st.binary(max_size=60),
    st.sampled_from(
        [b".", b"..", b".x", b"\n.", b"\r", b"x\r", b".\n", b"y" * 1200, b"." + b"z" * 1100]
    ),
)
any_lines = st.lists(
    st.lists(line_bytes, max_size=3)
    .map(b"".join)
    .filter(lambda b: b"\r\n" not in b and not b.endswith(b"\r")),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(
    any_lines, st.lists(st.integers(1, 700), min_size=1, max_size=12), st.sampled_from([300, 5_000])
)
def test_any_message_and_chunking_read_as_the_whole_stream_says(
    lines: list[bytes], cuts: list[int], max_bytes: int
) -> None:
    # Lines with dots, bare CRs and LFs, over-long lines; pieces of any size; what
    # follows the end stays in the stream.
    stream = _stuffed(lines) + b".\r\nQUIT\r\n"
    content, total, longest, rest = asyncio.run(read(_cut(stream, cuts), max_bytes=max_bytes))
    expected, expected_total, expected_longest, expected_rest = _reference(stream, max_bytes, 998)
    assert (content, total, longest, rest) == (
        expected,
        expected_total,
        expected_longest,
        expected_rest,
    )
