"""fetchmail (from Debian, in batch mode) retrieving a Salus mailbox over implicit TLS
with certificate checks: every message arrives whole, and is deleted on the server
unless told to keep it (then it is marked \\Seen)."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from mailserver.store import reads
from tests.protocol.imap.running import Running, message

pytestmark = pytest.mark.skipif(shutil.which("fetchmail") is None, reason="fetchmail not installed")


async def _fetchmail(running: Running, home: Path, *, keep: bool) -> None:
    bob = running.users["bob"]
    out = home / "received"
    rc = home / "fetchmailrc"
    rc.write_text(
        f"poll localhost via 127.0.0.1 protocol IMAP port {running.tls_port}\n"
        f'  user "{bob.address}" password "{bob.password}"\n'
        f"  ssl sslcertck sslcertfile {running.ca_file} sslcommonname mail.salus.test\n"
        f"  folder INBOX {'keep' if keep else 'nokeep'} fetchall\n"
        f"  mda \"/bin/sh -c 'cat >> {out}'\"\n"
    )
    rc.chmod(0o600)
    env = {**os.environ, "FETCHMAILHOME": str(home), "HOME": str(home)}
    process = await asyncio.create_subprocess_exec(
        "fetchmail",
        "--nodetach",
        "--nosyslog",
        "-f",
        str(rc),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, output.decode()


async def _inbox(running: Running) -> dict[int, list[str]]:
    async with running.db.read() as session:
        inbox = await reads.folder_by_name(session, running.users["bob"].mailbox_id, "INBOX")
        assert inbox is not None
        return {m.uid: m.flags.names() for m in await reads.all_metadata(session, inbox.id)}


async def test_fetchmail_keep_then_fetch_and_delete(running: Running, tmp_path: Path) -> None:
    bodies = [message(f"Resultat {n}", f"valeur unique {n}") for n in range(2)]
    for body in bodies:
        await running.deliver("bob", body)

    await _fetchmail(running, tmp_path, keep=True)
    assert await _inbox(running) == {1: ["\\Seen"], 2: ["\\Seen"]}
    received = (tmp_path / "received").read_bytes()
    for n in range(2):
        assert f"valeur unique {n}".encode() in received

    (tmp_path / "received").unlink()
    await _fetchmail(running, tmp_path, keep=False)
    assert await _inbox(running) == {}
    assert received.count(b"Subject: Resultat") == 2
    assert (tmp_path / "received").read_bytes().count(b"Subject: Resultat") == 2
