"""Sequence sets (RFC 3501 §9 sequence-set): "1:4,7,9:*". `*` stands for the largest
number in use; a range may be written backwards ("5:2" is "2:5")."""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

from mailserver.imap.grammar.errors import ParseError
from mailserver.imap.grammar.reader import Reader

_ITEM = re.compile(rb"(\*|[0-9]+)(?::(\*|[0-9]+))?")
STAR = -1  # stands for "*" until resolved against the mailbox
_MAX = 2**32 - 1


@dataclass(frozen=True, slots=True)
class SequenceSet:
    """Ranges as written, STAR standing for "*"."""

    ranges: tuple[tuple[int, int], ...]

    def resolve(self, largest: int) -> list[tuple[int, int]]:
        """Ranges with "*" replaced by `largest`, each low <= high."""
        out = []
        for lo, hi in self.ranges:
            a = largest if lo == STAR else lo
            b = largest if hi == STAR else hi
            out.append((min(a, b), max(a, b)))
        return out

    def select(self, ordered: Sequence[int], largest: int) -> list[int]:
        """The members of the sorted `ordered` that the set names, each once, ascending.

        O(ranges · log n): "1:*" over 100,000 messages is one slice.
        """
        merged: list[tuple[int, int]] = []
        for lo, hi in sorted(self.resolve(largest)):
            if merged and lo <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
            else:
                merged.append((lo, hi))
        out: list[int] = []
        for lo, hi in merged:
            out.extend(ordered[bisect.bisect_left(ordered, lo) : bisect.bisect_right(ordered, hi)])
        return out

    def contains(self, value: int, largest: int) -> bool:
        return any(lo <= value <= hi for lo, hi in self.resolve(largest))

    def __str__(self) -> str:
        def one(v: int) -> str:
            return "*" if v == STAR else str(v)

        return ",".join(one(lo) if lo == hi else f"{one(lo)}:{one(hi)}" for lo, hi in self.ranges)


def _value(token: bytes) -> int:
    if token == b"*":
        return STAR
    value = int(token)
    if value == 0 or value > _MAX:
        raise ParseError("sequence numbers are 1 to 4294967295")
    return value


def sequence_set(r: Reader) -> SequenceSet:
    ranges: list[tuple[int, int]] = []
    while True:
        found = r.match(_ITEM)
        if found is None:
            raise ParseError("expected a sequence set")
        lo = _value(found.group(1))
        hi = lo if found.group(2) is None else _value(found.group(2))
        ranges.append((lo, hi))
        if len(ranges) > r.limits.max_items:
            raise ParseError("sequence set has too many ranges")
        if not r.skip(b","):
            return SequenceSet(tuple(ranges))


def compress(values: Sequence[int]) -> str:
    """The shortest sequence-set text for sorted unique `values` ("1:3,7")."""
    parts: list[str] = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        parts.append(str(values[i]) if i == j else f"{values[i]}:{values[j]}")
        i = j + 1
    return ",".join(parts)
