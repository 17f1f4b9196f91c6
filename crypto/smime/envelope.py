"""Encrypting a MIME entity for its recipients (RFC 8551 §3.3, RFC 5652 §6, RFC 5083).

Two forms (`crypto.policy`): `smime` = EnvelopedData, AES-256-CBC, RSAES-PKCS1-v1_5 key
transport, which every mainstream client reads; `smime-gcm` = AuthEnvelopedData,
AES-256-GCM with a 16-byte tag, RSAES-OAEP-SHA256 key transport. Both are built with
asn1crypto over `cryptography` primitives: one content key per message, wrapped for each
recipient, and the body written once as base64 (no Python-side MIME re-encoding).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from asn1crypto import algos, cms
from cryptography import x509
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto import policy
from crypto.errors import KeyMaterialError
from crypto.smime import mime
from crypto.smime.asn1 import GCMParameters, issuer_and_serial


def encrypt(entity: bytes, recipient_certs_pem: Sequence[bytes], form: str) -> bytes:
    """An application/pkcs7-mime entity (headers + base64 body, CRLF) that only the
    holders of `recipient_certs_pem`'s keys can read."""
    recipients = [_recipient(pem) for pem in recipient_certs_pem]
    if not recipients:
        raise KeyMaterialError("a message needs at least one recipient certificate")
    content = mime.to_crlf(entity)
    if form == policy.FORM_CBC:
        der, smime_type = _enveloped(content, recipients), "enveloped-data"
    elif form == policy.FORM_GCM:
        der, smime_type = _auth_enveloped(content, recipients), "authEnveloped-data"
    else:
        raise KeyMaterialError(f"unknown S/MIME form {form!r}")
    headers = [
        ("Content-Type", f'application/pkcs7-mime; smime-type={smime_type}; name="smime.p7m"'),
        ("Content-Transfer-Encoding", "base64"),
        ("Content-Disposition", 'attachment; filename="smime.p7m"'),
        ("Content-Description", "S/MIME Encrypted Message"),
    ]
    return mime.header_block(headers) + mime.base64_body(der)


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


def _ktri(
    cert: x509.Certificate, encrypted_key: bytes, algorithm: cms.KeyEncryptionAlgorithm
) -> cms.RecipientInfo:
    return cms.RecipientInfo(
        name="ktri",
        value=cms.KeyTransRecipientInfo(
            {
                "version": "v0",
                "rid": issuer_and_serial(cert),
                "key_encryption_algorithm": algorithm,
                "encrypted_key": encrypted_key,
            }
        ),
    )


def _enveloped(
    content: bytes, recipients: list[tuple[x509.Certificate, rsa.RSAPublicKey]]
) -> bytes:
    """EnvelopedData, AES-256-CBC (RFC 3565), RSAES-PKCS1-v1_5 (RFC 3370 §4.2.1)."""
    key = os.urandom(policy.CONTENT_KEY_BYTES)
    iv = os.urandom(policy.CBC_IV_BYTES)
    padder = sym_padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(content) + padder.finalize()) + encryptor.finalize()
    transport = cms.KeyEncryptionAlgorithm({"algorithm": policy.CBC_KEY_TRANSPORT})
    infos = [
        _ktri(cert, public.encrypt(key, padding.PKCS1v15()), transport)
        for cert, public in recipients
    ]
    enveloped = cms.EnvelopedData(
        {
            "version": "v0",
            "recipient_infos": infos,
            "encrypted_content_info": {
                "content_type": "data",
                "content_encryption_algorithm": algos.EncryptionAlgorithm(
                    {"algorithm": policy.CBC_CONTENT_CIPHER, "parameters": iv}
                ),
                "encrypted_content": ciphertext,
            },
        }
    )
    return bytes(cms.ContentInfo({"content_type": "enveloped_data", "content": enveloped}).dump())


def _oaep_algorithm() -> cms.KeyEncryptionAlgorithm:
    name = policy.OAEP_HASH.name  # "sha256"
    return cms.KeyEncryptionAlgorithm(
        {
            "algorithm": policy.GCM_KEY_TRANSPORT,
            "parameters": algos.RSAESOAEPParams(
                {
                    "hash_algorithm": {"algorithm": name},
                    "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": name}},
                }
            ),
        }
    )


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
    transport = _oaep_algorithm()
    infos = [_ktri(cert, public.encrypt(key, oaep), transport) for cert, public in recipients]
    parameters = GCMParameters({"aes_nonce": nonce, "aes_icvlen": policy.GCM_TAG_BYTES})
    auth_enveloped = cms.AuthEnvelopedData(
        {
            "version": "v0",
            "recipient_infos": infos,
            "auth_encrypted_content_info": {
                "content_type": "data",
                "content_encryption_algorithm": algos.EncryptionAlgorithm(
                    {"algorithm": policy.GCM_CONTENT_CIPHER, "parameters": parameters}
                ),
                "encrypted_content": ciphertext,
            },
            "mac": tag,
        }
    )
    return bytes(
        cms.ContentInfo(
            {"content_type": "authenticated_enveloped_data", "content": auth_enveloped}
        ).dump()
    )
