"""A peer's CRL is used only when it is one CRL, signed by a CA registered for the peer's
domain, and current (`gateway.trust.peer_crl.check`)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from gateway.trust.peer_crl import CrlRefused, check
from tests.unit.trust.pki import NOW, Made, ca

ROOT_B = ca("Root CA b.test")
ISSUING_B = ca("Issuing CA b.test", ROOT_B)
ANCHORS_B = [ROOT_B.cert, ISSUING_B.cert]
ISSUING_C = ca("Issuing CA c.test", ca("Root CA c.test"))


def crl(
    signer: Made,
    *,
    number: int | None = 7,
    this_update: dt.datetime = NOW - dt.timedelta(hours=1),
    next_update: dt.datetime = NOW + dt.timedelta(days=30),
    issuer: x509.Name | None = None,
) -> bytes:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer or signer.cert.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(1234)
            .revocation_date(NOW - dt.timedelta(days=1))
            .build()
        )
    )
    if number is not None:
        builder = builder.add_extension(x509.CRLNumber(number), critical=False)
    signed = builder.sign(signer.key, hashes.SHA256())
    return signed.public_bytes(serialization.Encoding.PEM)


def test_a_current_crl_of_the_domains_issuing_ca_is_taken() -> None:
    taken = check("b.test", crl(ISSUING_B), ANCHORS_B, NOW)
    assert (taken.domain, taken.number) == ("b.test", 7)
    assert taken.next_update == NOW + dt.timedelta(days=30)
    assert taken.load().get_revoked_certificate_by_serial_number(1234) is not None


def test_a_crl_signed_by_another_domains_ca_is_refused() -> None:
    with pytest.raises(CrlRefused) as refused:
        check("b.test", crl(ISSUING_C), ANCHORS_B, NOW)
    assert "not signed by the CA registered for b.test" in refused.value.reason


def test_a_crl_naming_bs_ca_but_signed_by_another_key_is_refused() -> None:
    forged = crl(ISSUING_C, issuer=ISSUING_B.cert.subject)
    with pytest.raises(CrlRefused) as refused:
        check("b.test", forged, ANCHORS_B, NOW)
    assert "not signed by the CA registered for b.test" in refused.value.reason


@pytest.mark.parametrize(
    ("this_update", "next_update", "words"),
    [
        (NOW - dt.timedelta(days=31), NOW - dt.timedelta(seconds=1), "out of date"),
        (NOW + dt.timedelta(hours=1), NOW + dt.timedelta(days=30), "not valid before"),
    ],
)
def test_a_crl_that_is_not_current_is_refused(
    this_update: dt.datetime, next_update: dt.datetime, words: str
) -> None:
    pem = crl(ISSUING_B, this_update=this_update, next_update=next_update)
    with pytest.raises(CrlRefused) as refused:
        check("b.test", pem, ANCHORS_B, NOW)
    assert words in refused.value.reason


@pytest.mark.parametrize(
    "pem",
    [
        b"",
        b"not a CRL",
        b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
        crl(ISSUING_B) + crl(ISSUING_B),
        crl(ISSUING_B, number=None),
    ],
)
def test_anything_but_one_numbered_pem_crl_is_refused(pem: bytes) -> None:
    with pytest.raises(CrlRefused):
        check("b.test", pem, ANCHORS_B, NOW)


def test_a_crl_of_a_re_keyed_ca_of_the_same_name_is_taken() -> None:
    """During a rotation the registered chain may hold two CAs of one name: each is
    tried, and the CRL records which key signed it."""
    rekeyed = ca("Issuing CA b.test", ROOT_B)
    anchors = [ROOT_B.cert, ISSUING_B.cert, rekeyed.cert]
    old, new = (
        check("b.test", crl(ISSUING_B), anchors, NOW),
        check("b.test", crl(rekeyed), anchors, NOW),
    )
    assert old.issuer_key != new.issuer_key


def test_a_refusal_does_not_repeat_the_issuer_name_the_peer_wrote() -> None:
    hostile = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "CA\r\n250 2.0.0 Ok")])
    with pytest.raises(CrlRefused) as refused:
        check("b.test", crl(ISSUING_C, issuer=hostile), ANCHORS_B, NOW)
    assert "250" not in refused.value.reason and "\r" not in refused.value.reason
