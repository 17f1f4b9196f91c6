"""The one place that chooses algorithms (STYLE principle 8).

Everything else in Salus names a purpose ("sign a message", "seal at rest"); this module
maps purposes to algorithms and sizes and lists what is refused.
"""

from __future__ import annotations

# Key derivation purposes under the service key.
AT_REST_PURPOSE = "at-rest"
KEYSTORE_PURPOSE = "keystore"


# ---- OpenPGP (crypto/openpgp) ------------------------------------------------------------
# Algorithm names as RFC 4880 §9 / RFC 6637 list them and pgpy's enums spell them.
# Keys: Ed25519 primary (sign, certify) + Curve25519 ECDH subkey (encrypt): pgpy is ~5×
# faster with them than with RSA-2048 (docs/benchmarks.md "OpenPGP (pgpy)").
OPENPGP_PRIMARY_CURVE = "Ed25519"
OPENPGP_ENCRYPTION_CURVE = "Curve25519"
# Preferences written into our self-signatures; the first one is what we use.
OPENPGP_HASHES = ("SHA256", "SHA512", "SHA384")
OPENPGP_CIPHERS = ("AES256", "AES128")
OPENPGP_COMPRESSION = ("ZLIB", "ZIP", "Uncompressed")
# What we accept from peers (RFC 9580 §9.2, §9.3 deprecations): no SHA-1/MD5 signatures,
# no 3DES/CAST5/IDEA/Blowfish session ciphers, RSA at least 2048 bits.
OPENPGP_ACCEPTED_HASHES = frozenset({"SHA224", "SHA256", "SHA384", "SHA512"})
OPENPGP_ACCEPTED_CIPHERS = frozenset({"AES128", "AES192", "AES256"})
OPENPGP_MIN_RSA_BITS = 2048
# Passphrase protection of exported secret keys (RFC 4880 §3.7.1.3 iterated+salted S2K).
OPENPGP_EXPORT_CIPHER = "AES256"
OPENPGP_EXPORT_HASH = "SHA256"
# A decrypted message may inflate to at most this many bytes (decompression bombs).
OPENPGP_MAX_PLAINTEXT = 64 * 1024 * 1024
