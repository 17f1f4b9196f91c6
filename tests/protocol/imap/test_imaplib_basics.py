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


async def test_plain_port_requires_starttls_before_login(running: Running) -> None:
    def scenario() -> tuple[tuple[str, ...], str, tuple[str, ...]]:
        client = imaplib.IMAP4("127.0.0.1", running.port)
        before = client.capabilities
        try:
            client.login("bob@hopital.test", running.users["bob"].password)
            refused = "logged in without TLS"
        except imaplib.IMAP4.error as exc:
            refused = str(exc)
        client.starttls(ssl_context=running.client_context())
        after = client.capabilities
        client.login("bob@hopital.test", running.users["bob"].password)
        client.logout()
        return before, refused, after

    before, refused, after = await in_thread(scenario)
    assert "LOGINDISABLED" in before and "STARTTLS" in before
    assert not any(c.startswith("AUTH=") for c in before)
    assert "PRIVACYREQUIRED" in refused
    assert "AUTH=PLAIN" in after and "LOGINDISABLED" not in after


async def test_authenticate_plain_and_authzid_rules(running: Running) -> None:
    password = running.users["bob"].password

    def plain(authzid: str) -> str:
        client = running.connect()
        try:
            typ, _ = client.authenticate(
                "PLAIN", lambda _challenge: f"{authzid}\0bob@hopital.test\0{password}".encode()
            )
            return typ
        except imaplib.IMAP4.error as exc:
            return str(exc)
        finally:
            client.shutdown()

    assert await in_thread(lambda: plain("")) == "OK"
    assert await in_thread(lambda: plain("BOB@hopital.test")) == "OK"
    assert "AUTHORIZATIONFAILED" in await in_thread(lambda: plain("alice@hopital.test"))


async def test_capabilities_after_login(running: Running) -> None:
    def scenario() -> tuple[str, ...]:
        client = running.login("bob")
        typ, data = client.capability()
        client.logout()
        assert typ == "OK"
        return tuple(data[0].decode().split())  # type: ignore[union-attr]

    caps = await in_thread(scenario)
    for extension in ("IMAP4rev1", "IDLE", "UIDPLUS", "MOVE", "NAMESPACE", "ID", "LITERAL+",
                      "SPECIAL-USE", "CHILDREN", "ENABLE", "UNSELECT"):
        assert extension in caps
    assert "STARTTLS" not in caps


async def test_namespace_and_id(running: Running) -> None:
    def scenario() -> tuple[bytes, bytes]:
        client = running.login("bob")
        _, namespace = client.namespace()
        client.xatom("ID", '("name" "pytest")')
        untagged = client.untagged_responses.get("ID", [b""])[0]
        client.logout()
        return namespace[0], untagged  # type: ignore[return-value]

    namespace, ident = await in_thread(scenario)
    assert namespace == b'(("" "/")) NIL NIL'
    assert ident == b'("name" "Salus")'
