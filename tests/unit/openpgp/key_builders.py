"""OpenPGP keys in the states a test needs (expired, revoked, tampered…), made with
pgpy directly so that unit and security tests do not depend on the gpg binary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pgpy
from pgpy.constants import (
    EllipticCurveOID,
    HashAlgorithm,
    KeyFlags,
    PubKeyAlgorithm,
    SignatureType,
    SymmetricKeyAlgorithm,
)

from crypto.openpgp.armor import armor

SIGN = {KeyFlags.Sign, KeyFlags.Certify}
ENCRYPT = {KeyFlags.EncryptCommunications, KeyFlags.EncryptStorage}


def build_key(
    address: str,
    name: str,
    *,
    created: datetime | None = None,
    expires: timedelta | None = None,
    subkey_expires: timedelta | None = None,
    primary_flags: set[KeyFlags] | None = None,
    with_encryption_subkey: bool = True,
    algorithm: tuple[PubKeyAlgorithm, object] = (PubKeyAlgorithm.EdDSA, EllipticCurveOID.Ed25519),
    self_signature_hash: HashAlgorithm = HashAlgorithm.SHA256,
    ciphers: tuple[SymmetricKeyAlgorithm, ...] = (SymmetricKeyAlgorithm.AES256,),
) -> pgpy.PGPKey:
    """A secret key like generate_key's, with the variations asked for."""
    created = created or datetime.now(UTC) - timedelta(minutes=1)
    key = pgpy.PGPKey.new(*algorithm, created=created)
    prefs: dict[str, object] = {
        "usage": primary_flags if primary_flags is not None else SIGN,
        "hashes": [HashAlgorithm.SHA256],
        "ciphers": list(ciphers),
        "hash": self_signature_hash,
        "created": created,
    }
    if expires is not None:
        prefs["key_expiration"] = expires
    key.add_uid(pgpy.PGPUID.new(name, email=address), **prefs)
    if with_encryption_subkey:
        subkey = pgpy.PGPKey.new(PubKeyAlgorithm.ECDH, EllipticCurveOID.Curve25519, created=created)
        key.add_subkey(subkey, usage=ENCRYPT, created=created)
        if subkey_expires is not None:
            _rebind_with_expiry(key, subkey, created + timedelta(seconds=1), subkey_expires)
    return key


def _rebind_with_expiry(
    key: pgpy.PGPKey, subkey: pgpy.PGPKey, created: datetime, lifetime: timedelta
) -> None:
    """A newer binding signature with a key expiration time (pgpy's bind() cannot)."""
    sig = pgpy.PGPSignature.new(
        SignatureType.Subkey_Binding,
        key.key_algorithm,
        HashAlgorithm.SHA256,
        key.fingerprint.keyid,
        created=created,
    )
    sig._signature.subpackets.addnew("KeyFlags", hashed=True, flags=ENCRYPT)
    sig._signature.subpackets.addnew("KeyExpirationTime", hashed=True, expires=lifetime)
    subkey |= key._sign(subkey, sig)


def armored(key: pgpy.PGPKey) -> tuple[str, str]:
    """(armored secret, armored public)."""
    return str(key), str(key.pubkey)


def revoke(key: pgpy.PGPKey) -> str:
    """The armored public key with a key revocation signature (RFC 4880 §5.2.1 0x20)."""
    key |= key.revoke(key)
    return str(key.pubkey)


def revoke_subkeys(key: pgpy.PGPKey) -> str:
    """The armored public key with every subkey revoked (0x28)."""
    for subkey in key.subkeys.values():
        subkey.__or__(key.revoke(subkey))
    return str(key.pubkey)


def with_altered_user_id(public: str, old: bytes, new: bytes) -> str:
    """The public key with its user id bytes changed after signing: the
    self-certification no longer holds (same length, so the framing stays valid)."""
    assert len(old) == len(new)
    data = bytes(pgpy.PGPKey.from_blob(public)[0])
    assert data.count(old) == 1
    return armor("PUBLIC KEY BLOCK", data.replace(old, new))
