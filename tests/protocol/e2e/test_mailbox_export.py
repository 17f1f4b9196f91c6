"""`salus directory mailbox export` for a practitioner who leaves, end to end: mail
delivered through submission (smtplib), folders, copies, drafts and flags made with
imaplib, keys renewed between letters; the export read back with Python's
`mailbox.mbox`, every letter opened with the exported keys by `openssl cms` (S/MIME)
and `gpg` (OpenPGP), a server-decrypt mailbox's verified plaintext, the refusals, and
the audit entries (counts, never content)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import imaplib
import json
import mailbox
import re
import secrets
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import select

from crypto import keystore
from crypto.at_rest import AtRestCipher
from crypto.service_key import ServiceKey
from directory.models import Mailbox
from mailserver.store import deliver as store_deliver
from tests.integration.directory.seed import PASSWORD
from tests.protocol.e2e.node import DPI, OPENPGP, SALUS, Node, openssl
from tests.protocol.e2e.test_protected_delivery import letter
from tests.protocol.openpgp.conftest import Gpg
from tests.protocol.smtp.harness import COLLEAGUE, DOCTOR

PASSPHRASE = "leaving passphrase 12"
DRAFT = (
    b"From: Dr Two <doctor.2@salus.test>\r\nTo: doctor.1@salus.test\r\n"
    b"Subject: unfinished\r\n\r\nFrom the ward round:\r\n>From quoted\r\nnothing yet\r\n"
)


def run(node: Node, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SALUS), *args, "--data-dir", str(node.data_dir)],
        input=stdin, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def refused(node: Node, *args: str, stdin: str = "") -> str:
    """The one sentence of a refused command."""
    done = run(node, *args, stdin=stdin)
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1, done.stderr
    return lines[0].removeprefix("salus: ")


def export(node: Node, address: str, *args: str, stdin: str = "") -> str:
    done = run(node, "directory", "mailbox", "export", address, *args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def deliver(node: Node, to: str, marker: str, count: int) -> None:
    """Submit a letter and wait until `count` deliveries are final (all delivered)."""
    _, message = letter(to, marker)
    code, reply = await asyncio.to_thread(node.submit, message, [to])
    assert code == 250, reply
    rows = await node.settled(count)
    assert all(status == "delivered" for _, status, _ in rows), rows


def arrange_folders(node: Node, address: str) -> None:
    """What the practitioner did in a mail client: a sub-folder with a copy of the first
    letter, flags, and a draft whose body has lines starting "From " (blocking)."""
    _, port = node.imap.ports
    with imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=node.tls_client()) as client:
        client.login(address, PASSWORD)
        assert client.create("Patients/Cardio")[0] == "OK"
        client.select("INBOX")
        assert client.uid("COPY", "1", "Patients/Cardio")[0] == "OK"
        assert client.uid("STORE", "1", "+FLAGS", "(\\Seen \\Flagged)")[0] == "OK"
        assert client.uid("STORE", "2", "+FLAGS", "(\\Answered \\Deleted $Urgent)")[0] == "OK"
        assert client.append("Drafts", "(\\Draft \\Seen)", None, DRAFT)[0] == "OK"


def read_mbox(path: Path) -> list[tuple[mailbox.mboxMessage, bytes]]:
    """Each message and its raw bytes as a mail client reads them from the file."""
    box = mailbox.mbox(path, create=False)
    try:
        return [(box[key], box.get_bytes(key)) for key in box.iterkeys()]
    finally:
        box.close()


def p12_keys(p12: Path, directory: Path) -> list[Path]:
    """Every private key in the exported PKCS#12 file, one PEM file each (openssl)."""
    pem = openssl("pkcs12", "-in", str(p12), "-nodes", "-passin", f"pass:{PASSPHRASE}")
    blocks = re.findall(rb"-----BEGIN PRIVATE KEY-----.+?-----END PRIVATE KEY-----\n", pem, re.S)
    paths = []
    for n, block in enumerate(blocks):
        paths.append(directory / f"key{n}.pem")
        paths[-1].write_bytes(block)
    return paths


