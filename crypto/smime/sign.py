"""Signing a MIME entity: multipart/signed with a detached CMS SignedData (RFC 8551
§3.5.3, RFC 1847 §2.1), SHA-256 and RSASSA-PKCS1-v1_5 (`crypto.policy`).

`cryptography`'s PKCS7SignatureBuilder makes the SignedData (with the signed attributes
content type, signing time, message digest and S/MIME capabilities, and the signer's
chain); it is asked for DER and binary mode, and the MIME around it is written here:
its `Encoding.SMIME` re-encodes the whole body in Python (DESIGN section 7).
"""

from __future__ import annotations

import functools
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from crypto import policy
from crypto.errors import KeyMaterialError
from crypto.smime import mime
from crypto.smime.key_cache import PrivateKey, private_key


def sign(entity: bytes, signer_key_pem: bytes, signer_chain_pem: bytes) -> bytes:
    """A multipart/signed entity (headers + body, CRLF) whose first part is `entity`
    with canonical line ends, signed by the key of the chain's first certificate."""
    return b"".join(signed_parts(entity, signer_key_pem, signer_chain_pem))


def signed_parts(entity: bytes, signer_key_pem: bytes, signer_chain_pem: bytes) -> list[bytes]:
    """`sign`'s entity as the pieces that make it, in order, the content uncopied: what
    is encrypted next takes them one by one (`crypto.smime.envelope.encrypt_parts`)."""
    key, chain = load_signer(signer_key_pem, signer_chain_pem)
    content = mime.to_crlf(entity)
    builder = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(content)
        .add_signer(chain[0], key, policy.SIGNATURE_HASH())
    )
    for cert in chain[1:]:
        builder = builder.add_certificate(cert)
    der = builder.sign(
        serialization.Encoding.DER,
        [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
    )
    boundary = _boundary(content)
    delimiter = f"--{boundary}".encode("ascii")
    head = mime.header_block(
        [
            (
                "Content-Type",
                f'multipart/signed; protocol="application/pkcs7-signature"; micalg={policy.MICALG};'
                f'\r\n boundary="{boundary}"',
            )
        ]
    )
    return [
        head + _PREAMBLE + delimiter + b"\r\n",
        content,
        b"\r\n" + delimiter + b"\r\n" + mime.base64_body(der, _SIGNATURE_HEAD),
        delimiter + b"--\r\n",
    ]


@functools.lru_cache(maxsize=256)
def load_signer(
    key_pem: bytes, chain_pem: bytes
) -> tuple[PrivateKey, tuple[x509.Certificate, ...]]:
    """The signer's key and chain, checked to match, kept per worker process like the
    key alone (`key_cache`): loading and comparing them costs ~0.1 ms, a tenth of a
    10 KB message's whole protect."""
    key = private_key(key_pem)
    try:
        chain = x509.load_pem_x509_certificates(chain_pem)
    except ValueError as exc:
        raise KeyMaterialError("the signer's certificate chain is not PEM") from exc
    if chain[0].public_key() != key.public_key():
        raise KeyMaterialError("the signer's certificate does not match its key")
    return key, tuple(chain)


def _boundary(content: bytes) -> str:
    """A boundary that does not occur in the content (RFC 2046 §5.1.1)."""
    while True:
        boundary = f"----salus-signed-{secrets.token_hex(12)}"
        if boundary.encode("ascii") not in content:
            return boundary


_PREAMBLE = b"This is a cryptographically signed message in MIME format.\r\n\r\n"
_SIGNATURE_HEAD = mime.header_block(
    [
        ("Content-Type", 'application/pkcs7-signature; name="smime.p7s"'),
        ("Content-Transfer-Encoding", "base64"),
        ("Content-Disposition", 'attachment; filename="smime.p7s"'),
        ("Content-Description", "S/MIME Cryptographic Signature"),
    ]
)
