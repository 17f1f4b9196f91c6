"""What becomes of a message relayed to another operator when things go wrong: each
recipient gets exactly one final outcome, and the sender hears of delays and failures
(DESIGN section 5.5; RFC 3464 DSNs)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from config.settings import HostPort
from tests.integration.trust.operators import (
    Operator,
    doctor,
    enqueue_message,
    free_port,
    letter,
    operators,
    protect,
    statuses,
    wait_until,
)

SENDER, RECIPIENT = doctor(1, "a.test"), doctor(2, "b.test")
FAST_RETRIES = {"delivery.retry_base_seconds": 1, "delivery.retry_max_seconds": 1}


async def _send(a: Operator, *, to: str = RECIPIENT, signer: str | None = None) -> str:
    message_id, message = letter(SENDER, to, "Synthetic text.")
    sealed = await protect(a, SENDER, RECIPIENT, message, signer=signer)
    return await enqueue_message(a, SENDER, [to], sealed, message_id)


async def _reports(a: Operator) -> list[str]:
    """The DSNs queued at A to the sender, by their action ("failed", "delayed")."""
    found = []
    for m in await a.messages():
        if m.origin == "dsn":
            events = await a.events(m.id)
            found += [e.detail.split()[0] for e in events if e.event == "accepted"]
    return found


async def _final(a: Operator, queue_id: str) -> tuple[str, str]:
    rows = [d for d in await a.deliveries() if d.queue_id == queue_id]
    assert len(rows) == 1
    return rows[0].status, rows[0].last_reply


async def _dsn_events(a: Operator, queue_id: str) -> list[str]:
    return [e.detail for e in await a.events(queue_id) if e.event == "dsn-queued"]


async def test_a_signer_other_than_from_is_refused_by_b_and_bounced_to_the_sender(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.serve("lookup", "mx", "delivery")
        await a.serve("lookup", "delivery")
        await a.trust(b)
        await b.trust(a)
        queue_id = await _send(a, signer=doctor(2, "a.test"))  # From says doctor.1

        async def bounced() -> bool:
            return (await _final(a, queue_id))[0] == "bounced"

        await wait_until(bounced)
        _, reply = await _final(a, queue_id)
        assert reply.startswith("550 5.7.1 the signature is not accepted")
        assert "not for doctor.1@a.test" in reply
        assert [d.split()[0] for d in await _dsn_events(a, queue_id)] == ["failed"]
        assert await b.messages() == []
        (refusal,) = await b.audit("mx.refuse")
        assert refusal.actor == "peer:a.test" and "not for doctor.1@a.test" in refusal.detail


async def test_a_recipient_unknown_at_b_is_refused_at_rcpt_and_bounced_to_the_sender(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.serve("lookup", "mx")
        await a.serve("lookup", "delivery")
        await a.trust(b)
        await b.trust(a)
        queue_id = await _send(a, to="gone@b.test")

        async def bounced() -> bool:
            return (await _final(a, queue_id))[0] == "bounced"

        await wait_until(bounced)
        _, reply = await _final(a, queue_id)
        assert reply.startswith("550 5.1.1 <gone@b.test>: there is no such mailbox here")
        assert "(in reply to RCPT TO:<gone@b.test>)" in reply
        assert [d.split()[0] for d in await _dsn_events(a, queue_id)] == ["failed"]

        async def dsn_delivered() -> bool:
            return (SENDER, "delivered") in await statuses(a)

        await wait_until(dsn_delivered)


async def test_b_down_for_a_while_defers_tells_the_sender_then_delivers(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    mx = free_port()
    settings = {**FAST_RETRIES, "delivery.delay_dsn_after_seconds": 2}
    async with operators(
        operator_templates,
        tmp_path,
        settings=settings,
        per_operator={"b.test": {"smtp.mx": f"127.0.0.1:{mx}"}},
    ) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.serve("lookup", "delivery")  # the MX is down
        await a.serve("lookup", "delivery")
        await a.trust(b, relay=HostPort("127.0.0.1", mx))
        await b.trust(a)
        queue_id = await _send(a)

        async def delay_reported() -> bool:
            return bool(await _dsn_events(a, queue_id))

        await wait_until(delay_reported)
        status, reply = await _final(a, queue_id)
        assert status == "deferred" and reply.startswith("451 4.4.1 Cannot connect")
        await b.serve("mx")

        async def delivered() -> bool:
            return await statuses(b) == [(RECIPIENT, "delivered")]

        await wait_until(delivered)
        assert (await _final(a, queue_id))[0] == "relayed"
        assert [d.split()[0] for d in await _dsn_events(a, queue_id)] == ["delayed"]
        events = [e.event for e in await a.events(queue_id)]
        assert events.count("relayed") == 1 and events.count("deferred") >= 2


async def test_b_down_past_expiry_bounces_with_a_failure_report(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    settings = {**FAST_RETRIES, "delivery.expire_after_seconds": 3}
    async with operators(operator_templates, tmp_path, settings=settings) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.serve("lookup")
        await a.serve("lookup", "delivery")
        await a.trust(b, relay=HostPort("127.0.0.1", free_port()))  # nobody listens
        await b.trust(a)
        queue_id = await _send(a)

        async def bounced() -> bool:
            return (await _final(a, queue_id))[0] == "bounced"

        await wait_until(bounced)
        _, reply = await _final(a, queue_id)
        assert reply.startswith("451 4.4.7 Delivery time expired")
        assert "Cannot connect to the MX of b.test" in reply
        assert [d.split()[0] for d in await _dsn_events(a, queue_id)] == ["failed"]
        finals = [
            e.event
            for e in await a.events(queue_id)
            if e.event in ("relayed", "bounced", "delivered")
        ]
        assert finals == ["bounced"]


async def test_an_operator_b_does_not_trust_is_deferred_until_b_adds_it(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path, settings=FAST_RETRIES) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.serve("lookup", "mx", "delivery")
        await a.serve("lookup", "delivery")
        await a.trust(b)
        await b.trust(a)
        sealed_id = await _send(a)  # the lookup needs B to trust A; then B forgets A

        async def relayed() -> bool:
            return (await _final(a, sealed_id))[0] == "relayed"

        await wait_until(relayed)
        from directory.admin.trust import remove_trust_domain  # noqa: PLC0415

        async with b.db.write() as session:
            await remove_trust_domain(session, "test", "a.test")
        b.runtime.trust.invalidate()
        await b.runtime.trust.server_context()
        queue_id = await _send(a)

        async def refused_once() -> bool:
            return "deferred" in [e.event for e in await a.events(queue_id)]

        await wait_until(refused_once)
        status, reply = await _final(a, queue_id)
        assert status == "deferred"
        assert reply.startswith(("454 4.7.5", "451 4.4.2")), reply
        assert len(await b.messages()) == 1
        await b.trust(a)  # B's administrator adds A: B's MX rebuilds its TLS context

        await wait_until(lambda: _is_relayed(a, queue_id))
        assert len(await b.messages()) == 2


async def _is_relayed(a: Operator, queue_id: str) -> bool:
    return (await _final(a, queue_id))[0] == "relayed"


async def test_one_final_outcome_each(operator_templates: dict[str, Path], tmp_path: Path) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.serve("lookup", "mx", "delivery")
        await a.serve("lookup", "delivery")
        await a.trust(b)
        await b.trust(a)
        ids = await asyncio.gather(*(_send(a) for _ in range(5)))

        async def all_final() -> bool:
            states = [(await _final(a, q))[0] for q in ids]
            return states == ["relayed"] * len(ids)

        await wait_until(all_final)
        for queue_id in ids:
            finals = [
                e.event for e in await a.events(queue_id) if e.event in ("relayed", "bounced")
            ]
            assert finals == ["relayed"]
        assert len(await b.messages()) == 5
