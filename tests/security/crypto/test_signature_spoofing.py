"""Signature spoofing (the "Johnny, you are fired" family): no signer, two signers, a
signer who is not the sender, a signature over part of a message, an unsigned part
appended. Each is refused with its own reason; none is ever reported valid."""

from __future__ import annotations

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from crypto import smime
from crypto.errors import Reason
from crypto.smime import SignatureStatus, mime
from tests.unit.crypto.pki import NOW, Mailbox, Pki

ENTITY = b"Content-Type: text/plain\r\n\r\nPlease stop the anticoagulant today.\r\n"


def _verify(entity: bytes, pki: Pki, sender: str | None = None) -> smime.SignatureResult:
    return smime.verify(entity, [pki.anchors_pem], NOW, sender=sender)


def _opaque(der: bytes) -> bytes:
    return mime.header_block(
        [
            ("Content-Type", "application/pkcs7-mime; smime-type=signed-data"),
            ("Content-Transfer-Encoding", "base64"),
        ]
    ) + mime.base64_body(der)


def _signed_der(*signers: Mailbox) -> bytes:
    builder = pkcs7.PKCS7SignatureBuilder().set_data(ENTITY)
    for signer in signers:
        builder = builder.add_signer(signer.cert, signer.key, hashes.SHA256())
    return builder.sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])


def test_control_the_genuine_message_is_valid(pki: Pki, alice: Mailbox) -> None:
    assert _verify(
        smime.sign(ENTITY, alice.key_pem, alice.chain_pem), pki, "alice@salus.test"
    ).valid


def test_no_signer(pki: Pki, alice: Mailbox) -> None:
    info = cms.ContentInfo.load(_signed_der(alice))
    info["content"]["signer_infos"] = []
    result = _verify(_opaque(info.dump(force=True)), pki)
    assert (result.status, result.reason) == (SignatureStatus.INVALID, Reason.NO_SIGNER)


def test_two_signers(pki: Pki, alice: Mailbox, bob: Mailbox) -> None:
    result = _verify(_opaque(_signed_der(alice, bob)), pki, "alice@salus.test")
    assert (result.status, result.reason) == (SignatureStatus.INVALID, Reason.MULTIPLE_SIGNERS)


def test_signer_is_not_the_sender(pki: Pki, alice: Mailbox) -> None:
    result = _verify(smime.sign(ENTITY, alice.key_pem, alice.chain_pem), pki, "bob@salus.test")
    assert (result.status, result.reason) == (SignatureStatus.UNTRUSTED, Reason.ADDRESS_MISMATCH)
    assert result.signer_addresses == ("alice@salus.test",)


def test_signature_covering_only_part_of_the_message(pki: Pki, alice: Mailbox) -> None:
    signed = smime.sign(ENTITY, alice.key_pem, alice.chain_pem)
    mixed = (
        b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
        b"--outer\r\nContent-Type: text/plain\r\n\r\nDisregard the signed part: double the dose.\r\n"
        b"--outer\r\n" + signed + b"\r\n--outer--\r\n"
    )
    result = _verify(mixed, pki, "alice@salus.test")
    assert (result.status, result.reason) == (SignatureStatus.UNSIGNED, Reason.PARTIALLY_SIGNED)


def test_an_unsigned_part_appended_inside_multipart_signed(pki: Pki, alice: Mailbox) -> None:
    signed = smime.sign(ENTITY, alice.key_pem, alice.chain_pem)
    boundary = mime.parse(signed).param("boundary")
    assert boundary is not None
    closing = f"--{boundary}--\r\n".encode()
    extra = f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nAlso: double the dose.\r\n".encode()
    result = _verify(signed.replace(closing, extra + closing), pki, "alice@salus.test")
    assert (result.status, result.reason) == (SignatureStatus.INVALID, Reason.UNSIGNED_PART)


def test_text_appended_after_the_closing_boundary(pki: Pki, alice: Mailbox) -> None:
    signed = smime.sign(ENTITY, alice.key_pem, alice.chain_pem) + b"Also: double the dose.\r\n"
    result = _verify(signed, pki, "alice@salus.test")
    assert (result.status, result.reason) == (SignatureStatus.INVALID, Reason.UNSIGNED_PART)


def test_signed_content_altered(pki: Pki, alice: Mailbox) -> None:
    signed = smime.sign(ENTITY, alice.key_pem, alice.chain_pem).replace(b"stop the", b"double the")
    result = _verify(signed, pki, "alice@salus.test")
    assert (result.status, result.reason) == (SignatureStatus.INVALID, Reason.CONTENT_ALTERED)


def test_signature_value_altered(pki: Pki, alice: Mailbox) -> None:
    info = cms.ContentInfo.load(_signed_der(alice))
    signer = info["content"]["signer_infos"][0]
    value = bytearray(signer["signature"].native)
    value[10] ^= 1
    signer["signature"] = bytes(value)
    result = _verify(_opaque(info.dump(force=True)), pki)
    assert (result.status, result.reason) == (SignatureStatus.INVALID, Reason.BAD_SIGNATURE)


def test_signer_certificate_swapped_for_another(pki: Pki, alice: Mailbox, bob: Mailbox) -> None:
    """Alice's signature presented with Bob's certificate under Alice's identifier."""
    info = cms.ContentInfo.load(_signed_der(alice))
    bob_only = cms.ContentInfo.load(_signed_der(bob))
    info["content"]["certificates"] = bob_only["content"]["certificates"]
    result = _verify(_opaque(info.dump(force=True)), pki)
    assert (result.status, result.reason) == (
        SignatureStatus.INVALID,
        Reason.SIGNER_CERTIFICATE_MISSING,
    )


def test_not_signed_at_all(pki: Pki) -> None:
    result = _verify(ENTITY, pki, "alice@salus.test")
    assert (result.status, result.reason) == (SignatureStatus.UNSIGNED, Reason.NOT_SIGNED)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_damaged_signature_part(damage: str, pki: Pki, alice: Mailbox) -> None:
    signed = smime.sign(ENTITY, alice.key_pem, alice.chain_pem)
    marker = b"S/MIME Cryptographic Signature\r\n\r\n"
    head, rest = signed.split(marker)
    b64, closing = rest[: rest.index(b"--")], rest[rest.index(b"--") :]
    broken = b64[: len(b64) // 2] + b"\r\n" if damage == "truncate" else b"!!!!\r\n"
    result = _verify(head + marker + broken + closing, pki)
    assert (result.status, result.reason) == (SignatureStatus.INVALID, Reason.MALFORMED)


def test_every_spoofing_reason_is_distinct() -> None:
    reasons = [
        Reason.NO_SIGNER,
        Reason.MULTIPLE_SIGNERS,
        Reason.ADDRESS_MISMATCH,
        Reason.PARTIALLY_SIGNED,
        Reason.UNSIGNED_PART,
        Reason.CONTENT_ALTERED,
        Reason.BAD_SIGNATURE,
        Reason.SIGNER_CERTIFICATE_MISSING,
        Reason.NOT_SIGNED,
        Reason.MALFORMED,
    ]
    assert len({r.value for r in reasons}) == len(reasons)
