"""Keys sealed at rest open only where they were sealed and survive a service-key
rotation; PKCS#12 exports hold every generation under the passphrase."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import pkcs12 as crypto_pkcs12

from crypto import pkcs12
from crypto.errors import SealedKeyError
from crypto.sealing import KeySealer, open_private_key, reseal, seal_private_key
from crypto.service_key import ServiceKey
from tests.unit.crypto.pki import Mailbox, Pki

OLD, NEW = ServiceKey(b"\x01" * 32), ServiceKey(b"\x02" * 32)


def test_a_sealed_key_opens_only_in_its_own_context(alice: Mailbox) -> None:
    sealer = KeySealer(OLD)
    sealed = seal_private_key(sealer, alice.key, b"mailbox/alice@salus.test/1/smime")
    assert (
        alice.key.private_numbers()
        == open_private_key(sealer, sealed, b"mailbox/alice@salus.test/1/smime").private_numbers()
    )  # type: ignore[union-attr]
    with pytest.raises(SealedKeyError):
        open_private_key(sealer, sealed, b"mailbox/bob@salus.test/1/smime")


def test_altered_sealed_bytes_do_not_open(alice: Mailbox) -> None:
    sealer = KeySealer(OLD)
    sealed = bytearray(seal_private_key(sealer, alice.key, b"ctx"))
    sealed[40] ^= 1
    with pytest.raises(SealedKeyError):
        open_private_key(sealer, bytes(sealed), b"ctx")


def test_rotation_keeps_old_seals_open_and_reseals_them(alice: Mailbox) -> None:
    sealed = seal_private_key(KeySealer(OLD), alice.key, b"ctx")
    rotated = KeySealer(NEW, (OLD,))
    assert rotated.needs_reseal(sealed)
    resealed = reseal(rotated, sealed, b"ctx")
    assert not rotated.needs_reseal(resealed)
    open_private_key(KeySealer(NEW), resealed, b"ctx")
    with pytest.raises(SealedKeyError, match="not available"):
        open_private_key(KeySealer(NEW), sealed, b"ctx")


def test_the_keystore_purpose_is_not_the_at_rest_key() -> None:
    from crypto.at_rest import AtRestCipher, SealedDataError  # noqa: PLC0415

    sealed = KeySealer(OLD).seal(b"secret", b"ctx")
    with pytest.raises(SealedDataError, match="not sealed data"):
        AtRestCipher(OLD).open(sealed, b"ctx")


def test_pkcs12_holds_every_generation_newest_first(pki: Pki, alice: Mailbox) -> None:
    renewed = pki.mailbox("alice@salus.test")
    entries = [
        pkcs12.KeyEntry(renewed.key, renewed.cert, "current"),
        pkcs12.KeyEntry(alice.key, alice.cert, "previous"),
    ]
    data = pkcs12.build(entries, [pki.issuing.cert, pki.root.cert], "correct horse")
    loaded = crypto_pkcs12.load_pkcs12(data, b"correct horse")
    assert loaded.cert is not None and loaded.cert.certificate == renewed.cert
    assert loaded.cert.friendly_name == b"current"
    others = {c.certificate for c in loaded.additional_certs}
    assert others == {alice.cert, pki.issuing.cert, pki.root.cert}


def test_pkcs12_refuses_a_wrong_passphrase(alice: Mailbox) -> None:
    data = pkcs12.build([pkcs12.KeyEntry(alice.key, alice.cert, "k")], [], "right")
    with pytest.raises(ValueError):
        crypto_pkcs12.load_pkcs12(data, b"wrong")
    with pytest.raises(ValueError, match="passphrase"):
        pkcs12.build([pkcs12.KeyEntry(alice.key, alice.cert, "k")], [], "")


def test_pkcs12_mac_key_matches_a_pfx_made_by_cryptography(alice: Mailbox) -> None:
    """The RFC 7292 B.2 KDF gives the MAC key cryptography's own PFX was made with."""
    import hmac  # noqa: PLC0415

    from asn1crypto import pkcs12 as asn1_pkcs12  # noqa: PLC0415
    from cryptography.hazmat.primitives.serialization import PrivateFormat  # noqa: PLC0415

    encryption = (
        PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(1000)
        .hmac_hash(hashes.SHA256())
        .build(b"pw")
    )
    pfx = asn1_pkcs12.Pfx.load(
        crypto_pkcs12.serialize_key_and_certificates(b"k", alice.key, alice.cert, None, encryption)
    )
    mac_data = pfx["mac_data"]
    key = pkcs12.pkcs12_kdf_sha256(
        "pw", mac_data["mac_salt"].native, 3, mac_data["iterations"].native
    )
    expected = hmac.new(key, pfx["auth_safe"]["content"].native, "sha256").digest()
    assert expected == mac_data["mac"]["digest"].native
