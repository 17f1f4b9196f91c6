"""Loaded private keys, kept per worker process.

A worker of the crypto pool signs for the same senders and decrypts for the same
mailboxes again and again. Loading a PEM key is cheap, but its first private operation
sets up Montgomery and blinding contexts (~1.5 ms for RSA-3072, as much as the operation
itself); keeping the loaded object makes every later message pay only the operation.
The keys are already in this process's memory as PEM; the cache is bounded.

Keys come from the key store, sealed and authenticated (AES-GCM), so OpenSSL's RSA
consistency check (~100 ms for 3072 bits) is skipped: it guards against malformed keys
from untrusted sources, which these are not.
"""

from __future__ import annotations

import functools

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from crypto.errors import KeyMaterialError

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@functools.lru_cache(maxsize=256)
def private_key(pem: bytes) -> PrivateKey:
    """The RSA or EC private key in `pem` (unencrypted PKCS#8 or traditional PEM)."""
    try:
        key = serialization.load_pem_private_key(
            pem, password=None, unsafe_skip_rsa_key_validation=True
        )
    except (ValueError, TypeError) as exc:
        raise KeyMaterialError("the private key is not an unencrypted PEM key") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise KeyMaterialError("the private key is neither RSA nor EC")
    return key
