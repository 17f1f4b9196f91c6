"""Reading whole commands off a stream: literals assembled, continuation requested for
synchronising ones only, oversized literals refused before any data is read."""

from __future__ import annotations

import asyncio

import pytest

from mailserver.imap.framing import FatalFraming, FramingLimits, LiteralRefused, read_command

LIMITS = FramingLimits(max_line=100, max_literal=1000)


async def _read(data: bytes) -> tuple[bytes, int]:
    reader = asyncio.StreamReader(limit=LIMITS.max_line)
    reader.feed_data(data)
    reader.feed_eof()
    asked = 0

    async def ask() -> None:
        nonlocal asked
        asked += 1

    return await read_command(reader, LIMITS, ask), asked


async def test_literals_are_assembled() -> None:
    command, asked = await _read(b"a LOGIN {3}\r\nbob {2+}\r\npw\r\n")
    assert command == b"a LOGIN {3}\r\nbob {2+}\r\npw"
    assert asked == 1


async def test_append_may_carry_a_larger_literal() -> None:
    message = b"x" * 900
    command, _ = await _read(b"a APPEND INBOX {900+}\r\n" + message + b"\r\n")
    assert command.endswith(message)
    with pytest.raises(LiteralRefused):
        await _read(b"a LOGIN {900}\r\n")


async def test_refusals() -> None:
    with pytest.raises(LiteralRefused) as caught:
        await _read(b"t7 APPEND INBOX {1001}\r\n")
    assert caught.value.tag == "t7"
    with pytest.raises(LiteralRefused):
        await _read(b"t APPEND INBOX {" + b"9" * 40 + b"}\r\n")
    with pytest.raises(FatalFraming):
        await _read(b"t APPEND INBOX {1001+}\r\n" + b"x" * 1001 + b"\r\n")
    with pytest.raises(FatalFraming):
        await _read(b"t NOOP " + b"x" * 200 + b"\r\n")
