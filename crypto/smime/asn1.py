"""CMS structures and conversions that asn1crypto leaves to us.

asn1crypto knows AuthEnvelopedData (RFC 5083) and RSAES-OAEP, but reads the parameters
of AES-GCM as `Any` (PITFALLS "cryptography and asn1crypto"): `GCMParameters` is the
SEQUENCE of RFC 5084 §3.2. The rest maps between asn1crypto names and `cryptography`
objects, and between the two libraries' certificates.
"""

from __future__ import annotations

import functools

from asn1crypto import cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization


class GCMParameters(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """RFC 5084 §3.2: GCMParameters ::= SEQUENCE { aes-nonce OCTET STRING,
    aes-ICVlen AES-GCM-ICVlen DEFAULT 12 }."""

    _fields = [  # noqa: RUF012 - asn1crypto's declaration style
        ("aes_nonce", core.OctetString),
        ("aes_icvlen", core.Integer, {"default": 12}),
    ]


_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def hash_by_name(name: str) -> hashes.HashAlgorithm:
    """A `cryptography` hash for an asn1crypto digest name; KeyError when unknown."""
    return _HASHES[name]()


@functools.lru_cache(maxsize=512)
def _identity(der: bytes) -> tuple[bytes, int, bytes | None]:
    """(issuer DER exactly as in the certificate, serial, subject key identifier)."""
    tbs = asn1_x509.Certificate.load(der)["tbs_certificate"]
    ski = None
    for extension in tbs["extensions"]:
        if extension["extn_id"].native == "key_identifier":
            ski = extension["extn_value"].parsed.native
    return tbs["issuer"].dump(), tbs["serial_number"].native, ski


def identifies(rid: cms.RecipientIdentifier | cms.SignerIdentifier, cert: x509.Certificate) -> bool:
    """True when a recipient or signer identifier names `cert` (issuer and serial, or
    subject key identifier, RFC 5652 §5.3 and §6.2.1)."""
    issuer, serial, ski = _identity(cert.public_bytes(serialization.Encoding.DER))
    if rid.name == "issuer_and_serial_number":
        value = rid.chosen
        return bool(value["serial_number"].native == serial and value["issuer"].dump() == issuer)
    if rid.name == "subject_key_identifier":
        return ski is not None and bool(rid.chosen.native == ski)
    return False


def attributes_as_set(attrs: cms.CMSAttributes) -> bytes:
    """DER of signed (or authenticated) attributes as the SET OF they are signed as
    (RFC 5652 §5.4: the [0] IMPLICIT tag is replaced by the SET tag)."""
    der: bytes = attrs.dump()
    return b"\x31" + der[1:]
