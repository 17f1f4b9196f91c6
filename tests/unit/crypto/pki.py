"""A throwaway PKI for the crypto tests, built with Salus's own certificate profiles
(crypto.profiles) plus the faulty certificates the attack tests need.

RSA key generation is the slow part, so keys come from a small per-process cache:
2048-bit keys (the policy floor) keep the tests quick; the 3072-bit default is exercised
by the CLI and key store tests.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crypto import profiles
from crypto.profiles import Issuer

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def rsa_key(index: int, bits: int = 2048) -> rsa.RSAPrivateKey:
    """The `index`-th cached RSA key of `bits` bits."""
    return _cached_key(index, bits)


@functools.cache
def _cached_key(index: int, bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, bits)


def key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


@dataclass(frozen=True)
class Mailbox:
    """A mailbox key with its certificate, and the chain a signer sends."""

    address: str
    key: rsa.RSAPrivateKey
    cert: x509.Certificate
    issuing: x509.Certificate

    @property
    def key_pem(self) -> bytes:
        return key_pem(self.key)

    @property
    def cert_pem(self) -> bytes:
        return cert_pem(self.cert)

    @property
    def chain_pem(self) -> bytes:
        return cert_pem(self.cert, self.issuing)


@dataclass
class Pki:
    """Root and issuing CA of one test operator."""

    root: Issuer
    issuing: Issuer
    _next_key: list[int] = field(default_factory=lambda: [10])

    @classmethod
    def make(cls, domain: str = "salus.test", first_key: int = 0) -> Pki:
        root_key, issuing_key = rsa_key(first_key), rsa_key(first_key + 1)
        root_cert = profiles.root_certificate(
            root_key, profiles.ca_name(f"Root {domain}", domain), NOW - dt.timedelta(days=30)
        )
        root = Issuer(root_cert, root_key)
        issuing_cert = profiles.issuing_certificate(
            root,
            issuing_key.public_key(),
            profiles.ca_name(f"Issuing {domain}", domain),
            NOW - dt.timedelta(days=30),
        )
        return cls(root, Issuer(issuing_cert, issuing_key), [first_key + 10])

    @property
    def anchors_pem(self) -> bytes:
        """What `salus trust export-ca` prints: issuing then root."""
        return cert_pem(self.issuing.cert, self.root.cert)

    def mailbox(
        self,
        address: str,
        *,
        key: rsa.RSAPrivateKey | None = None,
        at: dt.datetime = NOW - dt.timedelta(days=30),
    ) -> Mailbox:
        if key is None:
            key = rsa_key(self._next_key[0])
            self._next_key[0] += 1
        cert = profiles.mailbox_certificate(self.issuing, key.public_key(), address, address, at)
        return Mailbox(address, key, cert, self.issuing.cert)

    def leaf(
        self,
        address: str,
        key: rsa.RSAPrivateKey,
        *,
        not_before: dt.datetime = NOW - dt.timedelta(days=1),
        not_after: dt.datetime = NOW + dt.timedelta(days=365),
        key_usage: x509.KeyUsage | None = None,
        eku: tuple[x509.ObjectIdentifier, ...] = (ExtendedKeyUsageOID.EMAIL_PROTECTION,),
        issuer: Issuer | None = None,
    ) -> x509.Certificate:
        """A mailbox-like certificate with any of its fields set wrong on purpose."""
        signer = issuer or self.issuing
        usage = key_usage or x509.KeyUsage(
            True, False, True, False, False, False, False, False, False
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)]))
            .issuer_name(signer.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(address)]), critical=False)
        )
        if eku:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        return builder.sign(signer.key, hashes.SHA256())


def self_signed(address: str, key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(address)]), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .sign(key, hashes.SHA256())
    )


def resigned_with_sha1(cert: x509.Certificate, issuer_key: rsa.RSAPrivateKey) -> x509.Certificate:
    """The same certificate signed with sha1WithRSAEncryption (cryptography 50 no longer
    signs with SHA-1, so the TBS is rewritten with asn1crypto and signed as raw RSA)."""
    parsed = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    tbs = parsed["tbs_certificate"].copy()
    tbs["signature"] = {"algorithm": "sha1_rsa"}
    tbs_der = tbs.dump(force=True)
    signature = issuer_key.sign(tbs_der, padding.PKCS1v15(), hashes.SHA1())
    rebuilt = asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": {"algorithm": "sha1_rsa"},
            "signature_value": signature,
        }
    )
    return x509.load_der_x509_certificate(rebuilt.dump())
