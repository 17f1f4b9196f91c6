"""A full disk under `salus serve` (SQLite data dir on a small tmpfs): submission answers a
temporary 452 4.3.1, never 250; IMAP APPEND answers NO with its reason; a message already
answered 250 waits in the queue. Once space is freed, the same process (no restart)
accepts again and delivers everything it answered 250 for.

SQLite reuses the space its files already hold, so a small write may still commit on a
full disk (its 250 is then honest); the messages that must be refused are larger than
that. The message queued just before the disk fills is large too: its queue commit fits
in the space left and its delivery (a second stored copy) does not, so the worker that
claimed it meets the full disk, and takes it back once there is room."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import imaplib
import os
import smtplib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import load_settings
from storage.database import Database
from tests.integration.ops.mail_clients import (
    READER_PASSWORD,
    client_context,
    faults,
    message,
    message_ids,
    reader_password,
    sample,
    scrape,
    until_claimed,
)
from tests.integration.ops.operator import (
    PASSWORD,
    RECIPIENT,
    SENDER,
    prepare_submission,
    start_node,
    stop_node,
    until_queue_empty,
)

DISK_MB = 48
BIG_BODY = 2 * 1024 * 1024
# The big message's queue commit takes ~1.5 times its body, and its delivery as much
# again: this leaves room for the first and not for both.
LEFT_FOR_THE_BIG_ONE = int(2.2 * BIG_BODY)
CHUNK = 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of DISK_MB megabytes, unmounted whatever happens."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (the disk-full test runs as root in CI)")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def _free(mount: Path) -> int:
    stat = os.statvfs(mount)
    return stat.f_bavail * stat.f_frsize


def _fill(filler: Path, leave: int = 0) -> None:
    """Grow `filler` until `leave` bytes are free (0: until the disk refuses a byte)."""
    mount = filler.parent
    with filler.open("ab", buffering=0) as out:
        while (free := _free(mount)) > leave:
            try:
                out.write(b"\0" * max(1, min(CHUNK, free - leave)))
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                return


def _big(message_id: str) -> str:
    # Random text: no layer can compress it below its size.
    text = base64.encodebytes(os.urandom(BIG_BODY * 3 // 4)).decode("ascii")
    return message(message_id, text.replace("\n", "\r\n"))


def _data_refused(client: smtplib.SMTP, message_id: str) -> tuple[int, str]:
    with pytest.raises(smtplib.SMTPDataError) as refused:
        client.sendmail(SENDER, [RECIPIENT], _big(message_id))
    return refused.value.smtp_code, refused.value.smtp_error.decode()


async def _until_claimed_here(data_dir: Path, message_id: str) -> None:
    db = Database(load_settings(data_dir).database_url)  # reads need no free space
    try:
        await until_claimed(db, message_id)
    finally:
        await db.dispose()


def _delivered_ids(port: int, data_dir: Path) -> list[str]:
    with imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=client_context(data_dir)) as client:
        client.login(RECIPIENT, READER_PASSWORD)
        client.select("INBOX", readonly=True)
        ids = message_ids(client)
        client.logout()
    return ids


async def test_full_disk_gives_temporary_failures_and_recovers_without_restart(
    small_disk: Path,
) -> None:
    data_dir = small_disk / "op"
    filler = small_disk / "filler"
    await prepare_submission(data_dir)
    await reader_password(data_dir)
    ctx = client_context(data_dir)
    process, ports = await start_node(data_dir)
    http = ports["HTTP__LISTEN"]
    smtp = await asyncio.to_thread(
        smtplib.SMTP_SSL, "127.0.0.1", ports["SMTP__SUBMISSIONS"], context=ctx, timeout=60
    )
    imap = await asyncio.to_thread(
        imaplib.IMAP4_SSL, "127.0.0.1", ports["IMAP__LISTEN_TLS"], ssl_context=ctx, timeout=60
    )
    try:
        # Sessions opened while there is room: a login writes its audit entry.
        await asyncio.to_thread(smtp.login, SENDER, PASSWORD)
        await asyncio.to_thread(imap.login, RECIPIENT, READER_PASSWORD)
        await asyncio.to_thread(imap.select, "INBOX")
        await asyncio.to_thread(smtp.sendmail, SENDER, [RECIPIENT], message("before@salus.test"))
        await until_queue_empty(http, within=30)

        await asyncio.to_thread(_fill, filler, LEFT_FOR_THE_BIG_ONE)
        await asyncio.to_thread(smtp.sendmail, SENDER, [RECIPIENT], _big("big@salus.test"))
        await _until_claimed_here(data_dir, "big@salus.test")
        await asyncio.to_thread(_fill, filler)  # and now nothing is left
        full_since = asyncio.get_running_loop().time()
        code, reply = await asyncio.to_thread(_data_refused, smtp, "during@salus.test")
        appended = await asyncio.to_thread(
            imap.append, "INBOX", None, None, _big("appended@salus.test").encode()
        )
        await asyncio.sleep(1)  # the worker's attempt, and its retry, meet the full disk
        while_full = await asyncio.to_thread(scrape, http)

        filler.unlink()
        recovery = asyncio.get_running_loop().time()
        await asyncio.to_thread(smtp.sendmail, SENDER, [RECIPIENT], message("after@salus.test"))
        appended_after = await asyncio.to_thread(
            imap.append, "INBOX", None, None, message("appended.after@salus.test").encode()
        )
        await until_queue_empty(http, within=30)
        drained = asyncio.get_running_loop().time() - recovery
        delivered = await asyncio.to_thread(_delivered_ids, ports["IMAP__LISTEN_TLS"], data_dir)
    finally:
        with contextlib.suppress(OSError, smtplib.SMTPException, imaplib.IMAP4.error):
            smtp.quit()
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            imap.logout()
        _, stderr = await stop_node(process)
    print(
        f"full for {recovery - full_since:.1f} s; queue drained {drained:.2f} s after space came back"
    )
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert faults(stderr) == []  # a full disk is an outage, logged as such, not a fault
    assert (code, reply.split(" ", 1)[0]) == (452, "4.3.1"), reply
    assert appended[0] == "NO" and b"UNAVAILABLE" in appended[1][0], appended
    # The big message answered 250 waits in the queue, undelivered but not lost.
    assert (
        sample(while_full, "salus_queue_depth", status="queued")
        + sample(while_full, "salus_queue_depth", status="deferred")
        == 1
    )
    assert appended_after[0] == "OK", appended_after
    # Everything answered 250 or OK is in the mailbox, once; nothing refused is.
    assert sorted(delivered) == sorted([
        "before@salus.test", "big@salus.test", "after@salus.test", "appended.after@salus.test"
    ])  # fmt: skip
