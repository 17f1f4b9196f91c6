"""LIST patterns (RFC 3501 §6.3.8): "*" matches anything, "%" anything but the hierarchy
delimiter. Matching is iterative (no regex backtracking blow-up on hostile patterns)."""

from __future__ import annotations

import re

from mailserver.imap.grammar import mailbox_names
from mailserver.imap.grammar.errors import ParseError
from mailserver.imap.grammar.reader import Reader
from mailserver.imap.grammar.strings import string

# list-char = ATOM-CHAR / list-wildcards / resp-specials
_LIST_ATOM = re.compile(rb"[^\x00-\x20\x7f-\xff(){\"\\]+")


def list_mailbox(r: Reader) -> str:
    """list-mailbox = 1*list-char / string"""
    if r.peek() in (b'"', b"{"):
        raw = string(r)
    else:
        found = r.match(_LIST_ATOM)
        if found is None:
            raise ParseError("expected a mailbox pattern")
        raw = found.group(0)
    return mailbox_names.decode(raw)


def matches(pattern: str, name: str, delimiter: str = "/") -> bool:
    """True when `name` matches `pattern` (case-sensitive, except INBOX by the caller)."""
    # Dynamic programming over positions: O(len(pattern) * len(name)).
    states = {0}
    for char in name:
        following: set[int] = set()
        for p in states:
            _advance(pattern, p, char, delimiter, following)
        if not following:
            return False
        states = following
    return any(_only_wildcards(pattern, p) for p in states)


def _advance(pattern: str, p: int, char: str, delimiter: str, into: set[int]) -> None:
    while p < len(pattern):
        symbol = pattern[p]
        if symbol == "*" or (symbol == "%" and char != delimiter):
            into.add(p)  # the wildcard eats the character and stays
        if symbol in "*%":
            p += 1  # or matches nothing and we try the rest
            continue
        if symbol == char:
            into.add(p + 1)
        return


def _only_wildcards(pattern: str, p: int) -> bool:
    return all(c in "*%" for c in pattern[p:])
