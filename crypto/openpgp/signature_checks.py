"""Checking one OpenPGP signature packet with one key, without pgpy's own verify().

pgpy's `PGPKey.verify` mixes the cryptographic check with its own key soundness checks
(which warn "TODO" and do not look at revocation or flags) and needs the Issuer
subpacket. Here the check is the primitive alone, after the hash algorithm passes the
policy; key status is decided separately in key_status.py, with a clock we are given.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pgpy
from cryptography.hazmat.primitives import hashes

from crypto import policy


def issuer_key_ids(sig: pgpy.PGPSignature) -> set[str]:
    """Key ids (16 upper-case hex) the signature names as its issuer: from the Issuer
    Fingerprint subpacket (RFC 9580 §5.2.3.35) and the Issuer subpacket (§5.2.3.12).
    Only a hint for finding the key: the cryptographic check decides."""
    subpackets = sig._signature.subpackets
    ids = {
        str(sp.issuer_fingerprint).replace(" ", "")[-16:] for sp in subpackets["IssuerFingerprint"]
    }
    ids |= {str(sp.issuer).upper() for sp in subpackets["Issuer"]}
    return ids


def created(sig: pgpy.PGPSignature) -> datetime | None:
    """The hashed creation time (RFC 4880 §5.2.3.4: MUST be present and hashed)."""
    times = sig._signature.subpackets["h_CreationTime"]
    return times[-1].created if times else None


def expires_at(sig: pgpy.PGPSignature) -> datetime | None:
    """When the signature itself stops being valid (§5.2.3.10), if it says so."""
    start = created(sig)
    spans = sig._signature.subpackets["h_SignatureExpirationTime"]
    if start is None or not spans or not spans[-1].expires:
        return None
    return start + spans[-1].expires  # type: ignore[no-any-return]


def in_force(sig: pgpy.PGPSignature, at: datetime) -> bool:
    """Made at or before `at` and not expired at `at`."""
    start = created(sig)
    end = expires_at(sig)
    return start is not None and start <= at and (end is None or at < end)


def hash_accepted(sig: pgpy.PGPSignature) -> bool:
    return str(sig.hash_algorithm.name) in policy.OPENPGP_ACCEPTED_HASHES


def holds(
    key: pgpy.PGPKey, subject: Any, sig: pgpy.PGPSignature, *, weak_hash_ok: bool = False
) -> bool:
    """True if `sig` is a signature by `key` (primary or subkey object) over `subject`
    (bytes, a PGPUID or a PGPKey, as pgpy's hashdata expects) with an accepted hash."""
    if not (weak_hash_ok or hash_accepted(sig)):
        return False
    if key.fingerprint.keyid not in issuer_key_ids(sig):
        return False
    try:
        data = sig.hashdata(subject)
        algorithm = getattr(hashes, sig.hash_algorithm.name)()
        result = key._key.verify(data, sig.__sig__, algorithm)
    except Exception:  # malformed MPIs, unsupported algorithms: not a valid signature
        return False
    return result is True
