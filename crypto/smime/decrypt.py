"""Decrypting S/MIME: EnvelopedData (AES-CBC) and AuthEnvelopedData (AES-GCM), with
RSAES-PKCS1-v1_5 or RSAES-OAEP key transport (RFC 5652 §6, RFC 5083, RFC 5084, RFC 8017).

Every failure is one opaque `DecryptionError` (no padding, format or tag oracle: EFAIL,
Bleichenbacher; PKCS#1 v1.5 unwrapping additionally uses OpenSSL's implicit rejection,
so a bad padding yields a random key that then fails like any wrong key). The exception
is `EnvelopeRefused`, raised before any key is used, for a cipher the policy refuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import cms, core
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from crypto import policy
from crypto.errors import DecryptionError, EnvelopeRefused, KeyMaterialError, Reason
from crypto.smime import mime
from crypto.smime.asn1 import GCMParameters, attributes_as_set, hash_by_name, identifies
from crypto.smime.key_cache import private_key

_FORMS = {"enveloped_data": "cbc", "authenticated_enveloped_data": "gcm"}


def decrypt(entity: bytes, key_pem: bytes, cert_pem: bytes) -> bytes:
    """The inner entity of an application/pkcs7-mime entity encrypted to `cert_pem`'s key."""
    return decrypt_any(entity, [(key_pem, cert_pem)])


def decrypt_any(entity: bytes, keys: Sequence[tuple[bytes, bytes]]) -> bytes:
    """Like `decrypt`, trying each (key PEM, certificate or chain PEM) pair in turn: a
    mailbox's key generations, so that mail sent to an old certificate still opens."""
    return open_envelope(entity, keys).content


@dataclass(frozen=True, slots=True)
class Opened:
    content: bytes
    authenticated: bool  # AEAD (GCM): the ciphertext could not have been altered


def open_envelope(entity: bytes, keys: Sequence[tuple[bytes, bytes]]) -> Opened:
    """The inner entity, and whether its encryption also authenticated it."""
    envelope = _envelope(entity)
    for key_pem, cert_pem in keys:
        try:
            cert = x509.load_pem_x509_certificates(cert_pem)[0]
        except (ValueError, IndexError) as exc:
            raise DecryptionError from exc
        info = _recipient_info(envelope, cert)
        if info is None:
            continue
        try:
            private = private_key(key_pem)
        except KeyMaterialError as exc:
            raise DecryptionError from exc
        if isinstance(private, rsa.RSAPrivateKey):
            content = _open(envelope, _unwrap(info, private))
            return Opened(content, authenticated=isinstance(envelope, cms.AuthEnvelopedData))
    raise DecryptionError


def _recipient_info(
    envelope: cms.EnvelopedData | cms.AuthEnvelopedData, cert: x509.Certificate
) -> cms.KeyTransRecipientInfo | None:
    """The key-transport recipient info addressed to `cert`, if any."""
    try:
        for info in envelope["recipient_infos"]:
            if info.name == "ktri" and identifies(info.chosen["rid"], cert):
                return info.chosen
    except (ValueError, TypeError, KeyError) as exc:
        raise DecryptionError from exc
    return None


