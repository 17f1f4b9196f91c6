"""A peer operator's CRL, as its certificate lookup publishes it (`GET /v1/crl`).

Every operator of the trust space publishes the CRL of its issuing CA on its lookup
listener (PEM, kept current by its CRL refresh service). Before we judge a peer's
certificates with it (the signatures its mailboxes make, the certificates its lookup
publishes), `check` makes sure it is one CRL, signed by a CA registered for the peer's
domain (the anchors of its trust list entry), and current: issued no later than now
(give or take `CLOCK_SKEW`) and not past its nextUpdate. A CRL failing any check is
refused and never used. `crypto.validation` applies whatever CRL it is given without
looking at its dates, so currency is decided here, where the CRL comes in.

Pure: `check` takes the PEM, the domain's anchors and the time. Errors say what the
caller needs: `CrlRefused` (this CRL must not be used), `RevocationUnknown` (no current
CRL of the domain can be had: certificates of that domain cannot be judged now).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from crypto.validation import crl_signed_by, load_crls

# The lookup's route for the operator's CRL.
PATH = "/v1/crl"
MEDIA_TYPE = "application/x-pem-file"
# A CRL of 1 MiB (PEM) lists some 20,000 serials: far more than one operator revokes
# within a CRL's lifetime.
MAX_BYTES = 1024 * 1024
CLOCK_SKEW = dt.timedelta(minutes=5)
_MARKER = b"-----BEGIN X509 CRL-----"


class CrlRefused(Exception):
    """A peer's CRL that must not be used; the text says why (names and dates only)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RevocationUnknown(Exception):
    """No current CRL of `domain` can be had now: its certificates cannot be judged (a
    temporary condition: the peer's lookup is down, or answered with a refused CRL)."""

    def __init__(self, domain: str, reason: str) -> None:
        super().__init__(reason)
        self.domain = domain
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PeerCrl:
    """A checked CRL of one peer domain (a plain value: it crosses the process pool)."""

    domain: str
    pem: bytes
    number: int
    next_update: dt.datetime
    issuer_key: str  # SHA-256 of the signing CA's public key: numbers count per issuer

    def load(self) -> x509.CertificateRevocationList:
        return x509.load_pem_x509_crl(self.pem)


def check(domain: str, pem: bytes, anchors: Sequence[x509.Certificate], at: dt.datetime) -> PeerCrl:
    """`pem` as a CRL of `domain` we may use at `at`; CrlRefused when it is not one."""
    if len(pem) > MAX_BYTES:
        raise CrlRefused(f"the CRL of {domain} is too large")
    try:
        crls = load_crls([pem]) if pem.count(_MARKER) == 1 else []
    except ValueError:
        crls = []
    if len(crls) != 1:
        raise CrlRefused(f"the CRL of {domain} cannot be read as one PEM CRL")
    crl = crls[0]
    # Every anchor of that name is tried: a CA re-keyed during a rotation keeps its name.
    named = [a for a in anchors if a.subject == crl.issuer]
    issuer = next((a for a in named if crl_signed_by(crl, a)), None)
    if issuer is None:  # the issuer's name is the peer's text: not repeated in replies
        raise CrlRefused(f"the CRL of {domain} is not signed by the CA registered for {domain}")
    _check_crl_sign(issuer, domain)
    next_update = crl.next_update_utc
    if crl.last_update_utc > at + CLOCK_SKEW:
        raise CrlRefused(
            f"the CRL of {domain} is not valid before {crl.last_update_utc:%Y-%m-%d %H:%M} UTC"
        )
    if next_update is None or next_update <= at:
        raise CrlRefused(f"the CRL of {domain} is out of date (no current next update)")
    try:
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        raise CrlRefused(f"the CRL of {domain} has no CRL number") from None
    return PeerCrl(domain, pem, number, next_update, _key_id(issuer))


def _key_id(ca: x509.Certificate) -> str:
    spki = ca.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def _check_crl_sign(issuer: x509.Certificate, domain: str) -> None:
    """RFC 5280 §4.2.1.3: a CA whose key usage lacks cRLSign does not sign CRLs."""
    try:
        usage = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.crl_sign:
        raise CrlRefused(f"the CA that signed the CRL of {domain} may not sign CRLs")
