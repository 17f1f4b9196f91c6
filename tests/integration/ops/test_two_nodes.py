"""Two `salus serve` nodes on one PostgreSQL (DESIGN section 9): messages submitted across
both (1,000 before the kill, more after it) are each delivered exactly once, and when one
node is killed (SIGKILL) in the middle of the load, nothing it had answered 250 is lost:
the other node carries on and delivers it once its lease runs out."""

from __future__ import annotations

import asyncio
import signal
import ssl
import uuid
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import func, select

from directory.repository import mailbox_by_address
from mailserver.queue.models import Delivery, QueuedMessage
from mailserver.store.models import Folder, Message
from storage.database import Database
from tests.conftest import _drop_postgres, _fresh_postgres, postgres_url
from tests.integration.ops.operator import (
    PASSWORD,
    RECIPIENT,
    SENDER,
    prepare_submission,
    start_node,
    stop_node,
    until_queue_empty,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(900)]
PER_SESSION = 250
SESSIONS_PER_NODE = 4  # 2,000 offered; node 2 is killed once 1,000 are in


def _message(message_id: str) -> bytes:
    return (
        f"From: {SENDER}\r\nTo: {RECIPIENT}\r\nSubject: load\r\n"
        f"Message-ID: <{message_id}>\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\n\r\nx\r\n"
    ).encode()


async def _session(port: int, ctx: ssl.SSLContext, accepted: list[str]) -> None:
    """Send PER_SESSION messages; keep the Message-IDs answered 250; stop at the first failure
    (the node may have been killed)."""
    try:
        client = aiosmtplib.SMTP(
            hostname="127.0.0.1", port=port, use_tls=True, tls_context=ctx, timeout=60
        )
        await client.connect()
        await client.login(SENDER, PASSWORD)
        for _ in range(PER_SESSION):
            message_id = f"{uuid.uuid4().hex}@salus.test"
            await client.sendmail(SENDER, [RECIPIENT], _message(message_id))
            accepted.append(message_id)
    except (aiosmtplib.SMTPException, OSError):
        return


async def _state(url: str) -> tuple[set[str], list[str], int]:
    db = Database(url)
    try:
        async with db.read() as session:
            queued = set((await session.execute(select(QueuedMessage.message_id))).scalars())
            statuses = list((await session.execute(select(Delivery.status))).scalars())
            mailbox = await mailbox_by_address(session, RECIPIENT)
            assert mailbox is not None
            stored = (await session.execute(
                select(func.count()).select_from(Message).join(Folder, Folder.id == Message.folder_id)
                .where(Folder.mailbox_id == mailbox.id)
            )).scalar_one()  # fmt: skip
    finally:
        await db.dispose()
    return queued, statuses, int(stored)


async def test_two_nodes_deliver_each_message_once_and_survive_a_kill(tmp_path: Path) -> None:
    base = postgres_url()
    url = await _fresh_postgres(base)
    data_dir = tmp_path / "op"
    try:
        await prepare_submission(data_dir, "--database-url", url)
        ctx = ssl.create_default_context(cafile=str(data_dir / "ca" / "root.crt"))
        ctx.check_hostname = False
        node1, ports1 = await start_node(data_dir)
        node2, ports2 = await start_node(data_dir)
        accepted: list[str] = []
        try:
            load = [
                _session(ports["SMTP__SUBMISSIONS"], ctx, accepted)
                for ports in (ports1, ports2)
                for _ in range(SESSIONS_PER_NODE)
            ]
            running = asyncio.gather(*load)
            while len(accepted) < SESSIONS_PER_NODE * PER_SESSION:  # half the load is in
                await asyncio.sleep(0.05)
            node2.send_signal(signal.SIGKILL)
            await running
            await node2.wait()
            await until_queue_empty(ports1["HTTP__LISTEN"], within=180)
        finally:
            for node in (node1, node2):
                await stop_node(node)
        queued, statuses, stored = await _state(url)
    finally:
        await _drop_postgres(base, url)
    # Nothing answered 250 is lost; a message committed just before the kill, whose 250
    # never reached the client, may be there too (the client would send it again).
    assert set(accepted) <= queued
    assert len(queued) - len(accepted) <= SESSIONS_PER_NODE
    # Every queued message reached its final state once: one stored copy each.
    assert statuses == ["delivered"] * len(queued)
    assert stored == len(queued)
    assert len(accepted) > SESSIONS_PER_NODE * PER_SESSION
