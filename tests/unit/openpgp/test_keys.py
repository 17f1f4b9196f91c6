"""Mailbox OpenPGP keys: what generate_key makes and export_secret protects."""

from __future__ import annotations

import pgpy
import pytest
from pgpy.constants import HashAlgorithm, KeyFlags, PubKeyAlgorithm, SymmetricKeyAlgorithm

from crypto.openpgp import KeyFormatError, export_secret, fingerprint, generate_key, public_of
from crypto.openpgp.armor import armor
from crypto.openpgp.keys import load_key, load_secret


@pytest.fixture(scope="module")
def alice() -> tuple[str, str]:
    return generate_key("alice@praxis.test", "Dr Alice Example")


def test_key_is_ed25519_primary_with_cv25519_encryption_subkey(alice: tuple[str, str]) -> None:
    secret, public = alice
    key = load_key(public)
    assert key.is_public
    assert key.key_algorithm is PubKeyAlgorithm.EdDSA
    (subkey,) = key.subkeys.values()
    assert subkey.key_algorithm is PubKeyAlgorithm.ECDH
    binding = next(iter(subkey.self_signatures))
    assert binding.key_flags == {KeyFlags.EncryptCommunications, KeyFlags.EncryptStorage}
    uid = key.userids[0]
    assert (uid.name, uid.email) == ("Dr Alice Example", "alice@praxis.test")
    assert uid.selfsig.key_flags == {KeyFlags.Sign, KeyFlags.Certify}
    assert uid.selfsig.hashprefs[0] is HashAlgorithm.SHA256
    assert uid.selfsig.cipherprefs[0] is SymmetricKeyAlgorithm.AES256
    assert not load_secret(secret).is_protected


def test_public_and_secret_share_the_fingerprint(alice: tuple[str, str]) -> None:
    secret, public = alice
    assert fingerprint(secret) == fingerprint(public)
    assert len(fingerprint(public)) == 40
    assert public_of(secret) == public


def test_two_keys_differ() -> None:
    assert fingerprint(generate_key("a@x.test", "A")[1]) != fingerprint(
        generate_key("a@x.test", "A")[1]
    )


def test_exported_secret_needs_its_passphrase(alice: tuple[str, str]) -> None:
    secret, _ = alice
    exported = export_secret(secret, "correct horse battery staple")
    key, _ = pgpy.PGPKey.from_blob(exported)
    assert key.is_protected
    with pytest.raises(pgpy.errors.PGPDecryptionError):
        key.unlock("wrong").__enter__()
    with key.unlock("correct horse battery staple"):
        assert key.is_unlocked
    # the key store's copy is untouched
    assert not load_secret(secret).is_protected


def test_export_refuses_an_empty_passphrase(alice: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="passphrase"):
        export_secret(alice[0], "")


def test_load_secret_refuses_public_and_protected_keys(alice: tuple[str, str]) -> None:
    secret, public = alice
    with pytest.raises(KeyFormatError, match="public"):
        load_secret(public)
    with pytest.raises(KeyFormatError, match="passphrase"):
        load_secret(export_secret(secret, "pw"))


@pytest.mark.parametrize("text", ["", "hello", "-----BEGIN PGP MESSAGE-----\n\n=AAAA\n"])
def test_load_key_refuses_what_is_not_a_key(text: str) -> None:
    with pytest.raises(KeyFormatError):
        load_key(text)


def test_load_key_refuses_two_keys_in_one_text(alice: tuple[str, str]) -> None:
    other = generate_key("bob@x.test", "Bob")[1]
    with pytest.raises(KeyFormatError, match="exactly one"):
        load_key(alice[1] + other)
    binary_two = bytes(load_key(alice[1])) + bytes(load_key(other))
    with pytest.raises(KeyFormatError, match="exactly one"):
        load_key(armor("PUBLIC KEY BLOCK", binary_two))
