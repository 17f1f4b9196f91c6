"""Is an OpenPGP key usable at a given time? (RFC 4880 §5.2.3.3, §5.2.3.6, §5.2.3.21,
§5.2.3.23, §11.1; RFC 9580 §5.2.3.)

pgpy 0.6 does none of this: it encrypts to revoked or expired keys, does not verify
self-signatures and reads key flags from unverified packets. Every decision here rests
on signatures checked with signature_checks.holds:

- the key as a whole: a valid key revocation → revoked; no user id with a valid,
  in-force self-certification → bad self-signature (or weak algorithm, when only
  SHA-1/MD5 ones exist); created after `at` → not yet valid; past the key expiration
  time of its latest self-signature → expired; RSA under the policy size or DSA/ElGamal
  primary → weak algorithm.
- each subkey: a valid, in-force binding signature from the primary; not revoked, not
  expired; its key flags come from that binding; a signing subkey also needs a valid
  primary key binding (back-)signature (§5.2.1, 0x19).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal

import pgpy
from pgpy.constants import KeyFlags, PubKeyAlgorithm, SignatureType

from crypto import policy
from crypto.openpgp import signature_checks
from crypto.openpgp.keys import load_key

Purpose = Literal["encrypt", "sign"]
_NEVER = datetime.min.replace(tzinfo=UTC)

_CERTIFICATIONS = frozenset(
    {
        SignatureType.Generic_Cert,
        SignatureType.Persona_Cert,
        SignatureType.Casual_Cert,
        SignatureType.Positive_Cert,
    }
)
_ENCRYPT = frozenset({KeyFlags.EncryptCommunications, KeyFlags.EncryptStorage})
_RSA = frozenset(
    {PubKeyAlgorithm.RSAEncryptOrSign, PubKeyAlgorithm.RSAEncrypt, PubKeyAlgorithm.RSASign}
)
_CAN_ENCRYPT = _RSA - {PubKeyAlgorithm.RSASign} | {PubKeyAlgorithm.ECDH}
_CAN_SIGN = _RSA - {PubKeyAlgorithm.RSAEncrypt} | {PubKeyAlgorithm.EdDSA, PubKeyAlgorithm.ECDSA}


class KeyProblem(StrEnum):
    """Why a key is refused; distinct so that the audit trail says which."""

    REVOKED = "revoked"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    BAD_SELF_SIGNATURE = "bad-self-signature"
    WEAK_ALGORITHM = "weak-algorithm"
    NO_ENCRYPTION_KEY = "no-encryption-key"
    NO_SIGNING_KEY = "no-signing-key"


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """What a key may be used for at one point in time."""

    fingerprint: str  # primary key, 40 upper-case hex digits
    problem: KeyProblem | None  # with the key as a whole
    addresses: tuple[str, ...] = ()  # e-mail addresses of self-certified user ids, lowercase
    encryption_keys: tuple[str, ...] = ()  # fingerprints of usable encryption (sub)keys
    signing_keys: tuple[str, ...] = ()  # fingerprints of usable signing (sub)keys

    def refusal(self, purpose: Purpose) -> KeyProblem | None:
        """The reason not to use this key for `purpose`, or None if it may be used."""
        if self.problem is not None:
            return self.problem
        if purpose == "encrypt" and not self.encryption_keys:
            return KeyProblem.NO_ENCRYPTION_KEY
        if purpose == "sign" and not self.signing_keys:
            return KeyProblem.NO_SIGNING_KEY
        return None


def check_key(public_armored: str, at: datetime) -> KeyStatus:
    """The status at `at` (timezone-aware) of an armored public or secret key."""
    return assess(load_key(public_armored), at).status


@dataclass(frozen=True, slots=True)
class Assessment:
    """A KeyStatus with the pgpy key objects behind it, for this package's own use."""

    status: KeyStatus
    encryption: list[pgpy.PGPKey] = field(default_factory=list)
    signing: list[pgpy.PGPKey] = field(default_factory=list)


def assess(key: pgpy.PGPKey, at: datetime) -> Assessment:
    if at.tzinfo is None:
        raise ValueError("key status needs a timezone-aware time")
    fingerprint = _fpr(key)
    if any(_revokes(key, sig, key, SignatureType.KeyRevocation) for sig in key.__sig__):
        return Assessment(KeyStatus(fingerprint, KeyProblem.REVOKED))
    if _weak(key):
        return Assessment(KeyStatus(fingerprint, KeyProblem.WEAK_ALGORITHM))
    if key.created > at:
        return Assessment(KeyStatus(fingerprint, KeyProblem.NOT_YET_VALID))
    certified = _certified_user_ids(key, at)
    if not certified:
        return Assessment(KeyStatus(fingerprint, _why_uncertified(key)))
    latest = max(certified.values(), key=_created)
    lifetime = _key_lifetime(latest)
    if lifetime is not None and key.created + lifetime <= at:
        return Assessment(KeyStatus(fingerprint, KeyProblem.EXPIRED))
    usable = [(key, _key_flags(latest))]
    for subkey in key.subkeys.values():
        binding = _subkey_binding(key, subkey, at)
        if binding is not None:
            usable.append((subkey, _key_flags(binding)))
    encryption = [k for k, flags in usable if flags & _ENCRYPT and k.key_algorithm in _CAN_ENCRYPT]
    signing = [
        k
        for k, flags in usable
        if KeyFlags.Sign in flags
        and k.key_algorithm in _CAN_SIGN
        and (k is key or _back_signed(key, k))
    ]
    status = KeyStatus(
        fingerprint,
        None,
        addresses=tuple(sorted({uid.email.lower() for uid in certified if uid.email})),
        encryption_keys=tuple(_fpr(k) for k in encryption),
        signing_keys=tuple(_fpr(k) for k in signing),
    )
    return Assessment(status, encryption, signing)


