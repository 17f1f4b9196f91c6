"""The service key: 32 random bytes that protect everything Salus keeps secret at rest
(CA and mailbox private keys, stored messages), through keys derived for each use.

It lives in `DIR/keys/service.key` (0600, created by `salus init`) or in the file named by
`SALUS_SERVICE_KEY_FILE`, so that a secret store can hand it in. Older keys kept after a
rotation live beside it as `service.key.<id>` and are used only to open old data.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
ENV_FILE = "SALUS_SERVICE_KEY_FILE"


class ServiceKeyError(Exception):
    """The service key is missing, unreadable, too open or of the wrong size."""


@dataclass(frozen=True, slots=True)
class ServiceKey:
    """One version of the service key."""

    secret: bytes

    @property
    def key_id(self) -> bytes:
        """8 bytes naming this key in sealed data, so a rotation can find the old one."""
        return hashlib.sha256(b"salus-service-key-id" + self.secret).digest()[:8]

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for one purpose ("at-rest", "keystore", ...), HKDF-SHA-256."""
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"salus/" + purpose.encode()
        ).derive(self.secret)


def key_path(data_dir: Path, environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    named = env.get(ENV_FILE)
    return Path(named) if named else data_dir / "keys" / "service.key"


def create(path: Path) -> ServiceKey:
    """Write a new random service key with 0600 permissions; refuse to overwrite one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = secrets.token_bytes(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secret)
        fh.flush()
        os.fsync(fh.fileno())
    return ServiceKey(secret)


def load(path: Path) -> ServiceKey:
    """Read the service key, refusing a file that group or others can read."""
    try:
        mode = path.stat().st_mode
        secret = path.read_bytes()
    except FileNotFoundError as exc:
        raise ServiceKeyError(f"service key {path} does not exist: run `salus init`") from exc
    except OSError as exc:
        raise ServiceKeyError(f"service key {path} cannot be read: {exc.strerror}") from exc
    if mode & 0o077:
        raise ServiceKeyError(f"service key {path} is readable by others: chmod 600 it")
    if len(secret) != KEY_BYTES:
        raise ServiceKeyError(f"service key {path} is not {KEY_BYTES} bytes")
    return ServiceKey(secret)


def load_with_previous(path: Path) -> tuple[ServiceKey, tuple[ServiceKey, ...]]:
    """The current key and the retired ones kept beside it after rotations."""
    current = load(path)
    previous = tuple(load(p) for p in sorted(path.parent.glob(path.name + ".*")))
    return current, previous
