"""S/MIME for Salus mailboxes (RFC 8551): sign then encrypt, decrypt, verify.

Every public function takes and returns bytes (MIME entities, PEM keys and
certificates), so the gateway can run it in the crypto process pool (`crypto.pool`).

What the pipeline calls:
- `sign_and_encrypt(entity, signer_key_pem, signer_chain_pem, recipient_certs_pem, form)`
  -> application/pkcs7-mime entity (form "smime" or "smime-gcm");
- `decrypt(entity, key_pem, cert_pem)` / `decrypt_any(entity, [(key_pem, cert_pem), ...])`
  -> inner entity; one opaque `crypto.errors.DecryptionError` for every failure;
- `verify(entity, anchors_pem, at, crl, sender=...)` -> `SignatureResult`;
- `unprotect(entity, keys, anchors_pem, at, crl, sender=...)` -> `SignatureResult`:
  decrypt then verify, with CBC integrity failures as the same opaque DecryptionError
  (no padding oracle); what inbound mail and server-decrypt mailboxes should call.
`split_message` / `join_message` separate an RFC 5322 message's outer headers from the
MIME entity that is protected, and put them back.
"""

from __future__ import annotations

from collections.abc import Sequence

from crypto.smime.decrypt import decrypt, decrypt_any
from crypto.smime.envelope import encrypt, encrypt_parts
from crypto.smime.mime import join_message, split_message
from crypto.smime.sign import sign, signed_parts
from crypto.smime.unprotect import unprotect
from crypto.smime.verify import SignatureResult, SignatureStatus, verify


def sign_and_encrypt(
    entity: bytes,
    signer_key_pem: bytes,
    signer_chain_pem: bytes,
    recipient_certs_pem: Sequence[bytes],
    form: str,
) -> bytes:
    """Sign `entity` (multipart/signed, SHA-256), then encrypt the signed entity for the
    recipients in `form` (RFC 8551 §3.7: signing inside the encryption, so the signature
    is not readable by anyone else and EFAIL's CBC gadgets meet a signature check)."""
    signed = signed_parts(entity, signer_key_pem, signer_chain_pem)  # canonical CRLF already
    return encrypt_parts(signed, recipient_certs_pem, form)


__all__ = [
    "SignatureResult",
    "SignatureStatus",
    "decrypt",
    "decrypt_any",
    "encrypt",
    "join_message",
    "sign",
    "sign_and_encrypt",
    "split_message",
    "unprotect",
    "verify",
]
