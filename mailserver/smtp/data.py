"""Reading the DATA section under limits (RFC 5321 §4.1.1.4 and §4.5.2).

Data ends only at CRLF "." CRLF: lines are split at CRLF alone, so a bare LF or CR stays
inside a line, where the strict-crlf rule finds and refuses it; "\\n.\\n", "\\r.\\r" and the
other smuggling end-of-data variants are never an end (SMTP smuggling). Leading dots are
unstuffed. Past the size limit, or on a line longer than the reader's buffer, the bytes
are counted and dropped (memory stays bounded) and reading goes on to the real end, so
the client gets one reply for the whole message (RFC 5321 §4.2.5).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from gateway.policy.facts import DataStats

END = b".\r\n"


@dataclass(frozen=True, slots=True)
class ReceivedData:
    content: bytes | None  # None when dropped past a limit
    stats: DataStats


@dataclass(slots=True)
class _Counter:
    total: int = 0
    longest: int = 0
    partial: int = 0  # bytes of the current over-long line read so far
    keep: bool = True


async def read_data(
    reader: asyncio.StreamReader,
    *,
    max_bytes: int,
    max_line: int,
    on_progress: Callable[[], None] = lambda: None,
) -> ReceivedData:
    """Read up to the end-of-data line; `on_progress` is called now and then (to re-arm
    an idle timer on a long upload). Raises IncompleteReadError if the client leaves."""
    lines: list[bytes] = []
    count = _Counter()
    seen = 0
    while True:
        try:
            line = await reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError as exc:
            fragment = await reader.read(exc.consumed)
            count.partial += len(fragment)
            count.total += len(fragment)
            count.longest = max(count.longest, count.partial)
            count.keep = False
            lines.clear()
            continue
        if count.partial == 0 and line == END:
            break
        _take(line, count, lines, max_bytes=max_bytes, max_line=max_line)
        seen += 1
        if seen % 256 == 0:
            on_progress()
    content = b"".join(lines) if count.keep else None
    return ReceivedData(content, DataStats(total_bytes=count.total, longest_line=count.longest))


def _take(line: bytes, count: _Counter, lines: list[bytes], *, max_bytes: int, max_line: int) -> None:
    starts_line = count.partial == 0
    if starts_line and line.startswith(b"."):
        line = line[1:]  # RFC 5321 §4.5.2 transparency
    length = count.partial + len(line) - 2
    count.partial = 0
    count.total += len(line)
    count.longest = max(count.longest, length)
    if count.total > max_bytes or length > max_line:
        count.keep = False
        lines.clear()
    if count.keep:
        lines.append(line)
