"""Sign then encrypt an entity as PGP/MIME (RFC 3156 §6.2, "combined" method).

The signature packets travel inside the encrypted data next to the literal data, as
`gpg --sign --encrypt` makes them (docs/decisions.md "PGP/MIME: combined sign+encrypt").
The SEIPD packet always carries an MDC (RFC 4880 §5.13); the literal data is sent
uncompressed (the inner entity is mostly base64 already, and compression before
encryption leaks length information about attacker-influenced content).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pgpy
from pgpy.constants import CompressionAlgorithm, HashAlgorithm, SymmetricKeyAlgorithm

from crypto import policy
from crypto.openpgp.armor import armor
from crypto.openpgp.errors import KeyRefused
from crypto.openpgp.key_status import Assessment, Purpose, assess
from crypto.openpgp.keys import load_key, load_secret
from crypto.openpgp.pgp_mime import build_encrypted


def sign_and_encrypt(
    entity: bytes,
    signer_secret: str,
    recipient_publics: Sequence[str],
    *,
    at: datetime | None = None,
) -> bytes:
    """A multipart/encrypted entity (header fields and body, CRLF) holding `entity`
    signed with `signer_secret` and encrypted to every key of `recipient_publics`.

    KeyRefused if the signer cannot sign or a recipient cannot receive at `at` (now by
    default): revoked, expired, bad self-signature, weak, or no key with the flag."""
    now = at or datetime.now(UTC)
    if not recipient_publics:
        raise ValueError("sign_and_encrypt needs at least one recipient")
    # pgpy's subkeys hold their primary by weak reference: keep the primaries alive.
    signer_key = load_secret(signer_secret)
    recipient_keys = [load_key(p) for p in recipient_publics]
    signer = _usable(assess(signer_key, now), "sign").signing[0]
    recipients = [_newest(_usable(assess(k, now), "encrypt").encryption) for k in recipient_keys]

    message = pgpy.PGPMessage.new(entity, format="b", compression=CompressionAlgorithm.Uncompressed)
    message |= signer.sign(message, hash=HashAlgorithm[policy.OPENPGP_HASHES[0]])

    cipher = _cipher(recipients)
    session_key = cipher.gen_key()
    for recipient in recipients:
        message = recipient.encrypt(message, cipher=cipher, sessionkey=session_key)
    return build_encrypted(armor("MESSAGE", bytes(message)))


def _cipher(recipients: list[pgpy.PGPKey]) -> SymmetricKeyAlgorithm:
    """The first policy cipher that every recipient lists in its preferences (RFC 4880
    §13.2); AES-128, which every RFC 9580 implementation must read (§9.3), otherwise."""
    listed = [_cipher_preferences(key) for key in recipients]
    for name in policy.OPENPGP_CIPHERS:
        cipher = SymmetricKeyAlgorithm[name]
        if all(cipher in prefs for prefs in listed):
            return cipher
    return SymmetricKeyAlgorithm.AES128


def _cipher_preferences(key: pgpy.PGPKey) -> list[SymmetricKeyAlgorithm]:
    # pgpy reads them where we do: the self-signature of the primary key's first user id.
    primary = key if key.is_primary else key.parent
    uid = next(iter(primary.userids), None)
    return list(uid.selfsig.cipherprefs) if uid is not None and uid.selfsig else []


def _newest(keys: list[pgpy.PGPKey]) -> pgpy.PGPKey:
    """Of several usable encryption subkeys, the most recent (RFC 9580 §5.5.4 leaves the
    choice to us; the newest is the one its owner rolled over to)."""
    return max(keys, key=lambda key: key.created)


def _usable(assessment: Assessment, purpose: Purpose) -> Assessment:
    problem = assessment.status.refusal(purpose)
    if problem is not None:
        raise KeyRefused(assessment.status.fingerprint, problem, purpose)
    return assessment
