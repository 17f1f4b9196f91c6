"""Scripted transcripts (command → expected responses) for protocol corner cases, in the
spirit of imaptest's scripted tests. Each file in transcripts/ is a session against a
fresh server where bob's INBOX holds the three messages below.

Syntax: `C: ` a command sent (escapes \\r\\n and \\x00 allowed; a synchronising literal waits for
the server's "+" before the rest is sent); `S: ` an expected response line, exact, or a
prefix when it ends with `...`, or a regular expression when it starts with `~`;
`S: <closed>` the server closed the connection. Tags are lower-case: a command line
starting with an upper-case word (IDLE's DONE) continues the previous command. Literal data in responses is shown
inline with \\r\\n escapes. Lines starting with # are comments.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.protocol.imap.running import Running

HERE = Path(__file__).parent / "transcripts"
MESSAGES = [
    (
        b"From: Alice Martin <alice@hopital.test>\r\n"
        b"To: bob@hopital.test\r\n"
        b"Subject: Bilan sanguin\r\n"
        b"Date: Mon, 4 Mar 2024 10:15:00 +0100\r\n"
        b"Message-ID: <m1@hopital.test>\r\n"
        b"\r\n"
        b"Hemoglobine 13.5 g/dL\r\n"
    ),
    (
        b"From: Carol Petit <carol@labo.test>\r\n"
        b"To: bob@hopital.test\r\n"
        b"Subject: Resultat urgent\r\n"
        b"Date: Tue, 5 Mar 2024 08:00:00 +0100\r\n"
        b"Message-ID: <m2@labo.test>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: multipart/alternative; boundary=b1\r\n"
        b"\r\n"
        b"--b1\r\n"
        b"Content-Type: text/plain\r\n"
        b"\r\n"
        b"Troponine elevee\r\n"
        b"--b1\r\n"
        b"Content-Type: text/html\r\n"
        b"\r\n"
        b"<p>Troponine elevee</p>\r\n"
        b"--b1--\r\n"
    ),
    (
        b"From: dan@cabinet.test\r\n"
        b"To: bob@hopital.test\r\n"
        b"Subject: Rendez-vous\r\n"
        b"Date: Wed, 6 Mar 2024 18:30:00 +0000\r\n"
        b"\r\n"
        b"Jeudi 14h\r\n"
    ),
]
_LITERAL = re.compile(rb"\{(\d+)(\+?)\}\r\n")


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)


def load(path: Path) -> list[Step]:
    steps: list[Step] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        kind, _, text = raw.partition(": ")
        if kind == "C":
            steps.append(Step(text))
        elif kind == "S":
            steps[-1].expected.append(text)
        else:
            raise ValueError(f"{path.name}: bad line {raw!r}")
    return steps


def _unescape(text: str) -> bytes:
    return text.encode("utf-8").replace(b"\\r\\n", b"\r\n").replace(b"\\x00", b"\x00")


def _show(data: bytes) -> str:
    return data.decode("utf-8", "replace").replace("\r\n", "\\r\\n")


async def _read_response(reader: asyncio.StreamReader) -> str | None:
    """One response line with its literals inline; None when the server closed."""
    line = await reader.readline()
    if not line:
        return None
    out = line
    while (found := re.search(rb"\{(\d+)\}\r\n$", out)) is not None:
        out += await reader.readexactly(int(found.group(1)))
        out += await reader.readline()
    return _show(out.rstrip(b"\r\n"))


async def _send(
    command: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> list[str]:
    """Send a command, honouring synchronising literals; the server's refusals of a
    literal (a tagged response instead of "+") are returned."""
    pos = 0
    for found in _LITERAL.finditer(command):
        writer.write(command[pos : found.end()])
        pos = found.end()
        if found.group(2):
            continue
        await writer.drain()
        reply = await _read_response(reader)
        if reply is None or not reply.startswith("+"):
            return [] if reply is None else [reply]
        pos += 0
    writer.write(command[pos:] + b"\r\n")
    await writer.drain()
    return []


def _final(line: str, tag: str) -> bool:
    """The tagged completion, the untagged BAD of a command without a readable tag, or
    the connection's end."""
    return line.startswith((f"{tag} ", "* BAD ")) or line == "<closed>" or tag == "+" == line[:1]


def _matches(expected: str, actual: str) -> bool:
    if expected.startswith("~"):
        return re.fullmatch(expected[1:], actual) is not None
    if expected.endswith("..."):
        return actual.startswith(expected[:-3])
    return expected == actual


async def run(steps: list[Step], host: str, port: int, ctx: ssl.SSLContext) -> None:
    reader, writer = await asyncio.open_connection(host, port, ssl=ctx, limit=1 << 22)
    try:
        greeting = await _read_response(reader)
        assert greeting is not None and greeting.startswith("* OK")
        for step in steps:
            # The command's tag; for a continuation line (DONE) the tag of the last expected
            # line, or "+" when a continuation request ends the step.
            last = step.expected[-1].lstrip("~").split(" ", 1)[0] if step.expected else ""
            tag = step.command.split(" ", 1)[0]
            if last == "+" or not step.command.split(" ", 1)[0][:1].islower():
                tag = last
            got = await _send(_unescape(step.command), reader, writer)
            while (
                not got
                or not _final(got[-1], tag)
                or (len(got) < len(step.expected) and got[-1] != "<closed>")
            ):
                try:
                    line = await asyncio.wait_for(_read_response(reader), 10)
                except TimeoutError:
                    raise AssertionError(f"C: {step.command}: no answer after {got}") from None
                got.append("<closed>" if line is None else line)
                if line is None:
                    break
            mismatch = len(got) != len(step.expected) or not all(
                _matches(e, a) for e, a in zip(step.expected, got, strict=False)
            )
            assert not mismatch, (
                f"\nC: {step.command}\nexpected:\n  "
                + "\n  ".join(step.expected)
                + "\ngot:\n  "
                + "\n  ".join(got)
            )
    finally:
        writer.close()


@pytest.mark.parametrize("path", sorted(HERE.glob("*.txt")), ids=lambda p: p.stem)
async def test_transcript(running: Running, path: Path) -> None:
    for body in MESSAGES:
        await running.deliver("bob", body)
    await run(load(path), "127.0.0.1", running.tls_port, running.client_context())
