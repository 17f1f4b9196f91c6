"""An asyncio SMTP load generator shared by the submission benchmarks.

It speaks just enough SMTP (EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, QUIT) over
asyncio streams to drive any server the same way, so that two servers measured with it in
one run can be compared: `sessions` concurrent sessions, each opening `connections`
connections in turn and sending `per_connection` messages on each. It records, for every
message, the time from MAIL FROM to the 250 after the data ("time to 250"), and for every
connection the time from TCP connect to the 235 of AUTH ("set-up").

The clock of the rate starts once every session has its first connection open and
authenticated: the TLS handshakes and argon2id verifications of 20 sessions connecting
at once would otherwise fill the first second of a short run for both servers alike, and
their CPU would delay the first messages' replies, so neither the rate nor the time to
250 would measure the message path. Set-up is reported on its own; a later connection of
a session (`connections` > 1) is opened inside the measured window.

    result = await run(target, load)
    result.rate, result.p50_ms, result.p99_ms
"""

from __future__ import annotations

import asyncio
import base64
import random
import secrets
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    tls: ssl.SSLContext | None = None  # STARTTLS with this context; None: plaintext
    login: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class Load:
    sessions: int
    connections: int
    per_connection: int
    size: int
    sender: str
    recipients: tuple[str, ...]
    body: bytes = b""  # send these bytes each time instead of a generated message
    # Seconds from one message's MAIL FROM to the next one's in a session (0: back to
    # back). Paced sessions offer a fixed rate, below what the server can take, so the
    # time to 250 is the server's latency, not the queue in front of a saturated one.
    pace: float = 0.0

    @property
    def messages(self) -> int:
        return self.sessions * self.connections * self.per_connection


@dataclass
class Result:
    sent: int = 0
    failed: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    setups: list[float] = field(default_factory=list)  # connect to 235, per connection
    replies: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed if self.elapsed else 0.0

    def percentile_ms(self, p: float, values: list[float] | None = None) -> float:
        chosen = self.latencies if values is None else values
        if not chosen:
            return float("nan")
        ordered = sorted(chosen)
        return 1000 * ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(50)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(99)

    @property
    def setup_p50_ms(self) -> float:
        return self.percentile_ms(50, self.setups)


class SmtpError(Exception):
    def __init__(self, reply: str) -> None:
        self.reply = reply
        super().__init__(reply)


def message(load: Load) -> bytes:
    """A message of about `load.size` bytes: headers, then base64-looking 76-column lines."""
    head = (
        f"From: <{load.sender}>\r\nTo: {', '.join(f'<{r}>' for r in load.recipients)}\r\n"
        f"Subject: load test\r\nMessage-ID: <{secrets.token_hex(12)}@loadgen.test>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    ).encode()
    line = base64.b64encode(secrets.token_bytes(57)) + b"\r\n"  # 78 bytes
    return head + line * max(1, (load.size - len(head)) // len(line))


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, target: Target) -> Connection:
        reader, writer = await asyncio.open_connection(target.host, target.port)
        conn = cls(reader, writer)
        await conn.expect("220")
        await conn.command("EHLO loadgen.test", "250")
        if target.tls is not None:
            await conn.command("STARTTLS", "220")
            await writer.start_tls(target.tls, server_hostname="mail.salus.test")
            await conn.command("EHLO loadgen.test", "250")
        if target.login is not None and target.password is not None:
            token = base64.b64encode(f"\0{target.login}\0{target.password}".encode()).decode()
            await conn.command(f"AUTH PLAIN {token}", "235")
        return conn

    async def reply(self) -> str:
        lines = []
        while True:
            line = (await self.reader.readline()).decode("ascii", "replace").rstrip("\r\n")
            if not line:
                raise SmtpError("connection closed")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return "\n".join(lines)

    async def expect(self, code: str) -> str:
        reply = await self.reply()
        if not reply.startswith(code):
            raise SmtpError(reply)
        return reply

    async def command(self, line: str, code: str) -> str:
        self.writer.write(line.encode("ascii") + b"\r\n")
        return await self.expect(code)

    async def send(self, load: Load, body: bytes) -> str:
        await self.command(f"MAIL FROM:<{load.sender}> SIZE={len(body)}", "250")
        for rcpt in load.recipients:
            await self.command(f"RCPT TO:<{rcpt}>", "250")
        await self.command("DATA", "354")
        self.writer.write(body + b".\r\n")
        return await self.expect("250")

    async def close(self) -> None:
        try:
            self.writer.write(b"QUIT\r\n")
            await self.reply()
        except (SmtpError, OSError):
            pass
        self.writer.close()


async def _connect(target: Target, load: Load, result: Result) -> Connection | None:
    started = time.perf_counter()
    try:
        conn = await Connection.open(target)
    except (SmtpError, OSError) as exc:
        result.failed += load.per_connection
        _count(result, str(exc))
        return None
    result.setups.append(time.perf_counter() - started)
    return conn


async def _send_all(conn: Connection, load: Load, result: Result) -> None:
    if load.pace:  # sessions spread over one interval, not in lockstep
        await asyncio.sleep(random.uniform(0, load.pace))
    for _ in range(load.per_connection):
        body = load.body or message(load)
        started = time.perf_counter()
        try:
            await conn.send(load, body)
        except (SmtpError, OSError) as exc:
            result.failed += 1
            _count(result, str(exc))
            break
        result.latencies.append(time.perf_counter() - started)
        result.sent += 1
        if load.pace:
            await asyncio.sleep(max(0.0, started + load.pace - time.perf_counter()))
    await conn.close()


async def _session(target: Target, load: Load, result: Result, start: asyncio.Barrier) -> None:
    first = await _connect(target, load, result)
    await start.wait()  # every session connected: the measured window opens
    if first is not None:
        await _send_all(first, load, result)
    for _ in range(load.connections - 1):
        conn = await _connect(target, load, result)
        if conn is not None:
            await _send_all(conn, load, result)


def _count(result: Result, reply: str) -> None:
    key = reply[:40]
    result.replies[key] = result.replies.get(key, 0) + 1


async def run(
    target: Target, load: Load, window: Callable[[bool], None] | None = None
) -> Result:
    """Drive `target` with `load`; the wall time runs from the moment every session has
    its first connection authenticated to the last reply. `window(True)` is called as
    that clock starts and `window(False)` as it stops (a caller reading CPU counters)."""
    result = Result()
    start = asyncio.Barrier(load.sessions + 1)
    sessions = [asyncio.create_task(_session(target, load, result, start))
                for _ in range(load.sessions)]
    await start.wait()
    if window is not None:
        window(True)
    started = time.perf_counter()
    try:
        await asyncio.gather(*sessions)
    finally:
        result.elapsed = time.perf_counter() - started
        if window is not None:
            window(False)
    return result
