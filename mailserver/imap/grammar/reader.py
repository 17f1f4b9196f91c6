"""A cursor over one complete command (its literals included, as the framing layer
assembled them): the primitive the element parsers share."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mailserver.imap.grammar.errors import ParseError, TooDeep
from mailserver.imap.grammar.limits import DEFAULT_LIMITS, Limits


@dataclass(slots=True)
class Reader:
    buf: bytes
    pos: int = 0
    limits: Limits = field(default=DEFAULT_LIMITS)
    depth: int = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.buf)

    def peek(self, n: int = 1) -> bytes:
        return self.buf[self.pos : self.pos + n]

    def match(self, pattern: re.Pattern[bytes]) -> re.Match[bytes] | None:
        found = pattern.match(self.buf, self.pos)
        if found is not None:
            self.pos = found.end()
        return found

    def take(self, pattern: re.Pattern[bytes], what: str) -> bytes:
        found = self.match(pattern)
        if found is None:
            raise ParseError(f"expected {what}")
        return found.group(0)

    def skip(self, token: bytes) -> bool:
        """Consume `token` (ASCII case-insensitive) if it is next."""
        if self.buf[self.pos : self.pos + len(token)].upper() == token.upper():
            self.pos += len(token)
            return True
        return False

    def expect(self, token: bytes, what: str | None = None) -> None:
        if not self.skip(token):
            raise ParseError(f"expected {what or token.decode()}")

    def sp(self) -> None:
        self.expect(b" ", "a space")

    def end(self) -> None:
        if not self.at_end():
            raise ParseError("unexpected characters at the end of the command")

    def enter(self) -> None:
        """Count one level of nesting; raise TooDeep past the limit."""
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise TooDeep("too deeply nested")

    def leave(self) -> None:
        self.depth -= 1
