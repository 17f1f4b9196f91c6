"""What `PeerCrls` holds for a peer domain across a CA rotation: a CRL of the old CA is
dropped when the registered chain changes (its numbers say nothing of the new CA's),
while a lower number from the same CA key is still refused (a restored backup would
unrevoke certificates). The peer's lookup is stood in for by its answers."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives import serialization

from config.settings import HostPort
from mailserver.lookup import peer_crls
from mailserver.lookup.peer_crls import PeerCrls
from mailserver.trust_tls import TrustedPeer, TrustSnapshot
from tests.unit.trust.pki import NOW, Made, ca
from tests.unit.trust.test_peer_crl import crl


def _peer(*cas: Made) -> TrustedPeer:
    chain = b"".join(c.cert.public_bytes(serialization.Encoding.PEM) for c in cas)
    return TrustedPeer(
        "b.test", chain.decode("ascii"), tuple(c.cert for c in cas),
        HostPort("mail.b.test", 1443), HostPort("mail.b.test", 1443),
    )  # fmt: skip


@dataclass
class Trust:
    """The trust list as `PeerCrls` reads it: one peer, replaceable."""

    peer: TrustedPeer
    answers: list[bytes] = field(default_factory=list)

    async def snapshot(self) -> TrustSnapshot:
        return TrustSnapshot((self.peer,), self.peer.ca_pem)

    async def client_context(self, domain: str) -> tuple[None, TrustedPeer]:
        return None, self.peer


@dataclass
class Rotation:
    trust: Trust
    issuing: Made  # B's issuing CA before the rotation
    new_root: Made
    new_issuing: Made


@pytest.fixture
def rotation(monkeypatch: pytest.MonkeyPatch) -> Rotation:
    root = ca("Root CA b.test")
    issuing = ca("Issuing CA b.test", root)
    trust = Trust(_peer(root, issuing))

    async def answer(*_args: object, **_kwargs: object) -> tuple[int, bytes]:
        return 200, trust.answers.pop(0)

    monkeypatch.setattr(peer_crls.https, "get", answer)
    new_root = ca("Root CA b.test 2")
    return Rotation(trust, issuing, new_root, ca("Issuing CA b.test 2", new_root))


async def test_a_new_ca_s_crl_replaces_the_old_one_s(rotation: Rotation) -> None:
    trust = rotation.trust
    clock = [0.0]
    crls = PeerCrls(trust, timeout=5, clock=lambda: clock[0], now=lambda: NOW)  # type: ignore[arg-type]
    trust.answers.append(crl(rotation.issuing, number=5))
    assert await _number(crls) == 5

    trust.peer = _peer(rotation.new_root, rotation.new_issuing)  # salus trust add --replace
    trust.answers.append(crl(rotation.new_issuing, number=1))
    assert await _number(crls) == 1

    # The new CA going back to an older number later is not taken: the one held stays.
    trust.answers.append(crl(rotation.new_issuing, number=2))
    clock[0] += 3601
    assert await _number(crls) == 2
    trust.answers.append(crl(rotation.new_issuing, number=1))
    clock[0] += 3601
    assert await _number(crls) == 2
    assert trust.answers == []  # each question above did ask the peer


async def _number(crls: PeerCrls) -> int:
    held = await crls.current("b.test")
    assert held is not None
    return held.number
