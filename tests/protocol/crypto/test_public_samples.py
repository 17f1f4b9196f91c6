"""Real S/MIME from other health messaging systems (../shared/fixtures, PROVENANCE.md).

KIM (gematik): AuthEnvelopedData, AES-256-GCM, RSAES-OAEP-SHA256 for two recipients,
inside it an opaque signed-data with an RSASSA-PSS signature. Both recipients' keys
decrypt it (validation time pinned: their certificates expired in 2024). The signed step
(03.signedwrap) was damaged by a line-ending conversion upstream, so what decrypts is a
signature that does not parse: refused as malformed. The undamaged DER of the same step
(02.signedcms) verifies cryptographically (PSS, SHA-256); its signer's CA (GEM.SMCB-CA24)
is not in the sample, so it is refused as unknown-root even at signing time, and as
expired today.

Direct (nhin-d): EnvelopedData, AES-128-CBC, RSA-1024 PKCS#1 v1.5, signed with SHA-1 by
an RSA-1024 certificate. It decrypts with the recipient's key (our own key's size is not
a reason to lose mail), but the signature is refused for SHA-1, and its certificate for
RSA-1024: two distinct reasons.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from crypto import smime
from crypto.errors import CertificateRefused, DecryptionError, Reason
from crypto.smime import SignatureStatus, mime
from crypto.validation import Usage, validate

KIM_SIGNING_TIME = dt.datetime(2020, 12, 14, 7, 17, 5, tzinfo=dt.UTC)
DIRECT_TIME = dt.datetime(2011, 6, 1, tzinfo=dt.UTC)


def _kim(shared: Path) -> Path:
    return shared / "smime" / "gematik-kim" / "SMIME-Profil"


def _kim_keys(shared: Path, who: str) -> tuple[bytes, bytes, list[bytes]]:
    """(key PEM, certificate PEM, CA PEMs) of KIM recipient A or B, read from its zip."""
    stem = {"A": "hci-enc-2-kim-bsp", "B": "hci-enc-3-kim-bsp"}[who]
    with zipfile.ZipFile(_kim(shared) / f"recipient{who}keys.zip") as archive:
        names = {Path(n).name: n for n in archive.namelist()}
        key = archive.read(names[f"{stem}.prv.pem"])
        cert = archive.read(names[f"{stem}.pem"])
        cas = [
            archive.read(names[n])
            for n in ("GEM.KOMP-CA24-TEST-ONLY.pem", "GEM.RCA2-TEST-ONLY.pem")
        ]
    return key, cert, cas


@pytest.mark.parametrize("who", ["A", "B"])
def test_kim_message_decrypts_with_each_recipients_key(who: str, shared_fixtures: Path) -> None:
    key, cert, _ = _kim_keys(shared_fixtures, who)
    inner = smime.decrypt(
        (_kim(shared_fixtures) / "inputEmail.txt.05.encryptedwrap").read_bytes(), key, cert
    )
    assert inner == (_kim(shared_fixtures) / "inputEmail.txt.03.signedwrap").read_bytes()
    assert mime.parse(inner).param("smime-type") == "signed-data"


def test_kim_message_does_not_decrypt_with_the_other_key_on_the_wrong_certificate(
    shared_fixtures: Path,
) -> None:
    key_a, _, _ = _kim_keys(shared_fixtures, "A")
    _, cert_b, _ = _kim_keys(shared_fixtures, "B")
    with pytest.raises(DecryptionError):
        smime.decrypt(
            (_kim(shared_fixtures) / "inputEmail.txt.05.encryptedwrap").read_bytes(), key_a, cert_b
        )


def test_kim_recipient_certificates_were_valid_for_encryption_when_sent(
    shared_fixtures: Path,
) -> None:
    _, cert, cas = _kim_keys(shared_fixtures, "A")
    leaf = x509.load_pem_x509_certificate(cert)
    anchors = [x509.load_pem_x509_certificate(c) for c in cas]
    path = validate(
        leaf,
        anchors=anchors,
        at=KIM_SIGNING_TIME,
        usage=Usage.ENCRYPT,
        address="zahnarzt@praxis.de",
    )
    assert len(path) == 2
    with pytest.raises(CertificateRefused) as caught:
        validate(
            leaf, anchors=anchors, at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC), usage=Usage.ENCRYPT
        )
    assert caught.value.reason is Reason.EXPIRED


def test_kim_damaged_signed_step_is_refused_as_malformed(shared_fixtures: Path) -> None:
    key, cert, cas = _kim_keys(shared_fixtures, "B")
    encrypted = (_kim(shared_fixtures) / "inputEmail.txt.05.encryptedwrap").read_bytes()
    result = smime.unprotect(encrypted, [(key, cert)], cas, KIM_SIGNING_TIME)
    assert (result.status, result.reason) == (SignatureStatus.INVALID, Reason.MALFORMED)


def _kim_signed_entity(shared: Path) -> bytes:
    der = (_kim(shared) / "inputEmail.txt.02.signedcms").read_bytes()
    headers = [
        ("Content-Type", "application/pkcs7-mime; smime-type=signed-data"),
        ("Content-Transfer-Encoding", "binary"),
    ]
    return mime.header_block(headers) + der


def test_kim_pss_signature_verifies_but_its_ca_is_unknown(shared_fixtures: Path) -> None:
    _, _, cas = _kim_keys(shared_fixtures, "A")
    result = smime.verify(_kim_signed_entity(shared_fixtures), cas, KIM_SIGNING_TIME)
    assert (result.status, result.reason) == (SignatureStatus.UNTRUSTED, Reason.UNKNOWN_ROOT)
    assert result.signing_time == KIM_SIGNING_TIME
    assert result.content.startswith(b"Content-Type: message/rfc822\r\n\r\n")
    assert b"From: Karl Mustersender <mustersender@komle.de>" in result.content
    signer = result.signer_cert
    assert signer is not None and "GEM.SMCB-CA24" in signer.issuer.rfc4514_string()


def test_kim_signature_today_is_refused_as_expired(shared_fixtures: Path) -> None:
    _, _, cas = _kim_keys(shared_fixtures, "A")
    result = smime.verify(
        _kim_signed_entity(shared_fixtures), cas, dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    )
    assert (result.status, result.reason) == (SignatureStatus.UNTRUSTED, Reason.EXPIRED)


def test_kim_signature_over_altered_content_is_refused(shared_fixtures: Path) -> None:
    der = bytearray((_kim(shared_fixtures) / "inputEmail.txt.02.signedcms").read_bytes())
    offset = der.index(b"just to say hello")
    der[offset : offset + 4] = b"JUST"
    entity = mime.header_block(
        [("Content-Type", "application/pkcs7-mime; smime-type=signed-data")]
    ) + bytes(der)
    result = smime.verify(entity, [], KIM_SIGNING_TIME)
    assert (result.status, result.reason) == (SignatureStatus.INVALID, Reason.CONTENT_ALTERED)


def _direct(shared: Path) -> tuple[bytes, bytes, bytes]:
    certs = shared / "smime" / "nhin-d"
    key = serialization.load_der_private_key((certs / "ryanKey.der").read_bytes(), None)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert_pem = x509.load_der_x509_certificate((certs / "ryan.der").read_bytes()).public_bytes(
        serialization.Encoding.PEM
    )
    return (shared / "eml" / "nhin-d" / "EncryptedMessage2.txt").read_bytes(), key_pem, cert_pem


def test_direct_message_decrypts_with_ryans_key(shared_fixtures: Path) -> None:
    message, key, cert = _direct(shared_fixtures)
    inner = smime.decrypt(message, key, cert)
    part = mime.parse(inner)
    assert part.content_type == "multipart/signed"
    assert part.param("micalg") == "sha1"
    assert b"Subject: test pic" in inner


def test_direct_signature_is_refused_for_sha1(shared_fixtures: Path) -> None:
    message, key, cert = _direct(shared_fixtures)
    anchor = (shared_fixtures / "smime" / "nhin-d" / "secureHealthEmailCACert.der").read_bytes()
    inner = smime.decrypt(message, key, cert)
    result = smime.verify(inner, [anchor], DIRECT_TIME, sender="gm2552@securehealthemail.com")
    assert (result.status, result.reason) == (SignatureStatus.INVALID, Reason.WEAK_DIGEST)


def test_direct_signer_certificate_is_refused_for_rsa_1024(shared_fixtures: Path) -> None:
    certs = shared_fixtures / "smime" / "nhin-d"
    signer = x509.load_der_x509_certificate((certs / "gm2552.der").read_bytes())
    anchor = x509.load_der_x509_certificate((certs / "secureHealthEmailCACert.der").read_bytes())
    with pytest.raises(CertificateRefused) as caught:
        validate(
            signer,
            anchors=[anchor],
            at=DIRECT_TIME,
            usage=Usage.SIGN,
            address="gm2552@securehealthemail.com",
        )
    assert caught.value.reason is Reason.WEAK_KEY
    assert "1024-bit" in caught.value.detail


def test_direct_unprotect_hides_the_refusal_behind_cbc(shared_fixtures: Path) -> None:
    """CBC without a signature we accept proves nothing intact: the pipeline's one call
    answers with the opaque decryption error."""
    message, key, cert = _direct(shared_fixtures)
    anchor = (shared_fixtures / "smime" / "nhin-d" / "secureHealthEmailCACert.der").read_bytes()
    with pytest.raises(DecryptionError):
        smime.unprotect(message, [(key, cert)], [anchor], DIRECT_TIME)


def test_the_hidden_reason_stays_for_the_operator(shared_fixtures: Path) -> None:
    message, key, cert = _direct(shared_fixtures)
    anchor = (shared_fixtures / "smime" / "nhin-d" / "secureHealthEmailCACert.der").read_bytes()
    with pytest.raises(DecryptionError) as caught:
        smime.unprotect(message, [(key, cert)], [anchor], DIRECT_TIME)
    assert str(caught.value) == "the message cannot be decrypted"
    assert getattr(caught.value.__cause__, "reason", None) is Reason.WEAK_DIGEST
