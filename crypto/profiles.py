"""Certificate and CRL profiles of the service CA (RFC 5280, RFC 8550).

Pure builders: keys, names and the time come in, signed objects come out. Which keys
and lifetimes to use is `crypto.policy`'s; where the files go is `crypto.ca`'s.

- root CA: basicConstraints CA (pathLen 1), keyCertSign + cRLSign;
- issuing CA: basicConstraints CA (pathLen 0), keyCertSign + cRLSign, signed by the root;
- mailbox: digitalSignature + keyEncipherment, EKU emailProtection, the address as
  rfc822Name (RFC 8550 §3: the subjectAltName carries the address);
- TLS: digitalSignature, EKU serverAuth + clientAuth (the MX and the relay client use the
  same certificate for mutual TLS), dNSName of the host (and the mail domain);
- CRL: CRL number, authority key identifier, one entry per revoked serial (RFC 5280 §5).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crypto import policy
from crypto.sealing import PrivateKey

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True, slots=True)
class Issuer:
    """A CA certificate with its private key, ready to sign."""

    cert: x509.Certificate
    key: PrivateKey


@dataclass(frozen=True, slots=True)
class RevokedSerial:
    serial: int
    revoked_at: dt.datetime


def ca_name(common_name: str, domain: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, domain),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _usage(
    *, signature: bool = False, encipherment: bool = False, ca: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signature,
        content_commitment=False,
        key_encipherment=encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _builder(
    subject: x509.Name, public_key: PublicKey, now: dt.datetime, life: dt.timedelta
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - policy.BACKDATE)
        .not_valid_after(now + life)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _issued_by(builder: x509.CertificateBuilder, issuer: Issuer) -> x509.CertificateBuilder:
    ski = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return builder.issuer_name(issuer.cert.subject).add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
    )


def root_certificate(key: PrivateKey, name: x509.Name, now: dt.datetime) -> x509.Certificate:
    builder = (
        _builder(name, key.public_key(), now, policy.ROOT_CA_LIFETIME)
        .issuer_name(name)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_usage(ca=True), critical=True)
    )
    return builder.sign(key, policy.SIGNATURE_HASH())


def issuing_certificate(
    root: Issuer, public_key: PublicKey, name: x509.Name, now: dt.datetime
) -> x509.Certificate:
    builder = (
        _builder(name, public_key, now, policy.ISSUING_CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(ca=True), critical=True)
    )
    return _issued_by(builder, root).sign(root.key, policy.SIGNATURE_HASH())


def mailbox_certificate(
    issuer: Issuer, public_key: PublicKey, address: str, display_name: str, now: dt.datetime
) -> x509.Certificate:
    """An S/MIME certificate for one mailbox (RFC 8550 §4.4: KU and EKU for S/MIME)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, display_name or address)])
    builder = (
        _builder(subject, public_key, now, policy.MAILBOX_CERT_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(signature=True, encipherment=True), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(address)]), critical=False)
    )
    return _issued_by(builder, issuer).sign(issuer.key, policy.SIGNATURE_HASH())


def tls_certificate(
    issuer: Issuer, public_key: PublicKey, names: Sequence[str], now: dt.datetime
) -> x509.Certificate:
    """The service's TLS certificate for `names` (the host name first)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    builder = (
        _builder(subject, public_key, now, policy.TLS_CERT_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(signature=True), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
    )
    return _issued_by(builder, issuer).sign(issuer.key, policy.SIGNATURE_HASH())


def revocation_list(
    issuer: Issuer, revoked: Sequence[RevokedSerial], number: int, now: dt.datetime
) -> x509.CertificateRevocationList:
    """A CRL of `issuer` listing `revoked` (RFC 5280 §5.2.3: the CRL number grows)."""
    ski = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(now)
        .next_update(now + policy.CRL_LIFETIME)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    )
    for entry in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial)
            .revocation_date(entry.revoked_at)
            .build()
        )
    return builder.sign(issuer.key, policy.SIGNATURE_HASH())
