"""Strings: quoted, literal (synchronising and RFC 7888 non-synchronising), astring and
nstring (RFC 3501 §4.3, §9). NUL is refused everywhere (RFC 3501 CHAR8 excludes it)
except in the message of an APPEND, which the caller reads with `literal(binary=True)`.
"""

from __future__ import annotations

import re

from mailserver.imap.grammar.atoms import ASTRING_ATOM
from mailserver.imap.grammar.errors import ParseError
from mailserver.imap.grammar.reader import Reader

# Inside quotes: any byte but CR, LF, NUL, '"' and '\', or a '\' escaping '"' or '\'.
QUOTED = re.compile(rb'"((?:[^\r\n\x00"\\]|\\["\\])*)"')
_UNESCAPE = re.compile(rb'\\(["\\])')
LITERAL_HEAD = re.compile(rb"\{([0-9]+)(\+?)\}\r\n")


def quoted(r: Reader) -> bytes:
    found = r.match(QUOTED)
    if found is None:
        if r.peek() == b'"':
            raise ParseError("unterminated or invalid quoted string")
        raise ParseError("expected a quoted string")
    value = _UNESCAPE.sub(rb"\1", found.group(1))
    if len(value) > r.limits.max_string:
        raise ParseError("string too long")
    return value


def literal(r: Reader, *, binary: bool = False, max_size: int | None = None) -> bytes:
    head = r.match(LITERAL_HEAD)
    if head is None:
        raise ParseError("expected a literal")
    size = int(head.group(1))
    limit = r.limits.max_string if max_size is None else max_size
    if size > limit:
        raise ParseError("literal too large")
    if r.pos + size > len(r.buf):
        raise ParseError("literal shorter than announced")
    value = r.buf[r.pos : r.pos + size]
    r.pos += size
    if not binary and b"\x00" in value:
        raise ParseError("NUL is not allowed in a string")
    return value


def string(r: Reader) -> bytes:
    if r.peek() == b'"':
        return quoted(r)
    if r.peek() == b"{":
        return literal(r)
    raise ParseError("expected a string")


def astring(r: Reader, what: str = "a string") -> bytes:
    first = r.peek()
    if first in (b'"', b"{"):
        return string(r)
    found = r.match(ASTRING_ATOM)
    if found is None:
        raise ParseError(f"expected {what}")
    return found.group(0)


def nstring(r: Reader) -> bytes | None:
    if r.skip(b"NIL"):
        return None
    return string(r)


def text_of(value: bytes, what: str) -> str:
    """Decode a string argument as UTF-8 (RFC 6855 clients) or refuse it."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"{what} is not valid UTF-8") from exc
