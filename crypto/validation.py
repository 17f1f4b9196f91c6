"""Certificate validation for S/MIME signers and recipients (RFC 5280 §6, RFC 8550 §4).

Our own path check rather than `cryptography.x509.verification`, because each refusal
must carry its own reason (`crypto.errors.Reason`) and CRLs must be checked, which that
module does not do (PITFALLS). The clock is a parameter (`at`): tests pin it, the
pipeline passes now.

Checks, in this order (the first failure is the reason given):
1. the end-entity certificate: key strength (RSA >= 2048, named curves), signature hash
   (no SHA-1/MD5), not self-signed, validity at `at`, key usage (RFC 8550 §4.4.2:
   digitalSignature or nonRepudiation to sign, keyEncipherment to encrypt), extended key
   usage (RFC 8550 §4.4.4: when present, emailProtection or anyExtendedKeyUsage), the
   address as rfc822Name or emailAddress (RFC 8550 §3);
2. the path to a trust anchor through the given intermediates: each issuer verifies the
   signature below it, is a CA (basicConstraints, keyCertSign, pathLenConstraint), is
   valid at `at`, has a strong key and (unless it is the anchor) a strong signature hash;
3. revocation: each certificate below the anchor is looked up in the CRLs its issuer
   signed. A certificate whose issuer published no CRL to us is not refused for that.
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crypto import policy
from crypto.errors import CertificateRefused, Reason


class Usage(enum.StrEnum):
    SIGN = "sign"
    ENCRYPT = "encrypt"


def load_certificates(blobs: Iterable[bytes]) -> list[x509.Certificate]:
    """Certificates from PEM bundles or single DER certificates."""
    certs: list[x509.Certificate] = []
    for blob in blobs:
        if b"-----BEGIN" in blob:
            certs.extend(x509.load_pem_x509_certificates(blob))
        else:
            certs.append(x509.load_der_x509_certificate(blob))
    return certs


def load_crls(blobs: Iterable[bytes]) -> list[x509.CertificateRevocationList]:
    """CRLs from PEM (one or several per blob) or DER."""
    crls: list[x509.CertificateRevocationList] = []
    marker = b"-----BEGIN X509 CRL-----"
    for blob in blobs:
        if marker not in blob:
            crls.append(x509.load_der_x509_crl(blob))
            continue
        for chunk in blob.split(marker)[1:]:
            crls.append(x509.load_pem_x509_crl(marker + chunk))
    return crls


def email_addresses(cert: x509.Certificate) -> tuple[str, ...]:
    """The certificate's addresses, lower case: rfc822Name SANs, then emailAddress."""
    found: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        found.extend(name.lower() for name in san.get_values_for_type(x509.RFC822Name))
    except x509.ExtensionNotFound:
        pass
    for attr in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS):
        value = attr.value if isinstance(attr.value, str) else attr.value.decode("ascii", "replace")
        if value.lower() not in found:
            found.append(value.lower())
    return tuple(found)


