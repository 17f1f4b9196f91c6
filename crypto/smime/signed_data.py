"""Checking a CMS SignedData (RFC 5652 §5): `cryptography` has no public CMS verify, so
the structure is read with asn1crypto and the signature checked with `cryptography`.

One signer exactly (a second signer is a spoofing vector: which one would the reader
believe?). The digest algorithm must be in the policy; with signed attributes, the
content-type attribute must match, the message-digest attribute must equal the hash of
the content, and the signature covers the DER SET OF the attributes (§5.4); without
them, it covers the content. RSASSA-PKCS1-v1_5, RSASSA-PSS (RFC 4056), ECDSA and Ed25519.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass

from asn1crypto import algos, cms, core
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from crypto import policy
from crypto.errors import Reason, SignatureError
from crypto.smime.asn1 import attributes_as_set, hash_by_name, identifies


@dataclass(frozen=True, slots=True)
class CheckedSignature:
    """A signature that verifies: over what content, by which certificate."""

    content: bytes
    signer: x509.Certificate
    certificates: tuple[x509.Certificate, ...]
    signing_time: dt.datetime | None


def check(der: bytes, detached: bytes | None) -> CheckedSignature:
    """Verify a SignedData over `detached` content, or over its encapsulated content
    when `detached` is None; SignatureError with the reason otherwise."""
    signed = _signed_data(der)
    try:
        infos = list(signed["signer_infos"])
        certs = _certificates(signed)
        encap = signed["encap_content_info"]
        econtent = None if isinstance(encap["content"], core.Void) else encap["content"].native
        content_type = encap["content_type"].dotted
    except (ValueError, TypeError, KeyError) as exc:
        raise SignatureError(Reason.MALFORMED, "the signature structure cannot be read") from exc
    if not infos:
        raise SignatureError(Reason.NO_SIGNER, "the signature has no signer")
    if len(infos) > 1:
        raise SignatureError(
            Reason.MULTIPLE_SIGNERS,
            f"the message has {len(infos)} signers; Salus accepts exactly one",
        )
    content = _content(econtent, detached)
    try:
        return _check_signer(infos[0], certs, content, content_type)
    except (ValueError, TypeError, KeyError) as exc:
        raise SignatureError(Reason.MALFORMED, "the signer information cannot be read") from exc


def _signed_data(der: bytes) -> cms.SignedData:
    try:
        info = cms.ContentInfo.load(der)
        if info["content_type"].native != "signed_data":
            raise SignatureError(Reason.MALFORMED, "the signature is not a CMS SignedData")
        signed = info["content"]
    except (ValueError, TypeError, KeyError) as exc:
        raise SignatureError(Reason.MALFORMED, "the signature is not valid DER") from exc
    return signed


def _certificates(signed: cms.SignedData) -> tuple[x509.Certificate, ...]:
    certs = signed["certificates"]
    if isinstance(certs, core.Void):
        return ()
    return tuple(
        x509.load_der_x509_certificate(c.chosen.dump()) for c in certs if c.name == "certificate"
    )


def _content(econtent: bytes | None, detached: bytes | None) -> bytes:
    if detached is not None:
        if econtent is not None:
            raise SignatureError(Reason.MALFORMED, "a detached signature also carries content")
        return detached
    if econtent is None:
        raise SignatureError(Reason.MALFORMED, "the signed data carries no content")
    return econtent


def _check_signer(
    info: cms.SignerInfo, certs: tuple[x509.Certificate, ...], content: bytes, content_type: str
) -> CheckedSignature:
    digest_name = info["digest_algorithm"]["algorithm"].native
    _check_digest_name(digest_name)
    signer = next((c for c in certs if identifies(info["sid"], c)), None)
    if signer is None:
        raise SignatureError(
            Reason.SIGNER_CERTIFICATE_MISSING, "the signer's certificate is not in the message"
        )
    digest = hash_by_name(digest_name)
    attrs = info["signed_attrs"]
    signing_time = None
    if isinstance(attrs, core.Void):
        signed_bytes = content
    else:
        values = {a["type"].native: a["values"] for a in attrs}
        if "message_digest" not in values or "content_type" not in values:
            raise SignatureError(
                Reason.MALFORMED, "the signed attributes lack the message digest or content type"
            )
        if values["content_type"][0].dotted != content_type:
            raise SignatureError(
                Reason.CONTENT_ALTERED, "the signed content type does not match the content"
            )
        hasher = hashes.Hash(digest)
        hasher.update(content)
        if not hmac.compare_digest(hasher.finalize(), values["message_digest"][0].native):
            raise SignatureError(
                Reason.CONTENT_ALTERED,
                "the content does not match its signature (altered after signing)",
            )
        if "signing_time" in values:
            signing_time = values["signing_time"][0].native
        signed_bytes = attributes_as_set(attrs)
    _verify(signer, info["signature_algorithm"], info["signature"].native, signed_bytes, digest)
    return CheckedSignature(content, signer, certs, signing_time)


def _check_digest_name(name: str) -> None:
    if name in policy.REFUSED_HASHES:
        raise SignatureError(
            Reason.WEAK_DIGEST,
            f"the message is signed with {name.upper()}, which the policy refuses",
        )
    if name not in policy.ACCEPTED_SIGNATURE_HASHES:
        raise SignatureError(
            Reason.UNSUPPORTED_ALGORITHM,
            f"the message is signed with digest {name}, which Salus does not accept",
        )


def _verify(
    signer: x509.Certificate,
    algorithm: algos.SignedDigestAlgorithm,
    signature: bytes,
    data: bytes,
    digest: hashes.HashAlgorithm,
) -> None:
    kind = algorithm.signature_algo
    key = signer.public_key()
    try:
        if kind == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), _hash_of(algorithm, digest))
        elif kind == "rsassa_pss" and isinstance(key, rsa.RSAPublicKey):
            key.verify(
                signature, data, _pss(algorithm["parameters"]), _pss_hash(algorithm["parameters"])
            )
        elif kind == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(_hash_of(algorithm, digest)))
        elif kind == "ed25519" and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            raise SignatureError(
                Reason.UNSUPPORTED_ALGORITHM,
                f"signature algorithm {algorithm['algorithm'].native} with this key is not supported",
            )
    except InvalidSignature as exc:
        raise SignatureError(
            Reason.BAD_SIGNATURE, "the signature does not verify with the signer's certificate"
        ) from exc


def _hash_of(
    algorithm: algos.SignedDigestAlgorithm, digest: hashes.HashAlgorithm
) -> hashes.HashAlgorithm:
    """The hash named by a combined OID (sha256WithRSAEncryption) or else the digest
    algorithm (rsaEncryption, id-ecPublicKey used as signature OIDs)."""
    try:
        name = algorithm.hash_algo
    except ValueError:
        return digest
    _check_digest_name(name)
    return hash_by_name(name)


def _pss_hash(params: algos.RSASSAPSSParams) -> hashes.HashAlgorithm:
    name = params["hash_algorithm"]["algorithm"].native
    _check_digest_name(name)
    return hash_by_name(name)


def _pss(params: algos.RSASSAPSSParams) -> padding.PSS:
    mgf = params["mask_gen_algorithm"]
    mgf_hash = mgf["parameters"]["algorithm"].native
    if mgf["algorithm"].native != "mgf1":
        raise SignatureError(
            Reason.UNSUPPORTED_ALGORITHM, "RSASSA-PSS with a mask generation other than MGF1"
        )
    _check_digest_name(mgf_hash)
    return padding.PSS(
        mgf=padding.MGF1(hash_by_name(mgf_hash)), salt_length=params["salt_length"].native
    )
