"""Message flags as the store keeps them: the five RFC 3501 §2.3.2 system flags as bits of
one integer (cheap to test in SQL), and keywords as a sorted space-separated string.

\\Recent is not stored: Salus reports no message as recent (RFC 9051 §E.5 removed it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SEEN = 1
ANSWERED = 2
FLAGGED = 4
DELETED = 8
DRAFT = 16

SYSTEM_FLAGS: dict[str, int] = {
    "\\seen": SEEN,
    "\\answered": ANSWERED,
    "\\flagged": FLAGGED,
    "\\deleted": DELETED,
    "\\draft": DRAFT,
}
_CANONICAL = {bit: name for name, bit in (
    ("\\Seen", SEEN),
    ("\\Answered", ANSWERED),
    ("\\Flagged", FLAGGED),
    ("\\Deleted", DELETED),
    ("\\Draft", DRAFT),
)}
ALL_SYSTEM = SEEN | ANSWERED | FLAGGED | DELETED | DRAFT
MAX_KEYWORDS = 64
MAX_KEYWORD_LENGTH = 100


class FlagError(ValueError):
    """A flag the store cannot keep (unknown system flag, too many or too long keywords)."""


@dataclass(frozen=True, slots=True)
class Flags:
    """The flags of one message."""

    system: int = 0
    keywords: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, names: Iterable[str]) -> Flags:
        """Flags from IMAP flag names; \\Recent is ignored (it cannot be set by a client)."""
        system = 0
        keywords: set[str] = set()
        for name in names:
            if name.startswith("\\"):
                lowered = name.lower()
                if lowered == "\\recent":
                    continue
                bit = SYSTEM_FLAGS.get(lowered)
                if bit is None:
                    raise FlagError(f"{name} is not a flag this server keeps")
                system |= bit
            else:
                if len(name) > MAX_KEYWORD_LENGTH:
                    raise FlagError("keyword too long")
                keywords.add(name)
        if len(keywords) > MAX_KEYWORDS:
            raise FlagError("too many keywords")
        return cls(system, frozenset(keywords))

    @classmethod
    def from_row(cls, system: int, keywords: str) -> Flags:
        return cls(system, frozenset(keywords.split()))

    @property
    def keywords_text(self) -> str:
        return " ".join(sorted(self.keywords))

    def names(self) -> list[str]:
        """IMAP names, system flags first, in a stable order."""
        out = [name for bit, name in _CANONICAL.items() if self.system & bit]
        out.extend(sorted(self.keywords))
        return out

    def __or__(self, other: Flags) -> Flags:
        return Flags(self.system | other.system, self.keywords | other.keywords)

    def __sub__(self, other: Flags) -> Flags:
        return Flags(self.system & ~other.system, self.keywords - other.keywords)

    def has(self, bit: int) -> bool:
        return bool(self.system & bit)

    def checked(self) -> Flags:
        """Raise FlagError when the keyword count is over the limit."""
        if len(self.keywords) > MAX_KEYWORDS:
            raise FlagError("too many keywords")
        return self
