"""Messages through imaplib: APPEND (APPENDUID, flags, date, OVERQUOTA, TRYCREATE),
STORE, SEARCH, COPY/MOVE (COPYUID), EXPUNGE and UID EXPUNGE, partial and header fetches,
ENVELOPE and BODYSTRUCTURE."""

from __future__ import annotations

import imaplib
import re

from tests.protocol.imap.running import Running, in_thread, message

MULTIPART = (
    b"From: \"Martin, Alice\" <alice@hopital.test>\r\n"
    b"To: Bob <bob@hopital.test>, Service <cardio@hopital.test>\r\n"
    b"Cc: team: carol@hopital.test, dan@hopital.test;\r\n"
    b"Subject: =?utf-8?q?Compte_rendu_op=C3=A9ratoire?=\r\n"
    b"Date: Tue, 5 Mar 2024 09:00:00 +0100\r\n"
    b"Message-ID: <cr-1@hopital.test>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n"
    b"\r\n"
    b"preamble\r\n"
    b"--XYZ\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Patient stable, suites simples. Op=C3=A9r=C3=A9 le 4 mars.\r\n"
    b"--XYZ\r\n"
    b"Content-Type: application/pdf; name=\"cr.pdf\"\r\n"
    b"Content-Disposition: attachment; filename=\"cr.pdf\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"JVBERi0xLjQK\r\n"
    b"--XYZ--\r\n"
    b"epilogue\r\n"
)


def _code(response: list[bytes | tuple[bytes, bytes] | None], name: str) -> list[str]:
    text = b" ".join(r for r in response if isinstance(r, bytes)).decode()
    found = re.search(rf"\[{name} ([^\]]*)\]", text)
    assert found, text
    return found.group(1).split()


async def test_append_with_flags_and_date_then_fetch(running: Running) -> None:
    def scenario() -> None:
        client = running.login("bob")
        body = message("Copie envoyee")
        typ, data = client.append(
            "Sent", "(\\Seen $Sent)", imaplib.Time2Internaldate(1709542800), body
        )
        assert typ == "OK"
        uidvalidity, uid = _code(data, "APPENDUID")
        assert uid == "1"
        client.select("Sent")
        _, fetched = client.uid("FETCH", uid, "(FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")
        head, content = fetched[0]  # type: ignore[misc]
        assert content == body
        assert b"FLAGS (\\Seen $Sent)" in head
        assert b'INTERNALDATE " 4-Mar-2024 09:00:00 +0000"' in head
        assert f"RFC822.SIZE {len(body)}".encode() in head
        _, status = client.status("Sent", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)")
        assert status[0] == f'"Sent" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY {uidvalidity} UNSEEN 0)'.encode()
        client.logout()

    await in_thread(scenario)


async def test_append_to_missing_folder_asks_to_create(running: Running) -> None:
    def scenario() -> tuple[str, list[bytes]]:
        client = running.login("bob")
        typ, data = client.append("Nowhere", None, None, message("x"))
        client.logout()
        return typ, data  # type: ignore[return-value]

    typ, data = await in_thread(scenario)
    assert typ == "NO"
    assert data[0].startswith(b"[TRYCREATE]")


async def test_append_over_quota(running: Running) -> None:
    await running.add_user("tiny", quota=600)

    def scenario() -> tuple[str, str]:
        client = running.login("tiny")
        first, _ = client.append("INBOX", None, None, message("small"))
        typ, data = client.append("INBOX", None, None, message("big", "x" * 800))
        client.logout()
        return first, f"{typ} {data[0]!r}"

    first, second = await in_thread(scenario)
    assert first == "OK"
    assert "OVERQUOTA" in second


async def test_store_search_expunge(running: Running) -> None:
    for n in range(5):
        await running.deliver("bob", message(f"Message {n}", f"corps numero {n}"))

    def scenario() -> None:
        client = running.login("bob")
        client.select("INBOX")
        _, data = client.store("2:3", "+FLAGS", "(\\Deleted \\Flagged)")
        assert data == [b"2 (FLAGS (\\Flagged \\Deleted))", b"3 (FLAGS (\\Flagged \\Deleted))"]
        assert client.search(None, "DELETED")[1] == [b"2 3"]
        assert client.search(None, "UNDELETED SUBJECT", '"message 4"')[1] == [b"5"]
        assert client.search(None, "BODY", "numero")[1] == [b"1 2 3 4 5"]
        assert client.search(None, "OR", "SUBJECT", "0", "SUBJECT", "1")[1] == [b"1 2"]
        assert client.uid("SEARCH", "UID", "4:*")[1] == [b"4 5"]
        assert client.search(None, "SENTON", "4-Mar-2024")[1] == [b"1 2 3 4 5"]
        assert client.search(None, "LARGER", "10000")[1] == [b""]
        typ, expunged = client.expunge()
        assert (typ, expunged) == ("OK", [b"3", b"2"])
        assert client.uid("SEARCH", "ALL")[1] == [b"1 4 5"]
        client.logout()

    await in_thread(scenario)


