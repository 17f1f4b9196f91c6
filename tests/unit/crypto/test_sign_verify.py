"""Signing and verifying: what Salus signs verifies, covers the exact canonical entity,
and other signature shapes peers send (opaque signed-data, RSASSA-PSS, ECDSA, no signed
attributes) verify too."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.serialization import pkcs7

from crypto import policy, profiles, smime
from crypto.errors import KeyMaterialError, Reason, SignatureError
from crypto.smime import SignatureStatus, mime
from tests.unit.crypto.pki import NOW, Mailbox, Pki

ENTITY = b"Content-Type: text/plain; charset=utf-8\r\n\r\nDischarge letter for Mr Test.\r\n"


def _opaque(der: bytes) -> bytes:
    return mime.header_block(
        [
            ("Content-Type", "application/pkcs7-mime; smime-type=signed-data; name=smime.p7m"),
            ("Content-Transfer-Encoding", "base64"),
        ]
    ) + mime.base64_body(der)


def test_a_signed_entity_verifies_and_names_its_signer(pki: Pki, alice: Mailbox) -> None:
    signed = smime.sign(ENTITY, alice.key_pem, alice.chain_pem)
    result = smime.verify(signed, [pki.anchors_pem], NOW, sender="Alice@Salus.test")
    assert result.status is SignatureStatus.VALID
    assert result.content == ENTITY
    assert result.signer_addresses == ("alice@salus.test",)
    assert result.signer_cert == alice.cert
    assert result.require_valid() == ENTITY
    assert result.signing_time is not None


def test_the_signature_header_says_sha256(alice: Mailbox) -> None:
    signed = smime.sign(ENTITY, alice.key_pem, alice.chain_pem)
    entity = mime.parse(signed)
    assert entity.content_type == "multipart/signed"
    assert entity.param("micalg") == policy.MICALG == "sha-256"
    assert entity.param("protocol") == "application/pkcs7-signature"


def test_bare_line_feeds_are_signed_as_crlf(pki: Pki, alice: Mailbox) -> None:
    signed = smime.sign(b"Content-Type: text/plain\n\nline\n", alice.key_pem, alice.chain_pem)
    result = smime.verify(signed, [pki.anchors_pem], NOW)
    assert result.valid
    assert result.content == b"Content-Type: text/plain\r\n\r\nline\r\n"


def test_verifying_needs_the_right_trust_anchor(alice: Mailbox) -> None:
    other = Pki.make("other.test", first_key=100)
    result = smime.verify(
        smime.sign(ENTITY, alice.key_pem, alice.chain_pem), [other.anchors_pem], NOW
    )
    assert result.status is SignatureStatus.UNTRUSTED
    assert result.reason is Reason.UNKNOWN_ROOT
    with pytest.raises(SignatureError) as caught:
        result.require_valid()
    assert caught.value.reason is Reason.UNKNOWN_ROOT


def test_opaque_signed_data_verifies(pki: Pki, alice: Mailbox) -> None:
    der = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(ENTITY)
        .add_signer(alice.cert, alice.key, hashes.SHA256())
        .add_certificate(alice.issuing)
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )
    result = smime.verify(_opaque(der), [pki.anchors_pem], NOW)
    assert result.valid
    assert result.content == ENTITY


def test_rsassa_pss_signatures_verify(pki: Pki, alice: Mailbox) -> None:
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    der = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(ENTITY)
        .add_signer(alice.cert, alice.key, hashes.SHA256(), rsa_padding=pss)
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )
    assert smime.verify(_opaque(der), [pki.anchors_pem], NOW).valid


def test_ecdsa_signatures_verify(pki: Pki) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = profiles.mailbox_certificate(pki.issuing, key.public_key(), "ec@salus.test", "EC", NOW)
    der = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(ENTITY)
        .add_signer(cert, key, hashes.SHA384())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )
    result = smime.verify(_opaque(der), [pki.anchors_pem], NOW, sender="ec@salus.test")
    assert result.valid, result.detail


def test_signatures_without_signed_attributes_verify(pki: Pki, alice: Mailbox) -> None:
    der = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(ENTITY)
        .add_signer(alice.cert, alice.key, hashes.SHA256())
        .sign(
            serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary, pkcs7.PKCS7Options.NoAttributes]
        )
    )
    assert smime.verify(_opaque(der), [pki.anchors_pem], NOW).valid


def test_the_validation_clock_is_the_callers(pki: Pki, alice: Mailbox) -> None:
    signed = smime.sign(ENTITY, alice.key_pem, alice.chain_pem)
    later = NOW + dt.timedelta(days=4 * 365)
    assert smime.verify(signed, [pki.anchors_pem], later).reason is Reason.EXPIRED
    assert smime.verify(signed, [pki.anchors_pem], NOW).valid


def test_sign_then_encrypt_then_unprotect(pki: Pki, alice: Mailbox, bob: Mailbox) -> None:
    for form in (policy.FORM_CBC, policy.FORM_GCM):
        protected = smime.sign_and_encrypt(
            ENTITY, alice.key_pem, alice.chain_pem, [bob.cert_pem], form
        )
        result = smime.unprotect(
            protected,
            [(bob.key_pem, bob.cert_pem)],
            [pki.anchors_pem],
            NOW,
            sender="alice@salus.test",
        )
        assert result.valid
        assert result.content == ENTITY


def test_a_key_that_does_not_match_the_certificate_is_refused(alice: Mailbox, bob: Mailbox) -> None:
    with pytest.raises(KeyMaterialError, match="does not match its key"):
        smime.sign(ENTITY, alice.key_pem, bob.chain_pem)


def test_unreadable_trust_anchors_are_the_callers_error(alice: Mailbox) -> None:
    signed = smime.sign(ENTITY, alice.key_pem, alice.chain_pem)
    with pytest.raises(KeyMaterialError, match="trust anchor or CRL"):
        smime.verify(
            signed, [b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"], NOW
        )
