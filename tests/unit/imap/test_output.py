"""Output: responses a tagged one follows go out with it in one write; nothing held grows
past one chunk, and order is kept."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from mailserver.imap.output import CHUNK, Output


class _Writer:
    """Records each write the way a transport sees it (one TLS record, one send each)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    async def drain(self) -> None:
        return None


def _output() -> tuple[Output, _Writer]:
    writer = _Writer()
    return Output(cast(asyncio.StreamWriter, writer), 5.0), writer


async def test_held_responses_go_out_with_the_next_send() -> None:
    output, writer = _output()
    await output.send(b"* 1 FETCH (BODY[] {3}\r\nabc)\r\n", more=True)
    await output.send(b"* 2 FETCH (FLAGS (\\Seen))\r\n", more=True)
    assert writer.writes == []
    await output.send(b"a OK Fetch completed\r\n")
    assert writer.writes == [
        b"* 1 FETCH (BODY[] {3}\r\nabc)\r\n* 2 FETCH (FLAGS (\\Seen))\r\na OK Fetch completed\r\n"
    ]


async def test_nothing_is_held_past_a_chunk() -> None:
    output, writer = _output()
    await output.send(b"x" * (CHUNK - 10), more=True)
    assert writer.writes == []
    await output.send(b"y" * 20, more=True)  # would pass CHUNK: everything goes now
    assert b"".join(writer.writes) == b"x" * (CHUNK - 10) + b"y" * 20
    assert all(len(w) <= CHUNK for w in writer.writes)
    writer.writes.clear()
    await output.send(b"a OK\r\n")
    assert writer.writes == [b"a OK\r\n"]


async def test_a_send_without_more_writes_at_once() -> None:
    output, writer = _output()
    await output.send(b"+ idling\r\n")
    await output.send(b"* 3 EXISTS\r\n")
    assert writer.writes == [b"+ idling\r\n", b"* 3 EXISTS\r\n"]
