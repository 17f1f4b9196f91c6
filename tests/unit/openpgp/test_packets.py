"""Packet framing (RFC 4880 §4.2): every length form, and broken input refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.openpgp.packets import PacketError, RawPacket, Tag, encode, read_packets


@given(st.lists(st.tuples(st.integers(1, 63), st.binary(max_size=600)), max_size=5))
def test_encode_then_read(packets: list[tuple[int, bytes]]) -> None:
    data = b"".join(encode(tag, body) for tag, body in packets)
    assert read_packets(data) == [RawPacket(tag, body) for tag, body in packets]


def test_new_format_one_and_two_octet_lengths() -> None:
    assert read_packets(bytes([0xC0 | 11, 3]) + b"abc") == [RawPacket(11, b"abc")]
    body = bytes(300)
    two = bytes([0xC0 | 11, ((300 - 192) >> 8) + 192, (300 - 192) & 0xFF]) + body
    assert read_packets(two) == [RawPacket(11, body)]


def test_old_format_lengths() -> None:
    assert read_packets(bytes([0x80 | (2 << 2) | 0, 2]) + b"xy") == [RawPacket(2, b"xy")]
    assert read_packets(bytes([0x80 | (2 << 2) | 1, 0, 2]) + b"xy") == [RawPacket(2, b"xy")]
    assert read_packets(bytes([0x80 | (11 << 2) | 3]) + b"to the end") == [
        RawPacket(11, b"to the end")
    ]


def test_partial_body_lengths_are_joined() -> None:
    first = bytes(512)
    data = bytes([0xC0 | Tag.SEIPD, 0xE0 | 9]) + first + bytes([5]) + b"tail!"
    assert read_packets(data) == [RawPacket(Tag.SEIPD, first + b"tail!")]


def test_partial_length_on_a_signature_is_refused() -> None:
    with pytest.raises(PacketError):
        read_packets(bytes([0xC0 | Tag.SIGNATURE, 0xE0 | 1, 0, 0, 0]))


@pytest.mark.parametrize(
    "data",
    [bytes([0x40, 1, 0]), bytes([0xC0 | 11, 5]) + b"abc", bytes([0xC0 | 11, 0xFF, 0, 0])],
    ids=["no-bit-7", "truncated-body", "truncated-length"],
)
def test_broken_framing(data: bytes) -> None:
    with pytest.raises(PacketError):
        read_packets(data)
