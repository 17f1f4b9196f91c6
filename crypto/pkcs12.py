"""PKCS#12 files for mail clients, with every key generation of a mailbox (RFC 7292).

`cryptography` writes a PKCS#12 with one private key only; a mailbox that renewed its key
needs the old ones too, or its owner's client cannot read old mail. So the PFX is built
here with asn1crypto: one pkcs8ShroudedKeyBag per key (PBES2: PBKDF2-HMAC-SHA256 and
AES-256-CBC, RFC 8018 §6.2), a certBag per certificate (keys and their certificates paired
by localKeyId, the newest key first), the CA chain, and an HMAC-SHA256 integrity MAC
keyed by the PKCS#12 KDF (RFC 7292 §B.2). OpenSSL 3, NSS (Thunderbird) and Windows read it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import algos, cms, core, keys, pkcs12
from cryptography import x509
from cryptography.hazmat.primitives import padding, serialization
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from crypto import policy
from crypto.sealing import PrivateKey

_MAC_KEY_ID = 3  # RFC 7292 §B.3: ID 3 derives integrity (MAC) keys
_SHA256_BLOCK = 64


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One private key with its certificate and the name a client shows for it."""

    key: PrivateKey
    cert: x509.Certificate
    friendly_name: str


def build(
    entries: Sequence[KeyEntry], ca_certs: Sequence[x509.Certificate], passphrase: str
) -> bytes:
    """A DER PFX holding `entries` (newest first) and `ca_certs`, protected by `passphrase`."""
    if not passphrase:
        raise ValueError("a PKCS#12 export needs a passphrase")
    bags: list[pkcs12.SafeBag] = []
    for entry in entries:
        local_id = entry.cert.fingerprint(SHA256())[:20]
        attrs = _attributes(entry.friendly_name, local_id)
        bags.append(_key_bag(entry.key, passphrase, attrs))
        bags.append(_cert_bag(entry.cert, attrs))
    bags.extend(_cert_bag(cert, None) for cert in ca_certs)
    contents = pkcs12.SafeContents(bags).dump()
    auth_safe = pkcs12.AuthenticatedSafe(
        [cms.ContentInfo({"content_type": "data", "content": core.OctetString(contents)})]
    ).dump()
    salt = os.urandom(policy.P12_SALT_BYTES)
    iterations = policy.P12_KDF_ITERATIONS
    mac_key = pkcs12_kdf_sha256(passphrase, salt, _MAC_KEY_ID, iterations)
    mac = hmac.new(mac_key, auth_safe, hashlib.sha256).digest()
    pfx = pkcs12.Pfx(
        {
            "version": "v3",
            "auth_safe": {"content_type": "data", "content": core.OctetString(auth_safe)},
            "mac_data": {
                "mac": {"digest_algorithm": {"algorithm": "sha256"}, "digest": mac},
                "mac_salt": salt,
                "iterations": iterations,
            },
        }
    )
    return bytes(pfx.dump())


def pkcs12_kdf_sha256(passphrase: str, salt: bytes, key_id: int, iterations: int) -> bytes:
    """RFC 7292 §B.2 with SHA-256 for a 32-byte key (one block, so no I update)."""
    password = passphrase.encode("utf-16-be") + b"\x00\x00"  # BMPString with NUL
    d = bytes([key_id]) * _SHA256_BLOCK
    i = _stretch(salt) + _stretch(password)
    a = hashlib.sha256(d + i).digest()
    for _ in range(iterations - 1):
        a = hashlib.sha256(a).digest()
    return a


def _stretch(data: bytes) -> bytes:
    """`data` repeated to the next multiple of the hash block length (empty stays empty)."""
    if not data:
        return b""
    length = _SHA256_BLOCK * -(-len(data) // _SHA256_BLOCK)
    return (data * (length // len(data) + 1))[:length]


def _attributes(friendly_name: str, local_id: bytes) -> pkcs12.Attributes:
    return pkcs12.Attributes(
        [
            {"type": "friendly_name", "values": [core.BMPString(friendly_name)]},
            {"type": "local_key_id", "values": [core.OctetString(local_id)]},
        ]
    )


def _key_bag(key: PrivateKey, passphrase: str, attrs: pkcs12.Attributes) -> pkcs12.SafeBag:
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    salt = os.urandom(policy.P12_SALT_BYTES)
    iv = os.urandom(16)
    kek = PBKDF2HMAC(SHA256(), 32, salt, policy.P12_KDF_ITERATIONS).derive(
        passphrase.encode("utf-8")
    )
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(kek), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(der) + padder.finalize()) + encryptor.finalize()
    scheme = algos.EncryptionAlgorithm(
        {
            "algorithm": "pbes2",
            "parameters": {
                "key_derivation_func": {
                    "algorithm": "pbkdf2",
                    "parameters": {
                        "salt": {"specified": salt},
                        "iteration_count": policy.P12_KDF_ITERATIONS,
                        "prf": {"algorithm": "sha256"},
                    },
                },
                "encryption_scheme": {"algorithm": "aes256_cbc", "parameters": iv},
            },
        }
    )
    info = keys.EncryptedPrivateKeyInfo(
        {"encryption_algorithm": scheme, "encrypted_data": ciphertext}
    )
    return pkcs12.SafeBag(
        {"bag_id": "pkcs8_shrouded_key_bag", "bag_value": info, "bag_attributes": attrs}
    )


def _cert_bag(cert: x509.Certificate, attrs: pkcs12.Attributes | None) -> pkcs12.SafeBag:
    der = cert.public_bytes(serialization.Encoding.DER)
    bag = pkcs12.CertBag({"cert_id": "x509", "cert_value": core.ParsableOctetString(der)})
    value: dict[str, object] = {"bag_id": "cert_bag", "bag_value": bag}
    if attrs is not None:
        value["bag_attributes"] = attrs
    return pkcs12.SafeBag(value)
