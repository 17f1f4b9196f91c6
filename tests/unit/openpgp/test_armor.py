"""ASCII armor: one block of the expected kind, nothing around it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.openpgp.armor import ArmorError, armor, armor_kind, crc24, dearmor


@given(st.binary(max_size=2000))
def test_round_trip(data: bytes) -> None:
    assert dearmor(armor("MESSAGE", data).encode(), "MESSAGE") == data


def test_crc24_is_the_openpgp_checksum() -> None:
    # The CRC-24/OPENPGP catalogue check value, and the footer `gpg --enarmor` writes.
    assert crc24(b"123456789") == 0x21CF02
    assert armor("MESSAGE", b"hello").splitlines()[-2] == "=R/WK"


def test_headers_crlf_and_checksum_line_are_read() -> None:
    text = (
        b"\r\n-----BEGIN PGP MESSAGE-----\r\nVersion: GnuPG v2\r\nComment: x\r\n\r\n"
        b"aGVsbG8=\r\n=njUN\r\n-----END PGP MESSAGE-----\r\n\r\n"
    )
    assert armor_kind(text.strip()) == "MESSAGE"
    assert dearmor(text, "MESSAGE") == b"hello"


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"hello",
        b"-----BEGIN PGP SIGNATURE-----\n\naGVsbG8=\n-----END PGP SIGNATURE-----\n",
        b"-----BEGIN PGP MESSAGE-----\n\naGVsbG8=\n",
        b"-----BEGIN PGP MESSAGE-----\naGVsbG8=\n-----END PGP MESSAGE-----\n",
        b"-----BEGIN PGP MESSAGE-----\n\naGVs*bG8=\n-----END PGP MESSAGE-----\n",
        b"text before\n-----BEGIN PGP MESSAGE-----\n\naGVsbG8=\n-----END PGP MESSAGE-----\n",
    ],
    ids=["empty", "plain", "other-kind", "no-end", "no-blank-line", "not-base64", "text-before"],
)
def test_refused(text: bytes) -> None:
    with pytest.raises(ArmorError):
        dearmor(text, "MESSAGE")


def test_a_second_block_is_refused_not_ignored() -> None:
    one = armor("MESSAGE", b"first").encode()
    with pytest.raises(ArmorError):
        dearmor(one + armor("MESSAGE", b"second").encode(), "MESSAGE")
    with pytest.raises(ArmorError):
        dearmor(one + b"trailing plaintext\n", "MESSAGE")
