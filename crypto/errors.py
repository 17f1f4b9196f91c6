"""The rooted error tree of the crypto package (STYLE: one rooted tree per package).

Two rules shape it:

- **Decryption fails opaquely.** Every failure to decrypt (unknown recipient, wrong key,
  bad padding, altered ciphertext, bad tag, malformed structure) is one `DecryptionError`
  whose text never says which step failed, so that nobody can use Salus as a padding or
  format oracle (EFAIL, Bleichenbacher). The one exception, `EnvelopeRefused`, names an
  algorithm the policy refuses; it is decided from the public envelope before any key is
  touched, so it tells an attacker nothing they did not write themselves.
- **Refusals carry a reason.** Signature and certificate refusals carry a `Reason` from a
  closed set, so that the pipeline can audit it, put it in a header or a DSN, and tests
  can tell one refusal from another.
"""

from __future__ import annotations

import enum


class Reason(enum.StrEnum):
    """Why a signature, a certificate or an envelope was refused (stable names: they
    appear in audit entries, headers and `--json` output)."""

    # The shape of the signed message (RFC 8551 §3.5, RFC 1847 §2.1).
    NOT_SIGNED = "not-signed"
    PARTIALLY_SIGNED = "partially-signed"
    UNSIGNED_PART = "unsigned-part"
    MALFORMED = "malformed-signature"
    NO_SIGNER = "no-signer"
    MULTIPLE_SIGNERS = "multiple-signers"
    SIGNER_CERTIFICATE_MISSING = "signer-certificate-missing"
    # The signature itself (RFC 5652 §5.4, §5.6).
    CONTENT_ALTERED = "content-altered"
    BAD_SIGNATURE = "bad-signature"
    WEAK_DIGEST = "weak-digest"
    UNSUPPORTED_ALGORITHM = "unsupported-algorithm"
    # The signer's or recipient's certificate (RFC 5280 §6, RFC 8550 §4).
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    REVOKED = "revoked"
    KEY_USAGE = "key-usage"
    EXTENDED_KEY_USAGE = "extended-key-usage"
    ADDRESS_MISMATCH = "address-mismatch"
    SELF_SIGNED = "self-signed"
    UNKNOWN_ROOT = "unknown-root"
    ISSUER_NOT_CA = "issuer-not-ca"
    WEAK_KEY = "weak-key"
    WEAK_CERTIFICATE_SIGNATURE = "weak-certificate-signature"
    # The envelope of an encrypted message.
    WEAK_CIPHER = "weak-cipher"


class CryptoError(Exception):
    """Root of every error raised by the crypto package."""


class DecryptionError(CryptoError):
    """The message cannot be decrypted. Deliberately says nothing more (no oracle);
    the library error that caused it stays on `__cause__` for developers only."""

    message = "the message cannot be decrypted"

    def __str__(self) -> str:
        return self.message


class EnvelopeRefused(DecryptionError):
    """The envelope uses an algorithm the policy refuses (3DES, RC2, RSA < 2048 ...),
    decided from the public structure before any private key is used."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return self.detail

    def __reduce__(self) -> tuple[type[EnvelopeRefused], tuple[Reason, str]]:
        # Errors cross the process pool by pickle, which would call __init__(detail).
        return (type(self), (self.reason, self.detail))


class RefusalError(CryptoError):
    """A refusal with a reason from the closed `Reason` set and a sentence for people."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return self.detail

    def __reduce__(self) -> tuple[type[RefusalError], tuple[Reason, str]]:
        return (type(self), (self.reason, self.detail))


class SignatureError(RefusalError):
    """A signed message is refused (see `crypto.smime.SignatureResult.require_valid`)."""


class CertificateRefused(RefusalError):
    """A certificate is not acceptable for the use asked (path, validity, usage,
    address, revocation or algorithm policy)."""


class KeyMaterialError(CryptoError):
    """A key or certificate given to a crypto function cannot be loaded or used."""


class SealedKeyError(CryptoError):
    """A private key sealed at rest does not open: wrong service key, wrong record or
    altered bytes."""


class CaError(CryptoError):
    """The service CA is missing, incomplete or cannot be opened."""


class KeyStoreError(CryptoError):
    """A key store operation cannot be done; the text says why."""


class NoUsableKey(KeyStoreError):
    """The mailbox has no active key of the kind asked for."""

    def __init__(self, address: str, kind: str) -> None:
        super().__init__(f"{address} has no active {kind} key: run `salus keys issue {address}`")
        self.address = address
        self.kind = kind

    def __reduce__(self) -> tuple[type[NoUsableKey], tuple[str, str]]:
        return (type(self), (self.address, self.kind))
