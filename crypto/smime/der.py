"""DER tag-length-value writing for the outer layers of a CMS envelope (X.690 §8, §10).

asn1crypto builds values by copying and re-tagging them field by field: measured here at
~25 ms for one 10 KB AuthEnvelopedData and several copies of a 1 MB ciphertext. The
outer structures of an envelope are a handful of SEQUENCEs around the ciphertext, so they
are written directly; the small inner values (algorithm identifiers, names) come from
asn1crypto or from the recipient certificate's own DER, and the result is parsed back by
asn1crypto and by `openssl cms` in the tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

Buffer = bytes | bytearray | memoryview


@dataclass(frozen=True, slots=True)
class Stream:
    """Content octets of a known length made while they are read: a ciphertext
    encrypted slice by slice as its base64 is written, so that no whole copy of it is
    ever held."""

    length: int
    pieces: Iterable[Buffer]


Piece = Buffer | Stream


def _length(size: int) -> bytes:
    """X.690 §8.1.3: short form below 128, else long form with the fewest octets."""
    if size < 0x80:
        return bytes([size])
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def header(tag: int, length: int) -> bytes:
    """The identifier and length octets of a value with `length` content octets."""
    return bytes([tag]) + _length(length)


def tlv(tag: int, *contents: bytes) -> bytes:
    body = b"".join(contents)
    return header(tag, len(body)) + body


def wrap(tag: int, *contents: Piece) -> list[Piece]:
    """A value as pieces: its header, then `contents` uncopied (a 1 MB ciphertext under
    the five layers of a ContentInfo is not copied once per layer)."""
    size = sum(c.length if isinstance(c, Stream) else len(c) for c in contents)
    return [header(tag, size), *contents]


def flatten(pieces: Iterable[Piece]) -> Iterator[Buffer]:
    """The octets of `pieces` in order, streams read as they come."""
    for piece in pieces:
        if isinstance(piece, Stream):
            yield from piece.pieces
        else:
            yield piece


def sequence(*contents: bytes) -> bytes:
    return tlv(0x30, *contents)


def set_of(*elements: bytes) -> bytes:
    """X.690 §11.6: the elements of a DER SET OF in ascending order of their encodings."""
    return tlv(0x31, *sorted(elements))


def octet_string(data: bytes) -> bytes:
    return tlv(0x04, data)


def small_integer(value: int) -> bytes:
    """A non-negative INTEGER below 128 (versions, tag lengths)."""
    if not 0 <= value < 0x80:
        raise ValueError("small_integer takes 0..127")
    return tlv(0x02, bytes([value]))


def explicit(number: int, content: bytes) -> bytes:
    """A context-specific, constructed [number] EXPLICIT tag (number below 31)."""
    return tlv(0xA0 | number, content)


def implicit_primitive(number: int, content: bytes) -> bytes:
    """A context-specific, primitive [number] IMPLICIT tag (number below 31)."""
    return tlv(0x80 | number, content)


def oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER (X.690 §8.19)."""
    arcs = [int(a) for a in dotted.split(".")]
    first = arcs[0] * 40 + arcs[1]
    body = bytearray()
    for arc in [first, *arcs[2:]]:
        chunk = [arc & 0x7F]
        rest = arc >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        body.extend(reversed(chunk))
    return tlv(0x06, bytes(body))
