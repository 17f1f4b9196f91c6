"""Relaying between two operators on loopback: A's delivery workers hand a protected
message to B's MX over mutual TLS; B checks it and delivers it to the mailbox."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from sqlalchemy import update

from crypto import keystore, openpgp, smime
from crypto.ca import ServiceCa
from crypto.sealing import KeySealer
from directory.models import Mailbox
from storage.base import utcnow
from tests.integration.trust.operators import (
    SALUS,
    Operator,
    doctor,
    enqueue_message,
    imap_messages,
    letter,
    operators,
    protect,
    statuses,
    wait_until,
)


async def test_a_protected_message_crosses_from_a_to_b(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.serve("lookup", "mx", "delivery", "imap")
        await a.serve("lookup", "delivery")
        await a.trust(b)
        await b.trust(a)
        sender, recipient = doctor(1, "a.test"), doctor(2, "b.test")
        message_id, message = letter(sender, recipient, "Synthetic consultation text.")
        sealed = await protect(a, sender, recipient, message)
        queue_id = await enqueue_message(a, sender, [recipient], sealed, message_id)

        async def relayed() -> bool:
            return await statuses(a) == [(recipient, "relayed")]

        await wait_until(relayed)
        events = [e for e in await a.events(queue_id) if e.event == "relayed"]
        assert len(events) == 1
        assert "relayed to b.test at 127.0.0.1:" in events[0].detail
        assert "over TLSv1.3" in events[0].detail
        assert "peer certificate CN=mail.b.test" in events[0].detail

        async def delivered() -> bool:
            return await statuses(b) == [(recipient, "delivered")]

        await wait_until(delivered)
        (inbound,) = await b.messages()
        assert (inbound.origin, inbound.sender, inbound.message_id) == ("mx", sender, message_id)
        (stored,) = await asyncio.to_thread(imap_messages, b, recipient)
        assert b"application/pkcs7-mime" in stored
        assert b"Synthetic consultation text" not in stored
        assert b"smime=pass" in stored


async def test_a_processed_mdn_comes_back_signed_and_shows_in_the_trace(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.serve("lookup", "mx", "delivery")
        await a.serve("lookup", "mx", "delivery", "imap")
        await a.trust(b)
        await b.trust(a)
        sender, recipient = doctor(1, "a.test"), doctor(2, "b.test")
        message_id, message = letter(
            sender,
            recipient,
            "Please confirm.",
            headers=f"Disposition-Notification-To: <{sender}>\r\n",
        )
        sealed = await protect(a, sender, recipient, message)
        queue_id = await enqueue_message(a, sender, [recipient], sealed, message_id)

        async def mdn_received() -> bool:
            return any(e.event == "mdn-received" for e in await a.events(queue_id))

        await wait_until(mdn_received)
        (received,) = [e for e in await a.events(queue_id) if e.event == "mdn-received"]
        assert received.detail.startswith(f"processed for <{recipient}>")
        # At B: the MDN went out as a report (null reverse-path), relayed over mutual TLS.
        b_messages = await b.messages()
        assert [(m.origin, m.sender) for m in b_messages] == [("mx", sender), ("dsn", "")]
        b_rows = {d.queue_id: d for d in await b.deliveries()}
        assert b_rows[b_messages[1].id].status == "relayed"
        assert any(e.event == "mdn-sent" for e in await b.events(b_messages[0].id))

        async def in_inbox() -> bool:
            return len(await asyncio.to_thread(imap_messages, a, sender)) == 1

        await wait_until(in_inbox)
        (stored,) = await asyncio.to_thread(imap_messages, a, sender)
        assert b"application/pkcs7-mime" in stored and b"smime=pass" in stored
        trace = await asyncio.to_thread(
            subprocess.run,
            [str(SALUS), "trace", f"<{message_id}>", "--data-dir", str(a.data_dir)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "relayed: relayed to b.test" in trace.stdout
        assert "peer certificate CN=mail.b.test" in trace.stdout
        assert f"mdn-received: processed for <{recipient}>" in trace.stdout


async def test_a_dsn_from_b_after_acceptance_comes_back_signed_and_is_traced(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        sender, recipient = doctor(1, "a.test"), doctor(2, "b.test")
        # B's postmaster has a key (reports are signed), and the recipient's mailbox is
        # full: B's MX accepts the message, B's delivery then bounces it with a DSN.
        await _mailbox_with_key(b, "postmaster@b.test")
        async with b.db.write() as session:
            await session.execute(
                update(Mailbox).where(Mailbox.address == recipient).values(quota=100)
            )
        await b.serve("lookup", "mx", "delivery")
        await a.serve("lookup", "mx", "delivery")
        await a.trust(b)
        await b.trust(a)
        message_id, message = letter(sender, recipient, "Synthetic text.")
        queue_id = await enqueue_message(
            a, sender, [recipient], await protect(a, sender, recipient, message), message_id
        )

        async def dsn_received() -> bool:
            return any(e.event == "dsn-received" for e in await a.events(queue_id))

        await wait_until(dsn_received)
        (event,) = [e for e in await a.events(queue_id) if e.event == "dsn-received"]
        assert event.detail.startswith(f"failed 5.2.2 for <{recipient}>")
        # A relayed it (its final outcome); B's report is one more message for the sender.

        async def report_delivered() -> bool:
            return await statuses(a) == [(recipient, "relayed"), (sender, "delivered")]

        await wait_until(report_delivered)


async def _mailbox_with_key(op: Operator, address: str) -> None:
    async with op.db.write() as session:
        session.add(Mailbox(address=address, kind="organizational"))
    sealer = KeySealer.from_data_dir(op.data_dir)
    service_ca = ServiceCa.load(op.data_dir, sealer)
    keys = await asyncio.to_thread(
        keystore.generate, service_ca, sealer, address, "Postmaster", utcnow()
    )
    async with op.db.write() as session:
        await keystore.store(session, keys, utcnow())


async def test_an_openpgp_message_crosses_and_is_checked_against_as_published_key(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        sender, recipient = doctor(1, "a.test"), doctor(2, "b.test")
        async with b.db.write() as session:
            await session.execute(
                update(Mailbox).where(Mailbox.address == recipient).values(crypto="openpgp")
            )
        await b.serve("lookup", "mx", "delivery", "imap")
        await a.serve("lookup", "delivery")
        await a.trust(b)
        await b.trust(a)
        keys = await a.runtime.key_lookup.keys(recipient)
        assert keys.crypto == "openpgp"
        async with a.db.read() as session:
            secret = (
                await keystore.openpgp_secrets(session, KeySealer.from_data_dir(a.data_dir), sender)
            )[0]
        message_id, message = letter(sender, recipient, "Synthetic PGP letter.")
        outer, entity = smime.split_message(message)
        sealed = smime.join_message(
            outer, openpgp.sign_and_encrypt(entity, secret, [keys.openpgp_public])
        )
        await enqueue_message(a, sender, [recipient], sealed, message_id)

        async def delivered() -> bool:
            return await statuses(b) == [(recipient, "delivered")]

        await wait_until(delivered)
        (stored,) = await asyncio.to_thread(imap_messages, b, recipient)
        assert b"multipart/encrypted" in stored and b"x-openpgp=pass" in stored
        assert b"Synthetic PGP letter" not in stored


async def test_a_server_decrypt_mailbox_gets_the_verified_message_sealed_at_rest(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        sender, recipient = doctor(1, "a.test"), doctor(2, "b.test")
        async with b.db.write() as session:
            await session.execute(
                update(Mailbox)
                .where(Mailbox.address == recipient)
                .values(delivery="server-decrypt")
            )
        await b.serve("lookup", "mx", "delivery", "imap")
        await a.serve("lookup", "delivery")
        await a.trust(b)
        await b.trust(a)
        marker = b"Synthetic lab result 8842 for the integration system"
        message_id, message = letter(sender, recipient, marker.decode())
        await enqueue_message(
            a, sender, [recipient], await protect(a, sender, recipient, message), message_id
        )

        async def delivered() -> bool:
            return await statuses(b) == [(recipient, "delivered")]

        await wait_until(delivered)
        (stored,) = await asyncio.to_thread(imap_messages, b, recipient)
        assert marker in stored
        assert b"smime=pass" in stored and f"header.from={sender}".encode() in stored
        assert b"application/pkcs7-mime" not in stored
        await b.runtime.db.dispose()  # flush SQLite's WAL into the file before reading it
        files = [p for p in b.data_dir.rglob("*") if p.is_file()]
        assert files and not [p for p in files if marker in p.read_bytes()]
