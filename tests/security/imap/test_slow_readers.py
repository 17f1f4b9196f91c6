"""Clients that do not read: the server's output waits for them instead of piling up in
memory, and a client that stays silent past the write timeout is disconnected. A large
mailbox fetched whole (FETCH 1:* BODY[]) streams with bounded memory."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
import tracemalloc

import pytest
from sqlalchemy import insert

from mailserver.store import deliver, reads, sealing
from mailserver.store.mailboxes import lock_mailbox
from mailserver.store.models import Blob, Message
from storage.base import utcnow
from tests.protocol.imap.running import Running, in_thread

MIB = 1024 * 1024


def _stalled_fetch(running: Running) -> socket.socket:
    """Log in, select INBOX, ask for every body, and never read the answer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", running.tls_port))
    tls = running.client_context().wrap_socket(sock)
    reader = tls.makefile("rb")
    bob = running.users["bob"]
    reader.readline()
    tls.sendall(f'a LOGIN {bob.address} "{bob.password}"\r\nb SELECT INBOX\r\n'.encode())
    while not reader.readline().startswith(b"b OK"):
        pass
    tls.sendall(b"c FETCH 1:* BODY[]\r\n")
    return tls


async def test_client_that_never_reads(running: Running) -> None:
    body = b"Subject: gros\r\n\r\n" + b"A" * (100 * 1024 - 18) + b"\r\n"
    async with running.db.write() as session:
        for _ in range(200):  # 20 MB to send
            await deliver(session, running.runtime.at_rest, running.users["bob"].mailbox_id, body)
    tls = await in_thread(lambda: _stalled_fetch(running))
    try:
        peak = 0
        for _ in range(20):
            await asyncio.sleep(0.1)
            for session in list(running.service.sessions):
                peak = max(peak, session.output.buffered())
        assert 0 < peak < 1 * MIB
        # The write timeout (5 s in these tests) ends the stalled session.
        deadline = time.monotonic() + 30
        while running.service.sessions and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert not running.service.sessions
    finally:
        tls.close()


async def _bulk_messages(running: Running, count: int, size: int) -> None:
    """Insert `count` sealed messages straight into the store (fast set-up)."""
    mailbox_id = running.users["bob"].mailbox_id
    at_rest = running.runtime.at_rest
    now = utcnow()
    async with running.db.write() as session:
        locked = await lock_mailbox(session, mailbox_id)
        inbox = await reads.folder_by_name(session, mailbox_id, "INBOX")
        assert inbox is not None
        for start in range(0, count, 5000):
            blobs, rows = [], []
            for uid in range(start + 1, min(start + 5000, count) + 1):
                text = b"Subject: n%d\r\n\r\n" % uid
                text += b"x" * (size - len(text) - 2) + b"\r\n"
                blob = sealing.seal(at_rest, mailbox_id, text)
                blobs.append(
                    {
                        "id": blob.id,
                        "mailbox_id": mailbox_id,
                        "size": blob.size,
                        "sealed": blob.sealed,
                        "sealed_header": blob.sealed_header,
                    }
                )
                rows.append(
                    {
                        "folder_id": inbox.id,
                        "uid": uid,
                        "blob_id": blob.id,
                        "size": blob.size,
                        "internal_date": now,
                        "system_flags": 0,
                        "keywords": "",
                        "modseq": 2,
                    }
                )
            await session.execute(insert(Blob), blobs)
            await session.execute(insert(Message), rows)
        inbox_row = await session.get(type(inbox), inbox.id)
        assert inbox_row is not None
        inbox_row.uidnext = count + 1
        inbox_row.highestmodseq = 2
        locked.row.used_bytes += count * size


def _fetch_everything(running: Running) -> tuple[int, int]:
    """FETCH 1:* BODY[] read to the end; (responses, bytes) received."""
    ctx: ssl.SSLContext = running.client_context()
    with socket.create_connection(("127.0.0.1", running.tls_port)) as sock:
        tls = ctx.wrap_socket(sock)
        reader = tls.makefile("rb", buffering=1 << 16)
        bob = running.users["bob"]
        reader.readline()
        tls.sendall(f'a LOGIN {bob.address} "{bob.password}"\r\nb SELECT INBOX\r\n'.encode())
        while not reader.readline().startswith(b"b OK"):
            pass
        tls.sendall(b"c FETCH 1:* BODY[]\r\n")
        responses = received = 0
        while True:
            line = reader.readline()
            received += len(line)
            if line.startswith(b"c "):
                assert line.startswith(b"c OK"), line
                return responses, received
            if line.startswith(b"* ") and b" FETCH (BODY[] {" in line:
                responses += 1
                received += len(reader.read(int(line.rsplit(b"{", 1)[1][:-3])))


@pytest.mark.slow
async def test_hundred_thousand_messages_stream_with_bounded_memory(running: Running) -> None:
    count, size = 100_000, 1024
    await _bulk_messages(running, count, size)
    tracemalloc.start()
    try:
        responses, received = await in_thread(lambda: _fetch_everything(running))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert responses == count
    assert received > count * size
    # ~100 MB went out (and the client's reads are traced too); what was held at once
    # stays a few batches' worth.
    assert peak < 32 * MIB, f"peak {peak / MIB:.1f} MiB"
