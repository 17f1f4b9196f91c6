"""Parse failures. The message is safe to show the client (it names the element, never
echoes the input)."""

from __future__ import annotations


class ParseError(Exception):
    """The command does not follow the grammar: answered BAD (RFC 3501 §7.1.5)."""


class TooDeep(ParseError):
    """Parentheses or search keys nested deeper than the limit."""
