"""Limits the parsers enforce, passed in by the connection (from settings.imap)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one command. `max_depth` bounds parenthesis and search-key nesting,
    `max_items` the length of any list (flags, fetch items, search keys, sequence ranges)."""

    max_depth: int = 32
    max_items: int = 1000
    max_string: int = 64 * 1024


DEFAULT_LIMITS = Limits()
