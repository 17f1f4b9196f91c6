"""aioimaplib (asyncio client) against the listener: a mail client's session, and IDLE
woken by a delivery; several sessions on one folder see each other's changes (EXISTS,
EXPUNGE, FETCH FLAGS) at the right moments. Run on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import aioimaplib

from tests.protocol.imap.raw import Raw
from tests.protocol.imap.running import Running, message


async def _client(running: Running, user: str) -> aioimaplib.IMAP4_SSL:
    client = aioimaplib.IMAP4_SSL(
        "127.0.0.1", running.tls_port, ssl_context=running.client_context(), timeout=20
    )
    await client.wait_hello_from_server()
    response = await client.login(running.users[user].address, running.users[user].password)
    assert response.result == "OK"
    return client


def _lines(response: aioimaplib.Response) -> list[str]:
    return [line.decode() if isinstance(line, bytes | bytearray) else str(line) for line in response.lines]


async def test_session_append_search_fetch(running_any: Running) -> None:
    client = await _client(running_any, "bob")
    appended = await client.append(message("Bilan", "Glycemie 5.1 mmol/L"), mailbox="Drafts", flags="(\\Draft)")
    assert appended.result == "OK"
    assert "APPENDUID" in " ".join(_lines(appended))
    selected = await client.select("Drafts")
    assert "1 EXISTS" in _lines(selected)
    found = await client.search("TEXT", "glycemie")
    assert found.result == "OK" and _lines(found)[0] == "1"
    fetched = await client.uid("fetch", "1", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert fetched.result == "OK"
    assert b"Subject: Bilan\r\n\r\n" in bytes(fetched.lines[1])
    await client.logout()


async def test_idle_wakes_on_delivery(running_any: Running) -> None:
    client = await _client(running_any, "bob")
    await client.select("INBOX")
    idle = await client.idle_start(timeout=30)
    await asyncio.sleep(0.1)  # the server has answered "+ idling" and is waiting
    await running_any.deliver("bob", message("Nouveau resultat"))
    pushed = await client.wait_server_push(timeout=10)
    client.idle_done()
    await asyncio.wait_for(idle, 10)
    assert b"1 EXISTS" in [bytes(line) for line in pushed]
    await client.logout()


async def test_two_sessions_see_each_others_changes(running_any: Running) -> None:
    for n in range(3):
        await running_any.deliver("bob", message(f"m{n}"))
    first = await _client(running_any, "bob")
    second = await _client(running_any, "bob")
    await first.select("INBOX")
    await second.select("INBOX")

    stored = await first.store("2", "+FLAGS", "(\\Flagged)")
    assert stored.result == "OK"
    noop = await second.noop()
    assert "2 FETCH (UID 2 FLAGS (\\Flagged))" in _lines(noop)

    await first.store("1", "+FLAGS.SILENT", "(\\Deleted)")
    assert (await first.expunge()).result == "OK"
    # A FETCH by sequence number must not announce the expunge (RFC 3501 §7.4.1) ...
    fetched = await second.fetch("1:3", "(UID)")
    assert not any("EXPUNGE" in line for line in _lines(fetched))
    # ... the next NOOP does, and then the new message.
    await running_any.deliver("bob", message("m3"))
    noop = await second.noop()
    assert _lines(noop)[:2] == ["1 EXPUNGE", "3 EXISTS"]
    await first.logout()
    await second.logout()


async def test_idle_across_nodes(running_any: Running) -> None:
    """Two services on one database: a delivery through node A wakes IDLE on node B (on
    PostgreSQL through LISTEN/NOTIFY; on SQLite both share this process's events)."""
    from mailserver.imap.service import ImapService  # noqa: PLC0415
    from tests.protocol.imap.running import make_runtime  # noqa: PLC0415

    other = make_runtime(
        running_any.db, running_any.runtime.settings.data_dir, running_any.runtime.tls.material
    )
    if running_any.db.is_sqlite:
        other.mailbox_events = running_any.runtime.mailbox_events
    other.at_rest = running_any.runtime.at_rest
    node_b = ImapService(other)
    await node_b.start()
    try:
        client = aioimaplib.IMAP4_SSL(
            "127.0.0.1", node_b.ports[1], ssl_context=running_any.client_context(), timeout=20
        )
        await client.wait_hello_from_server()
        await client.login("bob@hopital.test", running_any.users["bob"].password)
        await client.select("INBOX")
        idle = await client.idle_start(timeout=30)
        if running_any.db.is_postgres:
            await asyncio.wait_for(other.mailbox_events.listening.wait(), 10)
        await running_any.deliver("bob", message("Via node A"))
        pushed = await client.wait_server_push(timeout=10)
        client.idle_done()
        await asyncio.wait_for(idle, 10)
        assert b"1 EXISTS" in [bytes(line) for line in pushed]
        await client.logout()
    finally:
        await node_b.stop()
        await other.mailbox_events.close()


async def test_any_command_carries_news_of_a_delivery(running_any: Running) -> None:
    """Not only NOOP: the command after a delivery announces it (the delivery's wake-up),
    and only once."""
    await running_any.deliver("bob", message("first"))
    raw = await Raw.open(running_any)
    await raw.login(running_any)
    await raw.send(b"s SELECT INBOX\r\n")
    await raw.until_tagged(b"s")
    await running_any.deliver("bob", message("second"))
    await raw.send(b"f UID FETCH 1 (FLAGS)\r\n")
    assert await raw.until_tagged(b"f") == [
        b"* 1 FETCH (UID 1 FLAGS ())\r\n",
        b"* 2 EXISTS\r\n",
        b"f OK Fetch completed\r\n",
    ]
    await raw.send(b"g UID FETCH 1 (FLAGS)\r\n")
    assert len(await raw.until_tagged(b"g")) == 2
    raw.close()