def _certified_user_ids(key: pgpy.PGPKey, at: datetime) -> dict[pgpy.PGPUID, pgpy.PGPSignature]:
    """Each user id with its latest valid, in-force self-certification, unless a valid
    certification revocation (0x30) made at or before `at` follows it."""
    found = {}
    for uid in key.userids:
        own = [
            sig
            for sig in uid.__sig__
            if sig.type in _CERTIFICATIONS
            and signature_checks.in_force(sig, at)
            and signature_checks.holds(key, uid, sig)
        ]
        if not own:
            continue
        latest = max(own, key=_created)
        revoked = any(
            sig.type == SignatureType.CertRevocation
            and signature_checks.in_force(sig, at)
            and _created(sig) >= _created(latest)
            and signature_checks.holds(key, uid, sig)
            for sig in uid.__sig__
        )
        if not revoked:
            found[uid] = latest
    return found


def _why_uncertified(key: pgpy.PGPKey) -> KeyProblem:
    """Only SHA-1/MD5 self-certifications is a weak key; anything else a bad one."""
    certifications = [
        sig for uid in key.userids for sig in uid.__sig__ if sig.type in _CERTIFICATIONS
    ]
    if certifications and not any(signature_checks.hash_accepted(s) for s in certifications):
        return KeyProblem.WEAK_ALGORITHM
    return KeyProblem.BAD_SELF_SIGNATURE


def _subkey_binding(
    key: pgpy.PGPKey, subkey: pgpy.PGPKey, at: datetime
) -> pgpy.PGPSignature | None:
    """The latest valid binding of a usable subkey, or None if the subkey may not be used."""
    if subkey.created > at or _weak(subkey):
        return None
    if any(_revokes(key, sig, subkey, SignatureType.SubkeyRevocation) for sig in subkey.__sig__):
        return None
    bindings = [
        sig
        for sig in subkey.__sig__
        if sig.type == SignatureType.Subkey_Binding
        and not sig.embedded
        and signature_checks.in_force(sig, at)
        and signature_checks.holds(key, subkey, sig)
    ]
    if not bindings:
        return None
    binding = max(bindings, key=_created)
    lifetime = _key_lifetime(binding)
    if lifetime is not None and subkey.created + lifetime <= at:
        return None
    return binding


def _back_signed(key: pgpy.PGPKey, subkey: pgpy.PGPKey) -> bool:
    """A signing subkey must sign the primary back (RFC 4880 §5.2.1 0x19, §11.1): pgpy
    files the embedded signatures of the subkey's bindings among the subkey's own."""
    return any(
        sig.type == SignatureType.PrimaryKey_Binding
        and sig.embedded
        and signature_checks.holds(subkey, key, sig)
        for sig in subkey.__sig__
    )


def _revokes(
    key: pgpy.PGPKey, sig: pgpy.PGPSignature, target: pgpy.PGPKey, kind: SignatureType
) -> bool:
    # A revocation counts whenever it was made (a compromised key stays revoked,
    # §5.2.3.23), and whatever its hash: honouring a SHA-1 revocation is the safe side.
    return sig.type == kind and signature_checks.holds(key, target, sig, weak_hash_ok=True)


def _weak(key: pgpy.PGPKey) -> bool:
    algorithm = key.key_algorithm
    if algorithm in _RSA:
        return int(key.key_size) < policy.OPENPGP_MIN_RSA_BITS
    return algorithm not in {PubKeyAlgorithm.EdDSA, PubKeyAlgorithm.ECDH, PubKeyAlgorithm.ECDSA}


def _key_flags(sig: pgpy.PGPSignature) -> set[KeyFlags]:
    """Key flags (§5.2.3.21) from the hashed area only; none listed means no use (pgpy's
    own property fails when the subpacket sits in the unhashed area)."""
    flags = sig._signature.subpackets["h_KeyFlags"]
    return set(flags[-1].flags) if flags else set()


def _key_lifetime(sig: pgpy.PGPSignature) -> timedelta | None:
    """Key expiration time (§5.2.3.6), hashed only; zero means it does not expire."""
    spans = sig._signature.subpackets["h_KeyExpirationTime"]
    lifetime: timedelta | None = spans[-1].expires if spans else None
    return lifetime or None


def _created(sig: pgpy.PGPSignature) -> datetime:
    return signature_checks.created(sig) or _NEVER


def _fpr(key: pgpy.PGPKey) -> str:
    return str(key.fingerprint).replace(" ", "")
