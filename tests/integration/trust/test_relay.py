"""Relaying between two operators on loopback: A's delivery workers hand a protected
message to B's MX over mutual TLS; B checks it and delivers it to the mailbox."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.integration.trust.operators import (
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
