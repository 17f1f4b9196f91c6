"""Sealing data at rest under the service key (stored messages, derived metadata).

Format: b"SA1" || key_id (8) || nonce (12) || AES-256-GCM(ciphertext || tag). The
caller's `context` (for example the table and row identity) is bound as associated data,
so a sealed blob copied to another row does not open there.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto import policy, service_key
from crypto.service_key import ServiceKey

MAGIC = b"SA1"
_NONCE = 12


class SealedDataError(Exception):
    """A sealed blob does not open: wrong key, wrong context or altered bytes."""


class AtRestCipher:
    """Seals with the current service key, opens with the current or a retired one."""

    def __init__(self, current: ServiceKey, previous: tuple[ServiceKey, ...] = ()) -> None:
        self._current_id = current.key_id
        self._keys = {
            k.key_id: AESGCM(k.derive(policy.AT_REST_PURPOSE)) for k in (current, *previous)
        }

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> AtRestCipher:
        """The cipher of a data dir's service key (and the retired ones beside it)."""
        current, previous = service_key.load_with_previous(service_key.key_path(data_dir))
        return cls(current, previous)

    def seal(self, plaintext: bytes, context: bytes = b"") -> bytes:
        nonce = os.urandom(_NONCE)
        ct = self._keys[self._current_id].encrypt(nonce, plaintext, MAGIC + context)
        return MAGIC + self._current_id + nonce + ct

    def open(self, sealed: bytes, context: bytes = b"") -> bytes:
        if sealed[:3] != MAGIC or len(sealed) < 3 + 8 + _NONCE + 16:
            raise SealedDataError("not sealed data")
        key = self._keys.get(sealed[3:11])
        if key is None:
            raise SealedDataError("sealed under a service key that is not available")
        try:
            return key.decrypt(sealed[11 : 11 + _NONCE], sealed[11 + _NONCE :], MAGIC + context)
        except InvalidTag as exc:
            raise SealedDataError("sealed data does not authenticate") from exc

    def needs_reseal(self, sealed: bytes) -> bool:
        """True when the blob was sealed under a retired key (for rotation)."""
        return sealed[3:11] != self._current_id
