"""Reading one whole command from the client: the line, and each literal it announces
(RFC 3501 §4.3, §7.5; RFC 7888 LITERAL+).

A literal's size is checked against the limit before anything else happens: a
synchronising literal over the limit is refused before the continuation request, so the
client never sends it (`LiteralRefused`, the connection goes on); a non-synchronising one
is already on its way, so the connection is closed (`FatalFraming`). APPEND may carry
a message up to `imap.max_literal`; any other literal is bounded by `imap.max_line`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mailserver.imap.commands.parse import command_name

_LITERAL_AT_END = re.compile(rb"\{([0-9]+)(\+?)\}\r\n\Z")
_MAX_DIGITS = 12


@dataclass(frozen=True, slots=True)
class FramingLimits:
    max_line: int
    max_literal: int


class LiteralRefused(Exception):
    """A synchronising literal over the limit; the command is answered and skipped."""

    def __init__(self, tag: str) -> None:
        super().__init__("literal too large")
        self.tag = tag


class FatalFraming(Exception):
    """The stream cannot be resynchronised (line too long, oversized non-synchronising
    literal): answered with BYE, then the connection closes."""


class ClientGone(Exception):
    """The client closed the connection."""


Continue = Callable[[], Awaitable[None]]


async def read_line(reader: asyncio.StreamReader) -> bytes:
    """One CRLF-terminated line (the reader's limit bounds its length)."""
    try:
        return await reader.readuntil(b"\r\n")
    except asyncio.LimitOverrunError as exc:
        raise FatalFraming("Command line too long") from exc
    except asyncio.IncompleteReadError as exc:
        raise ClientGone from exc
    except ConnectionError as exc:
        raise ClientGone from exc


async def read_command(
    reader: asyncio.StreamReader, limits: FramingLimits, ask_for_more: Continue
) -> bytes:
    """The command without its final CRLF, literals included as announced."""
    line = await read_line(reader)
    tag, name = command_name(line)
    literal_limit = limits.max_literal if name == "APPEND" else limits.max_line
    budget = limits.max_literal + limits.max_line
    parts = [line]
    total = len(line)
    while (found := _LITERAL_AT_END.search(line)) is not None:
        digits, non_sync = found.group(1), bool(found.group(2))
        size = int(digits) if len(digits) <= _MAX_DIGITS else literal_limit + 1
        if size > literal_limit or total + size > budget:
            if non_sync:
                raise FatalFraming("Literal too large")
            raise LiteralRefused(tag)
        if not non_sync:
            await ask_for_more()
        try:
            data = await reader.readexactly(size)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise ClientGone from exc
        line = await read_line(reader)
        parts += [data, line]
        total += size + len(line)
        if total > budget:
            raise FatalFraming("Command too long")
    return b"".join(parts)[:-2]
