"""What GnuPG signs and encrypts, Salus decrypts and verifies: combined (RFC 3156 §6.2)
and nested (§6.1) PGP/MIME built around gpg's output with Python's email package."""

from __future__ import annotations

import email.policy
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart

import pytest

from crypto.errors import Reason
from crypto.openpgp import MessageRefused, Refusal, decrypt_and_verify
from tests.protocol.openpgp.conftest import Gpg

ENTITY = b"Content-Type: text/plain; charset=utf-8\r\n\r\nLaborwerte im Anhang.\r\n"


def pgp_mime(armored: bytes) -> bytes:
    """A multipart/encrypted entity (RFC 3156 §4) around gpg's armored output."""
    outer = MIMEMultipart("encrypted", protocol="application/pgp-encrypted")
    control = MIMEBase("application", "pgp-encrypted")
    control.set_payload("Version: 1\n")
    outer.attach(control)
    payload = MIMEApplication(armored, "octet-stream", _encoder=lambda part: None)
    outer.attach(payload)
    return outer.as_bytes(policy=email.policy.SMTP)


@pytest.mark.parametrize("algorithm", ["future-default", "rsa2048"])
def test_salus_reads_gpg_sign_encrypt(gpg: Gpg, bob: tuple[str, str], algorithm: str) -> None:
    carol = gpg.new_key("Carol Example <carol@labor.test>", algorithm)
    gpg.import_key(bob[1])
    armored = gpg.run(
        "--armor",
        "--sign",
        "--encrypt",
        "--local-user",
        carol,
        "--recipient",
        "bob@klinik.test",
        stdin=ENTITY,
    ).stdout
    result = decrypt_and_verify(pgp_mime(armored), bob[0], [gpg.export(carol)])
    assert result.content == ENTITY
    assert (result.signature_valid, result.reason) == (True, None)
    assert result.signer == carol
    assert result.signer_addresses == ("carol@labor.test",)


@pytest.mark.parametrize("compression", ["none", "zip", "zlib", "bzip2"])
def test_every_gpg_compression_is_read(
    gpg: Gpg, alice: tuple[str, str], bob: tuple[str, str], compression: str
) -> None:
    gpg.import_key(alice[0])
    gpg.import_key(bob[1])
    armored = gpg.run(
        "--armor", "--sign", "--encrypt", "--compress-algo", compression,
        "--local-user", "alice@praxis.test", "--recipient", "bob@klinik.test", stdin=ENTITY * 50,
    ).stdout  # fmt: skip
    result = decrypt_and_verify(pgp_mime(armored), bob[0], [alice[1]])
    assert (result.content, result.signature_valid) == (ENTITY * 50, True)


def test_salus_reads_gpg_with_hidden_recipient(
    gpg: Gpg, alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    gpg.import_key(alice[0])
    gpg.import_key(bob[1])
    armored = gpg.run(
        "--armor", "--sign", "--encrypt", "--throw-keyids",
        "--local-user", "alice@praxis.test", "--recipient", "bob@klinik.test", stdin=ENTITY,
    ).stdout  # fmt: skip
    result = decrypt_and_verify(pgp_mime(armored), bob[0], [alice[1]])
    assert (result.content, result.signature_valid) == (ENTITY, True)


def test_salus_decrypts_for_a_gpg_made_rsa_key(gpg: Gpg, alice: tuple[str, str]) -> None:
    dave = gpg.new_key("Dave Example <dave@praxis.test>", "rsa2048")
    gpg.add_encryption_subkey(dave, "rsa2048")  # what gpg's classic default makes
    gpg.import_key(alice[0])
    armored = gpg.run(
        "--armor",
        "--sign",
        "--encrypt",
        "--local-user",
        "alice@praxis.test",
        "--recipient",
        dave,
        stdin=ENTITY,
    ).stdout
    result = decrypt_and_verify(pgp_mime(armored), gpg.export(dave, secret=True), [alice[1]])
    assert (result.content, result.signature_valid) == (ENTITY, True)


def test_salus_reads_gpg_nested_signed_then_encrypted(gpg: Gpg, bob: tuple[str, str]) -> None:
    carol = gpg.new_key("Carol Example <carol@labor.test>")
    gpg.import_key(bob[1])
    part = ENTITY.rstrip(b"\r\n")  # the CRLF before the boundary belongs to the boundary
    signature = gpg.run("--armor", "--detach-sign", "--local-user", carol, stdin=part).stdout
    signed = (
        b'Content-Type: multipart/signed; micalg=pgp-sha512;\r\n protocol="application/pgp-signature"; boundary="sig"\r\n\r\n'
        b"--sig\r\n" + part + b"\r\n--sig\r\nContent-Type: application/pgp-signature\r\n\r\n"
        + signature.replace(b"\n", b"\r\n") + b"\r\n--sig--\r\n"
    )  # fmt: skip
    armored = gpg.run("--armor", "--encrypt", "--recipient", "bob@klinik.test", stdin=signed).stdout
    result = decrypt_and_verify(pgp_mime(armored), bob[0], [gpg.export(carol)])
    assert result.content == signed
    assert (result.signature_valid, result.signer) == (True, carol)


def test_gpg_encrypt_only_is_read_and_flagged_unsigned(
    gpg: Gpg, alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    gpg.import_key(bob[1])
    armored = gpg.run("--armor", "--encrypt", "--recipient", "bob@klinik.test", stdin=ENTITY).stdout
    result = decrypt_and_verify(pgp_mime(armored), bob[0], [alice[1]])
    assert (result.content, result.signature_valid, result.reason) == (
        ENTITY,
        False,
        Reason.NOT_SIGNED,
    )


def test_gpg_message_without_mdc_is_refused(
    gpg: Gpg, alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    gpg.import_key(alice[0])
    gpg.import_key(bob[1])
    armored = gpg.run(
        "--armor", "--rfc2440", "--cipher-algo", "AES256", "--sign", "--encrypt",
        "--local-user", "alice@praxis.test", "--recipient", "bob@klinik.test", stdin=ENTITY,
    ).stdout  # fmt: skip
    with pytest.raises(MessageRefused) as caught:
        decrypt_and_verify(pgp_mime(armored), bob[0], [alice[1]])
    assert caught.value.reason is Refusal.NO_INTEGRITY
