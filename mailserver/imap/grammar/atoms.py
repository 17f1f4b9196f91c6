"""Atoms, tags and numbers (RFC 3501 §9: atom, tag, number, nz-number)."""

from __future__ import annotations

import re

from mailserver.imap.grammar.errors import ParseError
from mailserver.imap.grammar.reader import Reader

# ATOM-CHAR: any CHAR except atom-specials ( ) { SP CTL % * " \ ] and 8-bit.
ATOM = re.compile(rb"[^\x00-\x20\x7f-\xff(){%*\"\\\]]+")
# tag: ASTRING-CHAR except "+" (ASTRING-CHAR = ATOM-CHAR / "]").
TAG = re.compile(rb"[^\x00-\x20\x7f-\xff(){%*\"\\+]+")
# ASTRING-CHAR
ASTRING_ATOM = re.compile(rb"[^\x00-\x20\x7f-\xff(){%*\"\\]+")
NUMBER = re.compile(rb"[0-9]+")
MAX_NUMBER = 2**32 - 1  # number is a 32-bit unsigned integer (RFC 3501 §4.2)
MAX_NUMBER64 = 2**63 - 1


def atom(r: Reader, what: str = "an atom") -> str:
    return r.take(ATOM, what).decode("ascii")


def tag(r: Reader) -> str:
    return r.take(TAG, "a tag").decode("ascii")


def number(r: Reader, what: str = "a number", *, bits64: bool = False) -> int:
    value = int(r.take(NUMBER, what))
    if value > (MAX_NUMBER64 if bits64 else MAX_NUMBER):
        raise ParseError(f"{what} is out of range")
    return value


def nz_number(r: Reader, what: str = "a non-zero number") -> int:
    value = number(r, what)
    if value == 0:
        raise ParseError(f"{what} cannot be 0")
    return value
