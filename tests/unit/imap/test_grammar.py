"""The grammar elements: sequence sets, modified UTF-7, LIST patterns, strings, dates,
flags; properties checked against brute-force oracles."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailserver.imap.grammar import dates, flags, list_patterns, mailbox_names, strings
from mailserver.imap.grammar.errors import ParseError
from mailserver.imap.grammar.reader import Reader
from mailserver.imap.grammar.sequence_sets import STAR, SequenceSet, compress, sequence_set


def _set(text: str) -> SequenceSet:
    return sequence_set(Reader(text.encode()))


def test_sequence_set_forms() -> None:
    parsed = _set("1:3,7,9:*,5:4")
    assert parsed.ranges == ((1, 3), (7, 7), (9, STAR), (5, 4))
    assert parsed.select(list(range(1, 13)), 12) == [1, 2, 3, 4, 5, 7, 9, 10, 11, 12]
    assert _set("*").select([3, 8, 20], 20) == [20]
    assert _set("30:*").select([3, 8, 20], 20) == [20]  # n:* with n past the end
    for bad in (b"0", b"1:0", b"", b",1", b"1,", b"4294967296", b"a"):
        with pytest.raises(ParseError):
            sequence_set(Reader(bad))


@given(
    st.lists(st.tuples(st.integers(1, 60), st.integers(1, 60)), min_size=1, max_size=6),
    st.lists(st.integers(1, 60), unique=True),
)
def test_sequence_set_select_matches_brute_force(
    ranges: list[tuple[int, int]], members: list[int]
) -> None:
    members.sort()
    text = ",".join(f"{a}:{b}" for a, b in ranges)
    expected = [m for m in members if any(min(a, b) <= m <= max(a, b) for a, b in ranges)]
    assert _set(text).select(members, members[-1] if members else 0) == expected


@given(st.lists(st.integers(1, 10_000), unique=True, min_size=1))
def test_compress_round_trips(values: list[int]) -> None:
    values.sort()
    text = compress(values)
    assert _set(text).select(values, values[-1]) == values
    assert len(text) <= len(",".join(map(str, values)))


def test_modified_utf7_vectors() -> None:
    # RFC 3501 §5.1.3's example.
    assert mailbox_names.decode(b"~peter/mail/&U,BTFw-/&ZeVnLIqe-") == "~peter/mail/台北/日本語"
    assert mailbox_names.encode("~peter/mail/台北/日本語") == b"~peter/mail/&U,BTFw-/&ZeVnLIqe-"
    assert mailbox_names.encode("A&B") == b"A&-B"
    for bad in (b"&AGE-", b"&Jjo", b"caf\xc3\xa9", b"&-&", b"&!!-"):
        with pytest.raises(ParseError):
            mailbox_names.decode(bad)


@given(st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40))
def test_modified_utf7_round_trips(name: str) -> None:
    encoded = mailbox_names.encode(name)
    assert all(0x20 <= b <= 0x7E for b in encoded)
    assert mailbox_names.decode(encoded) == name


def _oracle(pattern: str, name: str) -> bool:
    regex = "".join(".*" if c == "*" else "[^/]*" if c == "%" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name, re.DOTALL) is not None


@given(st.text("ab/*%", max_size=8), st.text("ab/", max_size=8))
def test_list_pattern_matches_like_the_regex_oracle(pattern: str, name: str) -> None:
    assert list_patterns.matches(pattern, name) == _oracle(pattern, name)


def test_list_pattern_is_linear_on_hostile_input() -> None:
    pattern = "*a" * 200 + "b"
    assert not list_patterns.matches(pattern, "a" * 250)


def test_strings() -> None:
    assert strings.quoted(Reader(b'"a\\"b\\\\c"')) == b'a"b\\c'
    assert strings.literal(Reader(b"{3}\r\nabc")) == b"abc"
    assert strings.literal(Reader(b"{3+}\r\nabc")) == b"abc"
    assert strings.astring(Reader(b"atom]x")) == b"atom]x"
    assert strings.nstring(Reader(b"NIL")) is None
    for bad in (b'"unterminated', b'"bad \\n escape"', b'"nul \x00"', b'"line\r\nbreak"'):
        with pytest.raises(ParseError):
            strings.quoted(Reader(bad))
    with pytest.raises(ParseError):
        strings.literal(Reader(b"{3}\r\na\x00c"))
    assert strings.literal(Reader(b"{3}\r\na\x00c"), binary=True) == b"a\x00c"
    with pytest.raises(ParseError):
        strings.literal(Reader(b"{9}\r\nshort"))


def test_dates() -> None:
    parsed = dates.date_time(Reader(b'"04-Mar-2024 10:15:00 +0100"'))
    assert parsed == dt.datetime(2024, 3, 4, 9, 15, tzinfo=dt.UTC)
    assert dates.format_date_time(parsed.astimezone(dt.UTC)) == " 4-Mar-2024 09:15:00 +0000"
    assert dates.date(Reader(b"1-feb-2024")) == dt.date(2024, 2, 1)
    assert dates.date(Reader(b'"29-Feb-2024"')) == dt.date(2024, 2, 29)
    for bad in (b"30-Feb-2024", b"1-Foo-2024", b"2024-02-01"):
        with pytest.raises(ParseError):
            dates.date(Reader(bad))


def test_flags() -> None:
    assert flags.flag_list(Reader(b"(\\seen $Label1 \\DRAFT)")) == ["\\Seen", "$Label1", "\\Draft"]
    assert flags.store_flags(Reader(b"\\Deleted \\Flagged")) == ["\\Deleted", "\\Flagged"]
    assert flags.flag_list(Reader(b"()")) == []
    for bad in (b"(\\Seen", b"(a (b))", b'("q")'):
        with pytest.raises(ParseError):
            flags.flag_list(Reader(bad))
