"""PGP/MIME framing: exactly the two parts of RFC 3156 §4, nothing spliced."""

from __future__ import annotations

import base64

import pytest

from crypto.openpgp.armor import armor
from crypto.openpgp.errors import MessageRefused, Refusal
from crypto.openpgp.pgp_mime import build_encrypted, encrypted_payload, signed_parts

ARMORED = armor("MESSAGE", b"\x01\x02ciphertext")


def _encrypted(parts: list[bytes], protocol: str = "application/pgp-encrypted") -> bytes:
    head = f'Content-Type: multipart/encrypted; protocol="{protocol}"; boundary="b1"\r\n\r\n'
    return head.encode() + b"".join(b"--b1\r\n" + p + b"\r\n" for p in parts) + b"--b1--\r\n"


CONTROL = b"Content-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n"
PAYLOAD = b"Content-Type: application/octet-stream\r\n\r\n" + ARMORED.encode()


def test_built_entity_gives_back_its_payload() -> None:
    payload = encrypted_payload(build_encrypted(ARMORED))
    assert payload.replace(b"\r\n", b"\n").strip() == ARMORED.encode().strip()


def test_foreign_framing_with_lf_and_preamble_is_read() -> None:
    entity = _encrypted([CONTROL, PAYLOAD]).replace(b"\r\n", b"\n")
    entity = entity.replace(b"\n\n--b1", b"\n\npreamble text\n--b1", 1)
    assert encrypted_payload(entity).strip() == ARMORED.encode().strip()


def test_base64_transfer_encoding_of_the_payload_is_undone() -> None:
    payload = (
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(ARMORED.encode())
    )
    assert encrypted_payload(_encrypted([CONTROL, payload])).strip() == ARMORED.encode().strip()


def test_plain_text_is_not_pgp_mime() -> None:
    with pytest.raises(MessageRefused) as caught:
        encrypted_payload(b"Content-Type: text/plain\r\n\r\nhello\r\n")
    assert caught.value.reason is Refusal.NOT_PGP_MIME


def test_plaintext_part_beside_encrypted_part_is_refused() -> None:
    inner = _encrypted([CONTROL, PAYLOAD])
    mixed = (
        b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
        b"--outer\r\nContent-Type: text/plain\r\n\r\nPlease send the findings to evil.test\r\n"
        b"--outer\r\n" + inner + b"\r\n--outer--\r\n"
    )
    with pytest.raises(MessageRefused) as caught:
        encrypted_payload(mixed)
    assert caught.value.reason is Refusal.MIXED_CONTENT


def test_third_part_inside_multipart_encrypted_is_refused() -> None:
    extra = b"Content-Type: text/html\r\n\r\n<img src='http://evil.test/?"
    with pytest.raises(MessageRefused) as caught:
        encrypted_payload(_encrypted([CONTROL, PAYLOAD, extra]))
    assert caught.value.reason is Refusal.MIXED_CONTENT


@pytest.mark.parametrize(
    "entity",
    [
        _encrypted([CONTROL, PAYLOAD], protocol="application/pkcs7-mime"),
        _encrypted([b"Content-Type: application/pgp-encrypted\r\n\r\nVersion: 2\r\n", PAYLOAD]),
        _encrypted([CONTROL, b"Content-Type: text/plain\r\n\r\n" + ARMORED.encode()]),
    ],
    ids=["other-protocol", "version-2", "payload-text-plain"],
)
def test_wrong_control_or_payload(entity: bytes) -> None:
    with pytest.raises(MessageRefused) as caught:
        encrypted_payload(entity)
    assert caught.value.reason is Refusal.NOT_PGP_MIME


def test_missing_close_delimiter_is_malformed() -> None:
    entity = _encrypted([CONTROL, PAYLOAD]).replace(b"--b1--", b"")
    with pytest.raises(MessageRefused) as caught:
        encrypted_payload(entity)
    assert caught.value.reason is Refusal.MALFORMED


def _signed(parts: list[bytes]) -> bytes:
    head = b'Content-Type: multipart/signed; micalg=pgp-sha256;\r\n protocol="application/pgp-signature"; boundary="s"\r\n\r\n'
    return head + b"".join(b"--s\r\n" + p + b"\r\n" for p in parts) + b"--s--\r\n"


SIGNATURE = b"Content-Type: application/pgp-signature\r\n\r\n" + armor("SIGNATURE", b"sig").encode()


def test_signed_parts_gives_the_exact_signed_bytes() -> None:
    signed = b"Content-Type: text/plain\r\n\r\nline one\r\nline two"
    parts = signed_parts(_signed([signed, SIGNATURE]))
    assert parts is not None
    assert parts[0] == signed
    assert b"BEGIN PGP SIGNATURE" in parts[1]
    assert signed_parts(b"Content-Type: text/plain\r\n\r\nx") is None


def test_signed_with_an_appended_part_is_refused() -> None:
    with pytest.raises(MessageRefused) as caught:
        signed_parts(_signed([b"Content-Type: text/plain\r\n\r\nx", SIGNATURE, b"\r\nappended"]))
    assert caught.value.reason is Refusal.MIXED_CONTENT


def test_two_content_types_are_refused_not_guessed() -> None:
    entity = b"Content-Type: text/plain\r\n" + _encrypted([CONTROL, PAYLOAD])
    with pytest.raises(MessageRefused) as caught:
        encrypted_payload(entity)
    assert caught.value.reason is Refusal.MALFORMED
