"""Access attacks: commands before TLS, STARTTLS command injection, cross-user SELECT,
STATUS, APPEND and COPY under every name shape, path-like and hostile folder names,
too many connections from one address, password guessing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mailserver.imap.service import ImapService
from mailserver.store import folders, reads
from mailserver.tls import TlsMaterial
from storage import audit, migrate
from storage.database import Database
from tests.protocol.imap.raw import Raw
from tests.protocol.imap.running import Running, make_runtime

ALICE_NAMES = [
    b"Shared/alice@hopital.test/INBOX",
    b"Shared/ALICE@hopital.test/INBOX",
    b"../alice@hopital.test/INBOX",
    b"alice@hopital.test/INBOX",
    b"#users/alice/INBOX",
    b"~alice/INBOX",
    b"Shared/alice@hopital.test/../../INBOX",
]


async def test_nothing_authenticates_before_tls(running: Running) -> None:
    raw = await Raw.open(running, tls=False)
    bob = running.users["bob"]
    await raw.send(f'a1 LOGIN {bob.address} "{bob.password}"\r\n'.encode())
    assert await raw.line() == b"a1 NO [PRIVACYREQUIRED] Use STARTTLS or the TLS port first\r\n"
    await raw.send(b"a2 AUTHENTICATE PLAIN AGJvYkBob3BpdGFsLnRlc3QAeA==\r\n")
    assert (await raw.line()).startswith(b"a2 NO [PRIVACYREQUIRED]")
    await raw.send(b"a3 SELECT INBOX\r\n")
    assert await raw.line() == b"a3 BAD Command not valid in this state\r\n"
    raw.close()
    entries = [e async for e in audit.export(running.db)]
    assert entries == []  # the password was never even checked


async def test_starttls_injection_is_refused(running: Running) -> None:
    raw = await Raw.open(running, tls=False)
    bob = running.users["bob"]
    await raw.send(b"a1 STARTTLS\r\n" + f'a2 LOGIN {bob.address} "{bob.password}"\r\n'.encode())
    assert await raw.line() == b"a1 BAD Nothing may follow STARTTLS\r\n"
    assert await raw.closed()


async def test_cross_user_access_under_every_name(running: Running) -> None:
    await running.deliver("alice", b"Subject: alice only\r\n\r\nprivate\r\n")
    await running.deliver("bob", b"Subject: bob\r\n\r\nx\r\n")
    raw = await Raw.open(running)
    await raw.login(running, "bob")
    await raw.send(b"s SELECT INBOX\r\n")
    await raw.until_tagged(b"s")
    for n, name in enumerate(ALICE_NAMES):
        quoted = b'"' + name + b'"'
        for verb in (
            b"SELECT",
            b"EXAMINE",
            b"STATUS",
            b"APPEND",
            b"COPY 1",
            b"DELETE",
            b"SUBSCRIBE",
        ):
            tag = b"t%d" % n
            tail = {b"STATUS": b" (MESSAGES)", b"APPEND": b" {1+}\r\nx"}.get(verb, b"")
            await raw.send(tag + b" " + verb + b" " + quoted + tail + b"\r\n")
            reply = await raw.until_tagged(tag)
            assert reply[-1].startswith((tag + b" NO", tag + b" BAD")), (verb, name, reply)
            assert not any(b"alice only" in line for line in reply)
        # SELECT failed: bob is no longer in a selected state (RFC 3501 §6.3.1)
        await raw.send(b"s SELECT INBOX\r\n")
        await raw.until_tagged(b"s")
    raw.close()
    async with running.db.read() as session:
        alice_folders = [
            f.name for f in await folders.list_folders(session, running.users["alice"].mailbox_id)
        ]
        inbox = await reads.folder_by_name(session, running.users["alice"].mailbox_id, "INBOX")
        assert inbox is not None
        assert [uid for uid, _ in await reads.index(session, inbox.id)] == [1]
    assert sorted(alice_folders) == ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        (b'"a/../b"', b"NO [CANNOT]"),
        (b'".."', b"NO [CANNOT]"),
        (b'"./x"', b"NO [CANNOT]"),
        (b'"x//y"', b"NO [CANNOT]"),
        (b'"' + b"n" * 300 + b'"', b"NO [CANNOT]"),
        (b'"' + b"a/" * 20 + b'z"', b"NO [CANNOT]"),
        (b'"wild*card"', b"NO [CANNOT]"),
        (b"{3+}\r\na\x00b", b"BAD"),
        (b'"a\x7fb"', b"BAD"),
        (b'"&AC8ALgAu-"', b"BAD"),  # "/.." hidden in modified UTF-7
    ],
)
async def test_hostile_folder_names_are_refused(
    running: Running, name: bytes, answer: bytes
) -> None:
    raw = await Raw.open(running)
    await raw.login(running)
    for verb in (b"CREATE", b"RENAME INBOX"):
        await raw.send(b"c " + verb + b" " + name + b"\r\n")
        reply = await raw.until_tagged(b"c")
        assert reply[-1].startswith(b"c " + answer), reply
    raw.close()
    async with running.db.read() as session:
        names = {
            f.name for f in await folders.list_folders(session, running.users["bob"].mailbox_id)
        }
    assert names == {"Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"}


async def test_connections_per_client_are_capped(tmp_path: Path, server_tls: TlsMaterial) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'cap.db'}")
    await migrate.upgrade(db)
    runtime = make_runtime(db, tmp_path, server_tls, max_connections_per_client=3)
    service = ImapService(runtime)
    await service.start()
    running = Running(runtime, service, tmp_path / "ca.crt")
    try:
        kept = [await Raw.open(running) for _ in range(3)]
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", running.tls_port, ssl=running.client_context()
        )
        assert await reader.readline() == b"* BYE Too many connections from your address\r\n"
        writer.close()
        kept[0].close()
        await asyncio.sleep(0.2)
        again = await Raw.open(running)  # a slot is free again
        again.close()
        for raw in kept[1:]:
            raw.close()
    finally:
        await service.stop()
        await runtime.mailbox_events.close()
        await db.dispose()


async def test_password_guessing_is_throttled(running: Running) -> None:
    raw = await Raw.open(running)
    answers = []
    for n in range(7):
        await raw.send(b"g%d LOGIN bob@hopital.test guess-%d\r\n" % (n, n))
        answers.append((await raw.until_tagged(b"g%d" % n))[-1])
    assert answers[0].endswith(b"NO [AUTHENTICATIONFAILED] Authentication failed\r\n")
    assert b"NO [UNAVAILABLE] Too many failed attempts" in answers[-1]
    bob = running.users["bob"]
    await raw.send(f'ok LOGIN {bob.address} "{bob.password}"\r\n'.encode())
    assert b"ok NO [UNAVAILABLE]" in (await raw.until_tagged(b"ok"))[-1]  # locked out even now
    raw.close()
