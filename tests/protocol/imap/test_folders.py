"""Folder commands through imaplib: CREATE (with parents), RENAME, DELETE, SUBSCRIBE and
LSUB, LIST patterns and attributes (CHILDREN, SPECIAL-USE, LIST-EXTENDED), STATUS, and
names in modified UTF-7."""

from __future__ import annotations

import imaplib

from tests.protocol.imap.running import Running, in_thread, message


def _names(listing: list[bytes | None]) -> dict[str, str]:
    """name -> attributes, from LIST/LSUB lines `(attrs) "/" "name"`."""
    out = {}
    for line in listing:
        if not isinstance(line, bytes):
            continue
        attrs, _, rest = line.decode().partition(') "/" ')
        out[rest.strip('"')] = attrs.lstrip("(")
    return out


async def test_create_rename_delete_and_children(running: Running) -> None:
    def scenario() -> None:
        client = running.login("bob")
        assert client.create("Patients/2024")[0] == "OK"
        assert client.create("Patients/2024")[0] == "NO"
        listed = _names(client.list(pattern="Patients*")[1])
        assert listed == {"Patients": "\\HasChildren", "Patients/2024": "\\HasNoChildren"}
        assert _names(client.list(pattern="%")[1]).keys() == {
            "INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive", "Patients"
        }
        assert client.rename("Patients", "Dossiers")[0] == "OK"
        assert _names(client.list("Dossiers/", "*")[1]).keys() == {"Dossiers/2024"}
        typ, data = client.delete("Dossiers")
        assert typ == "NO" and b"sub-mailboxes" in data[0]  # type: ignore[operator]
        assert client.delete("Dossiers/2024")[0] == "OK"
        assert client.delete("Dossiers")[0] == "OK"
        assert client.delete("INBOX")[0] == "NO"
        client.logout()

    await in_thread(scenario)


async def test_special_use_and_list_extended(running: Running) -> None:
    def scenario() -> None:
        client = running.login("bob")
        typ, _ = client._simple_command("LIST", "(SPECIAL-USE)", '""', "*")
        assert typ == "OK"
        listing = _names(client.untagged_responses.pop("LIST", []))
        assert listing == {
            "Sent": "\\HasNoChildren \\Sent",
            "Drafts": "\\HasNoChildren \\Drafts",
            "Trash": "\\HasNoChildren \\Trash",
            "Junk": "\\HasNoChildren \\Junk",
            "Archive": "\\HasNoChildren \\Archive",
        }
        typ, _ = client._simple_command("LIST", '""', '"INBOX"', "RETURN", "(SUBSCRIBED CHILDREN)")
        assert _names(client.untagged_responses.pop("LIST", [])) == {
            "INBOX": "\\HasNoChildren \\Subscribed"
        }
        assert client.list('""', '""')[1] == [b'(\\Noselect) "/" ""']
        client.logout()

    await in_thread(scenario)


async def test_subscribe_lsub(running: Running) -> None:
    def scenario() -> None:
        client = running.login("bob")
        assert client.unsubscribe("Junk")[0] == "OK"
        subscribed = _names(client.lsub()[1])
        assert "Junk" not in subscribed and "INBOX" in subscribed
        assert client.subscribe("Junk")[0] == "OK"
        assert "Junk" in _names(client.lsub()[1])
        assert client.subscribe("Nope")[0] == "NO"
        client.logout()

    await in_thread(scenario)


async def test_international_names_in_modified_utf7(running: Running) -> None:
    def scenario() -> str:
        client = running.login("bob")
        assert client.create("&AMk-t&AOk-")[0] == "OK"  # "Été"
        assert client.list(pattern="&AMk-*")[1] == [b'(\\HasNoChildren) "/" "&AMk-t&AOk-"']
        assert client.select("&AMk-t&AOk-")[0] == "OK"
        assert client.create("&Jjo-!")[0] == "OK"
        try:
            client.create("&AGE-")  # "a" in base64: ASCII must stand for itself
            refused = "created"
        except imaplib.IMAP4.error as exc:
            refused = str(exc)
        client.logout()
        return refused

    assert "modified UTF-7" in await in_thread(scenario)


async def test_status_counts(running: Running) -> None:
    for n in range(3):
        await running.deliver("bob", message(f"m{n}"))

    def scenario() -> bytes:
        client = running.login("bob")
        client.select("INBOX")
        client.store("1", "+FLAGS", "\\Seen")
        _, data = client.status("INBOX", "(MESSAGES UNSEEN UIDNEXT RECENT)")
        client.logout()
        return data[0]  # type: ignore[return-value]

    assert await in_thread(scenario) == b'"INBOX" (MESSAGES 3 UNSEEN 2 UIDNEXT 4 RECENT 0)'
