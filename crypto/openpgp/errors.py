"""Errors of the OpenPGP package, rooted in `crypto.errors`.

- Cryptographic failures (no session key for us, wrong key, altered ciphertext, MDC
  mismatch, unreadable decrypted packets) are the plain, opaque `DecryptionError`.
- `MessageRefused` is a `DecryptionError` decided from the public structure before any
  private key is used (not PGP/MIME, plaintext beside the encrypted part, no MDC): it
  carries a reason for the audit trail and tells a sender nothing they did not write.
- Key errors are about keys the caller chose, so they say what is wrong.
"""

from __future__ import annotations

from enum import StrEnum

from crypto.errors import DecryptionError, KeyMaterialError


class Refusal(StrEnum):
    """Why an OpenPGP message is refused before decryption (stable audit names)."""

    NOT_PGP_MIME = "not-pgp-mime"  # not RFC 3156 multipart/encrypted
    MIXED_CONTENT = "mixed-content"  # plaintext parts beside an encrypted part (EFAIL)
    NO_INTEGRITY = "no-integrity-protection"  # SED packet without MDC (EFAIL)
    UNSUPPORTED_PACKET = "unsupported-packet"  # AEAD, passphrase-only, unknown packets
    MALFORMED = "malformed-message"  # armor or packet framing broken


class MessageRefused(DecryptionError):
    """The message is refused from its public structure, before any key is used."""

    def __init__(self, reason: Refusal, detail: str) -> None:
        super().__init__(reason, detail)  # all arguments in args: it pickles across the pool
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return self.detail


class KeyFormatError(KeyMaterialError, ValueError):
    """The armored text is not one usable OpenPGP key of the expected kind."""


class KeyRefused(KeyMaterialError):
    """A key may not be used for what was asked (see key_status.KeyProblem)."""

    def __init__(self, fingerprint: str, reason: str, purpose: str) -> None:
        super().__init__(fingerprint, reason, purpose)  # all in args: it pickles
        self.fingerprint = fingerprint
        self.reason = reason
        self.purpose = purpose

    def __str__(self) -> str:
        return f"OpenPGP key {self.fingerprint} cannot be used to {self.purpose}: {self.reason}"
