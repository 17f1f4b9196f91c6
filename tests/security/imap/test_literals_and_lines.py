"""Hostile framing: huge and oversized literals, over-long lines, unterminated quotes,
NUL in strings, deep nesting. Each is refused with a clear answer and changes nothing;
the connection survives when the stream can be resynchronised and is closed otherwise."""

from __future__ import annotations

from tests.protocol.imap.raw import Raw
from tests.protocol.imap.running import Running


async def test_huge_literal_is_refused_before_the_continuation(running: Running) -> None:
    raw = await Raw.open(running)
    await raw.send(b"a1 LOGIN {99999999999}\r\n")
    assert await raw.line() == b"a1 NO [TOOBIG] Literal too large\r\n"  # no "+" first
    await raw.login(running)
    await raw.send(b"a2 APPEND INBOX {99999999999}\r\n")
    assert await raw.line() == b"a2 NO [TOOBIG] Literal too large\r\n"
    await raw.send(b"a3 APPEND INBOX {99999999999999999999999999999999999999999}\r\n")
    assert await raw.line() == b"a3 NO [TOOBIG] Literal too large\r\n"
    await raw.send(b"a4 NOOP\r\n")
    assert await raw.line() == b"a4 OK Completed\r\n"
    raw.close()


async def test_literal_over_the_line_limit_outside_append(running: Running) -> None:
    raw = await Raw.open(running)
    too_big = running.runtime.settings.imap.max_line + 1
    await raw.send(b"a1 LOGIN {%d}\r\n" % too_big)
    assert await raw.line() == b"a1 NO [TOOBIG] Literal too large\r\n"
    raw.close()


async def test_oversized_non_synchronising_literal_closes_the_connection(running: Running) -> None:
    raw = await Raw.open(running)
    await raw.send(b"a1 LOGIN {999999999+}\r\n" + b"x" * 4096)
    assert await raw.line() == b"* BYE Literal too large\r\n"
    assert await raw.closed()


async def test_hundred_kilobyte_line_closes_the_connection(running: Running) -> None:
    raw = await Raw.open(running)
    await raw.send(b"a1 NOOP " + b"x" * 100_000 + b"\r\n")
    assert await raw.line() == b"* BYE Command line too long\r\n"
    assert await raw.closed()


async def test_endless_line_without_crlf_is_cut(running: Running) -> None:
    raw = await Raw.open(running)
    try:
        for _ in range(50):
            await raw.send(b"y" * 10_000)
    except (ConnectionError, OSError):
        pass  # the server closed while we were still writing: what we want
    line = await raw.line()
    assert line in (b"* BYE Command line too long\r\n", b"")
    assert await raw.closed()


async def test_unterminated_quote_and_nul(running: Running) -> None:
    raw = await Raw.open(running)
    await raw.send(b'a1 LOGIN "bob@hopital.test\r\n')
    assert (await raw.line()).startswith(b"a1 BAD Syntax error")
    await raw.send(b'a2 LOGIN "bob\x00@hopital.test" "x"\r\n')
    assert (await raw.line()).startswith(b"a2 BAD Syntax error")
    await raw.send(b"a3 LOGIN {4}\r\n")
    assert (await raw.line()).startswith(b"+ ")
    await raw.send(b"b\x00ob x\r\n")
    assert await raw.line() == b"a3 BAD Syntax error: NUL is not allowed in a string\r\n"
    await raw.send(b"a4 NOOP\r\n")
    assert await raw.line() == b"a4 OK Completed\r\n"
    raw.close()


async def test_ten_thousand_deep_nesting(running: Running) -> None:
    await running.deliver("bob", b"Subject: x\r\n\r\ny\r\n")
    raw = await Raw.open(running)
    await raw.login(running)
    await raw.send(b"s SELECT INBOX\r\n")
    await raw.until_tagged(b"s")
    await raw.send(b"a1 SEARCH " + b"(" * 10_000 + b"ALL" + b")" * 10_000 + b"\r\n")
    assert await raw.line() == b"a1 BAD Syntax error: too deeply nested\r\n"
    await raw.send(b"a2 SEARCH " + b"NOT " * 10_000 + b"ALL\r\n")
    assert await raw.line() == b"a2 BAD Syntax error: too deeply nested\r\n"
    await raw.send(b"a3 SEARCH " + b"OR ALL " * 5_000 + b"ALL\r\n")
    assert await raw.line() == b"a3 BAD Syntax error: too deeply nested\r\n"
    await raw.send(b"a4 SEARCH NOT NOT ALL\r\n")
    assert await raw.until_tagged(b"a4") == [b"* SEARCH 1\r\n", b"a4 OK Search completed\r\n"]
    raw.close()


async def test_many_small_literals_are_bounded(running: Running) -> None:
    """A command made of literals announced one after another stops at the command
    size budget instead of growing without end."""
    raw = await Raw.open(running)
    await raw.login(running)
    await raw.send(b"a1 ID (")
    for _ in range(2000):
        await raw.send(b'"k" {0+}\r\n ')
    await raw.send(b")\r\n")
    reply = await raw.until_tagged(b"a1")
    assert reply[-1].startswith((b"a1 BAD", b"* BYE"))
    raw.close()
