"""Who sees what: delegated organisational mailboxes under the shared namespace, nothing
of other users' mailboxes, AUTHENTICATE EXTERNAL with a client certificate bound to a
mailbox, and the audit trail of logins, selections, body fetches and expunges."""

from __future__ import annotations

import imaplib
import json
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from directory.authn import certificate_fingerprint
from directory.models import CertificateBinding
from mailserver.store import deliver, reads
from storage import audit
from tests.certs import Issued, issue_leaf
from tests.protocol.imap.running import Running, in_thread, message


async def test_delegated_mailbox_in_shared_namespace(running: Running) -> None:
    alice = running.users["alice"]
    assert alice.national_id is not None
    shared_id = await running.add_shared_mailbox("cardio@hopital.test", alice.national_id)
    async with running.db.write() as session:
        await deliver(session, running.runtime.at_rest, shared_id, message("Avis cardio"))

    def alice_view() -> None:
        client = running.login("alice")
        assert client.namespace()[1] == [b'(("" "/")) NIL (("Shared/" "/"))']
        listing = b"\n".join(x for x in client.list(pattern="Shared/*")[1] if isinstance(x, bytes))
        assert b'(\\Noselect \\HasChildren) "/" "Shared/cardio@hopital.test"' in listing
        assert b'"Shared/cardio@hopital.test/INBOX"' in listing
        assert b'\\Sent) "/" "Shared/cardio@hopital.test/Sent"' in listing
        assert client.select("Shared/cardio@hopital.test/INBOX") == ("OK", [b"1"])
        _, data = client.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert data[0][1] == b"Subject: Avis cardio\r\n\r\n"  # type: ignore[index]
        # Copy into her own mailbox: sealed again for it.
        assert client.copy("1", "Archive")[0] == "OK"
        client.select("Archive")
        _, data = client.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert data[0][1] == b"Subject: Avis cardio\r\n\r\n"  # type: ignore[index]
        client.logout()

    def bob_view() -> list[str]:
        client = running.login("bob")
        results = [
            client.select("Shared/cardio@hopital.test/INBOX")[0],
            client.status("Shared/alice@hopital.test/INBOX", "(MESSAGES)")[0],
            client.append("Shared/cardio@hopital.test/INBOX", None, None, message("x"))[0],
        ]
        assert client.namespace()[1] == [b'(("" "/")) NIL NIL']
        assert not any(b"cardio" in x for x in client.list()[1] if isinstance(x, bytes))
        client.logout()
        return results

    await in_thread(alice_view)
    assert await in_thread(bob_view) == ["NO", "NO", "NO"]


async def test_cross_user_copy_is_refused(running: Running) -> None:
    await running.deliver("bob", message("Prive"))

    def scenario() -> str:
        client = running.login("bob")
        client.select("INBOX")
        typ, _ = client.copy("1", "Shared/alice@hopital.test/INBOX")
        client.logout()
        return typ

    assert await in_thread(scenario) == "NO"
    async with running.db.read() as session:
        inbox = await reads.folder_by_name(session, running.users["alice"].mailbox_id, "INBOX")
        assert inbox is None or await reads.index(session, inbox.id) == []


async def test_authenticate_external_with_bound_certificate(
    running: Running, test_ca: Issued, tmp_path: Path
) -> None:
    bob = running.users["bob"]
    leaf = issue_leaf(test_ca, "Bob Synthetique", emails=(bob.address,))
    cert_file, key_file = leaf.write(tmp_path, "bob-client")
    stranger = issue_leaf(test_ca, "Nobody")
    stranger_cert, stranger_key = stranger.write(tmp_path, "stranger")
    async with running.db.write() as session:
        session.add(
            CertificateBinding(
                mailbox_id=bob.mailbox_id,
                fingerprint=certificate_fingerprint(leaf.cert.public_bytes(Encoding.DER)),
            )
        )

    def login_with(cert: Path, key: Path, authzid: bytes) -> str:
        ctx = running.client_context()
        ctx.load_cert_chain(cert, key)
        client = imaplib.IMAP4_SSL("127.0.0.1", running.tls_port, ssl_context=ctx)
        try:
            typ, _ = client.authenticate("EXTERNAL", lambda _c: authzid)
            return typ
        except imaplib.IMAP4.error as exc:
            return str(exc)
        finally:
            client.shutdown()

    assert await in_thread(lambda: login_with(cert_file, key_file, b"")) == "OK"
    assert await in_thread(lambda: login_with(cert_file, key_file, bob.address.encode())) == "OK"
    assert "AUTHORIZATIONFAILED" in await in_thread(
        lambda: login_with(cert_file, key_file, b"alice@hopital.test")
    )
    assert "AUTHENTICATIONFAILED" in await in_thread(
        lambda: login_with(stranger_cert, stranger_key, b"")
    )

    def without_certificate() -> str:
        client = running.connect()
        try:
            client.authenticate("EXTERNAL", lambda _c: b"")
            return "OK"
        except imaplib.IMAP4.error as exc:
            return str(exc)
        finally:
            client.shutdown()

    assert "AUTHENTICATIONFAILED" in await in_thread(without_certificate)


async def test_audit_trail_names_who_read_which_message(running: Running) -> None:
    secret_subject = "Serologie VIH positive"
    for n in range(3):
        await running.deliver("bob", message(secret_subject, f"contenu {n}"))

    def scenario() -> None:
        client = running.login("bob")
        client.select("INBOX")
        client.fetch("1:2", "(FLAGS)")  # no content: not audited
        client.uid("FETCH", "2:3", "(BODY.PEEK[])")
        client.store("3", "+FLAGS", "\\Deleted")
        client.expunge()
        client.logout()

    await in_thread(scenario)
    entries = [e async for e in audit.export(running.db)]
    actions = [(e["action"], e["actor"]) for e in entries if e["actor"] == "bob@hopital.test"]
    assert [a for a, _ in actions] == ["auth.success", "imap.select", "imap.fetch", "imap.expunge"]
    fetch = next(e for e in entries if e["action"] == "imap.fetch")
    assert fetch["object"] == "bob@hopital.test/INBOX"
    assert fetch["detail"]["uids"] == "2:3"
    assert fetch["source"].startswith("imap:127.0.0.1")
    expunge = next(e for e in entries if e["action"] == "imap.expunge")
    assert expunge["detail"]["uids"] == "3"
    dumped = json.dumps(entries)
    assert secret_subject not in dumped and "contenu" not in dumped
    assert await audit.verify(running.db) == len(entries)
