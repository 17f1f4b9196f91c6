"""Private keys sealed at rest under the service key (CA keys, mailbox keys).

Format: b"SK1" || service key id (8) || nonce (12) || AES-256-GCM(secret) || tag (16),
under a key derived from the service key for `policy.KEYSTORE_PURPOSE` (HKDF-SHA-256).
The caller's `context` names what the secret is ("ca/issuing", "mailbox/<address>/<serial>/
smime") and is bound as associated data, so a sealed key copied to another record or file
does not open there. Secrets sealed under a retired service key still open (rotation); the
`needs_reseal` / `reseal` pair moves them to the current key.

`KeyProtector` is the interface the CA and the key store use, so that an HSM-backed
protector can replace this one without touching them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto import policy, service_key
from crypto.errors import SealedKeyError
from crypto.service_key import ServiceKey

MAGIC = b"SK1"
_ID = 8
_NONCE = 12
_TAG = 16

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class KeyProtector(Protocol):
    """Seals and opens private keys; `needs_reseal` tells rotation what to redo."""

    def seal(self, secret: bytes, context: bytes) -> bytes: ...

    def open(self, sealed: bytes, context: bytes) -> bytes: ...

    def needs_reseal(self, sealed: bytes) -> bool: ...


class KeySealer:
    """Seals with the current service key, opens with the current or a retired one."""

    def __init__(self, current: ServiceKey, previous: tuple[ServiceKey, ...] = ()) -> None:
        self.current = current
        self.previous = previous
        self._keys = {
            k.key_id: AESGCM(k.derive(policy.KEYSTORE_PURPOSE)) for k in (current, *previous)
        }

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> KeySealer:
        """The sealer for a data dir's service key (and the retired ones beside it)."""
        current, previous = service_key.load_with_previous(service_key.key_path(data_dir))
        return cls(current, previous)

    def seal(self, secret: bytes, context: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        ct = self._keys[self.current.key_id].encrypt(nonce, secret, MAGIC + context)
        return MAGIC + self.current.key_id + nonce + ct

    def open(self, sealed: bytes, context: bytes) -> bytes:
        if sealed[:3] != MAGIC or len(sealed) < 3 + _ID + _NONCE + _TAG:
            raise SealedKeyError("not a sealed key")
        aead = self._keys.get(sealed[3 : 3 + _ID])
        if aead is None:
            raise SealedKeyError("sealed under a service key that is not available")
        start = 3 + _ID
        try:
            return aead.decrypt(
                sealed[start : start + _NONCE], sealed[start + _NONCE :], MAGIC + context
            )
        except InvalidTag as exc:
            raise SealedKeyError("sealed key does not open here (wrong record or altered)") from exc

    def needs_reseal(self, sealed: bytes) -> bool:
        return sealed[3 : 3 + _ID] != self.current.key_id


def seal_private_key(protector: KeyProtector, key: PrivateKey, context: bytes) -> bytes:
    """The key as unencrypted PKCS#8 DER, sealed; the DER never touches the disk."""
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return protector.seal(der, context)


def open_private_key(protector: KeyProtector, sealed: bytes, context: bytes) -> PrivateKey:
    # The AES-GCM tag authenticated these bytes: skip the slow RSA consistency check.
    key = serialization.load_der_private_key(
        protector.open(sealed, context), password=None, unsafe_skip_rsa_key_validation=True
    )
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SealedKeyError("the sealed key is of an unsupported type")
    return key


def reseal(protector: KeyProtector, sealed: bytes, context: bytes) -> bytes:
    """The same secret sealed under the current service key."""
    return protector.seal(protector.open(sealed, context), context)