def smime_open(raw: bytes, keys: list[Path], directory: Path) -> tuple[int, bytes]:
    """`openssl cms -decrypt` with whichever exported key the letter was encrypted to:
    that key's index and the signed content."""
    source = directory / "letter.eml"
    source.write_bytes(raw)
    for n, key in enumerate(keys):
        done = subprocess.run(["openssl", "cms", "-decrypt", "-in", str(source), "-inkey", str(key)],
                              capture_output=True, check=False, timeout=60)  # fmt: skip
        if done.returncode == 0:
            return n, openssl("cms", "-verify", "-noverify", stdin=done.stdout)
    raise AssertionError("no exported key opens the letter")


def audit_entries(node: Node) -> list[dict[str, Any]]:
    done = run(node, "audit", "export")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    return [e for e in lines if e["action"] == "directory.mailbox.export"]


async def test_a_leaving_practitioners_smime_mailbox(salus_any_db: Node, tmp_path: Path) -> None:
    node = salus_any_db
    await deliver(node, COLLEAGUE, "Letter one 5521", 1)
    node.salus("keys", "renew", COLLEAGUE)
    await deliver(node, COLLEAGUE, "Letter two 5522", 2)
    await asyncio.to_thread(arrange_folders, node, COLLEAGUE)

    target, p12 = tmp_path / "doctor2.mbox", tmp_path / "doctor2.p12"
    reason = refused(node, "directory", "mailbox", "export", COLLEAGUE, "--mbox", str(target))
    assert reason == (
        f"{COLLEAGUE} holds mail that only its S/MIME keys open: add --p12 FILE with "
        "--passphrase-stdin, or --no-keys to export it without them"
    )
    assert not target.exists()
    out = export(node, COLLEAGUE, "--mbox", str(target), "--p12", str(p12),
                 "--passphrase-stdin", stdin=PASSPHRASE + "\n")  # fmt: skip
    assert out.splitlines() == [
        f"exported 4 message(s) from 3 folder(s) of {COLLEAGUE} to {target} "
        "(3 S/MIME, 1 not encrypted)",
        f"wrote S/MIME keys (PKCS#12), 2 generation(s), to {p12}",
    ]
    assert target.stat().st_mode & 0o777 == 0o600 and p12.stat().st_mode & 0o777 == 0o600

    data = target.read_bytes()
    assert b"\r" not in data
    assert b"\n>From the ward round:\n>>From quoted\n" in data  # mboxrd
    read = read_mbox(target)
    assert [(m["X-Folder"], set(m.get_flags())) for m, _ in read] == [
        ("INBOX", set("ROF")),
        ("INBOX", set("OAD")),
        ("Drafts", set("ROT")),
        ("Patients/Cardio", set("O")),
    ]
    assert read[1][0]["X-Keywords"] == "$Urgent"
    letters = [raw for m, raw in read if m["X-Folder"] != "Drafts"]
    assert [m.get_from().split()[0] for m, _ in read] == [DOCTOR, DOCTOR, COLLEAGUE, DOCTOR]

    keys = p12_keys(p12, tmp_path)
    assert len(keys) == 2  # both generations: the first letter needs the retired key
    opened = [smime_open(raw, keys, tmp_path) for raw in letters]
    assert [b"Letter one 5521" in o for _, o in opened] == [True, False, True]
    assert b"Letter two 5522" in opened[1][1]
    assert opened[0][0] == opened[2][0] != opened[1][0]  # each generation's key is needed

    fresh, missing = str(tmp_path / "new.mbox"), tmp_path / "missing" / "x.mbox"
    for args, reason in (
        (("nobody@salus.test", "--mbox", fresh), "no mailbox nobody@salus.test in the directory"),
        ((COLLEAGUE, "--no-keys", "--mbox", str(target)),
         f"{target} already exists: choose a new file name"),
        ((COLLEAGUE, "--no-keys", "--mbox", str(missing)),
         f"cannot write {missing}: No such file or directory"),
        ((COLLEAGUE, "--no-keys", "--mbox", fresh, "--p12", str(tmp_path / "k.p12")),
         "--no-keys writes no keys: leave out --p12, --openpgp-secret and --passphrase-stdin"),
    ):  # fmt: skip
        assert refused(node, "directory", "mailbox", "export", *args) == reason
    assert not (tmp_path / "k.p12").exists() and not Path(fresh).exists()

    unreadable = tmp_path / "no-keys.mbox"
    export(node, COLLEAGUE, "--mbox", str(unreadable), "--no-keys")
    assert len(read_mbox(unreadable)) == 4

    # Usage mistakes (an existing file, --no-keys with a key file) end the command before
    # it reads the directory: they are not audited.
    entries = audit_entries(node)
    assert [(e["object"], e["result"]) for e in entries] == [
        (COLLEAGUE, "refused"), (COLLEAGUE, "ok"), ("nobody@salus.test", "refused"),
        (COLLEAGUE, "refused"), (COLLEAGUE, "ok"),
    ]  # fmt: skip
    assert entries[1]["detail"] == {
        "messages": 4, "folders": 3, "forms": {"clear": 1, "smime": 3}, "unreadable": 0,
        "keys": ["p12"], "key_generations": 2, "no_keys": False,
    }  # fmt: skip
    assert entries[4]["detail"]["no_keys"] is True
    assert "ward round" not in json.dumps(entries) and "5521" not in json.dumps(entries)


