"""`salus init` (the CA step) and `salus keys …` through the real entry point, on SQLite
and PostgreSQL: what an administrator types, what a mail client then imports (checked
with openssl and gpg), and what lands in the audit trail."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
from pathlib import Path

from cryptography import x509

from config.settings import load_settings
from directory.models import Mailbox, Practitioner
from mailserver.app import tls_material
from mailserver.tls import server_context
from storage import audit
from storage.database import Database

SALUS = Path(sys.executable).parent / "salus"


async def salus(*args: str, stdin: str = "", ok: bool = True) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(SALUS),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=240)
    code = process.returncode or 0
    if ok:
        assert code == 0, err.decode()
    return code, out.decode(), err.decode()


async def _seed(url: str) -> None:
    db = Database(url)
    try:
        async with db.write() as session:
            session.add(
                Practitioner(
                    national_id="810000000017",
                    id_scheme="rpps",
                    first_name="Alice",
                    last_name="Martin",
                )
            )
            await session.flush()
            session.add(
                Mailbox(
                    address="alice@salus.test", kind="personal", local=True, owner_id="810000000017"
                )
            )
            session.add(Mailbox(address="remote@other.test", kind="personal", local=False))
            session.add(
                Mailbox(address="gone@salus.test", kind="personal", local=True, status="suspended")
            )
    finally:
        await db.dispose()


def _openssl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], capture_output=True, timeout=60, check=False)


async def test_init_issue_renew_export_revoke_rotate(database_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    d = ["--data-dir", str(data)]
    await salus("init", *d, "--domain", "salus.test", "--database-url", database_url)
    ca_dir, tls_dir = data / "ca", data / "tls"
    for name in ("root.crt", "issuing.crt", "root.key.sealed", "issuing.key.sealed", "crl.pem"):
        assert (ca_dir / name).exists(), name
    assert (
        _openssl(
            "verify",
            "-CAfile",
            str(ca_dir / "root.crt"),
            "-untrusted",
            str(ca_dir / "issuing.crt"),
            "-purpose",
            "sslserver",
            str(tls_dir / "server.crt"),
        ).returncode
        == 0
    )
    assert (
        _openssl(
            "verify",
            "-CAfile",
            str(ca_dir / "root.crt"),
            "-untrusted",
            str(ca_dir / "issuing.crt"),
            "-purpose",
            "sslclient",
            str(tls_dir / "server.crt"),
        ).returncode
        == 0
    )
    settings = load_settings(data)
    assert isinstance(server_context(tls_material(settings)), ssl.SSLContext)
    await _seed(database_url)

    _, out, _ = await salus("keys", "issue", "Alice@Salus.test", *d)
    assert "issued keys for alice@salus.test" in out
    for address, reason in (
        ("alice@salus.test", "already has an active key"),
        ("remote@other.test", "is not a local mailbox"),
        ("nobody@salus.test", "no mailbox nobody@salus.test"),
        ("gone@salus.test", "is suspended"),
    ):
        code, _, err = await salus("keys", "issue", address, *d, ok=False)
        assert code != 0 and reason in err and err.count("\n") == 1
    await salus("keys", "renew", "alice@salus.test", *d)
    _, listing, _ = await salus("keys", "list", "alice@salus.test", "--json", *d)
    keys = json.loads(listing)["keys"]
    assert [k["status"] for k in keys] == ["active", "retired"]

    p12 = tmp_path / "alice.p12"
    await salus(
        "keys",
        "export",
        "alice@salus.test",
        "--p12",
        str(p12),
        "--passphrase-stdin",
        *d,
        stdin="s3cret pass\nignored\n",
    )
    assert p12.stat().st_mode & 0o077 == 0
    dump = _openssl("pkcs12", "-in", str(p12), "-passin", "pass:s3cret pass", "-nodes")
    assert dump.returncode == 0, dump.stderr
    assert dump.stdout.count(b"BEGIN PRIVATE KEY") == 2
    code, _, err = await salus(
        "keys",
        "export",
        "alice@salus.test",
        "--p12",
        str(p12),
        "--passphrase-stdin",
        *d,
        stdin="x\n",
        ok=False,
    )
    assert code != 0 and "already exists" in err

    secret = tmp_path / "alice.asc"
    await salus(
        "keys",
        "export",
        "alice@salus.test",
        "--openpgp-secret",
        str(secret),
        "--passphrase-stdin",
        *d,
        stdin="pgp pass\n",
    )
    gnupg = tmp_path / "gnupg"
    gnupg.mkdir(mode=0o700)
    imported = subprocess.run(
        [
            "gpg",
            "--homedir",
            str(gnupg),
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "pgp pass",
            "--import",
            str(secret),
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    secret_keys = subprocess.run(
        ["gpg", "--homedir", str(gnupg), "--batch", "--with-colons", "--list-secret-keys"],
        capture_output=True,
        timeout=60,
        check=False,
    ).stdout
    # The import started a gpg-agent for this home: stop it with the test.
    subprocess.run(
        ["gpgconf", "--homedir", str(gnupg), "--kill", "gpg-agent"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    # Both generations: mail encrypted to the retired key stays readable.
    for key in keys:
        assert key["openpgp_fingerprint"].encode() in secret_keys

    _, out, _ = await salus("keys", "revoke", "alice@salus.test", *d)
    crl = x509.load_pem_x509_crl((ca_dir / "crl.pem").read_bytes())
    assert {format(e.serial_number, "x") for e in crl} == {k["serial"] for k in keys}
    _, crl_text, _ = await salus("keys", "crl", *d)
    assert x509.load_pem_x509_crl(crl_text.encode()) == crl

    _, out, _ = await salus("keys", "rotate-service-key", *d)
    assert "re-sealed 3 file(s) and 2 mailbox key generation(s)" in out
    assert len(list((data / "keys").glob("service.key.*"))) == 1
    assert isinstance(server_context(tls_material(load_settings(data))), ssl.SSLContext)
    await salus(
        "keys",
        "export",
        "alice@salus.test",
        "--p12",
        str(tmp_path / "after.p12"),
        "--passphrase-stdin",
        *d,
        stdin="pw\n",
    )

    db = Database(database_url)
    try:
        actions = [(e["action"], e["result"]) async for e in audit.export(db)]
        assert await audit.verify(db) == len(actions)
    finally:
        await db.dispose()
    assert ("ca.create", "ok") in actions
    assert actions.count(("keys.issue", "refused")) == 4
    for action in ("keys.issue", "keys.renew", "keys.export", "keys.revoke", "service-key.rotate"):
        assert (action, "ok") in actions, action


def test_init_takes_the_data_dir_from_the_environment(tmp_path: Path) -> None:
    """Like every leaf command, `salus init` defaults to SALUS_DATA_DIR (DESIGN section 2)."""
    data = tmp_path / "from-env"
    done = subprocess.run(
        [str(SALUS), "init", "--domain", "salus.test"],
        env={**os.environ, "SALUS_DATA_DIR": str(data)},
        cwd=tmp_path,
        capture_output=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert load_settings(data).service.domain == "salus.test"
    assert not (tmp_path / "var").exists()
