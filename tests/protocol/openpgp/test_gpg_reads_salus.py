"""What Salus sends, GnuPG decrypts and verifies (RFC 3156 §6.2 combined method)."""

from __future__ import annotations

import email
import email.policy

from crypto.openpgp import export_secret, fingerprint, sign_and_encrypt
from crypto.openpgp.armor import dearmor
from tests.protocol.openpgp.conftest import Gpg

ENTITY = (
    b'Content-Type: multipart/mixed; boundary="inner"\r\n\r\n'
    b"--inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBefund anbei.\r\n"
    b"--inner\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"JVBERi0xLjQKJcfsj6IK\r\n--inner--\r\n"
)


def _armored_payload(entity: bytes) -> bytes:
    """The second part of the multipart/encrypted entity, read with Python's own MIME
    parser (not ours)."""
    message = email.message_from_bytes(b"MIME-Version: 1.0\r\n" + entity, policy=email.policy.SMTP)
    assert message.get_content_type() == "multipart/encrypted"
    assert message.get_param("protocol") == "application/pgp-encrypted"
    control, payload = message.iter_parts()
    assert control.get_content_type() == "application/pgp-encrypted"
    assert b"Version: 1" in control.get_content()
    assert payload.get_content_type() == "application/octet-stream"
    return payload.get_payload(decode=True)  # type: ignore[no-any-return]


def test_gpg_decrypts_and_verifies_what_salus_sends(
    gpg: Gpg, alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    # Bob's mail client holds his key as `salus keys export --openpgp-secret` gives it.
    gpg.import_key(export_secret(bob[0], "Spritze 7"), passphrase="Spritze 7")
    gpg.import_key(alice[1])  # gpg exits 2 on a signature by an unknown key (PITFALLS)
    entity = sign_and_encrypt(ENTITY, alice[0], [bob[1]])
    done = gpg.run("--passphrase", "Spritze 7", "--decrypt", stdin=_armored_payload(entity))
    status = done.stderr.decode()
    assert done.stdout == ENTITY
    assert "[GNUPG:] DECRYPTION_OKAY" in status
    assert "[GNUPG:] GOODMDC" in status
    assert f"[GNUPG:] VALIDSIG {fingerprint(alice[1])}" in status


def test_gpg_reads_every_armor_length(
    gpg: Gpg, alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    # gpg 2.2 misread armor without its CRC-24 line when the data's length was a multiple
    # of 3 (no base64 padding before the END line): about one message in three.
    gpg.import_key(export_secret(bob[0], "Spritze 7"), passphrase="Spritze 7")
    gpg.import_key(alice[1])
    residues = set()
    for extra in range(6):
        entity = ENTITY.replace(b"Befund anbei.", b"Befund anbei." + b"!" * extra)
        payload = _armored_payload(sign_and_encrypt(entity, alice[0], [bob[1]]))
        residues.add(len(dearmor(payload, "MESSAGE")) % 3)
        done = gpg.run("--passphrase", "Spritze 7", "--decrypt", stdin=payload)
        assert done.stdout == entity
    assert residues == {0, 1, 2}


def test_gpg_refuses_the_exported_key_without_its_passphrase(
    gpg: Gpg, bob: tuple[str, str]
) -> None:
    exported = export_secret(bob[0], "right")
    assert "PRIVATE KEY BLOCK" in exported
    gpg.import_key(exported, passphrase="right")
    signed = gpg.run(
        "--passphrase",
        "wrong",
        "--local-user",
        "bob@klinik.test",
        "--sign",
        stdin=b"x",
        check=False,
    )
    assert signed.returncode != 0
    assert "Bad passphrase" in signed.stderr.decode()
    right = gpg.run(
        "--passphrase", "right", "--local-user", "bob@klinik.test", "--sign", stdin=b"x"
    )
    assert "[GNUPG:] SIG_CREATED" in right.stderr.decode()
