"""Bombs and slow clients: each refused with a clear reply, within bounded memory and
time, and the session stays usable where the protocol allows."""

from __future__ import annotations

import socket
import time

from tests.protocol.smtp.harness import (
    COLLEAGUE,
    DOCTOR,
    SHARED,
    Mailserver,
    RawClient,
    in_thread,
    raw_logged_in,
)
from tests.security.smtp.conftest import Limited

HEADER = f"From: <{DOCTOR}>\r\nTo: <{COLLEAGUE}>\r\nSubject: x\r\n".encode()


def transaction(client: RawClient, body: bytes, *, rcpts: tuple[str, ...] = (COLLEAGUE,)) -> str:
    assert client.command(f"MAIL FROM:<{DOCTOR}>").startswith("250")
    for rcpt in rcpts:
        assert client.command(f"RCPT TO:<{rcpt}>").startswith("250")
    assert client.command("DATA").startswith("354")
    client.send(body + b".\r\n")
    return client.reply()


async def test_declared_size_over_the_limit(limited: Limited) -> None:
    async with limited(smtp={"max_message_size": 65536}) as server:
        def attempt() -> str:
            client = raw_logged_in(server)
            reply = client.command(f"MAIL FROM:<{DOCTOR}> SIZE=10000000000")
            client.close()
            return reply

        reply = await in_thread(attempt)
        assert reply.startswith("552 5.3.4 ") and "[declared-size]" in reply


async def test_oversize_body_is_counted_dropped_and_refused(limited: Limited) -> None:
    async with limited(smtp={"max_message_size": 65536}) as server:
        def attempt() -> tuple[str, str]:
            client = raw_logged_in(server)
            body = HEADER + b"\r\n" + b"x" * 900 + b"\r\n"
            reply = transaction(client, body * 2000)  # ~1.8 MB, declared nothing
            after = transaction(client, HEADER + b"\r\nsmall\r\n")
            client.close()
            return reply, after

        reply, after = await in_thread(attempt)
        assert reply.startswith("552 5.3.4 ") and "[message-size]" in reply
        assert after.startswith("250 2.0.0 Ok: queued as")


async def test_a_100_kb_command_line_then_three_close_the_session(mailserver: Mailserver) -> None:
    def attempt() -> tuple[str, str, str, bool]:
        client = raw_logged_in(mailserver)
        long_line = b"MAIL FROM:<" + b"a" * 100_000 + b"@salus.test>"
        first = client.command(long_line)
        usable = client.command("NOOP")
        client.command(long_line)
        client.send(long_line + b"\r\n")
        last = client.reply()
        closed = client.closed()
        client.close()
        return first, usable, last, closed

    first, usable, last, closed = await in_thread(attempt)
    assert first == "500 5.5.2 Command line too long"
    assert usable == "250 2.0.0 OK"
    assert last.startswith("421 4.7.0") and closed


async def test_ten_thousand_headers(mailserver: Mailserver) -> None:
    def attempt() -> str:
        client = raw_logged_in(mailserver)
        headers = b"".join(b"X-Flood-%d: v\r\n" % n for n in range(10_000))
        reply = transaction(client, HEADER + headers + b"\r\nbody\r\n")
        client.close()
        return reply

    reply = await in_thread(attempt)
    assert reply.startswith("552 5.3.4 ") and "[header-limits]" in reply
    assert await mailserver.messages() == []


async def test_ten_thousand_recipients(limited: Limited) -> None:
    async with limited(smtp={"max_recipients": 3}) as server:
        def attempt() -> tuple[list[str], str]:
            client = raw_logged_in(server)
            client.command(f"MAIL FROM:<{DOCTOR}>")
            wanted = [COLLEAGUE, SHARED, DOCTOR] + [f"r{n}@salus.test" for n in range(9_997)]
            client.send(b"".join(f"RCPT TO:<{r}>\r\n".encode() for r in wanted))  # pipelined
            replies = [client.reply() for _ in wanted]
            assert client.command("DATA").startswith("354")
            client.send(HEADER + b"\r\nbody\r\n.\r\n")
            data = client.reply()
            client.close()
            return replies, data

        replies, data = await in_thread(attempt)
        assert all(r.startswith("250 2.1.5") for r in replies[:3])
        assert all(r.startswith("452 4.5.3 ") for r in replies[3:])
        assert data.startswith("250 2.0.0")
        assert sorted(d.recipient for d in await server.deliveries()) == sorted(
            [COLLEAGUE, SHARED, DOCTOR]
        )
        refusals = [a for a in await server.audit_actions() if a[1] == "smtp.refuse"]
        assert len(refusals) == 9_997


async def test_one_byte_at_a_time_meets_the_absolute_deadline(limited: Limited) -> None:
    async with limited(smtp={"session_deadline": 2.0, "idle_timeout": 600.0}) as server:
        def attempt() -> tuple[str, float]:
            client = RawClient.connect(server.submission.port, timeout=30)
            client.reply()
            started = time.monotonic()
            try:
                for byte in b"EHLO slow.client.test\r\n" * 100:
                    client.send(bytes([byte]))
                    time.sleep(0.1)
            except (BrokenPipeError, ConnectionResetError):
                pass
            lines = (client.buffer + _drain(client.sock)).decode(errors="replace")
            client.close()
            return lines, time.monotonic() - started

        lines, elapsed = await in_thread(attempt)
        assert "421 4.4.2 Session time limit reached; closing" in lines
        assert elapsed < 60  # cut off long before the client's 230 s of trickling


def _drain(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except OSError:
        pass
    return data


async def test_a_client_speaking_before_the_greeting_is_refused(limited: Limited) -> None:
    async with limited(greeting_pause=0.5) as server:
        def attempt() -> bytes:
            sock = socket.create_connection(("127.0.0.1", server.submission.port), timeout=10)
            sock.sendall(b"EHLO eager.client.test\r\nMAIL FROM:<x@salus.test>\r\n")
            data = _drain(sock)
            sock.close()
            return data

        def polite() -> str:
            client = RawClient.connect(server.submission.port)
            greeting = client.reply()
            client.close()
            return greeting

        assert await in_thread(attempt) == (
            b"554 5.5.1 Protocol error: the client spoke before the greeting\r\n"
        )
        assert (await in_thread(polite)).startswith("220 mail.salus.test Salus ESMTP")


async def test_connections_per_client_are_capped(limited: Limited) -> None:
    async with limited(smtp={"max_connections_per_client": 2}) as server:
        def attempt() -> list[str]:
            clients = [RawClient.connect(server.submission.port) for _ in range(3)]
            greetings = [c.reply() for c in clients]
            for c in clients:
                c.close()
            time.sleep(0.3)
            again = RawClient.connect(server.submission.port)
            greetings.append(again.reply())
            again.close()
            return greetings

        greetings = await in_thread(attempt)
        assert [g[:3] for g in greetings] == ["220", "220", "421", "220"]
        assert greetings[2] == "421 4.7.0 Too many connections from your address; try again later"
