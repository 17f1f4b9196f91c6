"""Decrypt then verify, as one step with one failure mode for the sender to see.

With AES-CBC (EnvelopedData) the ciphertext is malleable: a flipped bit can still decrypt,
to altered content. EFAIL is met by the signature inside the encryption (RFC 8551 §3.7)
- but only if no difference shows between "did not decrypt" (bad padding) and "decrypted
to something whose signature fails": that difference is a padding oracle. So, for CBC, a
signature that is missing, malformed or does not cover intact content is the same opaque
`DecryptionError` as a decryption failure. Once integrity is established (a signature
that verifies, or a GCM tag), certificate refusals keep their reasons: they depend on no
secret. With GCM the result is returned as `verify` gives it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from crypto.errors import DecryptionError, Reason, SignatureError
from crypto.smime.decrypt import open_envelope
from crypto.smime.verify import SignatureResult, SignatureStatus, verify


def unprotect(
    entity: bytes,
    keys: Sequence[tuple[bytes, bytes]],
    anchors_pem: Sequence[bytes],
    at: dt.datetime,
    crl: Sequence[bytes] = (),
    *,
    sender: str | None = None,
) -> SignatureResult:
    """Decrypt `entity` with one of `keys` (key PEM, certificate PEM), then verify the
    signed entity inside (see `verify`). DecryptionError when it cannot be decrypted or,
    for CBC, when what it decrypts to is not intact signed content."""
    opened = open_envelope(entity, keys)
    result = verify(opened.content, anchors_pem, at, crl, sender=sender)
    if not opened.authenticated and result.status in (
        SignatureStatus.INVALID,
        SignatureStatus.UNSIGNED,
    ):
        # The real reason stays on __cause__ for the operator's audit trail; the text
        # (what a sender may see) is the opaque one.
        raise DecryptionError from SignatureError(result.reason or Reason.NOT_SIGNED, result.detail)
    return result
