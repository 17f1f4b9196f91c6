"""The service's own TLS certificate, issued by the service CA at `salus init`.

`DIR/tls/server.crt` holds the leaf then the issuing CA (what a TLS server sends);
`DIR/tls/server.key` is PKCS#8 encrypted (PBES2, AES-256-CBC) with a password derived from
the service key (HKDF purpose "tls-key-password"), so the key file alone, copied away,
opens nothing. `key_password` finds the password that opens the file among the current
and retired service keys, so a rotation caught halfway still serves.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from crypto import policy
from crypto.atomic_file import write_atomic
from crypto.ca import ServiceCa, pem
from crypto.service_key import ServiceKey


def cert_path(data_dir: Path) -> Path:
    return data_dir / "tls" / "server.crt"


def key_path(data_dir: Path) -> Path:
    return data_dir / "tls" / "server.key"


def password_for(key: ServiceKey) -> bytes:
    """The TLS key password derived from one service key (ASCII, 43 characters)."""
    return base64.urlsafe_b64encode(key.derive(policy.TLS_KEY_PASSWORD_PURPOSE)).rstrip(b"=")


def create(
    data_dir: Path, ca: ServiceCa, key: ServiceKey, *, hostname: str, domain: str, now: dt.datetime
) -> None:
    """Issue the TLS certificate for `hostname` (and `domain`) and write cert and key."""
    private = ec.generate_private_key(policy.TLS_EC_CURVE())
    names = [hostname] if hostname == domain else [hostname, domain]
    cert = ca.issue_tls(private.public_key(), names, now)
    directory = data_dir / "tls"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(key_path(data_dir), _encrypted(private, password_for(key)), 0o600)
    write_atomic(cert_path(data_dir), pem(cert) + pem(ca.issuing), 0o644)


def key_password(key_file: Path, keys: Sequence[ServiceKey]) -> bytes:
    """The password of `key_file` among `keys` (current first). When none opens it, or it
    cannot be read, the current key's: the TLS loader then reports the file clearly."""
    try:
        data = key_file.read_bytes()
    except OSError:
        return password_for(keys[0])
    for key in keys:
        password = password_for(key)
        try:
            serialization.load_pem_private_key(data, password)
        except (ValueError, TypeError):
            continue
        return password
    return password_for(keys[0])


def reencrypt(data_dir: Path, keys: Sequence[ServiceKey]) -> bool:
    """Re-encrypt the TLS key under the password of `keys[0]` (service-key rotation).
    Returns False when it already uses that password or the data dir has no TLS key."""
    path = key_path(data_dir)
    if not path.exists():
        return False
    current = password_for(keys[0])
    old = key_password(path, keys)
    if old == current:
        return False
    private = serialization.load_pem_private_key(path.read_bytes(), old)
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{path} does not hold the service's ECDSA key")
    write_atomic(path, _encrypted(private, current), 0o600)
    return True


def _encrypted(private: ec.EllipticCurvePrivateKey, password: bytes) -> bytes:
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
