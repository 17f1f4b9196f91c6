"""Encrypting a MIME entity for its recipients (RFC 8551 §3.3, RFC 5652 §6, RFC 5083).

Two forms (`crypto.policy`): `smime` = EnvelopedData, AES-256-CBC, RSAES-PKCS1-v1_5 key
transport, which every mainstream client reads; `smime-gcm` = AuthEnvelopedData,
AES-256-GCM with a 16-byte tag, RSAES-OAEP-SHA256 key transport. Both are built over
`cryptography` primitives: one content key per message, wrapped for each recipient; the
envelope's outer DER is written directly (`crypto.smime.der`: asn1crypto copies a large
ciphertext several times) and the body once as base64 (no MIME re-encoding in Python).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto import policy
from crypto.errors import KeyMaterialError
from crypto.smime import der, mime


def encrypt(entity: bytes, recipient_certs_pem: Sequence[bytes], form: str) -> bytes:
    """An application/pkcs7-mime entity (headers + base64 body, CRLF) that only the
    holders of `recipient_certs_pem`'s keys can read."""
    return encrypt_canonical(mime.to_crlf(entity), recipient_certs_pem, form)


def encrypt_canonical(content: bytes, recipient_certs_pem: Sequence[bytes], form: str) -> bytes:
    """`encrypt` for content already in canonical CRLF form (what `sign` returns)."""
    recipients = [_recipient(pem) for pem in recipient_certs_pem]
    if not recipients:
        raise KeyMaterialError("a message needs at least one recipient certificate")
    if form == policy.FORM_CBC:
        envelope, smime_type = _enveloped(content, recipients), "enveloped-data"
    elif form == policy.FORM_GCM:
        envelope, smime_type = _auth_enveloped(content, recipients), "authEnveloped-data"
    else:
        raise KeyMaterialError(f"unknown S/MIME form {form!r}")
    headers = [
        ("Content-Type", f'application/pkcs7-mime; smime-type={smime_type}; name="smime.p7m"'),
        ("Content-Transfer-Encoding", "base64"),
        ("Content-Disposition", 'attachment; filename="smime.p7m"'),
        ("Content-Description", "S/MIME Encrypted Message"),
    ]
    return mime.header_block(headers) + mime.base64_body(envelope)


def _recipient(pem: bytes) -> tuple[x509.Certificate, rsa.RSAPublicKey]:
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
    return cert, key


def _rid(cert: x509.Certificate) -> bytes:
    """issuerAndSerialNumber (RFC 8551 §2.3), from the certificate's own DER bytes."""
    tbs = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))[
        "tbs_certificate"
    ]
    return der.sequence(tbs["issuer"].dump(), tbs["serial_number"].dump())


def _ktri(cert: x509.Certificate, encrypted_key: bytes, algorithm: bytes) -> bytes:
    """KeyTransRecipientInfo, version 0 (RFC 5652 §6.2.1)."""
    return der.sequence(
        der.small_integer(0), _rid(cert), algorithm, der.octet_string(encrypted_key)
    )


def _content_info(content_type: str, content: bytes) -> bytes:
    return der.sequence(der.oid(content_type), der.explicit(0, content))


def _encrypted_content_info(algorithm: bytes, ciphertext: bytes) -> bytes:
    return der.sequence(_DATA, algorithm, der.implicit_primitive(0, ciphertext))


def _algorithm_oid(name: str) -> bytes:
    return der.oid(algos.EncryptionAlgorithmId(name).dotted)


def _enveloped(
    content: bytes, recipients: list[tuple[x509.Certificate, rsa.RSAPublicKey]]
) -> bytes:
    """EnvelopedData, AES-256-CBC (RFC 3565), RSAES-PKCS1-v1_5 (RFC 3370 §4.2.1);
    version 0: key transport to issuerAndSerialNumber only (RFC 5652 §6.1)."""
    key = os.urandom(policy.CONTENT_KEY_BYTES)
    iv = os.urandom(policy.CBC_IV_BYTES)
    padder = sym_padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(content) + padder.finalize()) + encryptor.finalize()
    infos = [
        _ktri(cert, public.encrypt(key, padding.PKCS1v15()), _PKCS1V15)
        for cert, public in recipients
    ]
    algorithm = der.sequence(_algorithm_oid(policy.CBC_CONTENT_CIPHER), der.octet_string(iv))
    enveloped = der.sequence(
        der.small_integer(0), der.set_of(*infos), _encrypted_content_info(algorithm, ciphertext)
    )
    return _content_info(_ENVELOPED_DATA, enveloped)


def _auth_enveloped(
    content: bytes, recipients: list[tuple[x509.Certificate, rsa.RSAPublicKey]]
) -> bytes:
    """AuthEnvelopedData (RFC 5083) with AES-256-GCM (RFC 5084) and RSAES-OAEP-SHA256
    (RFC 8017 §7.1, RFC 4055 §4.1). No authenticated attributes: the content type is
    id-data (RFC 5083 §2.1), so the tag covers the ciphertext alone."""
    key = os.urandom(policy.CONTENT_KEY_BYTES)
    nonce = os.urandom(policy.GCM_NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, content, None)
    ciphertext, tag = sealed[: -policy.GCM_TAG_BYTES], sealed[-policy.GCM_TAG_BYTES :]
    oaep = padding.OAEP(
        mgf=padding.MGF1(policy.OAEP_HASH()), algorithm=policy.OAEP_HASH(), label=None
    )
    infos = [_ktri(cert, public.encrypt(key, oaep), _OAEP) for cert, public in recipients]
    # GCMParameters (RFC 5084 §3.2): nonce and ICV length.
    parameters = der.sequence(der.octet_string(nonce), der.small_integer(policy.GCM_TAG_BYTES))
    algorithm = der.sequence(_algorithm_oid(policy.GCM_CONTENT_CIPHER), parameters)
    auth_enveloped = der.sequence(
        der.small_integer(0),
        der.set_of(*infos),
        _encrypted_content_info(algorithm, ciphertext),
        der.octet_string(tag),
    )
    return _content_info(_AUTH_ENVELOPED_DATA, auth_enveloped)


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
_ENVELOPED_DATA = "1.2.840.113549.1.7.3"
_AUTH_ENVELOPED_DATA = "1.2.840.113549.1.9.16.1.23"
_PKCS1V15 = bytes(cms.KeyEncryptionAlgorithm({"algorithm": policy.CBC_KEY_TRANSPORT}).dump())
_OAEP = _oaep_algorithm()
