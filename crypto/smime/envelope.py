"""Encrypting a MIME entity for its recipients (RFC 8551 §3.3, RFC 5652 §6, RFC 5083).

Two forms (`crypto.policy`): `smime` = EnvelopedData, AES-256-CBC, RSAES-PKCS1-v1_5 key
transport, which every mainstream client reads; `smime-gcm` = AuthEnvelopedData,
AES-256-GCM with a 16-byte tag, RSAES-OAEP-SHA256 key transport. Both are built over
`cryptography` primitives: one content key per message, wrapped for each recipient; the
envelope's outer DER is written directly (`crypto.smime.der`: asn1crypto copies a large
ciphertext several times) and the body once as base64 (no MIME re-encoding in Python).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import (
    AEADEncryptionContext,
    Cipher,
    CipherContext,
    algorithms,
    modes,
)

from crypto import policy
from crypto.errors import KeyMaterialError
from crypto.smime import der, mime


def encrypt(entity: bytes, recipient_certs_pem: Sequence[bytes], form: str) -> bytes:
    """An application/pkcs7-mime entity (headers + base64 body, CRLF) that only the
    holders of `recipient_certs_pem`'s keys can read."""
    return encrypt_parts([mime.to_crlf(entity)], recipient_certs_pem, form)


def encrypt_parts(
    parts: Sequence[der.Buffer], recipient_certs_pem: Sequence[bytes], form: str
) -> bytes:
    """`encrypt` of the concatenation of `parts`, in canonical CRLF form already (what
    `signed_parts` returns), which is never made: the parts go through AES a slice at a
    time, each slice's ciphertext into the base64 writer (`mime.base64_parts`) under DER
    layers written around it (`der.Stream`). The output is the one whole copy made."""
    recipients = [_recipient(pem) for pem in recipient_certs_pem]
    if not recipients:
        raise KeyMaterialError("a message needs at least one recipient certificate")
    if form == policy.FORM_CBC:
        envelope = _enveloped(parts, recipients)
    elif form == policy.FORM_GCM:
        envelope = _auth_enveloped(parts, recipients)
    else:
        raise KeyMaterialError(f"unknown S/MIME form {form!r}")
    return mime.base64_parts(der.flatten(envelope), _HEADS[form])


Recipient = tuple[bytes, rsa.RSAPublicKey]


@functools.lru_cache(maxsize=1024)
def _recipient(pem: bytes) -> Recipient:
    """(issuerAndSerialNumber DER, RSA public key) of a recipient certificate. Kept per
    worker process like the signers' keys (`key_cache`): the same recipients come back
    message after message, and reading the certificate (PEM, then the issuer name's
    exact DER through asn1crypto) costs ~0.15 ms, more than wrapping a key for it."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise KeyMaterialError("a recipient certificate is not a PEM certificate") from exc
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyMaterialError(
            f"recipient certificate {cert.subject.rfc4514_string()} has no RSA key"
        )
    if key.key_size < policy.MIN_RSA_BITS:
        raise KeyMaterialError(
            f"recipient certificate {cert.subject.rfc4514_string()} has a {key.key_size}-bit RSA key; "
            f"the policy needs {policy.MIN_RSA_BITS} or more"
        )
    return _rid(cert), key


def _rid(cert: x509.Certificate) -> bytes:
    """issuerAndSerialNumber (RFC 8551 §2.3), from the certificate's own DER bytes."""
    tbs = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))[
        "tbs_certificate"
    ]
    return der.sequence(tbs["issuer"].dump(), tbs["serial_number"].dump())


def _ktri(rid: bytes, encrypted_key: bytes, algorithm: bytes) -> bytes:
    """KeyTransRecipientInfo, version 0 (RFC 5652 §6.2.1)."""
    return der.sequence(der.small_integer(0), rid, algorithm, der.octet_string(encrypted_key))


def _content_info(content_type: bytes, *content: der.Piece) -> list[der.Piece]:
    return der.wrap(0x30, content_type, *der.wrap(0xA0, *content))


def _encrypted_content_info(algorithm: bytes, ciphertext: der.Stream) -> list[der.Piece]:
    return der.wrap(0x30, _DATA, algorithm, *der.wrap(0x80, ciphertext))  # [0] IMPLICIT


def _algorithm_oid(name: str) -> bytes:
    return der.oid(algos.EncryptionAlgorithmId(name).dotted)


def _enveloped(parts: Sequence[der.Buffer], recipients: list[Recipient]) -> list[der.Piece]:
    """EnvelopedData, AES-256-CBC (RFC 3565), RSAES-PKCS1-v1_5 (RFC 3370 §4.2.1);
    version 0: key transport to issuerAndSerialNumber only (RFC 5652 §6.1). The padding
    (RFC 5652 §6.3) goes through AES after the parts."""
    key = os.urandom(policy.CONTENT_KEY_BYTES)
    iv = os.urandom(policy.CBC_IV_BYTES)
    size = sum(len(p) for p in parts)
    pad = _AES_BLOCK - size % _AES_BLOCK
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = der.Stream(size + pad, _encrypting(encryptor, parts, bytes([pad]) * pad))
    infos = [
        _ktri(rid, public.encrypt(key, padding.PKCS1v15()), _PKCS1V15) for rid, public in recipients
    ]
    algorithm = der.sequence(_CBC_CIPHER, der.octet_string(iv))
    enveloped = der.wrap(
        0x30,
        der.small_integer(0),
        der.set_of(*infos),
        *_encrypted_content_info(algorithm, ciphertext),
    )
    return _content_info(_ENVELOPED_DATA, *enveloped)


