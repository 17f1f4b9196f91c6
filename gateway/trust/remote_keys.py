"""What a peer operator's certificate lookup says about one of its mailboxes (DESIGN 5.8).

The document answered to `GET /v1/mailboxes/{address}` (JSON, UTF-8):

    {"version": 1,
     "address": "doctor.2@b.test",
     "crypto": "smime" | "smime-gcm" | "openpgp",       the mailbox's preferred form
     "certificate_chain": "-----BEGIN CERTIFICATE-----…", leaf first, then its CA(s)
     "openpgp_public_key": "-----BEGIN PGP PUBLIC KEY BLOCK-----…"}

Pure: `render` and `parse` the document, `check` the keys before anything is encrypted
to them (the leaf chains to the peer domain's CA, is for e-mail protection, names the
address and is not revoked by the peer's CRL; the OpenPGP key is usable and certified
for the address when it is the one asked for). Errors say whether the sender should
give up (no such key) or retry later.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from crypto import openpgp
from crypto.errors import CertificateRefused
from crypto.openpgp import KeyFormatError
from crypto.validation import Usage, validate

VERSION = 1
# The lookup's one route: GET PATH_PREFIX + the address (percent-encoded, "@" kept).
PATH_PREFIX = "/v1/mailboxes/"
FORMS = ("smime", "smime-gcm", "openpgp")
MAX_DOCUMENT_BYTES = 64 * 1024


class KeyLookupFailed(Exception):
    """No key for a remote recipient; `reply` is what the SMTP client hears at RCPT."""

    code = 550
    status = "5.1.1"

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(reason)
        self.address = address
        self.reason = reason

    @property
    def temporary(self) -> bool:
        return self.code < 500

    def reply(self) -> str:
        return f"{self.code} {self.status} <{self.address}>: {self.reason}"


class NoPublishedKey(KeyLookupFailed):
    """The peer operator publishes no key for the address (unknown, suspended or keyless
    mailbox: the peer does not say which)."""


class KeyRefused(KeyLookupFailed):
    """The peer published a key we must not encrypt to (wrong CA, expired, not for the
    address, malformed document)."""

    status = "5.7.1"


class LookupUnavailable(KeyLookupFailed):
    """The peer's lookup could not be reached or verified now; try again later."""

    code = 451
    status = "4.4.3"


@dataclass(frozen=True, slots=True)
class RemoteKeys:
    """A remote mailbox's published keys and preferred form (a plain value: it crosses
    the process pool and sits in the sender's cache)."""

    address: str
    crypto: str
    certificate_chain_pem: bytes  # leaf first
    openpgp_public: str

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]

    @property
    def certificate_pem(self) -> bytes:
        """The leaf alone: what the S/MIME envelope is made for."""
        leaf = x509.load_pem_x509_certificates(self.certificate_chain_pem)[0]
        return leaf.public_bytes(serialization.Encoding.PEM)


def render(keys: RemoteKeys) -> bytes:
    return json.dumps(
        {
            "version": VERSION,
            "address": keys.address,
            "crypto": keys.crypto,
            "certificate_chain": keys.certificate_chain_pem.decode("ascii"),
            "openpgp_public_key": keys.openpgp_public,
        },
        sort_keys=True,
    ).encode("utf-8")


def parse(body: bytes, address: str) -> RemoteKeys:
    """The document answered for `address`; KeyRefused when it is not one."""
    if len(body) > MAX_DOCUMENT_BYTES:
        raise KeyRefused(address, "the peer's key document is too large")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise KeyRefused(address, "the peer's key document is not JSON") from None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise KeyRefused(address, f"the peer's key document is not version {VERSION}")
    fields = {
        name: _text(data, name, address)
        for name in ("address", "crypto", "certificate_chain", "openpgp_public_key")
    }
    if fields["address"].lower() != address.lower():
        raise KeyRefused(address, "the peer answered for another address")
    if fields["crypto"] not in FORMS:
        raise KeyRefused(address, f"the peer asks for an unknown form {fields['crypto'][:20]!r}")
    return RemoteKeys(
        address=address.lower(),
        crypto=fields["crypto"],
        certificate_chain_pem=fields["certificate_chain"].encode("ascii", "replace"),
        openpgp_public=fields["openpgp_public_key"],
    )


def _text(data: dict[str, Any], name: str, address: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise KeyRefused(address, f"the peer's key document has no {name}")
    return value


def check(
    keys: RemoteKeys,
    anchors: Sequence[x509.Certificate],
    at: dt.datetime,
    crls: Sequence[x509.CertificateRevocationList] = (),
) -> None:
    """Refuse keys we must not encrypt to: the S/MIME certificate always (the peer's MX
    verifies signatures with the same CA; `crls`, the peer's, must not revoke it), the
    OpenPGP key when it is the preferred form."""
    try:
        chain = x509.load_pem_x509_certificates(keys.certificate_chain_pem)
    except ValueError:
        raise KeyRefused(keys.address, "the peer's certificate chain cannot be read") from None
    try:
        validate(
            chain[0],
            anchors=anchors,
            intermediates=chain[1:],
            at=at,
            usage=Usage.ENCRYPT,
            address=keys.address,
            crls=crls,
        )
    except CertificateRefused as exc:
        raise KeyRefused(
            keys.address, f"the certificate published by {keys.domain} is refused: {exc.detail}"
        ) from None
    if keys.crypto == "openpgp":
        _check_openpgp(keys, at)


def _check_openpgp(keys: RemoteKeys, at: dt.datetime) -> None:
    try:
        status = openpgp.check_key(keys.openpgp_public, at)
    except KeyFormatError:
        raise KeyRefused(keys.address, "the peer's OpenPGP key cannot be read") from None
    problem = status.refusal("encrypt")
    if problem is not None:
        raise KeyRefused(keys.address, f"the peer's OpenPGP key is refused ({problem.value})")
    if keys.address not in status.addresses:
        raise KeyRefused(keys.address, "the peer's OpenPGP key is not certified for the address")
