"""SEARCH programs (RFC 3501 §6.4.4, §9 search-key) as a tree of typed keys.

Strings are decoded with the CHARSET given (UTF-8 or US-ASCII; RFC 3501 requires
US-ASCII, clients send UTF-8); any other charset is `BadCharset` (answered NO
[BADCHARSET], RFC 3501 §7.1). NOT, OR and parentheses count towards the nesting limit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from mailserver.imap.grammar import atoms, dates, flags, sequence_sets, strings
from mailserver.imap.grammar.errors import ParseError
from mailserver.imap.grammar.reader import Reader
from mailserver.imap.grammar.sequence_sets import SequenceSet

SUPPORTED_CHARSETS = ("US-ASCII", "UTF-8")


class BadCharset(ParseError):
    """SEARCH CHARSET names a charset the server does not support."""


@dataclass(frozen=True, slots=True)
class AllKey:
    pass


@dataclass(frozen=True, slots=True)
class NoneKey:
    """Matches nothing (NEW and RECENT: no message is \\Recent here)."""


@dataclass(frozen=True, slots=True)
class FlagKey:
    flag: str  # a system flag (canonical case) or a keyword
    present: bool


@dataclass(frozen=True, slots=True)
class DateKey:
    source: Literal["internal", "sent"]
    relation: Literal["before", "on", "since"]
    date: dt.date


@dataclass(frozen=True, slots=True)
class SizeKey:
    larger: bool
    size: int


@dataclass(frozen=True, slots=True)
class HeaderKey:
    name: str  # header field name, lowercase
    value: str  # "" matches every message that has the field (RFC 3501 §6.4.4 HEADER)


@dataclass(frozen=True, slots=True)
class TextKey:
    value: str
    whole: bool  # TEXT (header and body) rather than BODY


@dataclass(frozen=True, slots=True)
class SetKey:
    numbers: SequenceSet
    uid: bool


@dataclass(frozen=True, slots=True)
class NotKey:
    key: SearchKey


@dataclass(frozen=True, slots=True)
class OrKey:
    left: SearchKey
    right: SearchKey


@dataclass(frozen=True, slots=True)
class AndKey:
    keys: tuple[SearchKey, ...]


SearchKey = (
    AllKey
    | NoneKey
    | FlagKey
    | DateKey
    | SizeKey
    | HeaderKey
    | TextKey
    | SetKey
    | NotKey
    | OrKey
    | AndKey
)

_FLAG_KEYS: dict[str, FlagKey | AllKey | NoneKey] = {
    "ANSWERED": FlagKey("\\Answered", True),
    "DELETED": FlagKey("\\Deleted", True),
    "DRAFT": FlagKey("\\Draft", True),
    "FLAGGED": FlagKey("\\Flagged", True),
    "SEEN": FlagKey("\\Seen", True),
    "UNANSWERED": FlagKey("\\Answered", False),
    "UNDELETED": FlagKey("\\Deleted", False),
    "UNDRAFT": FlagKey("\\Draft", False),
    "UNFLAGGED": FlagKey("\\Flagged", False),
    "UNSEEN": FlagKey("\\Seen", False),
    "ALL": AllKey(),
    "OLD": AllKey(),
    "NEW": NoneKey(),
    "RECENT": NoneKey(),
}
_HEADER_KEYS = {"BCC": "bcc", "CC": "cc", "FROM": "from", "SUBJECT": "subject", "TO": "to"}
_DATE_KEYS: dict[str, tuple[Literal["internal", "sent"], Literal["before", "on", "since"]]] = {
    "BEFORE": ("internal", "before"),
    "ON": ("internal", "on"),
    "SINCE": ("internal", "since"),
    "SENTBEFORE": ("sent", "before"),
    "SENTON": ("sent", "on"),
    "SENTSINCE": ("sent", "since"),
}


def program(r: Reader) -> SearchKey:
    """[CHARSET SP astring SP] search-key *(SP search-key)"""
    charset = "UTF-8"
    if r.skip(b"CHARSET "):
        charset = strings.astring(r, "a charset").decode("ascii", "replace").upper()
        if charset not in SUPPORTED_CHARSETS:
            raise BadCharset(f"charset {charset[:40]} is not supported")
        r.sp()
    keys = [key(r, charset)]
    while r.skip(b" "):
        keys.append(key(r, charset))
        if len(keys) > r.limits.max_items:
            raise ParseError("too many search keys")
    return keys[0] if len(keys) == 1 else AndKey(tuple(keys))


def key(r: Reader, charset: str) -> SearchKey:
    first = r.peek()
    if first == b"(":
        return _group(r, charset)
    if first.isdigit() or first == b"*":
        return SetKey(sequence_sets.sequence_set(r), uid=False)
    name = atoms.atom(r, "a search key").upper()
    if name in _FLAG_KEYS:
        return _FLAG_KEYS[name]
    if name in _HEADER_KEYS:
        r.sp()
        return HeaderKey(_HEADER_KEYS[name], _text(r, charset))
    if name in _DATE_KEYS:
        r.sp()
        source, relation = _DATE_KEYS[name]
        return DateKey(source, relation, dates.date(r))
    return _other(r, name, charset)


def _keyword(r: Reader, name: str, charset: str) -> SearchKey:
    return FlagKey(flags.keyword(r), name == "KEYWORD")


def _size(r: Reader, name: str, charset: str) -> SearchKey:
    return SizeKey(name == "LARGER", atoms.number(r, "a size", bits64=True))


def _body(r: Reader, name: str, charset: str) -> SearchKey:
    return TextKey(_text(r, charset), whole=name == "TEXT")


def _header(r: Reader, name: str, charset: str) -> SearchKey:
    field = strings.astring(r, "a header field name").decode("ascii", "replace")
    r.sp()
    return HeaderKey(field.lower(), _text(r, charset))


def _uid(r: Reader, name: str, charset: str) -> SearchKey:
    return SetKey(sequence_sets.sequence_set(r), uid=True)


def _not(r: Reader, name: str, charset: str) -> SearchKey:
    r.enter()
    inner = key(r, charset)
    r.leave()
    return NotKey(inner)


def _or(r: Reader, name: str, charset: str) -> SearchKey:
    r.enter()
    left = key(r, charset)
    r.sp()
    right = key(r, charset)
    r.leave()
    return OrKey(left, right)


_WITH_ARGUMENTS: dict[str, Callable[[Reader, str, str], SearchKey]] = {
    "KEYWORD": _keyword,
    "UNKEYWORD": _keyword,
    "LARGER": _size,
    "SMALLER": _size,
    "BODY": _body,
    "TEXT": _body,
    "HEADER": _header,
    "UID": _uid,
    "NOT": _not,
    "OR": _or,
}


def _other(r: Reader, name: str, charset: str) -> SearchKey:
    parser = _WITH_ARGUMENTS.get(name)
    if parser is None:
        raise ParseError("unknown search key")
    r.sp()
    return parser(r, name, charset)


def _group(r: Reader, charset: str) -> SearchKey:
    r.expect(b"(")
    r.enter()
    keys = [key(r, charset)]
    while r.skip(b" "):
        keys.append(key(r, charset))
        if len(keys) > r.limits.max_items:
            raise ParseError("too many search keys")
    r.expect(b")")
    r.leave()
    return keys[0] if len(keys) == 1 else AndKey(tuple(keys))


def _text(r: Reader, charset: str) -> str:
    raw = strings.astring(r, "a search string")
    try:
        return raw.decode("ascii" if charset == "US-ASCII" else "utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"search string is not valid {charset}") from exc
