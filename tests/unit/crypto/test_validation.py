"""Certificate paths: through intermediates to the anchor, with CRLs from the right
issuer only, the caller's clock, and the usage each purpose needs."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from crypto import profiles
from crypto.errors import CertificateRefused, Reason
from crypto.profiles import RevokedSerial
from crypto.validation import Usage, email_addresses, load_certificates, load_crls, validate
from tests.unit.crypto.pki import NOW, Mailbox, Pki, rsa_key


def test_the_path_goes_from_leaf_through_issuing_to_root(pki: Pki, alice: Mailbox) -> None:
    path = validate(
        alice.cert,
        anchors=[pki.root.cert],
        intermediates=[pki.issuing.cert],
        at=NOW,
        usage=Usage.SIGN,
    )
    assert path == [alice.cert, pki.issuing.cert, pki.root.cert]


def test_the_issuing_ca_alone_can_be_the_anchor(pki: Pki, alice: Mailbox) -> None:
    path = validate(
        alice.cert,
        anchors=[pki.issuing.cert],
        at=NOW,
        usage=Usage.ENCRYPT,
        address="alice@salus.test",
    )
    assert path == [alice.cert, pki.issuing.cert]


def test_without_the_intermediate_the_root_is_unknown(pki: Pki, alice: Mailbox) -> None:
    with pytest.raises(CertificateRefused) as caught:
        validate(alice.cert, anchors=[pki.root.cert], at=NOW, usage=Usage.SIGN)
    assert caught.value.reason is Reason.UNKNOWN_ROOT


def test_a_crl_revokes_only_when_its_issuer_signed_it(pki: Pki, alice: Mailbox) -> None:
    entry = [RevokedSerial(alice.cert.serial_number, NOW - dt.timedelta(hours=1))]
    genuine = profiles.revocation_list(pki.issuing, entry, 2, NOW)
    other = Pki.make("other.test", first_key=100)
    forged = profiles.revocation_list(other.issuing, entry, 2, NOW)
    validate(alice.cert, anchors=[pki.issuing.cert], at=NOW, usage=Usage.SIGN, crls=[forged])
    with pytest.raises(CertificateRefused) as caught:
        validate(alice.cert, anchors=[pki.issuing.cert], at=NOW, usage=Usage.SIGN, crls=[genuine])
    assert caught.value.reason is Reason.REVOKED


def test_a_revocation_after_the_validation_time_does_not_count(pki: Pki, alice: Mailbox) -> None:
    crl = profiles.revocation_list(
        pki.issuing, [RevokedSerial(alice.cert.serial_number, NOW)], 2, NOW
    )
    validate(
        alice.cert,
        anchors=[pki.issuing.cert],
        at=NOW - dt.timedelta(days=1),
        usage=Usage.SIGN,
        crls=[crl],
    )


def test_an_expired_issuing_ca_refuses_the_path(pki: Pki, alice: Mailbox) -> None:
    with pytest.raises(CertificateRefused) as caught:
        validate(
            alice.cert,
            anchors=[pki.root.cert],
            intermediates=[pki.issuing.cert],
            at=NOW + dt.timedelta(days=11 * 365),
            usage=Usage.SIGN,
        )
    assert caught.value.reason is Reason.EXPIRED


def test_a_leaf_used_as_a_ca_is_refused(pki: Pki, alice: Mailbox) -> None:
    fake_issuer = profiles.Issuer(alice.cert, alice.key)
    victim = profiles.mailbox_certificate(
        fake_issuer, rsa_key(30).public_key(), "victim@salus.test", "V", NOW
    )
    with pytest.raises(CertificateRefused) as caught:
        validate(
            victim, anchors=[pki.issuing.cert], intermediates=[alice.cert], at=NOW, usage=Usage.SIGN
        )
    assert caught.value.reason is Reason.ISSUER_NOT_CA


def test_encryption_needs_key_encipherment(pki: Pki) -> None:
    sign_only = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    cert = pki.leaf("s@salus.test", rsa_key(31), key_usage=sign_only)
    validate(cert, anchors=[pki.issuing.cert], at=NOW, usage=Usage.SIGN)
    with pytest.raises(CertificateRefused) as caught:
        validate(cert, anchors=[pki.issuing.cert], at=NOW, usage=Usage.ENCRYPT)
    assert caught.value.reason is Reason.KEY_USAGE


def test_any_extended_key_usage_is_accepted_and_absence_too(pki: Pki) -> None:
    anyeku = pki.leaf(
        "a@salus.test", rsa_key(32), eku=(x509.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,)
    )
    none = pki.leaf("n@salus.test", rsa_key(32), eku=())
    for cert in (anyeku, none):
        validate(cert, anchors=[pki.issuing.cert], at=NOW, usage=Usage.SIGN)


def test_addresses_compare_without_case(alice: Mailbox) -> None:
    assert email_addresses(alice.cert) == ("alice@salus.test",)


def test_pem_and_der_inputs_load(pki: Pki) -> None:
    pem = pki.anchors_pem
    der = pki.root.cert.public_bytes(serialization.Encoding.DER)
    assert load_certificates([pem, der]) == [pki.issuing.cert, pki.root.cert, pki.root.cert]
    crl = profiles.revocation_list(pki.issuing, [], 1, NOW)
    crl_pem = crl.public_bytes(serialization.Encoding.PEM)
    assert len(load_crls([crl_pem + crl_pem, crl.public_bytes(serialization.Encoding.DER)])) == 3


def test_the_service_profiles_chain_with_sha256(pki: Pki, alice: Mailbox) -> None:
    for cert in (pki.root.cert, pki.issuing.cert, alice.cert):
        assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    usage = alice.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment
    eku = alice.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [x509.ExtendedKeyUsageOID.EMAIL_PROTECTION]
