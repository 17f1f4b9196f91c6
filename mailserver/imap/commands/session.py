"""Commands valid in any state or about the session itself: CAPABILITY, NOOP, LOGOUT
(RFC 3501 §6.1), ID (RFC 2971), ENABLE (RFC 5161), NAMESPACE (RFC 2342), IDLE (RFC 2177),
CHECK (RFC 3501 §6.4.1)."""

from __future__ import annotations

from dataclasses import dataclass

from mailserver.imap.grammar import atoms, strings
from mailserver.imap.grammar.errors import ParseError
from mailserver.imap.grammar.reader import Reader

MAX_ID_PAIRS = 30  # RFC 2971 §3.3


@dataclass(frozen=True, slots=True)
class Capability:
    tag: str


@dataclass(frozen=True, slots=True)
class Noop:
    tag: str


@dataclass(frozen=True, slots=True)
class Check:
    tag: str


@dataclass(frozen=True, slots=True)
class Logout:
    tag: str


@dataclass(frozen=True, slots=True)
class Id:
    tag: str
    fields: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True, slots=True)
class Enable:
    tag: str
    capabilities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Namespace:
    tag: str


@dataclass(frozen=True, slots=True)
class Idle:
    tag: str


def parse_id(tag: str, r: Reader) -> Id:
    """id-params-list = "(" *(string SP nstring) ")" / nil"""
    r.sp()
    if r.skip(b"NIL"):
        return Id(tag, ())
    r.expect(b"(")
    fields: list[tuple[str, str | None]] = []
    while not r.skip(b")"):
        if fields:
            r.sp()
        key = strings.string(r).decode("utf-8", "replace")
        r.sp()
        value = strings.nstring(r)
        fields.append((key, None if value is None else value.decode("utf-8", "replace")))
        if len(fields) > MAX_ID_PAIRS:
            raise ParseError("too many ID fields")
    return Id(tag, tuple(fields))


def parse_enable(tag: str, r: Reader) -> Enable:
    names = []
    while r.skip(b" "):
        names.append(atoms.atom(r, "a capability").upper())
        if len(names) > r.limits.max_items:
            raise ParseError("too many capabilities")
    if not names:
        raise ParseError("ENABLE needs at least one capability")
    return Enable(tag, tuple(names))