def check_key(cert: x509.Certificate, role: str) -> None:
    """Refuse keys below the policy (RSA < 2048 bits, unnamed or small curves)."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < policy.MIN_RSA_BITS:
            raise CertificateRefused(
                Reason.WEAK_KEY,
                f"the {role} certificate has a {key.key_size}-bit RSA key (policy: {policy.MIN_RSA_BITS} or more)",
            )
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in policy.ACCEPTED_EC_CURVES:
            raise CertificateRefused(
                Reason.WEAK_KEY,
                f"the {role} certificate uses curve {key.curve.name}, which the policy refuses",
            )
    elif not isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        raise CertificateRefused(
            Reason.WEAK_KEY, f"the {role} certificate has a key type the policy refuses"
        )


def check_signature_hash(cert: x509.Certificate, role: str) -> None:
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        raise CertificateRefused(
            Reason.WEAK_CERTIFICATE_SIGNATURE,
            f"the {role} certificate is signed with an algorithm the policy does not know",
        ) from None
    name = "none" if algorithm is None else algorithm.name
    if algorithm is not None and name in policy.REFUSED_HASHES:
        raise CertificateRefused(
            Reason.WEAK_CERTIFICATE_SIGNATURE,
            f"the {role} certificate is signed with {name.upper()}, which the policy refuses",
        )


def check_validity(cert: x509.Certificate, at: dt.datetime, role: str) -> None:
    if at < cert.not_valid_before_utc:
        raise CertificateRefused(
            Reason.NOT_YET_VALID,
            f"the {role} certificate is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
        )
    if at > cert.not_valid_after_utc:
        raise CertificateRefused(
            Reason.EXPIRED,
            f"the {role} certificate expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
        )


def _extension(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def check_usage(cert: x509.Certificate, usage: Usage) -> None:
    """Key usage and extended key usage for S/MIME (RFC 8550 §4.4.2, §4.4.4)."""
    ku = _extension(cert, x509.KeyUsage)
    if isinstance(ku, x509.KeyUsage):
        allowed = (
            (ku.digital_signature or ku.content_commitment)
            if usage is Usage.SIGN
            else ku.key_encipherment
        )
        if not allowed:
            needed = "digitalSignature" if usage is Usage.SIGN else "keyEncipherment"
            raise CertificateRefused(
                Reason.KEY_USAGE, f"the certificate's key usage does not allow {needed}"
            )
    eku = _extension(cert, x509.ExtendedKeyUsage)
    if isinstance(eku, x509.ExtendedKeyUsage):
        purposes = set(eku)
        if not purposes & {
            ExtendedKeyUsageOID.EMAIL_PROTECTION,
            ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
        }:
            raise CertificateRefused(
                Reason.EXTENDED_KEY_USAGE,
                "the certificate is not for e-mail protection (extended key usage)",
            )


def check_address(cert: x509.Certificate, address: str) -> None:
    if address.strip().lower() not in email_addresses(cert):
        raise CertificateRefused(
            Reason.ADDRESS_MISMATCH, f"the certificate is not for {address.strip().lower()}"
        )


def _is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    return _issued_by(cert, cert)


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def validate(
    cert: x509.Certificate,
    *,
    anchors: Sequence[x509.Certificate],
    at: dt.datetime,
    usage: Usage,
    intermediates: Sequence[x509.Certificate] = (),
    address: str | None = None,
    crls: Sequence[x509.CertificateRevocationList] = (),
) -> list[x509.Certificate]:
    """The path from `cert` to one of `anchors` (leaf first), or CertificateRefused with
    the reason of the first failed check."""
    check_key(cert, "end-entity")
    check_signature_hash(cert, "end-entity")
    if _is_self_signed(cert):
        raise CertificateRefused(Reason.SELF_SIGNED, "the certificate is self-signed")
    check_validity(cert, at, "end-entity")
    check_usage(cert, usage)
    if address is not None:
        check_address(cert, address)
    path = _build_path(cert, anchors, intermediates, at)
    _check_revocation(path, crls, at)
    return path


def _build_path(
    leaf: x509.Certificate,
    anchors: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate],
    at: dt.datetime,
) -> list[x509.Certificate]:
    anchor_ders = {a.public_bytes(serialization.Encoding.DER) for a in anchors}
    path = [leaf]
    while len(path) < policy.MAX_PATH_LENGTH:
        current = path[-1]
        issuer = _find_issuer(current, anchors) or _find_issuer(
            current, [c for c in intermediates if c not in path]
        )
        if issuer is None:
            raise CertificateRefused(
                Reason.UNKNOWN_ROOT,
                f"no trusted CA issued the certificate (issuer {current.issuer.rfc4514_string()})",
            )
        is_anchor = issuer.public_bytes(serialization.Encoding.DER) in anchor_ders
        _check_issuer(issuer, path, at, is_anchor)
        path.append(issuer)
        if is_anchor:
            return path
    raise CertificateRefused(
        Reason.UNKNOWN_ROOT, "the certificate path to a trusted CA is too long"
    )


def _find_issuer(
    cert: x509.Certificate, candidates: Iterable[x509.Certificate]
) -> x509.Certificate | None:
    for candidate in candidates:
        if candidate.subject == cert.issuer and _issued_by(cert, candidate):
            return candidate
    return None


def _check_issuer(
    issuer: x509.Certificate, below: list[x509.Certificate], at: dt.datetime, is_anchor: bool
) -> None:
    role = "trust anchor" if is_anchor else "issuing CA"
    check_key(issuer, role)
    if not is_anchor:
        check_signature_hash(issuer, role)
    check_validity(issuer, at, role)
    constraints = _extension(issuer, x509.BasicConstraints)
    if not isinstance(constraints, x509.BasicConstraints) or not constraints.ca:
        raise CertificateRefused(
            Reason.ISSUER_NOT_CA, f"the {role} {issuer.subject.rfc4514_string()} is not a CA"
        )
    ku = _extension(issuer, x509.KeyUsage)
    if isinstance(ku, x509.KeyUsage) and not ku.key_cert_sign:
        raise CertificateRefused(
            Reason.ISSUER_NOT_CA,
            f"the {role} {issuer.subject.rfc4514_string()} may not sign certificates",
        )
    # RFC 5280 §4.2.1.9: pathLenConstraint counts the CA certificates below this one.
    if constraints.path_length is not None and len(below) - 1 > constraints.path_length:
        raise CertificateRefused(
            Reason.ISSUER_NOT_CA,
            f"the path under {issuer.subject.rfc4514_string()} is longer than it allows",
        )


def _check_revocation(
    path: list[x509.Certificate], crls: Sequence[x509.CertificateRevocationList], at: dt.datetime
) -> None:
    for cert, issuer in itertools.pairwise(path):
        for crl in crls:
            if crl.issuer != issuer.subject or not crl_signed_by(crl, issuer):
                continue
            entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if entry is not None and entry.revocation_date_utc <= at:
                role = "end-entity" if cert is path[0] else "issuing CA"
                raise CertificateRefused(
                    Reason.REVOKED,
                    f"the {role} certificate was revoked on {entry.revocation_date_utc:%Y-%m-%d %H:%M} UTC",
                )


def crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    """True when `issuer`'s key made `crl`'s signature."""
    public = issuer.public_key()
    if not isinstance(
        public,
        rsa.RSAPublicKey
        | ec.EllipticCurvePublicKey
        | ed25519.Ed25519PublicKey
        | ed448.Ed448PublicKey,
    ):
        return False
    try:
        return crl.is_signature_valid(public)
    except (ValueError, TypeError):
        return False
