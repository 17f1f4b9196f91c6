"""Verifying a signed MIME entity: multipart/signed (RFC 8551 §3.5.3, RFC 1847) or
opaque application/pkcs7-mime signed-data (RFC 8551 §3.5.2).

The result says what a reader needs: the signed content (exactly the bytes covered),
who signed it (certificate, addresses) and a status with a reason:

- `valid`: the signature covers the whole entity, verifies, and its certificate chains
  to an anchor and passes `crypto.validation` (and belongs to `sender` when given);
- `invalid`: the signature is malformed, altered, spoofed (no signer, two signers, a part
  outside the signature) or uses a refused algorithm;
- `untrusted`: the signature verifies, but its certificate is refused (path, validity,
  revocation, usage, address, key or hash policy);
- `unsigned`: nothing, or only a nested part, is signed.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from crypto.errors import CertificateRefused, KeyMaterialError, Reason, SignatureError
from crypto.smime import mime, signed_data
from crypto.validation import Usage, email_addresses, load_certificates, load_crls, validate


class SignatureStatus(enum.StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    UNTRUSTED = "untrusted"
    UNSIGNED = "unsigned"


@dataclass(frozen=True, slots=True)
class SignatureResult:
    """What `verify` found (plain bytes and strings: it crosses the process pool)."""

    status: SignatureStatus
    reason: Reason | None
    detail: str
    content: bytes  # the signed entity (or, when unsigned, the entity itself)
    signer_cert_der: bytes | None = None
    signer_addresses: tuple[str, ...] = ()
    signing_time: dt.datetime | None = None

    @property
    def valid(self) -> bool:
        return self.status is SignatureStatus.VALID

    @property
    def signer_cert(self) -> x509.Certificate | None:
        return (
            None
            if self.signer_cert_der is None
            else x509.load_der_x509_certificate(self.signer_cert_der)
        )

    def require_valid(self) -> bytes:
        """The signed content, or SignatureError with the reason."""
        if not self.valid:
            raise SignatureError(self.reason or Reason.NOT_SIGNED, self.detail)
        return self.content


def verify(
    entity: bytes,
    anchors_pem: Sequence[bytes],
    at: dt.datetime,
    crl: Sequence[bytes] = (),
    *,
    sender: str | None = None,
) -> SignatureResult:
    """Check the signature of `entity` at time `at` against the trust anchors (PEM or
    DER certificates) and CRLs (PEM or DER). With `sender`, the signer's certificate must
    be for that address (the message's From: RFC 8551 §3.5.5 spoofing)."""
    try:
        part = mime.parse(entity)
    except mime.MimeError:
        return _refused(
            SignatureStatus.INVALID, Reason.MALFORMED, "the message is not MIME", entity
        )
    try:
        der, detached = _signature_of(part)
    except SignatureError as exc:
        status = (
            SignatureStatus.UNSIGNED
            if exc.reason in (Reason.NOT_SIGNED, Reason.PARTIALLY_SIGNED)
            else SignatureStatus.INVALID
        )
        return _refused(status, exc.reason, exc.detail, entity)
    try:
        checked = signed_data.check(der, detached)
    except SignatureError as exc:
        return _refused(SignatureStatus.INVALID, exc.reason, exc.detail, detached or entity)
    signer_der = checked.signer.public_bytes(serialization.Encoding.DER)
    addresses = email_addresses(checked.signer)
    anchors, crls = _trust(anchors_pem, crl)
    try:
        validate(
            checked.signer,
            anchors=anchors,
            intermediates=[c for c in checked.certificates if c != checked.signer],
            at=at,
            usage=Usage.SIGN,
            address=sender,
            crls=crls,
        )
    except CertificateRefused as exc:
        return SignatureResult(
            SignatureStatus.UNTRUSTED,
            exc.reason,
            exc.detail,
            checked.content,
            signer_der,
            addresses,
            checked.signing_time,
        )
    who = addresses[0] if addresses else checked.signer.subject.rfc4514_string()
    return SignatureResult(
        SignatureStatus.VALID,
        None,
        f"signed by {who}",
        checked.content,
        signer_der,
        addresses,
        checked.signing_time,
    )


def _trust(
    anchors_pem: Sequence[bytes], crl: Sequence[bytes]
) -> tuple[list[x509.Certificate], list[x509.CertificateRevocationList]]:
    """The caller's trust anchors and CRLs; unreadable ones are the caller's error."""
    try:
        return load_certificates(anchors_pem), load_crls(crl)
    except ValueError as exc:
        raise KeyMaterialError("a trust anchor or CRL given to verify cannot be read") from exc


def _refused(
    status: SignatureStatus, reason: Reason, detail: str, content: bytes
) -> SignatureResult:
    return SignatureResult(status, reason, detail, content)


def _signature_of(part: mime.Entity) -> tuple[bytes, bytes | None]:
    """(SignedData DER, detached content or None) of a signed entity."""
    ctype = part.content_type
    if ctype == "multipart/signed":
        return _multipart_signed(part)
    if ctype in mime.PKCS7_MIME:
        smime_type = (part.param("smime-type") or "signed-data").lower()
        if smime_type != "signed-data":
            raise SignatureError(
                Reason.NOT_SIGNED, f"the message is {smime_type}, not signed: decrypt it first"
            )
        return _decoded(part), None
    if mime.contains_signed_part(part):
        raise SignatureError(Reason.PARTIALLY_SIGNED, "only a part of the message is signed")
    raise SignatureError(Reason.NOT_SIGNED, "the message is not signed")


def _multipart_signed(part: mime.Entity) -> tuple[bytes, bytes]:
    protocol = (part.param("protocol") or "").lower()
    boundary = part.param("boundary")
    if protocol not in mime.PKCS7_SIGNATURE or not boundary:
        raise SignatureError(
            Reason.MALFORMED, "multipart/signed without the S/MIME protocol or a boundary"
        )
    body = mime.split_multipart(part.body, boundary)
    if len(body.parts) > 2 or body.epilogue.strip():
        raise SignatureError(
            Reason.UNSIGNED_PART, "the signed message carries a part outside its signature"
        )
    if len(body.parts) < 2 or not body.closed:
        raise SignatureError(
            Reason.MALFORMED, "multipart/signed needs exactly two parts and a closing boundary"
        )
    content, signature = body.parts
    try:
        sig_part = mime.parse(signature)
    except mime.MimeError as exc:
        raise SignatureError(Reason.MALFORMED, "the signature part is not MIME") from exc
    if sig_part.content_type not in mime.PKCS7_SIGNATURE:
        raise SignatureError(
            Reason.MALFORMED, "the second part of multipart/signed is not a signature"
        )
    return _decoded(sig_part), mime.to_crlf(content)


def _decoded(part: mime.Entity) -> bytes:
    try:
        return part.decoded_body()
    except mime.MimeError as exc:
        raise SignatureError(Reason.MALFORMED, "the signature does not decode") from exc
