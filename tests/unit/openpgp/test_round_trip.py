"""sign_and_encrypt then decrypt_and_verify: what a recipient gets back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pgpy.constants import SymmetricKeyAlgorithm
from pgpy.packet import Packet

from crypto.errors import DecryptionError, Reason
from crypto.openpgp import (
    KeyProblem,
    KeyRefused,
    check_key,
    decrypt_and_verify,
    fingerprint,
    generate_key,
    sign_and_encrypt,
)
from crypto.openpgp.armor import dearmor
from crypto.openpgp.packets import Tag, encode, read_packets
from crypto.openpgp.pgp_mime import encrypted_payload, parse_entity, split_multipart
from tests.unit.openpgp.key_builders import armored, build_key, revoke
from tests.unit.openpgp.message_builders import as_pgp_mime, literal_packet, sealed

ENTITY = (
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n\r\n"
    b"Befund: unauff\xc3\xa4llig.\r\n"
)


@pytest.fixture(scope="module")
def alice() -> tuple[str, str]:
    return generate_key("alice@praxis.test", "Dr Alice Example")


@pytest.fixture(scope="module")
def bob() -> tuple[str, str]:
    return generate_key("bob@klinik.test", "Dr Bob Example")


@pytest.fixture(scope="module")
def carol() -> tuple[str, str]:
    return generate_key("carol@klinik.test", "Carol Example")


def test_recipient_reads_what_the_signer_wrote(
    alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    protected = sign_and_encrypt(ENTITY, alice[0], [bob[1]])
    result = decrypt_and_verify(protected, bob[0], [alice[1]])
    assert result.content == ENTITY
    assert result.signature_valid
    assert result.reason is None
    assert result.signer == fingerprint(alice[1])
    assert result.signer_addresses == ("alice@praxis.test",)


def test_entity_is_rfc3156_multipart_encrypted_with_crlf(
    alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    protected = sign_and_encrypt(ENTITY, alice[0], [bob[1]])
    assert b"\n" not in protected.replace(b"\r\n", b"")
    top = parse_entity(protected)
    assert top.content_type == "multipart/encrypted"
    assert top.params["protocol"] == "application/pgp-encrypted"
    control, payload = (parse_entity(p) for p in split_multipart(top))
    assert control.content_type == "application/pgp-encrypted"
    assert control.body.strip() == b"Version: 1"
    assert payload.content_type == "application/octet-stream"
    assert ENTITY not in protected
    tags = [p.tag for p in read_packets(dearmor(encrypted_payload(protected), "MESSAGE"))]
    assert tags == [Tag.PKESK, Tag.SEIPD]  # one recipient, integrity protected


def test_every_recipient_can_read(
    alice: tuple[str, str], bob: tuple[str, str], carol: tuple[str, str]
) -> None:
    protected = sign_and_encrypt(ENTITY, alice[0], [bob[1], carol[1]])
    for reader in (bob, carol):
        result = decrypt_and_verify(protected, reader[0], [alice[1]])
        assert (result.content, result.signature_valid) == (ENTITY, True)


def test_someone_else_cannot_read(
    alice: tuple[str, str], bob: tuple[str, str], carol: tuple[str, str]
) -> None:
    protected = sign_and_encrypt(ENTITY, alice[0], [bob[1]])
    with pytest.raises(DecryptionError) as caught:
        decrypt_and_verify(protected, carol[0], [alice[1]])
    assert str(caught.value) == DecryptionError.message
    assert type(caught.value) is DecryptionError


def test_unknown_signer_is_flagged_but_content_returned(
    alice: tuple[str, str], bob: tuple[str, str], carol: tuple[str, str]
) -> None:
    protected = sign_and_encrypt(ENTITY, alice[0], [bob[1]])
    result = decrypt_and_verify(protected, bob[0], [carol[1]])
    assert result.content == ENTITY
    assert not result.signature_valid
    assert result.signer is None
    assert result.reason == Reason.SIGNER_CERTIFICATE_MISSING


def test_signer_key_revoked_later_makes_the_signature_count_no_more(bob: tuple[str, str]) -> None:
    key = build_key("dora@praxis.test", "Dora")
    secret, public = armored(key)
    protected = sign_and_encrypt(ENTITY, secret, [bob[1]])
    assert decrypt_and_verify(protected, bob[0], [public]).signature_valid
    result = decrypt_and_verify(protected, bob[0], [revoke(key)])
    assert (result.signature_valid, result.reason) == (False, Reason.REVOKED)
    assert result.signer == fingerprint(public)


def test_signer_key_expired_at_reading_time(bob: tuple[str, str]) -> None:
    now = datetime.now(UTC)
    key = build_key(
        "eve@praxis.test", "Eve", created=now - timedelta(days=2), expires=timedelta(days=3)
    )
    secret, public = armored(key)
    protected = sign_and_encrypt(ENTITY, secret, [bob[1]])
    later = decrypt_and_verify(protected, bob[0], [public], at=now + timedelta(days=2))
    assert (later.signature_valid, later.reason) == (False, Reason.EXPIRED)


@pytest.mark.parametrize("which", ["signer", "recipient"])
def test_revoked_keys_are_refused_when_sending(
    which: str, alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    key = build_key("gone@praxis.test", "Gone")
    revoked_public = revoke(key)  # adds the revocation to `key` too
    signer, recipient = (str(key), bob[1]) if which == "signer" else (alice[0], revoked_public)
    with pytest.raises(KeyRefused) as caught:
        sign_and_encrypt(ENTITY, signer, [recipient])
    assert caught.value.reason is KeyProblem.REVOKED
    assert caught.value.purpose == ("sign" if which == "signer" else "encrypt")


def test_recipient_without_encryption_key_is_refused(alice: tuple[str, str]) -> None:
    key = build_key("signonly@praxis.test", "SignOnly", with_encryption_subkey=False)
    with pytest.raises(KeyRefused) as caught:
        sign_and_encrypt(ENTITY, alice[0], [armored(key)[1]])
    assert caught.value.reason is KeyProblem.NO_ENCRYPTION_KEY
    assert caught.value.purpose == "encrypt"


@pytest.mark.parametrize(
    "listed, used",
    [
        (
            (SymmetricKeyAlgorithm.AES256, SymmetricKeyAlgorithm.AES128),
            SymmetricKeyAlgorithm.AES256,
        ),
        ((SymmetricKeyAlgorithm.AES128,), SymmetricKeyAlgorithm.AES128),
        ((SymmetricKeyAlgorithm.Camellia256,), SymmetricKeyAlgorithm.AES128),
    ],
    ids=["aes256", "aes128-only", "nothing-in-common"],
)
@pytest.mark.filterwarnings("ignore:Selected symmetric algorithm not in key preferences")
def test_session_cipher_is_one_every_recipient_lists(
    listed: tuple[SymmetricKeyAlgorithm, ...],
    used: SymmetricKeyAlgorithm,
    alice: tuple[str, str],
    bob: tuple[str, str],
) -> None:
    key = build_key("frank@praxis.test", "Frank", ciphers=listed)
    protected = sign_and_encrypt(ENTITY, alice[0], [bob[1], armored(key)[1]])
    first = read_packets(dearmor(encrypted_payload(protected), "MESSAGE"))[1]
    pkesk = Packet(bytearray(encode(first.tag, first.body)))
    subkey = next(iter(key.subkeys.values()))
    assert pkesk.encrypter == subkey.fingerprint.keyid
    cipher, _ = pkesk.decrypt_sk(subkey._key)
    assert cipher is used
    assert decrypt_and_verify(protected, str(key), [alice[1]]).content == ENTITY


def test_no_recipient_is_an_error(alice: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="recipient"):
        sign_and_encrypt(ENTITY, alice[0], [])


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(entity=st.binary(max_size=4096))
def test_any_entity_bytes_come_back_unchanged(
    entity: bytes, alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    result = decrypt_and_verify(sign_and_encrypt(entity, alice[0], [bob[1]]), bob[0], [alice[1]])
    assert result.content == entity
    assert result.signature_valid


def test_encrypted_but_unsigned_non_mime_content_is_not_signed(bob: tuple[str, str]) -> None:
    protected = as_pgp_mime(sealed(literal_packet(b"no headers, no MIME"), bob[1]))
    result = decrypt_and_verify(protected, bob[0], [])
    assert (result.content, result.signature_valid, result.reason) == (
        b"no headers, no MIME",
        False,
        Reason.NOT_SIGNED,
    )


def test_mail_to_a_previous_key_generation_stays_readable(alice: tuple[str, str]) -> None:
    old = generate_key("gerd@praxis.test", "Gerd")
    new = generate_key("gerd@praxis.test", "Gerd")
    to_old = sign_and_encrypt(ENTITY, alice[0], [old[1]])
    result = decrypt_and_verify(to_old, [new[0], old[0]], [alice[1]])
    assert (result.content, result.signature_valid) == (ENTITY, True)
    with pytest.raises(DecryptionError):
        decrypt_and_verify(to_old, [new[0]], [alice[1]])


def test_expired_recipient_key_is_refused_when_sending(alice: tuple[str, str]) -> None:
    now = datetime.now(UTC)
    key = build_key(
        "old@klinik.test", "Old", created=now - timedelta(days=30), expires=timedelta(days=10)
    )
    with pytest.raises(KeyRefused) as caught:
        sign_and_encrypt(ENTITY, alice[0], [armored(key)[1]])
    assert (caught.value.reason, caught.value.purpose) == (KeyProblem.EXPIRED, "encrypt")
    assert check_key(armored(key)[1], now - timedelta(days=25)).refusal("encrypt") is None
