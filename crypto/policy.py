"""The one place that chooses algorithms (STYLE principle 8).

Everything else in Salus names a purpose ("sign a message", "seal at rest"); this module
maps purposes to algorithms and sizes and lists what is refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from config.settings import CRL_LIFETIME_DAYS

# Key derivation purposes under the service key.
AT_REST_PURPOSE = "at-rest"
KEYSTORE_PURPOSE = "keystore"
TLS_KEY_PASSWORD_PURPOSE = "tls-key-password"  # noqa: S105 - an HKDF label, not a secret


# ---- S/MIME, the service CA and mailbox keys (crypto/smime, crypto/ca.py) -----------------
# Choices, with their reasons in docs/decisions.md "S/MIME algorithm policy".
#
# Mailbox keys are RSA: S/MIME key transport to every mainstream client (and to KIM and
# Direct peers) is RSA; ECDH key agreement is not read by all of them. 3072 bits (128-bit
# strength, NIST SP 800-57, ANSSI RGS B1 beyond 2030) because the old keys are kept to read
# archived medical mail for decades; the extra cost is one private operation per message.
RSA_PUBLIC_EXPONENT = 65537
MAILBOX_RSA_BITS = 3072
ROOT_CA_RSA_BITS = 4096
ISSUING_CA_RSA_BITS = 3072
# The TLS key is ECDSA P-256: fast handshakes, read by every TLS 1.2/1.3 mail client and
# peer; its certificate still chains to the RSA service CA.
TLS_EC_CURVE = ec.SECP256R1

ROOT_CA_LIFETIME = dt.timedelta(days=20 * 365)
ISSUING_CA_LIFETIME = dt.timedelta(days=10 * 365)
MAILBOX_CERT_LIFETIME = dt.timedelta(days=3 * 365)
TLS_CERT_LIFETIME = dt.timedelta(days=2 * 365)
# Certificates start this much before "now", for peers whose clocks run a little behind.
BACKDATE = dt.timedelta(minutes=5)
# `salus keys list` flags keys that expire within this window: renew them.
RENEW_BEFORE = dt.timedelta(days=60)
# A CRL's nextUpdate. The number lives in config.settings, which checks the re-signing
# margin `ca.crl_refresh_days` against it (config imports nothing from crypto).
CRL_LIFETIME = dt.timedelta(days=CRL_LIFETIME_DAYS)

# Signatures: SHA-256 everywhere (certificates, CRLs, CMS SignedData). RSASSA-PKCS1-v1_5
# for what we sign (RFC 8551 §2.2: every receiving agent MUST verify it; RSASSA-PSS is
# only SHOULD+), while we verify both.
SIGNATURE_HASH = hashes.SHA256
MICALG = "sha-256"  # RFC 8551 §3.5.3.2

# Content encryption (RFC 8551 §2.7). `smime`: AES-256-CBC with RSAES-PKCS1-v1_5 key
# transport, the one every mainstream client decrypts (RFC 8551 §2.3 MUST). `smime-gcm`:
# AuthEnvelopedData (RFC 5083) with AES-256-GCM (RFC 5084) and RSAES-OAEP-SHA256
# (RFC 8017 §7.1, RFC 4055 §4), as KIM sends.
FORM_CBC = "smime"
FORM_GCM = "smime-gcm"
# asn1crypto names of the algorithm identifiers written for each form.
CBC_CONTENT_CIPHER = "aes256_cbc"
CBC_KEY_TRANSPORT = "rsaes_pkcs1v15"
GCM_CONTENT_CIPHER = "aes256_gcm"
GCM_KEY_TRANSPORT = "rsaes_oaep"
CONTENT_KEY_BYTES = 32
CBC_IV_BYTES = 16
GCM_NONCE_BYTES = 12  # RFC 5084 §3.2: 12 octets RECOMMENDED
GCM_TAG_BYTES = 16
OAEP_HASH = hashes.SHA256

# What we accept from peers. Decrypting: AES in CBC or GCM; tags of 12 to 16 bytes
# (RFC 5084 §3.2); key transport PKCS#1 v1.5 or OAEP. OAEP with SHA-1 is accepted: OAEP
# needs no collision resistance, and `openssl cms -keyopt rsa_padding_mode:oaep` and
# RFC 8017's defaults use it.
ACCEPTED_CONTENT_CIPHERS: Mapping[str, tuple[str, int]] = {
    # asn1crypto algorithm name: (mode, key bytes)
    "aes128_cbc": ("cbc", 16),
    "aes192_cbc": ("cbc", 24),
    "aes256_cbc": ("cbc", 32),
    "aes128_gcm": ("gcm", 16),
    "aes192_gcm": ("gcm", 24),
    "aes256_gcm": ("gcm", 32),
}
GCM_MIN_TAG_BYTES = 12
ACCEPTED_OAEP_HASHES = frozenset({"sha1", "sha256", "sha384", "sha512"})
# Hashes accepted in signatures (message digests, certificate and CRL signatures).
ACCEPTED_SIGNATURE_HASHES = frozenset({"sha256", "sha384", "sha512"})
# Refused outright, with a reason (docs/decisions.md): broken hashes and legacy ciphers.
REFUSED_HASHES = frozenset({"md2", "md5", "sha1"})
REFUSED_CIPHERS = frozenset({"des", "tripledes_3key", "tripledes", "rc2", "rc4", "rc5"})
# Smallest public keys accepted anywhere (a signer, a recipient, a CA).
MIN_RSA_BITS = 2048
ACCEPTED_EC_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})
# Longest certificate path from a signer to its trust anchor, anchor included.
MAX_PATH_LENGTH = 6

# PKCS#12 export for mail clients (RFC 7292 with PBES2, RFC 8018): PBKDF2-HMAC-SHA256 and
# AES-256-CBC for every key, HMAC-SHA256 for the MAC. Iterations as OpenSSL 3 and
# Windows read them in well under a second.
P12_KDF_ITERATIONS = 200_000
P12_SALT_BYTES = 16


# ---- OpenPGP (crypto/openpgp) ------------------------------------------------------------
# Algorithm names as RFC 4880 §9 / RFC 6637 list them and pgpy's enums spell them.
# Keys: Ed25519 primary (sign, certify) + Curve25519 ECDH subkey (encrypt): with pgpy a
# signature costs ~10× less and a decryption ~25× less than with RSA-2048
# (docs/benchmarks.md "OpenPGP (pgpy)").
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
