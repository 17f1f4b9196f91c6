"""Password guessing: one reply for unknown users and wrong passwords, the connection
closed after a few failures, then `454 4.7.0` lockout even for the right password."""

from __future__ import annotations

import base64

from tests.integration.directory.seed import PASSWORD
from tests.protocol.smtp.harness import DOCTOR, Mailserver, RawClient, in_thread
from tests.security.smtp.conftest import Limited


def plain(login: str, password: str) -> str:
    return "AUTH PLAIN " + base64.b64encode(f"\0{login}\0{password}".encode()).decode()


def session(server: Mailserver) -> RawClient:
    client = RawClient(server.tls_client().wrap_socket(
        RawClient.connect(server.submissions.port).sock))
    client.reply()
    client.command("EHLO client.salus.test")
    return client


def guesses(server: Mailserver, login: str, count: int) -> tuple[list[str], bool]:
    """`count` wrong guesses on one connection; the replies, and whether it was closed
    (after the last reply and a final 421)."""
    client = session(server)
    replies = [client.command(plain(login, f"guess-{n}")) for n in range(count)]
    closed = False
    if count >= 3:
        replies.append(client.reply())
        closed = client.closed()
    client.close()
    return replies, closed


async def test_connection_closes_after_three_failures(mailserver: Mailserver) -> None:
    replies, closed = await in_thread(guesses, mailserver, DOCTOR, 3)
    assert replies == ["535 5.7.8 Authentication credentials invalid"] * 3 + [
        "421 4.7.0 Too many failed logins on this connection; closing"
    ]
    assert closed


async def test_unknown_user_and_wrong_password_look_the_same(mailserver: Mailserver) -> None:
    known, _ = await in_thread(guesses, mailserver, DOCTOR, 1)
    unknown, _ = await in_thread(guesses, mailserver, "nobody@salus.test", 1)
    assert known == unknown


async def test_lockout_refuses_even_the_right_password(limited: Limited) -> None:
    async with limited(smtp={"auth_failures_before_lockout": 3, "lockout_seconds": 300}) as server:
        await in_thread(guesses, server, DOCTOR, 3)

        def right_password() -> str:
            client = session(server)
            reply = client.command(plain(DOCTOR, PASSWORD))
            client.close()
            return reply

        reply = await in_thread(right_password)
        assert reply.startswith("454 4.7.0 Too many failed logins; try again in ")
        actions = [a[1] for a in await server.audit_actions()]
        assert actions.count("auth.failure") == 3 and "auth.throttled" in actions
        assert "auth.success" not in actions


async def test_authzid_other_than_the_login_is_refused(mailserver: Mailserver) -> None:
    def attempt() -> str:
        client = session(mailserver)
        token = base64.b64encode(f"doctor.2@salus.test\0{DOCTOR}\0{PASSWORD}".encode()).decode()
        reply = client.command(f"AUTH PLAIN {token}")
        client.close()
        return reply

    reply = await in_thread(attempt)
    assert reply.startswith("535 5.7.8 The authorization identity must be empty")


async def test_garbage_sasl_is_refused_cleanly(mailserver: Mailserver) -> None:
    def attempt() -> list[str]:
        client = session(mailserver)
        replies = [
            client.command("AUTH PLAIN !!!notbase64"),
            client.command("AUTH PLAIN " + base64.b64encode(b"no-nul-at-all").decode()),
            client.command("AUTH PLAIN " + base64.b64encode(b"\0\xff\xfe\0x").decode()),
            client.command("AUTH EXTERNAL ="),
            client.command("AUTH CRAM-MD5"),
        ]
        client.close()
        return replies

    replies = await in_thread(attempt)
    assert [r[:9] for r in replies] == ["501 5.5.2", "501 5.5.2", "501 5.5.2", "535 5.7.8",
                                       "504 5.5.4"]
