"""Peers' CRLs between two operators on loopback: B's lookup answers `GET /v1/crl` over
mutual TLS, A fetches it, checks it against B's registered CA, keeps it while it is
current, and refuses B's certificates that it revokes (DESIGN section 7)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import delete, update

from crypto import keystore
from crypto.models import CaCrl, KeyStatus, MailboxKey
from gateway.trust.peer_crl import RevocationUnknown
from gateway.trust.remote_keys import KeyRefused, LookupUnavailable, NoPublishedKey
from mailserver.lookup.client import LookupClient
from mailserver.lookup.peer_crls import PeerCrls
from storage.base import utcnow
from tests.integration.trust.operators import Operator, doctor, operators, revoke


async def _crl_pem(op: Operator) -> bytes:
    async with op.db.read() as session:
        (pem,) = await keystore.crl_pems(session)
    return pem


async def _republish(op: Operator, address: str) -> None:
    """Make `op`'s lookup publish `address`'s revoked certificate again (a peer whose
    lookup lags behind its CRL): the CRL still lists it."""
    async with op.db.write() as session:
        await session.execute(
            update(MailboxKey)
            .where(MailboxKey.address == address)
            .values(status=KeyStatus.ACTIVE.value)
        )


@pytest.fixture
async def peers(
    operator_templates: dict[str, Path], tmp_path: Path
) -> AsyncIterator[tuple[Operator, Operator]]:
    """(A, B): trusting each other, B's lookup listening."""
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.serve("lookup")
        await a.trust(b)
        await b.trust(a)
        yield a, b


async def test_b_answers_its_crl_to_a_trusted_peer(
    peers: tuple[Operator, Operator],
) -> None:
    a, b = peers
    crl = await a.runtime.key_lookup.crls.current("b.test")
    assert crl is not None
    assert crl.pem == await _crl_pem(b)
    assert crl.next_update > utcnow()
    (entry,) = await b.audit("lookup.crl")
    assert (entry.actor, entry.object, entry.result) == ("peer:a.test", "crl", "published")
    assert '"crl_number": 1' in entry.detail
    # Held: a second question does not ask B again.
    assert await a.runtime.key_lookup.crls.current("b.test") == crl
    assert len(await b.audit("lookup.crl")) == 1


async def test_a_peer_outside_bs_trust_list_gets_no_crl(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.serve("lookup")
        await a.trust(b)  # B does not know A
        with pytest.raises(RevocationUnknown):
            await a.runtime.key_lookup.crls.current("b.test")
        assert await b.audit("lookup.crl") == []  # the handshake itself was refused


async def test_no_crl_yet_is_a_404(peers: tuple[Operator, Operator]) -> None:
    a, b = peers
    async with b.db.write() as session:
        await session.execute(delete(CaCrl))
    assert await a.runtime.key_lookup.crls.current("b.test") is None
    (entry,) = await b.audit("lookup.crl")
    assert entry.result == "not-published"


async def test_a_refuses_a_certificate_b_revoked_but_still_publishes(
    peers: tuple[Operator, Operator],
) -> None:
    a, b = peers
    await revoke(b, doctor(2, "b.test"))
    await _republish(b, doctor(2, "b.test"))
    with pytest.raises(KeyRefused) as refused:
        await a.runtime.key_lookup.keys(doctor(2, "b.test"))
    assert refused.value.reply().startswith(f"550 5.7.1 <{doctor(2, 'b.test')}>")
    assert "revoked" in refused.value.reason
    # The refusal is remembered; B's other mailboxes are untouched.
    with pytest.raises(KeyRefused):
        await a.runtime.key_lookup.keys(doctor(2, "b.test"))
    assert (await a.runtime.key_lookup.keys(doctor(1, "b.test"))).address == doctor(1, "b.test")


async def test_cached_keys_are_checked_again_when_bs_crl_changes(
    peers: tuple[Operator, Operator],
) -> None:
    a, b = peers
    await a.runtime.key_lookup.keys(doctor(2, "b.test"))  # cached for cache_seconds
    await revoke(b, doctor(2, "b.test"))
    a.runtime.key_lookup.crls.forget("b.test")  # as when the refresh interval is over
    with pytest.raises(KeyRefused) as refused:
        await a.runtime.key_lookup.keys(doctor(2, "b.test"))
    assert "revoked" in refused.value.reason
    assert len(await b.audit("lookup.mailbox")) == 1  # the cached answer, checked again


async def test_a_refusal_found_on_a_cached_answer_is_kept_like_other_refusals(
    peers: tuple[Operator, Operator],
) -> None:
    """A cached answer refused when B's CRL changes is remembered for negative_seconds,
    as every refusal is, not for what was left of the answer's own cache time: a mailbox
    B re-keys is reachable again within a minute."""
    a, b = peers
    clock = [0.0]
    lookup = LookupClient(a.runtime.trust, cache_seconds=300, clock=lambda: clock[0])
    await lookup.keys(doctor(2, "b.test"))
    await revoke(b, doctor(2, "b.test"))
    lookup.crls.forget("b.test")
    with pytest.raises(KeyRefused):
        await lookup.keys(doctor(2, "b.test"))
    clock[0] += lookup.negative_seconds + 1  # well within the answer's 300 s
    with pytest.raises(NoPublishedKey):  # B is asked again: it no longer publishes one
        await lookup.keys(doctor(2, "b.test"))
    assert len(await b.audit("lookup.mailbox")) == 2


async def test_a_crl_not_signed_by_bs_ca_is_refused(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(
        operator_templates, tmp_path, domains=("a.test", "b.test", "c.test")
    ) as ops:
        a, b, c = ops["a.test"], ops["b.test"], ops["c.test"]
        await b.serve("lookup")
        await a.trust(b)
        await b.trust(a)
        foreign = (await _crl_pem(c)).decode("ascii")
        async with b.db.write() as session:
            await session.execute(update(CaCrl).values(pem=foreign))
        with pytest.raises(RevocationUnknown) as unknown:
            await a.runtime.key_lookup.crls.current("b.test")
        assert "not signed by the CA registered for b.test" in unknown.value.reason
        # Without a CRL it may use, A does not encrypt to B's mailboxes for now.
        with pytest.raises(LookupUnavailable) as unavailable:
            await a.runtime.key_lookup.keys(doctor(1, "b.test"))
        assert unavailable.value.reply().startswith("451 4.4.3")
        assert "revocation status of b.test" in unavailable.value.reason


class Clocks:
    def __init__(self) -> None:
        self.monotonic = 0.0
        self.wall = utcnow()


async def test_a_held_crl_serves_until_its_next_update_then_status_is_unknown(
    peers: tuple[Operator, Operator],
) -> None:
    a, b = peers
    clocks = Clocks()
    crls = PeerCrls(
        a.runtime.trust,
        timeout=5,
        refresh_seconds=3600,
        clock=lambda: clocks.monotonic,
        now=lambda: clocks.wall,
    )
    held = await crls.current("b.test")
    assert held is not None
    await b.stop("lookup")
    # Past the refresh interval, B cannot be asked: the CRL held is still current.
    clocks.monotonic += 3601
    clocks.wall += dt.timedelta(hours=1)
    assert await crls.current("b.test") == held
    # Past its nextUpdate nothing says whether B revoked a certificate meanwhile.
    clocks.monotonic += 3601
    clocks.wall = held.next_update + dt.timedelta(seconds=1)
    with pytest.raises(RevocationUnknown) as unknown:
        await crls.current("b.test")
    assert "cannot be reached" in unknown.value.reason