def _envelope(entity: bytes) -> cms.EnvelopedData | cms.AuthEnvelopedData:
    """The parsed envelope, with the policy checks that need no key."""
    try:
        part = mime.parse(entity)
        if part.content_type not in mime.PKCS7_MIME:
            raise DecryptionError
        info = cms.ContentInfo.load(part.decoded_body())
        content_type = info["content_type"].native
        if content_type not in _FORMS:
            raise DecryptionError
        envelope = info["content"]
        eci = envelope[
            "auth_encrypted_content_info"
            if content_type != "enveloped_data"
            else "encrypted_content_info"
        ]
        cipher = eci["content_encryption_algorithm"]["algorithm"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise DecryptionError from exc
    if cipher in policy.REFUSED_CIPHERS:
        raise EnvelopeRefused(
            Reason.WEAK_CIPHER,
            f"the message is encrypted with {cipher}, which the algorithm policy refuses",
        )
    accepted = policy.ACCEPTED_CONTENT_CIPHERS.get(cipher)
    if accepted is None or accepted[0] != _FORMS[content_type]:
        raise EnvelopeRefused(
            Reason.UNSUPPORTED_ALGORITHM,
            f"the message is encrypted with {cipher}, which Salus does not read",
        )
    return envelope


def _unwrap(info: cms.KeyTransRecipientInfo, private: rsa.RSAPrivateKey) -> bytes:
    algorithm = info["key_encryption_algorithm"]
    name = algorithm["algorithm"].native
    try:
        if name == "rsaes_pkcs1v15":
            scheme: padding.AsymmetricPadding = padding.PKCS1v15()
        elif name == "rsaes_oaep":
            scheme = _oaep(algorithm["parameters"])
        else:
            raise DecryptionError
        return private.decrypt(info["encrypted_key"].native, scheme)
    except (ValueError, TypeError, KeyError) as exc:
        raise DecryptionError from exc


def _oaep(params: object) -> padding.OAEP:
    """RSAES-OAEP-params (RFC 4055 §4.1); absent fields mean SHA-1 and MGF1-SHA-1."""
    digest = params["hash_algorithm"]["algorithm"].native  # type: ignore[index]
    mgf = params["mask_gen_algorithm"]  # type: ignore[index]
    mgf_digest = mgf["parameters"]["algorithm"].native
    label = params["p_source_algorithm"]["parameters"].native  # type: ignore[index]
    if mgf["algorithm"].native != "mgf1" or digest not in policy.ACCEPTED_OAEP_HASHES:
        raise DecryptionError
    if mgf_digest not in policy.ACCEPTED_OAEP_HASHES:
        raise DecryptionError
    return padding.OAEP(padding.MGF1(hash_by_name(mgf_digest)), hash_by_name(digest), label or None)


def _open(envelope: cms.EnvelopedData | cms.AuthEnvelopedData, key: bytes) -> bytes:
    try:
        if isinstance(envelope, cms.EnvelopedData):
            return _open_cbc(envelope["encrypted_content_info"], key)
        return _open_gcm(envelope, key)
    except (ValueError, TypeError, KeyError, InvalidTag) as exc:
        raise DecryptionError from exc


def _content_key_length(eci: cms.EncryptedContentInfo) -> int:
    return policy.ACCEPTED_CONTENT_CIPHERS[eci["content_encryption_algorithm"]["algorithm"].native][
        1
    ]


def _open_cbc(eci: cms.EncryptedContentInfo, key: bytes) -> bytes:
    iv = eci["content_encryption_algorithm"]["parameters"].native
    ciphertext = eci["encrypted_content"].native
    if len(key) != _content_key_length(eci) or not isinstance(iv, bytes) or ciphertext is None:
        raise DecryptionError
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = sym_padding.PKCS7(128).unpadder()
    return bytes(unpadder.update(padded) + unpadder.finalize())


def _open_gcm(envelope: cms.AuthEnvelopedData, key: bytes) -> bytes:
    eci = envelope["auth_encrypted_content_info"]
    params = GCMParameters.load(eci["content_encryption_algorithm"]["parameters"].dump())
    nonce, tag_length = params["aes_nonce"].native, params["aes_icvlen"].native
    tag = envelope["mac"].native
    ciphertext = eci["encrypted_content"].native
    if len(key) != _content_key_length(eci) or ciphertext is None or len(tag) != tag_length:
        raise DecryptionError
    if not policy.GCM_MIN_TAG_BYTES <= tag_length <= policy.GCM_TAG_BYTES:
        raise DecryptionError
    decryptor = Cipher(
        algorithms.AES(key), modes.GCM(nonce, tag, min_tag_length=policy.GCM_MIN_TAG_BYTES)
    ).decryptor()
    # RFC 5083 §2.2: the authenticated attributes, DER as a SET OF, are the AAD.
    if not isinstance(envelope["auth_attrs"], core.Void):
        decryptor.authenticate_additional_data(attributes_as_set(envelope["auth_attrs"]))
    return decryptor.update(ciphertext) + decryptor.finalize()