def _auth_enveloped(parts: Sequence[der.Buffer], recipients: list[Recipient]) -> list[der.Piece]:
    """AuthEnvelopedData (RFC 5083) with AES-256-GCM (RFC 5084) and RSAES-OAEP-SHA256
    (RFC 8017 §7.1, RFC 4055 §4.1). No authenticated attributes: the content type is
    id-data (RFC 5083 §2.1), so the tag covers the ciphertext alone."""
    key = os.urandom(policy.CONTENT_KEY_BYTES)
    nonce = os.urandom(policy.GCM_NONCE_BYTES)
    encryptor = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()  # 16-byte tag
    size = sum(len(p) for p in parts)
    ciphertext = der.Stream(size, _encrypting(encryptor, parts, b""))
    oaep = padding.OAEP(
        mgf=padding.MGF1(policy.OAEP_HASH()), algorithm=policy.OAEP_HASH(), label=None
    )
    infos = [_ktri(rid, public.encrypt(key, oaep), _OAEP) for rid, public in recipients]
    # GCMParameters (RFC 5084 §3.2): nonce and ICV length.
    parameters = der.sequence(der.octet_string(nonce), der.small_integer(policy.GCM_TAG_BYTES))
    algorithm = der.sequence(_GCM_CIPHER, parameters)
    auth_enveloped = der.wrap(
        0x30,
        der.small_integer(0),
        der.set_of(*infos),
        *_encrypted_content_info(algorithm, ciphertext),
        der.Stream(2 + policy.GCM_TAG_BYTES, _mac(encryptor)),
    )
    return _content_info(_AUTH_ENVELOPED_DATA, *auth_enveloped)


def _encrypting(
    encryptor: CipherContext, parts: Sequence[der.Buffer], tail: bytes
) -> Iterator[bytes]:
    """The ciphertext of `parts` then `tail`, made a slice at a time as the base64 writer
    reads it: the whole ciphertext is never held, and what a slice weighs stays in cache.
    (Holding it, beside the base64 output, made glibc give the heap back and page-fault it
    in again at every message: ~900 faults, ~1.3 ms per MB.)"""
    for part in parts:
        view = memoryview(part)
        for offset in range(0, len(view), _SLICE):
            yield encryptor.update(view[offset : offset + _SLICE])
    yield encryptor.update(tail) + encryptor.finalize()


def _mac(encryptor: AEADEncryptionContext) -> Iterator[bytes]:
    """The GCM tag's OCTET STRING, read once the ciphertext stream has finalized."""
    yield der.octet_string(encryptor.tag)


def _oaep_algorithm() -> bytes:
    name = policy.OAEP_HASH.name  # "sha256"
    params = algos.RSAESOAEPParams(
        {
            "hash_algorithm": {"algorithm": name},
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": name}},
        }
    )
    return bytes(
        cms.KeyEncryptionAlgorithm(
            {"algorithm": policy.GCM_KEY_TRANSPORT, "parameters": params}
        ).dump()
    )


# Constant DER, made once with asn1crypto (RFC 5652 §4, RFC 5083 §1.1, RFC 3370 §4.2).
_DATA = der.oid("1.2.840.113549.1.7.1")
_ENVELOPED_DATA = der.oid("1.2.840.113549.1.7.3")
_AUTH_ENVELOPED_DATA = der.oid("1.2.840.113549.1.9.16.1.23")
_CBC_CIPHER = _algorithm_oid(policy.CBC_CONTENT_CIPHER)
_GCM_CIPHER = _algorithm_oid(policy.GCM_CONTENT_CIPHER)
_PKCS1V15 = bytes(cms.KeyEncryptionAlgorithm({"algorithm": policy.CBC_KEY_TRANSPORT}).dump())
_OAEP = _oaep_algorithm()
_AES_BLOCK = 16
_SLICE = 64 * 1024


def _head(smime_type: str) -> bytes:
    return mime.header_block(
        [
            (
                "Content-Type",
                f'application/pkcs7-mime; smime-type={smime_type}; name="smime.p7m"',
            ),
            ("Content-Transfer-Encoding", "base64"),
            ("Content-Disposition", 'attachment; filename="smime.p7m"'),
            ("Content-Description", "S/MIME Encrypted Message"),
        ]
    )


_HEADS = {policy.FORM_CBC: _head("enveloped-data"), policy.FORM_GCM: _head("authEnveloped-data")}
