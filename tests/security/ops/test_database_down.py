"""PostgreSQL out of reach under `salus serve`: submission answers 451 4.3.0, IMAP commands
answer NO [UNAVAILABLE], /readyz says not ready; once the database is back, the same
process (no restart) accepts, serves and delivers, including the message it had answered
250 for and was delivering when the database went away.

The outage is a TCP relay between the node and PostgreSQL that the test cuts (every
connection reset, new ones refused) and restores: it stands for the network or the
database host, which the test does not control. To have a delivery in flight at the
cut, another client of the database holds the recipient's mailbox row (as a long
transaction of another node would), so the delivering transaction waits on it."""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import smtplib
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from directory.repository import mailbox_by_address
from mailserver.queue.models import Delivery, QueuedMessage
from mailserver.store.models import StoreMailbox
from storage.database import Database
from tests.conftest import _drop_postgres, _fresh_postgres, postgres_url
from tests.integration.ops.mail_clients import (
    READER_PASSWORD,
    client_context,
    faults,
    message,
    message_ids,
    reader_password,
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
from tests.integration.ops.tcp_relay import Relay

pytestmark = pytest.mark.postgres


@contextlib.asynccontextmanager
async def relayed_database() -> AsyncIterator[tuple[str, str, Relay]]:
    """A fresh PostgreSQL database: (direct URL, URL through the relay, the relay)."""
    base = postgres_url()
    direct = await _fresh_postgres(base)
    url = make_url(direct)
    relay = Relay((url.host or "127.0.0.1", url.port or 5432))
    await relay.start()
    try:
        through = url.set(host="127.0.0.1", port=relay.port)
        yield direct, through.render_as_string(hide_password=False), relay
    finally:
        await relay.close()
        await _drop_postgres(base, direct)


def _ready(http_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz", timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _refused(client: smtplib.SMTP, message_id: str) -> smtplib.SMTPResponseException:
    with pytest.raises(smtplib.SMTPResponseException) as refused:
        client.sendmail(SENDER, [RECIPIENT], message(message_id))
    return refused.value


async def _statuses(db: Database) -> dict[str, str]:
    query = select(QueuedMessage.message_id, Delivery.status).join(
        QueuedMessage, QueuedMessage.id == Delivery.queue_id
    )
    async with db.read() as session:
        return {row.message_id: row.status for row in await session.execute(query)}


def _delivered_ids(imap: imaplib.IMAP4) -> list[str]:
    imap.noop()
    return message_ids(imap)


async def test_database_outage_gives_temporary_failures_and_recovers_without_restart(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "op"
    async with relayed_database() as (direct_url, url, relay):
        await prepare_submission(data_dir, "--database-url", url)
        await reader_password(data_dir)
        ctx = client_context(data_dir)
        direct = Database(direct_url)
        process, ports = await start_node(data_dir)
        http = ports["HTTP__LISTEN"]
        smtp = await asyncio.to_thread(
            smtplib.SMTP_SSL, "127.0.0.1", ports["SMTP__SUBMISSIONS"], context=ctx, timeout=60
        )
        imap = await asyncio.to_thread(
            imaplib.IMAP4_SSL, "127.0.0.1", ports["IMAP__LISTEN_TLS"], ssl_context=ctx, timeout=60
        )
        loop = asyncio.get_running_loop()
        try:
            await asyncio.to_thread(smtp.login, SENDER, PASSWORD)
            await asyncio.to_thread(imap.login, RECIPIENT, READER_PASSWORD)
            await asyncio.to_thread(
                smtp.sendmail, SENDER, [RECIPIENT], message("before@salus.test")
            )
            await until_queue_empty(http, within=30)
            await asyncio.to_thread(imap.select, "INBOX")

            async with direct.write() as session:  # the recipient's mailbox row, held
                mailbox = await mailbox_by_address(session, RECIPIENT)
                assert mailbox is not None
                await session.execute(
                    select(StoreMailbox.mailbox_id)
                    .where(StoreMailbox.mailbox_id == mailbox.id)
                    .with_for_update()
                )
                await asyncio.to_thread(
                    smtp.sendmail, SENDER, [RECIPIENT], message("in-flight@salus.test")
                )
                await until_claimed(direct, "in-flight@salus.test")
                relay.cut()
                cut_at = loop.time()
            refused = await asyncio.to_thread(_refused, smtp, "during@salus.test")
            fetched = await asyncio.to_thread(imap.fetch, "1", "(BODY[])")
            ready_while_down = await asyncio.to_thread(_ready, http)
            await asyncio.sleep(1)  # the delivery worker retries meanwhile, and fails
            while_down = await _statuses(direct)

            await relay.restore()
            restored_at = loop.time()
            while await asyncio.to_thread(_ready, http) != 200:
                await asyncio.sleep(0.02)
            ready_after = loop.time() - restored_at
            await asyncio.to_thread(smtp.sendmail, SENDER, [RECIPIENT], message("after@salus.test"))
            await until_queue_empty(http, within=30)
            drained = loop.time() - restored_at
            delivered = await asyncio.to_thread(_delivered_ids, imap)
            at_the_end = await _statuses(direct)
        finally:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                smtp.quit()
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                imap.logout()
            _, stderr = await stop_node(process)
            await direct.dispose()
    print(
        f"down {restored_at - cut_at:.1f} s; ready {ready_after:.2f} s and queue drained"
        f" {drained:.2f} s after the database came back"
    )
    assert process.returncode == 0, stderr.decode()[-2000:]
    # An outage is a temporary condition, logged as such: no part took it for a fault.
    assert faults(stderr) == []
    assert (refused.smtp_code, refused.smtp_error.split(b" ", 1)[0]) == (451, b"4.3.0"), refused
    assert fetched[0] == "NO" and b"[UNAVAILABLE]" in fetched[1][0], fetched
    assert ready_while_down == 503
    # Answered 250 before the cut, its delivery cut off: still waiting, not lost.
    assert while_down["in-flight@salus.test"] == "queued"
    assert "during@salus.test" not in while_down
    assert sorted(delivered) == sorted(
        ["before@salus.test", "in-flight@salus.test", "after@salus.test"]
    )
    assert set(at_the_end.values()) == {"delivered"}
