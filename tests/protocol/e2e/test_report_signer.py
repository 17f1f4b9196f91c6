"""Delivery reports to other operators are signed by postmaster@ the operator's domain:
`salus serve` says at start-up when that mailbox has no keys and a trust space is set
up, since such reports would otherwise be dropped without a word (DESIGN section 5.5)."""

from __future__ import annotations

import asyncio

from directory.models import Mailbox, TrustDomain
from mailserver.cli.serve import warn_unsigned_reports
from tests.protocol.e2e.node import Node

POSTMASTER = "postmaster@salus.test"


async def test_start_up_warns_until_the_postmaster_has_keys(salus: Node) -> None:
    assert await warn_unsigned_reports(salus.runtime) is None  # no other operator yet

    async with salus.db.write() as session:
        session.add(
            TrustDomain(
                domain="clinique-b.test", ca_pem="", relay_host="mail.clinique-b.test",
                relay_port=1025, lookup_host="mail.clinique-b.test", lookup_port=1443,
            )
        )  # fmt: skip
    reason = await warn_unsigned_reports(salus.runtime)
    assert reason is not None and "none is sent" in reason
    assert f"salus keys issue {POSTMASTER}" in reason

    async with salus.db.write() as session:
        session.add(
            Mailbox(
                address=POSTMASTER, kind="organizational", organisation_id="1990000002", local=True
            )
        )
    await asyncio.to_thread(salus.salus, "keys", "issue", POSTMASTER)
    assert await warn_unsigned_reports(salus.runtime) is None
