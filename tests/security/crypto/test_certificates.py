"""Bad certificates behind a good signature: expired, not yet valid, revoked, wrong key
usage, wrong extended key usage, wrong address, self-signed, unknown root, RSA-1024,
SHA-1. Each message is refused as `untrusted` with its own reason, and the same
certificates are refused as encryption recipients where that applies."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from crypto import profiles, smime
from crypto.errors import CertificateRefused, KeyMaterialError, Reason
from crypto.profiles import RevokedSerial
from crypto.smime import SignatureStatus, mime
from crypto.validation import Usage, validate
from tests.unit.crypto.pki import NOW, Pki, cert_pem, resigned_with_sha1, rsa_key, self_signed

ENTITY = b"Content-Type: text/plain\r\n\r\nReferral for cardiology.\r\n"
ADDRESS = "carol@salus.test"
SIGN_ONLY_ENCIPHER = x509.KeyUsage(False, False, True, False, False, False, False, False, False)


def _signed_by(
    cert: x509.Certificate, key_index: int, bits: int = 2048, *extra: x509.Certificate
) -> bytes:
    builder = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(ENTITY)
        .add_signer(cert, rsa_key(key_index, bits), hashes.SHA256())
    )
    for other in extra:
        builder = builder.add_certificate(other)
    der = builder.sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    return mime.header_block(
        [
            ("Content-Type", "application/pkcs7-mime; smime-type=signed-data"),
            ("Content-Transfer-Encoding", "base64"),
        ]
    ) + mime.base64_body(der)


def _case(name: str, pki: Pki) -> tuple[x509.Certificate, int, int, str]:
    """(certificate, key index, key bits, sender) for one faulty certificate."""
    other = Pki.make("unknown.test", first_key=200)
    cases: dict[str, tuple[x509.Certificate, int, int, str]] = {
        "expired": (
            pki.leaf(
                ADDRESS,
                rsa_key(50),
                not_before=NOW - dt.timedelta(days=400),
                not_after=NOW - dt.timedelta(days=1),
            ),
            50,
            2048,
            ADDRESS,
        ),
        "not-yet-valid": (
            pki.leaf(ADDRESS, rsa_key(51), not_before=NOW + dt.timedelta(days=1)),
            51,
            2048,
            ADDRESS,
        ),
        "revoked": (pki.leaf(ADDRESS, rsa_key(52)), 52, 2048, ADDRESS),
        "key-usage": (
            pki.leaf(ADDRESS, rsa_key(53), key_usage=SIGN_ONLY_ENCIPHER),
            53,
            2048,
            ADDRESS,
        ),
        "extended-key-usage": (
            pki.leaf(ADDRESS, rsa_key(54), eku=(x509.ExtendedKeyUsageOID.SERVER_AUTH,)),
            54,
            2048,
            ADDRESS,
        ),
        "address": (pki.leaf("dave@salus.test", rsa_key(55)), 55, 2048, ADDRESS),
        "self-signed": (self_signed(ADDRESS, rsa_key(56)), 56, 2048, ADDRESS),
        "unknown-root": (other.leaf(ADDRESS, rsa_key(57)), 57, 2048, ADDRESS),
        "rsa-1024": (pki.leaf(ADDRESS, rsa_key(58, 1024)), 58, 1024, ADDRESS),
        "sha-1": (
            resigned_with_sha1(pki.leaf(ADDRESS, rsa_key(59)), pki.issuing.key),
            59,
            2048,
            ADDRESS,
        ),  # type: ignore[arg-type]
    }
    return cases[name]


EXPECTED = {
    "expired": Reason.EXPIRED,
    "not-yet-valid": Reason.NOT_YET_VALID,
    "revoked": Reason.REVOKED,
    "key-usage": Reason.KEY_USAGE,
    "extended-key-usage": Reason.EXTENDED_KEY_USAGE,
    "address": Reason.ADDRESS_MISMATCH,
    "self-signed": Reason.SELF_SIGNED,
    "unknown-root": Reason.UNKNOWN_ROOT,
    "rsa-1024": Reason.WEAK_KEY,
    "sha-1": Reason.WEAK_CERTIFICATE_SIGNATURE,
}


def _crl(pki: Pki, cert: x509.Certificate) -> bytes:
    crl = profiles.revocation_list(
        pki.issuing, [RevokedSerial(cert.serial_number, NOW - dt.timedelta(hours=2))], 7, NOW
    )
    return crl.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_signature_by_a_bad_certificate_is_untrusted_with_its_reason(name: str, pki: Pki) -> None:
    cert, key_index, bits, sender = _case(name, pki)
    crls = [_crl(pki, cert)] if name == "revoked" else []
    result = smime.verify(
        _signed_by(cert, key_index, bits), [pki.anchors_pem], NOW, crls, sender=sender
    )
    assert result.status is SignatureStatus.UNTRUSTED, result.detail
    assert result.reason is EXPECTED[name]
    assert not result.valid


def test_control_a_good_certificate_made_the_same_way_is_valid(pki: Pki) -> None:
    cert = pki.leaf(ADDRESS, rsa_key(60))
    crl = _crl(pki, pki.leaf("someone@salus.test", rsa_key(61)))
    result = smime.verify(_signed_by(cert, 60), [pki.anchors_pem], NOW, [crl], sender=ADDRESS)
    assert result.valid, result.detail


@pytest.mark.parametrize(
    "name", ["expired", "revoked", "address", "unknown-root", "rsa-1024", "sha-1", "self-signed"]
)
def test_the_same_certificates_are_refused_as_recipients(name: str, pki: Pki) -> None:
    cert, _, _, sender = _case(name, pki)
    crls = [x509.load_pem_x509_crl(_crl(pki, cert))] if name == "revoked" else []
    with pytest.raises(CertificateRefused) as caught:
        validate(
            cert,
            anchors=[pki.issuing.cert, pki.root.cert],
            at=NOW,
            usage=Usage.ENCRYPT,
            address=sender,
            crls=crls,
        )
    assert caught.value.reason is EXPECTED[name]


def test_reasons_are_all_distinct() -> None:
    assert len({reason.value for reason in EXPECTED.values()}) == len(EXPECTED)


def test_a_leaf_chaining_through_an_untrusted_intermediate_is_refused(pki: Pki) -> None:
    """An attacker's CA certificate shipped inside the signature does not become trusted."""
    rogue = Pki.make("rogue.test", first_key=300)
    cert = rogue.leaf(ADDRESS, rsa_key(62))
    result = smime.verify(
        _signed_by(cert, 62, 2048, rogue.issuing.cert, rogue.root.cert),
        [pki.anchors_pem],
        NOW,
        sender=ADDRESS,
    )
    assert (result.status, result.reason) == (SignatureStatus.UNTRUSTED, Reason.UNKNOWN_ROOT)


def test_recipient_certificates_need_an_rsa_key_of_policy_size(pki: Pki) -> None:
    cert, *_ = _case("rsa-1024", pki)
    with pytest.raises(KeyMaterialError, match="1024-bit"):
        smime.encrypt(ENTITY, [cert_pem(cert)], "smime")
