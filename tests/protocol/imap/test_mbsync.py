"""mbsync (isync, an IMAP client nobody here wrote, from Debian) syncing a Salus mailbox
to a local Maildir and back: new messages, flags and deletions travel both ways."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from mailserver.store import reads
from tests.protocol.imap.running import Running, in_thread, message

pytestmark = pytest.mark.skipif(
    shutil.which("mbsync") is None, reason="mbsync (isync) not installed"
)


def _config(running: Running, maildir: Path, tls: str) -> str:
    bob = running.users["bob"]
    port = running.tls_port if tls == "IMAPS" else running.port
    return f"""
IMAPAccount salus
Host localhost
Port {port}
User {bob.address}
Pass "{bob.password}"
SSLType {tls}
CertificateFile {running.ca_file}
AuthMechs PLAIN

IMAPStore salus-remote
Account salus

MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel salus
Far :salus-remote:
Near :local:
Patterns INBOX Archive
Create Both
Expunge Both
SyncState *
Sync All
"""


async def _mbsync(config: Path) -> str:
    process = await asyncio.create_subprocess_exec(
        "mbsync",
        "-c",
        str(config),
        "salus",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, out.decode()
    return out.decode()


def _files(folder: Path) -> list[Path]:
    return sorted([*folder.joinpath("cur").iterdir(), *folder.joinpath("new").iterdir()])


def _flags(path: Path) -> str:
    return path.name.rpartition(":2,")[2]


async def _server_state(running: Running, folder: str) -> dict[int, list[str]]:
    async with running.db.read() as session:
        found = await reads.folder_by_name(session, running.users["bob"].mailbox_id, folder)
        assert found is not None
        return {m.uid: m.flags.names() for m in await reads.all_metadata(session, found.id)}


@pytest.mark.parametrize("tls", ["IMAPS", "STARTTLS"])
async def test_mbsync_round_trip(running: Running, tmp_path: Path, tls: str) -> None:
    for n in range(3):
        await running.deliver("bob", message(f"Resultat {n}", f"valeur {n}"))
    maildir = tmp_path / "Mail"
    maildir.mkdir()
    config = tmp_path / "mbsyncrc"
    config.write_text(_config(running, maildir, tls))

    await _mbsync(config)
    local = _files(maildir / "INBOX")
    assert len(local) == 3
    assert (maildir / "Archive").is_dir()

    # Near side: read one, delete one, write a new one.
    seen, doomed = local[0], local[1]
    seen.rename(seen.parent.parent / "cur" / (seen.name.split(":2,")[0] + ":2,S"))
    doomed.unlink()
    (maildir / "INBOX" / "new" / "1700000000.local.host").write_bytes(
        message("Brouillon local").replace(b"\r\n", b"\n")
    )
    await _mbsync(config)
    state = await _server_state(running, "INBOX")
    assert sorted(state) == [1, 3, 4]
    assert "\\Seen" in state[1]

    # Far side: flag one, expunge another (as a second client would).
    def server_changes() -> None:
        client = running.login("bob")
        client.select("INBOX")
        client.uid("STORE", "3", "+FLAGS", "(\\Flagged)")
        client.uid("STORE", "4", "+FLAGS", "(\\Deleted)")
        client.expunge()
        client.logout()

    await in_thread(server_changes)
    await _mbsync(config)
    local = _files(maildir / "INBOX")
    assert len(local) == 2
    assert sorted(_flags(p) for p in local) == ["F", "S"]
    assert sorted(await _server_state(running, "INBOX")) == [1, 3]
