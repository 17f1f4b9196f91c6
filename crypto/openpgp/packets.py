"""Reading and writing the OpenPGP packet framing (RFC 4880 §4.2), without pgpy.

The receiving side walks packet sequences itself so that it decides what a message may
contain before any key is touched: pgpy would decrypt a Symmetrically Encrypted Data
packet without MDC, and joins partial body lengths its own way. Bodies returned here
are whole (partial lengths joined), so pgpy only ever sees definite-length packets that
`encode` wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Tag(IntEnum):
    """Packet tags (RFC 4880 §4.3; 20 is RFC 9580's SEIPD v2 / GnuPG's OCB packet)."""

    PKESK = 1
    SIGNATURE = 2
    SKESK = 3
    ONE_PASS_SIGNATURE = 4
    COMPRESSED = 8
    SED = 9  # Symmetrically Encrypted Data: no integrity protection (EFAIL)
    MARKER = 10
    LITERAL = 11
    SEIPD = 18  # Sym. Encrypted Integrity Protected Data: CFB with MDC
    MDC = 19
    AEAD = 20


class PacketError(ValueError):
    """The bytes are not a well-formed sequence of OpenPGP packets."""


@dataclass(frozen=True, slots=True)
class RawPacket:
    tag: int
    body: bytes


def read_packets(data: bytes) -> list[RawPacket]:
    """Every packet in `data`, in order; PacketError on truncation or bad framing."""
    packets = []
    pos = 0
    while pos < len(data):
        packet, pos = _read_one(data, pos)
        packets.append(packet)
    return packets


def encode(tag: int, body: bytes) -> bytes:
    """A new-format packet with a five-octet definite length (RFC 4880 §4.2.2.3)."""
    return bytes([0xC0 | tag, 0xFF]) + len(body).to_bytes(4, "big") + body


def _read_one(data: bytes, pos: int) -> tuple[RawPacket, int]:
    first = data[pos]
    if not first & 0x80:
        raise PacketError("packet header bit 7 is not set")
    if first & 0x40:
        return _read_new(data, pos + 1, first & 0x3F)
    tag, length_type = (first >> 2) & 0x0F, first & 0x03
    pos += 1
    if length_type == 3:  # indeterminate: to the end of the data (§4.2.1)
        return RawPacket(tag, data[pos:]), len(data)
    size = (1, 2, 4)[length_type]
    length = int.from_bytes(_take(data, pos, size), "big")
    pos += size
    return RawPacket(tag, _take(data, pos, length)), pos + length


def _read_new(data: bytes, pos: int, tag: int) -> tuple[RawPacket, int]:
    chunks = []
    while True:
        first = _take(data, pos, 1)[0]
        if first < 192:
            length, pos = first, pos + 1
        elif first < 224:
            length = ((first - 192) << 8) + _take(data, pos + 1, 1)[0] + 192
            pos += 2
        elif first == 255:
            length, pos = int.from_bytes(_take(data, pos + 1, 4), "big"), pos + 5
        else:  # partial body length (§4.2.2.4): a power of two, more follows
            if tag not in (Tag.SED, Tag.SEIPD, Tag.LITERAL, Tag.COMPRESSED, Tag.AEAD):
                raise PacketError("partial body length on a packet that cannot have one")
            length = 1 << (first & 0x1F)
            chunks.append(_take(data, pos + 1, length))
            pos += 1 + length
            continue
        chunks.append(_take(data, pos, length))
        return RawPacket(tag, b"".join(chunks)), pos + length


def _take(data: bytes, pos: int, size: int) -> bytes:
    if pos + size > len(data):
        raise PacketError("packet is truncated")
    return data[pos : pos + size]
