"""The verdict on the signature of a decrypted (or multipart/signed) message: which key
made it, whether it holds, and if not, why (RFC 4880 §5.2.4; RFC 3156 §5).

Reasons come from `crypto.errors.Reason` (shared with S/MIME), except
"bad-self-signature", which only OpenPGP keys have (key_status.KeyProblem).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pgpy
from pgpy.constants import SignatureType
from pgpy.packet import Packet

from crypto.errors import Reason
from crypto.openpgp import signature_checks
from crypto.openpgp.key_status import Assessment, KeyProblem, assess
from crypto.openpgp.keys import load_key
from crypto.openpgp.packets import RawPacket, Tag, encode, read_packets

# A sender's clock may run a little ahead of ours.
CLOCK_SKEW = timedelta(minutes=5)

_KEY_REASONS: dict[KeyProblem, str] = {
    KeyProblem.REVOKED: Reason.REVOKED,
    KeyProblem.EXPIRED: Reason.EXPIRED,
    KeyProblem.NOT_YET_VALID: Reason.NOT_YET_VALID,
    KeyProblem.WEAK_ALGORITHM: Reason.WEAK_KEY,
    KeyProblem.NO_SIGNING_KEY: Reason.KEY_USAGE,
    KeyProblem.NO_ENCRYPTION_KEY: Reason.KEY_USAGE,
    KeyProblem.BAD_SELF_SIGNATURE: KeyProblem.BAD_SELF_SIGNATURE,
}
_DOCUMENT = frozenset({SignatureType.BinaryDocument, SignatureType.CanonicalDocument})


@dataclass(frozen=True, slots=True)
class Verdict:
    signer: str | None  # primary key fingerprint of the key the signature names, if known
    valid: bool
    reason: str | None  # None when valid
    signer_addresses: tuple[str, ...] = ()


def judge(
    data: bytes, signatures: list[RawPacket], signer_publics: Sequence[str], at: datetime
) -> Verdict:
    """The verdict on `signatures` (signature packets) over `data`, with the keys the
    caller trusts for this message (the sender's, from the directory)."""
    sig, reason = _one_signature(signatures)
    if sig is None:
        return Verdict(None, False, reason)
    found = _issuer(sig, signer_publics)
    if found is None:
        return Verdict(None, False, Reason.SIGNER_CERTIFICATE_MISSING)
    primary, signing_key = found
    assessment = assess(primary, at)
    problem = _problem(data, sig, signing_key, assessment, at)
    if problem is not None:
        return Verdict(_fpr(primary), False, problem)
    return Verdict(_fpr(primary), True, None, assessment.status.addresses)


def _one_signature(signatures: list[RawPacket]) -> tuple[pgpy.PGPSignature | None, str]:
    if not signatures:
        return None, Reason.NOT_SIGNED
    if len(signatures) > 1:
        return None, Reason.MULTIPLE_SIGNERS
    sig = _parse(signatures[0])
    if sig is None or sig.type not in _DOCUMENT:
        return None, Reason.MALFORMED
    if not signature_checks.hash_accepted(sig):
        return None, Reason.WEAK_DIGEST
    return sig, ""


def _problem(
    data: bytes,
    sig: pgpy.PGPSignature,
    signing_key: pgpy.PGPKey,
    assessment: Assessment,
    at: datetime,
) -> str | None:
    """Why a signature by a known key does not count, checked in that order: the
    cryptography, the key's status at `at`, the key's flags, the signature's times."""
    if not signature_checks.holds(signing_key, data, sig):
        return Reason.BAD_SIGNATURE
    problem = assessment.status.refusal("sign")
    if problem is not None:
        return _KEY_REASONS[problem]
    if not any(k is signing_key for k in assessment.signing):
        return Reason.KEY_USAGE
    made = signature_checks.created(sig)
    if made is None or made > at + CLOCK_SKEW or made < signing_key.created:
        return Reason.NOT_YET_VALID
    ends = signature_checks.expires_at(sig)
    return Reason.EXPIRED if ends is not None and ends <= at else None


def canonical_text(data: bytes) -> bytes:
    """RFC 3156 §5: the signed part is hashed with CRLF line endings."""
    return re.sub(rb"\r?\n", b"\r\n", data)


def signature_packets(data: bytes) -> list[RawPacket]:
    """The packets of a detached signature; anything else in it is malformed."""
    packets = read_packets(data)
    return packets if all(p.tag == Tag.SIGNATURE for p in packets) else []


def _parse(raw: RawPacket) -> pgpy.PGPSignature | None:
    try:
        packet = Packet(bytearray(encode(raw.tag, raw.body)))
        return pgpy.PGPSignature() | packet
    except Exception:  # v3/v5 signatures, unknown algorithms, broken subpackets
        return None


def _issuer(
    sig: pgpy.PGPSignature, signer_publics: Sequence[str]
) -> tuple[pgpy.PGPKey, pgpy.PGPKey] | None:
    """The trusted key (primary, and the primary or subkey that signed) the signature
    names as its issuer."""
    wanted = signature_checks.issuer_key_ids(sig)
    for armored in signer_publics:
        primary = load_key(armored)
        for key in (primary, *primary.subkeys.values()):
            if key.fingerprint.keyid in wanted:
                return primary, key
    return None


def _fpr(key: pgpy.PGPKey) -> str:
    return str(key.fingerprint).replace(" ", "")