async def test_uid_expunge_removes_only_named_uids(running: Running) -> None:
    for n in range(3):
        await running.deliver("bob", message(f"m{n}"))

    def scenario() -> None:
        client = running.login("bob")
        client.select("INBOX")
        client.store("1:3", "+FLAGS.SILENT", "\\Deleted")
        typ, _ = client.uid("EXPUNGE", "2")
        assert (typ, client.untagged_responses.pop("EXPUNGE")) == ("OK", [b"2"])
        assert client.uid("SEARCH", "ALL")[1] == [b"1 3"]
        client.close()  # CLOSE expunges the rest silently
        client.select("INBOX")
        assert client.uid("SEARCH", "ALL")[1] == [b""]
        client.logout()

    await in_thread(scenario)


async def test_copy_and_move_report_copyuid(running: Running) -> None:
    for n in range(3):
        await running.deliver("bob", message(f"m{n}"))

    def scenario() -> None:
        client = running.login("bob")
        client.select("INBOX")
        typ, copied = client.copy("1:2", "Archive")
        assert typ == "OK"
        assert _code(copied, "COPYUID")[1:] == ["1:2", "1:2"]
        # imaplib's uid() returns FETCH data only: read MOVE's untagged responses directly.
        typ, _ = client._simple_command("UID", "MOVE", "2:3", "Trash")
        assert typ == "OK"
        untagged = client.untagged_responses
        assert untagged.pop("EXPUNGE", None) == [b"3", b"2"]
        assert b"[COPYUID " in untagged.pop("OK", [b""])[-1]
        assert client.uid("SEARCH", "ALL")[1] == [b"1"]
        client.select("Trash")
        assert client.uid("SEARCH", "ALL")[1] == [b"1 2"]
        client.select("Archive", readonly=True)
        typ, refused = client.uid("MOVE", "1", "INBOX")
        assert typ == "NO"
        assert refused[0].startswith(b"[READ-ONLY]")
        client.logout()

    await in_thread(scenario)


async def test_partial_header_fields_envelope_bodystructure(running: Running) -> None:
    await running.deliver("bob", MULTIPART)

    def scenario() -> None:
        client = running.login("bob")
        client.select("INBOX")
        _, data = client.fetch("1", "(BODY.PEEK[]<0.10> BODY.PEEK[HEADER.FIELDS (SUBJECT DATE)])")
        first, second = data[0], data[1]
        assert first[1] == MULTIPART[:10]  # type: ignore[index]
        assert b"BODY[]<0> {10}" in first[0]  # type: ignore[index]
        assert second[1] == (  # type: ignore[index]
            b"Subject: =?utf-8?q?Compte_rendu_op=C3=A9ratoire?=\r\n"
            b"Date: Tue, 5 Mar 2024 09:00:00 +0100\r\n\r\n"
        )
        _, parts = client.fetch("1", "(BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[TEXT]<0.8>)")
        assert parts[0][1] == b"Patient stable, suites simples. Op=C3=A9r=C3=A9 le 4 mars."  # type: ignore[index]
        assert parts[1][1].startswith(b"Content-Type: application/pdf")  # type: ignore[index]
        assert parts[2][1] == b"preamble"  # type: ignore[index]
        _, env = client.fetch("1", "(ENVELOPE)")
        text = env[0].decode()  # type: ignore[union-attr]
        assert '"Tue, 5 Mar 2024 09:00:00 +0100" "=?utf-8?q?Compte_rendu_op=C3=A9ratoire?="' in text
        assert '(("Martin, Alice" NIL "alice" "hopital.test"))' in text
        assert '((NIL NIL "team" NIL)("carol" NIL NIL NIL)' not in text
        assert '(NIL NIL "team" NIL)(NIL NIL "carol" "hopital.test")(NIL NIL "dan" "hopital.test")(NIL NIL NIL NIL)' in text
        assert '"<cr-1@hopital.test>"' in text
        _, structure = client.fetch("1", "(BODYSTRUCTURE)")
        text = structure[0].decode()  # type: ignore[union-attr]
        text_part = b"Patient stable, suites simples. Op=C3=A9r=C3=A9 le 4 mars."
        assert f'("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" {len(text_part)} 1' in text
        assert '("APPLICATION" "PDF" ("NAME" "cr.pdf") NIL NIL "BASE64" 12' in text
        assert "NIL NIL NIL NIL)(\"APPLICATION\"" in text  # 1*body: no space between parts
        assert '("ATTACHMENT" ("FILENAME" "cr.pdf"))' in text
        assert '"MIXED" ("BOUNDARY" "XYZ") NIL NIL NIL)' in text
        _, flags = client.fetch("1", "(FLAGS)")
        assert b"\\Seen" not in flags[0]  # type: ignore[operator]
        _, seen = client.fetch("1", "(BODY[1])")
        assert b"FLAGS (\\Seen)" in seen[1]  # type: ignore[operator]
        client.logout()

    await in_thread(scenario)
