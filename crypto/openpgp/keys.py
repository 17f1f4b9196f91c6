"""Making and loading OpenPGP keys (RFC 4880 §11.1, §11.2; Curve25519 per RFC 6637 and
draft-ietf-openpgp-rfc4880bis-10 §9.2).

A Salus mailbox key is an Ed25519 primary key that signs and certifies, with one Cv25519
(ECDH) subkey that encrypts. The secret is armored without a passphrase: the key store
seals it at rest; `export_secret` adds a passphrase for a mail client.

pgpy objects never leave this package: callers pass armored text, so every function runs
in a process pool.
"""

from __future__ import annotations

import copy
import warnings

import pgpy
from pgpy.constants import (
    CompressionAlgorithm,
    EllipticCurveOID,
    Features,
    HashAlgorithm,
    KeyFlags,
    PubKeyAlgorithm,
    SymmetricKeyAlgorithm,
)

from crypto import policy
from crypto.openpgp.armor import ArmorError, dearmor
from crypto.openpgp.errors import KeyFormatError

_SIGN_CERTIFY = frozenset({KeyFlags.Sign, KeyFlags.Certify})
_ENCRYPT = frozenset({KeyFlags.EncryptCommunications, KeyFlags.EncryptStorage})


def generate_key(address: str, name: str) -> tuple[str, str]:
    """A new mailbox key for `name <address>`: (armored secret, armored public)."""
    primary = pgpy.PGPKey.new(PubKeyAlgorithm.EdDSA, EllipticCurveOID[policy.OPENPGP_PRIMARY_CURVE])
    preferences = {
        "hashes": [HashAlgorithm[h] for h in policy.OPENPGP_HASHES],
        "ciphers": [SymmetricKeyAlgorithm[c] for c in policy.OPENPGP_CIPHERS],
        "compression": [CompressionAlgorithm[c] for c in policy.OPENPGP_COMPRESSION],
        # RFC 4880 §5.2.3.24: we read and write SEIPD with MDC only.
        "features": {Features.ModificationDetection},
    }
    primary.add_uid(pgpy.PGPUID.new(name, email=address), usage=set(_SIGN_CERTIFY), **preferences)
    subkey = pgpy.PGPKey.new(
        PubKeyAlgorithm.ECDH, EllipticCurveOID[policy.OPENPGP_ENCRYPTION_CURVE]
    )
    primary.add_subkey(subkey, usage=set(_ENCRYPT))
    return str(primary), str(primary.pubkey)


def export_secret(secret: str, passphrase: str) -> str:
    """The secret key protected with `passphrase` (iterated and salted S2K, RFC 4880
    §3.7.1.3), as armored text that `gpg --import` and mail clients read."""
    if not passphrase:
        raise ValueError("an exported secret key needs a passphrase")
    key = copy.copy(load_secret(secret))
    key.protect(
        passphrase,
        SymmetricKeyAlgorithm[policy.OPENPGP_EXPORT_CIPHER],
        HashAlgorithm[policy.OPENPGP_EXPORT_HASH],
    )
    return str(key)


def public_of(secret: str) -> str:
    """The armored public key (transferable public key) of an armored secret key."""
    return str(load_secret(secret).pubkey)


def fingerprint(armored: str) -> str:
    """The primary key fingerprint, 40 upper-case hex digits, of a public or secret key."""
    return _fingerprint_text(load_key(armored))


def load_key(armored: str) -> pgpy.PGPKey:
    """One transferable key (public or secret) from armored text; KeyFormatError if the
    text is not exactly one OpenPGP key."""
    try:
        data = dearmor(armored.encode("utf-8"), "PUBLIC KEY BLOCK", "PRIVATE KEY BLOCK")
    except ArmorError as exc:
        raise KeyFormatError("expected exactly one armored OpenPGP key") from exc
    try:
        with warnings.catch_warnings():
            # pgpy warns on orphaned packets; what it keeps is checked in key_status.
            warnings.simplefilter("ignore")
            key, keys = pgpy.PGPKey.from_blob(data)
    except Exception as exc:  # pgpy raises ValueError, PGPError, IndexError, KeyError…
        raise KeyFormatError("not an OpenPGP key") from exc
    # `keys` lists every primary key parsed, this one included.
    if not isinstance(key, pgpy.PGPKey) or len(keys) != 1:
        raise KeyFormatError("expected exactly one OpenPGP key")
    return key


def load_secret(armored: str) -> pgpy.PGPKey:
    """An unprotected secret key (the form the key store keeps)."""
    key = load_key(armored)
    if key.is_public:
        raise KeyFormatError("expected a secret key, got a public key")
    if key.is_protected:
        raise KeyFormatError("the secret key is passphrase-protected")
    return key


def _fingerprint_text(key: pgpy.PGPKey) -> str:
    return str(key.fingerprint).replace(" ", "")
