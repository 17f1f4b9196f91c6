"""Submission at A to mailboxes of B: RCPT asks B's certificate lookup (DESIGN 5.3)."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from pathlib import Path

from tests.integration.trust.operators import (
    KEYLESS,
    PASSWORD,
    SUSPENDED,
    Operator,
    doctor,
    operators,
)


def rcpt_replies(a: Operator, recipients: list[str]) -> list[tuple[int, bytes]]:
    context = ssl.create_default_context(cadata=a.ca_chain().decode("ascii"))
    context.check_hostname = False
    with smtplib.SMTP("127.0.0.1", a.port("submission"), timeout=30) as client:
        client.starttls(context=context)
        client.login(doctor(1, "a.test"), PASSWORD)
        client.mail(doctor(1, "a.test"))
        return [client.rcpt(r) for r in recipients]


async def test_rcpt_accepts_b_recipients_with_a_published_key_only(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.serve("lookup")
        await a.serve("submission")
        await a.trust(b)
        await b.trust(a)
        replies = await asyncio.to_thread(
            rcpt_replies,
            a,
            [
                doctor(2, "b.test"),
                "nobody@b.test",
                doctor(SUSPENDED, "b.test"),
                doctor(KEYLESS, "b.test"),
                "someone@elsewhere.test",
            ],
        )
        codes = [code for code, _ in replies]
        assert codes == [250, 550, 550, 550, 550]
        assert b"5.1.1" in replies[1][1] and b"b.test publishes no key" in replies[1][1]
        assert b"relaying is not allowed" in replies[4][1]


async def test_rcpt_defers_when_bs_lookup_is_down(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await a.serve("submission")
        await a.trust(b)  # B's lookup is not running
        ((code, text),) = await asyncio.to_thread(rcpt_replies, a, [doctor(2, "b.test")])
        assert code == 451
        assert text.startswith(b"4.4.3 ") and b"cannot be reached" in text