async def test_openpgp_and_server_decrypt_mailboxes(salus: Node, tmp_path: Path, gpg: Gpg) -> None:
    await deliver(salus, OPENPGP, "Letter one 7731", 1)
    salus.salus("keys", "renew", OPENPGP)
    await deliver(salus, OPENPGP, "Letter two 7732", 2)
    await deliver(salus, DPI, "Plain result 7733", 3)

    target, secret = tmp_path / "doctor5.mbox", tmp_path / "doctor5.asc"
    p12_only = ("--mbox", str(target), "--p12", str(tmp_path / "x.p12"), "--passphrase-stdin")
    reason = refused(salus, "directory", "mailbox", "export", OPENPGP, *p12_only,
                     stdin=PASSPHRASE + "\n")  # fmt: skip
    assert reason.startswith(f"{OPENPGP} holds mail that only its OpenPGP keys open: add ")
    out = export(salus, OPENPGP, "--mbox", str(target), "--openpgp-secret", str(secret),
                 "--passphrase-stdin", stdin=PASSPHRASE + "\n")  # fmt: skip
    assert f"wrote OpenPGP keys, 2 generation(s), to {secret}" in out
    assert secret.stat().st_mode & 0o777 == 0o600

    gpg.import_key(secret.read_text(), passphrase=PASSPHRASE)
    async with salus.db.read() as session:
        gpg.import_key(await keystore.openpgp_public(session, DOCTOR))
    read = read_mbox(target)
    assert len(read) == 2
    for (_, raw), marker in zip(read, ("7731", "7732"), strict=True):
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert parsed.get_content_type() == "multipart/encrypted"
        _, payload = parsed.iter_parts()
        armored = payload.get_payload(decode=True)
        assert isinstance(armored, bytes)
        done = gpg.run("--passphrase", PASSPHRASE, "--decrypt", stdin=armored)
        assert f"Letter {'one' if marker == '7731' else 'two'} {marker}".encode() in done.stdout

    plain = tmp_path / "dpi.mbox"
    out = export(salus, DPI, "--mbox", str(plain))  # verified plaintext: no keys needed
    assert out.startswith(f"exported 1 message(s) from 1 folder(s) of {DPI} to {plain}")
    ((message, _),) = read_mbox(plain)
    assert "smime=pass" in str(message["Authentication-Results"])
    assert "Plain result 7733" in message.get_payload(decode=True).decode()  # type: ignore[union-attr]

    # A message sealed under a service key this data dir does not have: the export
    # writes the rest, says how many are missing, and records itself as incomplete.
    stranger = AtRestCipher(ServiceKey(secrets.token_bytes(32)))
    async with salus.db.write() as session:
        mailbox_id = (
            await session.execute(select(Mailbox.id).where(Mailbox.address == DPI))
        ).scalar_one()
        await store_deliver(session, stranger, mailbox_id, b"Subject: lost\r\n\r\nx\r\n")
    partial = tmp_path / "dpi-partial.mbox"
    reason = refused(salus, "directory", "mailbox", "export", DPI, "--mbox", str(partial))
    assert reason == (
        f"1 message(s) of {DPI} did not open with this data dir's service keys "
        f"(is a retired key missing?): {partial} holds the other 1"
    )
    assert len(read_mbox(partial)) == 1
    last = audit_entries(salus)[-1]
    assert (last["result"], last["detail"]["unreadable"], last["detail"]["messages"]) == (
        "incomplete",
        1,
        1,
    )
