"""Flags (RFC 3501 §9 flag, flag-list; store-att-flags allows them without parentheses)."""

from __future__ import annotations

import re

from mailserver.imap.grammar.atoms import ATOM
from mailserver.imap.grammar.errors import ParseError
from mailserver.imap.grammar.reader import Reader

_FLAG = re.compile(rb"\\?[^\x00-\x20\x7f-\xff(){%*\"\\\]]+")
SYSTEM = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")


def flag(r: Reader) -> str:
    found = r.match(_FLAG)
    if found is None:
        raise ParseError("expected a flag")
    name = found.group(0).decode("ascii")
    if name.startswith("\\"):
        for known in (*SYSTEM, "\\Recent"):
            if name.lower() == known.lower():
                return known
    return name


def flag_list(r: Reader) -> list[str]:
    """ "(" [flag *(SP flag)] ")" """
    r.expect(b"(")
    flags: list[str] = []
    if r.skip(b")"):
        return flags
    while True:
        flags.append(flag(r))
        if len(flags) > r.limits.max_items:
            raise ParseError("too many flags")
        if r.skip(b")"):
            return flags
        if not r.skip(b" "):
            raise ParseError("unterminated flag list")


def store_flags(r: Reader) -> list[str]:
    """flag-list / (flag *(SP flag))"""
    if r.peek() == b"(":
        return flag_list(r)
    flags = [flag(r)]
    while r.skip(b" "):
        flags.append(flag(r))
        if len(flags) > r.limits.max_items:
            raise ParseError("too many flags")
    return flags


def keyword(r: Reader) -> str:
    return r.take(ATOM, "a keyword").decode("ascii")
