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
from dataclasses import dataclass, field

from gateway.policy.facts import DataStats

END = b".\r\n"


@dataclass(frozen=True, slots=True)
class ReceivedData:
    content: bytes | None  # None when dropped past a limit
    stats: DataStats


async def read_data(
    reader: asyncio.StreamReader,
    *,
    max_bytes: int,
    max_line: int,
    on_progress: Callable[[], None] = lambda: None,
) -> ReceivedData:
    """Read up to the end-of-data line; `on_progress` is called now and then (to re-arm
    an idle timer on a long upload). Raises IncompleteReadError if the client leaves.

    The stream is taken in the largest pieces it holds, not line by line: up to the next
    ".\\r\\n" when it holds one, else all it holds (the reader's limit makes `readuntil`
    stop there). A piece's complete lines are unstuffed and measured at once; the start
    of a line not yet ended is carried to the next piece, unless it is already longer
    than a line may be, when it is counted and dropped (memory stays bounded)."""
    state = _State()
    carry = b""
    pieces = 0
    while True:
        try:
            piece = await reader.readuntil(END)
        except asyncio.LimitOverrunError as exc:
            piece = await reader.readexactly(exc.consumed)
        data = carry + piece if carry else piece
        pieces += 1
        if pieces % 16 == 0:
            on_progress()
        if data.endswith(END):
            end = len(data) - 3
            at_line_start = (end == 0 and state.partial == 0) or data[end - 2 : end] == b"\r\n"
            if end >= 0 and at_line_start:
                state.lines(data[:end], max_bytes=max_bytes, max_line=max_line)
                break
        last = data.rfind(b"\r\n")
        if last >= 0:
            state.lines(data[: last + 2], max_bytes=max_bytes, max_line=max_line)
        carry = data[last + 2 :] if last >= 0 else data
        if len(carry) > max_line + 2:  # no line may be this long: count it, drop it
            kept = b"\r" if carry.endswith(b"\r") else b""  # the CR of a CRLF cut in two
            stuffed = state.partial == 0 and carry.startswith(b".")  # it starts a line
            state.over_long(len(carry) - len(kept) - stuffed)
            carry = kept
    content = b"".join(state.kept) if state.keep else None
    return ReceivedData(content, DataStats(total_bytes=state.total, longest_line=state.longest))


@dataclass(slots=True)
class _State:
    total: int = 0  # bytes of the message, unstuffed, line ends included
    longest: int = 0  # the longest line, without its CRLF
    partial: int = 0  # bytes of the over-long line being dropped, counted so far
    keep: bool = True
    kept: list[bytes] = field(default_factory=list)

    def lines(self, block: bytes, *, max_bytes: int, max_line: int) -> None:
        """Take `block`: whole lines, each ending in CRLF (the first one the end of an
        over-long line when one is being dropped)."""
        if not block:
            return
        if self.partial:
            first = block.find(b"\r\n")
            self.longest = max(self.longest, self.partial + first)
            self.total += first + 2
            self.partial = 0
            block = block[first + 2 :]
            if not block:
                return
        if block.startswith(b"."):
            block = block[1:]  # RFC 5321 §4.5.2 transparency, the first line
        block = block.replace(b"\r\n.", b"\r\n")  # ... and every other one
        self.total += len(block)
        self.longest = max(self.longest, *map(len, block.split(b"\r\n")))
        if self.total > max_bytes or self.longest > max_line:
            self.drop()
        if self.keep:
            self.kept.append(block)

    def over_long(self, size: int) -> None:
        self.partial += size
        self.total += size
        self.drop()

    def drop(self) -> None:
        self.keep = False
        self.kept.clear()
