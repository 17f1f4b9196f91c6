"""Python's imaplib against a real Salus listener: TLS, login, LIST, SELECT, FETCH,
SEARCH, STORE, APPEND, COPY, MOVE, EXPUNGE, the way a mail client uses them."""

from __future__ import annotations

import imaplib

from tests.protocol.imap.running import Running, in_thread, message


async def test_login_list_select_fetch(running: Running) -> None:
    await running.deliver("bob", message("Resultats biologiques", "Kaliemie 4.1 mmol/L"))

    def scenario() -> None:
        client = running.login("bob")
        typ, listing = client.list()
        assert typ == "OK"
        names = [line.decode() for line in listing if isinstance(line, bytes)]
        assert any('"INBOX"' in n for n in names)
        assert any("\\Sent" in n and '"Sent"' in n for n in names)
        typ, data = client.select("INBOX")
        assert (typ, data) == ("OK", [b"1"])
        typ, fetched = client.fetch("1", "(RFC822.SIZE BODY[])")
        assert typ == "OK"
        head, body = fetched[0]  # type: ignore[misc]
        assert b"Kaliemie 4.1 mmol/L" in body
        size = int(head.split(b"RFC822.SIZE ")[1].split()[0])
        assert size == len(body)
        client.logout()

    await in_thread(scenario)


async def test_wrong_password_is_refused(running: Running) -> None:
    def scenario() -> str:
        client = running.connect()
        try:
            client.login("bob@hopital.test", "not the password")
        except imaplib.IMAP4.error as exc:
            return str(exc)
        finally:
            client.shutdown()
        return "logged in"

    assert "AUTHENTICATIONFAILED" in await in_thread(scenario)
