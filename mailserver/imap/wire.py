"""IMAP data values on the wire (RFC 3501 §4): NIL, numbers, atoms, strings (quoted when
they can be, literal otherwise) and parenthesised lists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MAX_QUOTED = 1024


@dataclass(frozen=True, slots=True)
class Atom:
    """Written as is: an atom, a flag, or a pre-rendered token like BODY[1]."""

    text: str


@dataclass(frozen=True, slots=True)
class Literal:
    """Always written as a literal (message data, even when it would fit in quotes)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Run:
    """Values written one after the other without separators: the grammar's `1*address`
    and `1*body` (RFC 3501 §9) have no space between their elements."""

    items: Sequence[Value]


Value = None | int | str | bytes | Atom | Literal | Run | Sequence["Value"]


def _quotable(data: bytes) -> bool:
    return len(data) <= MAX_QUOTED and all(0x20 <= b <= 0x7E for b in data)


def string(data: bytes | str) -> bytes:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if _quotable(raw):
        return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}\r\n" % len(raw) + raw


def encode(value: Value) -> bytes:  # noqa: PLR0911 - one branch per kind of value
    if value is None:
        return b"NIL"
    if isinstance(value, bool):
        raise TypeError("booleans have no IMAP form")
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, Atom):
        return value.text.encode("utf-8")
    if isinstance(value, Literal):
        return b"{%d}\r\n" % len(value.data) + value.data
    if isinstance(value, str | bytes):
        return string(value)
    if isinstance(value, Run):
        return b"".join(encode(v) for v in value.items)
    return b"(" + b" ".join(encode(v) for v in value) + b")"
