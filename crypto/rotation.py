"""Rotating the service key (issue 5: "rotation of the service key").

Order matters, so that a crash at any step loses nothing:
1. the current key is copied beside itself as `service.key.<id>` (a retired key, which
   `service_key.load_with_previous` keeps using to open old data);
2. the new key replaces `service.key` atomically; from here everything still opens,
   because every retired key is kept;
3. the CA keys, the TLS key password and every mailbox key are re-sealed under the new
   key (`reseal`), each one idempotently. Sealed messages at rest stay readable under
   the retired key (`AtRestCipher` opens with it; `needs_reseal` names what to rewrite).

A crash between 2 and 3 leaves some secrets under the retired key: they still open, and
running the rotation again finishes the job (under one more new key).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from crypto import ca, tls_certificate
from crypto.atomic_file import write_atomic
from crypto.errors import CryptoError
from crypto.sealing import KeySealer
from crypto.service_key import KEY_BYTES, ServiceKey, load_with_previous


def rotate_key_file(path: Path) -> KeySealer:
    """Steps 1 and 2: retire the current key, install a new one; the sealer that seals
    under the new key and opens under every older one."""
    current, previous = load_with_previous(path)
    retired = path.with_name(f"{path.name}.{current.key_id.hex()}")
    try:
        if not retired.exists():
            write_atomic(retired, current.secret, 0o600)
        new = ServiceKey(secrets.token_bytes(KEY_BYTES))
        write_atomic(path, new.secret, 0o600)
    except OSError as exc:
        raise CryptoError(
            f"cannot rotate the service key in {path.parent}: {exc.strerror}"
        ) from exc
    return KeySealer(new, (current, *previous))


def reseal_files(data_dir: Path, sealer: KeySealer) -> int:
    """Step 3 for the files of the data dir: CA keys and the TLS key. Returns how many
    files were rewritten."""
    done = ca.reseal_keys(data_dir, sealer)
    keys = (sealer.current, *sealer.previous)
    if tls_certificate.reencrypt(data_dir, keys):
        done += 1
    return done
