"""A signer revoked by its own operator: B signs a message for A's mailbox, revokes the
signer's certificate while the message waits in B's queue, then relays it. A's MX
checks the signature against B's CRL, fetched from B's lookup, and refuses it with the
reason; when B's CRL cannot be had, A defers rather than judging blind."""

from __future__ import annotations

from pathlib import Path

from tests.integration.trust.operators import (
    Operator,
    doctor,
    enqueue_message,
    letter,
    operators,
    protect,
    revoke,
    wait_until,
)

SENDER, RECIPIENT = doctor(1, "b.test"), doctor(2, "a.test")
FAST_RETRIES = {"delivery.retry_base_seconds": 1, "delivery.retry_max_seconds": 1}


async def _signed_then_revoked(b: Operator) -> str:
    """Queue at B a message signed by SENDER's certificate, revoked after signing."""
    message_id, message = letter(SENDER, RECIPIENT, "Synthetic text.")
    sealed = await protect(b, SENDER, RECIPIENT, message)
    await revoke(b, SENDER)
    return await enqueue_message(b, SENDER, [RECIPIENT], sealed, message_id)


async def _row(op: Operator, queue_id: str) -> tuple[str, str]:
    (row,) = [d for d in await op.deliveries() if d.queue_id == queue_id]
    return row.status, row.last_reply


async def test_a_message_signed_by_a_certificate_b_revoked_is_refused_at_as_mx(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await a.serve("lookup", "mx")
        await b.serve("lookup", "delivery")
        await a.trust(b)
        await b.trust(a)
        queue_id = await _signed_then_revoked(b)

        async def bounced() -> bool:
            return (await _row(b, queue_id))[0] == "bounced"

        await wait_until(bounced)
        _, reply = await _row(b, queue_id)
        assert reply.startswith("550 5.7.1 the signature is not accepted"), reply
        assert "revoked" in reply
        assert await a.messages() == []
        (refusal,) = await a.audit("mx.refuse")
        assert refusal.actor == "peer:b.test" and refusal.result == "refused"
        assert "revoked" in refusal.detail
        assert len(await b.audit("lookup.crl")) == 1


async def test_without_bs_crl_a_defers_the_message(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path, settings=FAST_RETRIES) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await a.serve("lookup", "mx")
        await b.serve("delivery")  # B's lookup is down: A cannot have B's CRL
        await a.trust(b)
        await b.trust(a)
        queue_id = await _signed_then_revoked(b)

        async def deferred() -> bool:
            return (await _row(b, queue_id))[0] == "deferred"

        await wait_until(deferred)
        _, reply = await _row(b, queue_id)
        assert reply.startswith("451 4.7.5 the revocation status of b.test"), reply
        assert await a.messages() == []
        refusals = await a.audit("mx.refuse")
        assert refusals and {r.result for r in refusals} == {"deferred"}
