"""Peer operators are recognised by chain to their domain's CA, a name under that domain
and the key usage of their role; never by the address connected to (DESIGN 3, 5.7)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.settings import HostPort
from mailserver.trust_tls import (
    PeerRefused,
    TrustedPeer,
    name_under,
    verify_client_peer,
    verify_server_peer,
)
from tests.unit.trust.pki import CLIENT, NOW, SERVER, Made, ca, leaf

ROOT_A, ROOT_B = ca("Root A"), ca("Root B")
ISSUING_A = ca("Issuing A", ROOT_A)


def peer(domain: str, *anchors: Made) -> TrustedPeer:
    return TrustedPeer(
        domain=domain,
        ca_pem=b"".join(a.pem for a in anchors).decode(),
        anchors=tuple(a.cert for a in anchors),
        relay=HostPort("127.0.0.1", 25),
        lookup=HostPort("127.0.0.1", 443),
    )


A = peer("a.test", ISSUING_A, ROOT_A)
B = peer("b.test", ROOT_B)


@pytest.mark.parametrize(
    ("name", "domain", "expected"),
    [
        ("a.test", "a.test", True),
        ("mail.a.test", "a.test", True),
        ("MX.Mail.A.Test.", "a.test", True),
        ("evil-a.test", "a.test", False),
        ("a.test.evil", "a.test", False),
        ("test", "a.test", False),
        ("", "a.test", False),
    ],
)
def test_names_under_a_domain(name: str, domain: str, expected: bool) -> None:
    assert name_under(name, domain) is expected


@given(st.from_regex(r"[a-z0-9-]{1,10}(\.[a-z0-9-]{1,10}){0,3}", fullmatch=True))
def test_a_name_glued_to_the_domain_is_never_under_it(prefix: str) -> None:
    assert not name_under(f"{prefix}a.test", "a.test")
    assert name_under(f"{prefix}.a.test", "a.test")


def test_a_client_certificate_of_a_names_its_domain() -> None:
    cert = leaf(ISSUING_A, ["mail.a.test", "a.test"])
    identity = verify_client_peer(cert.der, [B, A], NOW)
    assert identity.domain == "a.test"
    assert identity.names == ("mail.a.test", "a.test")
    assert identity.serial == format(cert.cert.serial_number, "x")


def test_a_certificate_from_the_right_ca_with_a_foreign_name_is_refused() -> None:
    cert = leaf(ISSUING_A, ["mail.b.test"])
    with pytest.raises(PeerRefused, match="names no host under"):
        verify_client_peer(cert.der, [A, B], NOW)


def test_a_certificate_from_another_ca_claiming_the_domain_is_refused() -> None:
    # B's CA issues a certificate naming a host of a.test: a.test's CA did not.
    cert = leaf(ROOT_B, ["mail.a.test"])
    with pytest.raises(PeerRefused):
        verify_client_peer(cert.der, [A], NOW)
    with pytest.raises(PeerRefused, match="names no host under"):
        verify_client_peer(cert.der, [A, B], NOW)


def test_an_unknown_ca_is_refused() -> None:
    stranger = leaf(ca("Stranger"), ["mail.a.test"])
    with pytest.raises(PeerRefused, match="does not chain"):
        verify_client_peer(stranger.der, [A, B], NOW)


def test_no_certificate_is_refused() -> None:
    with pytest.raises(PeerRefused, match="no certificate"):
        verify_client_peer(None, [A], NOW)
    with pytest.raises(PeerRefused, match="cannot be read"):
        verify_client_peer(b"not DER", [A], NOW)


def test_a_server_only_certificate_cannot_authenticate_a_client() -> None:
    cert = leaf(ISSUING_A, ["mail.a.test"], usages=[SERVER])
    with pytest.raises(PeerRefused):
        verify_client_peer(cert.der, [A], NOW)
    assert verify_server_peer(cert.der, A, NOW).domain == "a.test"


def test_a_client_only_certificate_cannot_serve() -> None:
    cert = leaf(ISSUING_A, ["mail.a.test"], usages=[CLIENT])
    with pytest.raises(PeerRefused, match="as a TLS server"):
        verify_server_peer(cert.der, A, NOW)


def test_an_expired_certificate_is_refused() -> None:
    cert = leaf(ISSUING_A, ["mail.a.test"], not_after=NOW - dt.timedelta(days=1))
    with pytest.raises(PeerRefused):
        verify_client_peer(cert.der, [A], NOW)
    with pytest.raises(PeerRefused):
        verify_server_peer(cert.der, A, NOW)


def test_the_server_must_be_of_the_domain_asked_for() -> None:
    b_server = leaf(ROOT_B, ["mail.b.test"])
    assert verify_server_peer(b_server.der, B, NOW).names == ("mail.b.test",)
    with pytest.raises(PeerRefused, match=re.escape("names no host under a.test")):
        verify_server_peer(b_server.der, A, NOW)
    # Right name, wrong CA: a certificate for mail.a.test made by B's CA.
    forged = leaf(ROOT_B, ["mail.a.test"])
    with pytest.raises(PeerRefused, match="does not chain"):
        verify_server_peer(forged.der, A, NOW)
