"""Signature spoofing in signed and encrypted OpenPGP mail (Müller et al., "Johnny,
you are fired", USENIX Security 2019): each case is flagged with its own reason, and
the content is never reported as signed by a key that did not sign all of it."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pgpy
import pytest
from pgpy.constants import HashAlgorithm

from crypto.errors import Reason
from crypto.openpgp import KeyProblem, decrypt_and_verify, fingerprint
from crypto.openpgp.armor import armor
from crypto.openpgp.keys import load_secret
from tests.unit.openpgp.key_builders import armored, build_key, revoke, with_altered_user_id
from tests.unit.openpgp.message_builders import as_pgp_mime, sealed, signed_literal

ENTITY = b"Content-Type: text/plain\r\n\r\nBitte 20 mg verordnen.\r\n"


def _read(inner: bytes, bob: tuple[str, str], trusted: list[str], **kwargs: datetime):  # type: ignore[no-untyped-def]
    return decrypt_and_verify(as_pgp_mime(sealed(inner, bob[1])), bob[0], trusted, **kwargs)


def test_unsigned_message_is_flagged(alice: tuple[str, str], bob: tuple[str, str]) -> None:
    result = _read(signed_literal(ENTITY), bob, [alice[1]])
    assert (result.content, result.signature_valid, result.reason) == (
        ENTITY,
        False,
        Reason.NOT_SIGNED,
    )
    assert result.signer is None


def test_key_with_the_same_user_id_is_not_the_sender(
    alice: tuple[str, str], bob: tuple[str, str], mallory: tuple[str, str]
) -> None:
    result = _read(signed_literal(ENTITY, load_secret(mallory[0])), bob, [alice[1]])
    assert (result.signature_valid, result.signer, result.reason) == (
        False,
        None,
        Reason.SIGNER_CERTIFICATE_MISSING,
    )


def test_signature_naming_the_senders_key_id_but_made_by_another_key(
    alice: tuple[str, str], bob: tuple[str, str], mallory: tuple[str, str]
) -> None:
    forger = load_secret(mallory[0])
    sig = forger.sign(
        pgpy.PGPMessage.new(ENTITY, format="b"),
        hash=HashAlgorithm.SHA256,
        include_issuer_fingerprint=False,
    )
    # The Issuer subpacket is unhashed (RFC 4880 §5.2.3.5): anyone can rewrite it.
    sig._signature.subpackets["Issuer"][-1].issuer = bytearray.fromhex(
        load_secret(alice[0]).fingerprint.keyid
    )
    message = pgpy.PGPMessage.new(ENTITY, format="b", compression=0)
    message |= sig
    result = _read(bytes(message), bob, [alice[1]])
    assert (result.signature_valid, result.reason) == (False, Reason.BAD_SIGNATURE)
    assert result.signer == fingerprint(alice[1])


def test_two_signers_are_flagged(
    alice: tuple[str, str], bob: tuple[str, str], mallory: tuple[str, str]
) -> None:
    inner = signed_literal(ENTITY, load_secret(alice[0]), load_secret(mallory[0]))
    result = _read(inner, bob, [alice[1], mallory[1]])
    assert (result.signature_valid, result.reason) == (False, Reason.MULTIPLE_SIGNERS)


@pytest.mark.filterwarnings("ignore:Selected hash algorithm not in key preferences")
def test_sha1_signature_is_weak(alice: tuple[str, str], bob: tuple[str, str]) -> None:
    inner = signed_literal(ENTITY, load_secret(alice[0]), hash_algorithm=HashAlgorithm.SHA1)
    result = _read(inner, bob, [alice[1]])
    assert (result.signature_valid, result.reason) == (False, Reason.WEAK_DIGEST)


def test_signature_dated_in_the_future_is_not_yet_valid(
    alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    inner = signed_literal(ENTITY, load_secret(alice[0]), created=tomorrow)
    result = _read(inner, bob, [alice[1]])
    assert (result.signature_valid, result.reason) == (False, Reason.NOT_YET_VALID)


def test_key_without_the_sign_flag_does_not_count(bob: tuple[str, str]) -> None:
    key = build_key(
        "certify@praxis.test", "Certify Only", primary_flags=set(), with_encryption_subkey=False
    )
    key._require_usage_flags = False  # make pgpy sign anyway, as a careless peer would
    result = _read(signed_literal(ENTITY, key), bob, [armored(key)[1]])
    assert (result.signature_valid, result.reason) == (False, Reason.KEY_USAGE)


def test_signer_key_with_a_forged_user_id(bob: tuple[str, str]) -> None:
    key = build_key("mallory@praxis.test", "Mallory")
    public = with_altered_user_id(armored(key)[1], b"mallory@praxis.test", b"alice00@praxis.test")
    result = _read(signed_literal(ENTITY, key), bob, [public])
    assert (result.signature_valid, result.reason) == (False, KeyProblem.BAD_SELF_SIGNATURE)


def _nested(signed_part: bytes, signature: str, extra: bytes = b"") -> bytes:
    return (
        b'Content-Type: multipart/signed; micalg=pgp-sha256; protocol="application/pgp-signature"; boundary="s"\r\n\r\n'
        b"--s\r\n" + signed_part + b"\r\n"
        b"--s\r\nContent-Type: application/pgp-signature\r\n\r\n"
        + signature.encode()
        + b"\r\n"
        + extra
        + b"--s--\r\n"
    )


def _detached(key: pgpy.PGPKey, data: bytes) -> str:
    return armor("SIGNATURE", bytes(key.sign(data, hash=HashAlgorithm.SHA256)))


def test_nested_signed_then_encrypted_verifies(
    alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    inner = _nested(
        ENTITY.rstrip(b"\r\n"), _detached(load_secret(alice[0]), ENTITY.rstrip(b"\r\n"))
    )
    result = _read(signed_literal(inner), bob, [alice[1]])
    assert (result.content, result.signature_valid, result.reason) == (inner, True, None)


def test_nested_signature_over_another_text(alice: tuple[str, str], bob: tuple[str, str]) -> None:
    signature = _detached(
        load_secret(alice[0]), b"Content-Type: text/plain\r\n\r\nBitte 2 mg verordnen."
    )
    inner = _nested(ENTITY.rstrip(b"\r\n"), signature)
    result = _read(signed_literal(inner), bob, [alice[1]])
    assert (result.signature_valid, result.reason) == (False, Reason.BAD_SIGNATURE)


def test_nested_with_an_appended_unsigned_part(
    alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    part = ENTITY.rstrip(b"\r\n")
    appended = b"--s\r\nContent-Type: text/plain\r\n\r\nUnd 200 mg dazu.\r\n"
    inner = _nested(part, _detached(load_secret(alice[0]), part), extra=appended)
    result = _read(signed_literal(inner), bob, [alice[1]])
    assert (result.signature_valid, result.reason) == (False, Reason.UNSIGNED_PART)


def test_nested_signature_that_is_not_a_signature(
    alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    junk = armor("SIGNATURE", base64.b64decode("AAAA"))
    inner = _nested(ENTITY.rstrip(b"\r\n"), junk)
    result = _read(signed_literal(inner), bob, [alice[1]])
    assert (result.signature_valid, result.reason) == (False, Reason.MALFORMED)


@pytest.mark.parametrize("revoked", [True, False])
def test_signature_by_a_revoked_key(revoked: bool, bob: tuple[str, str]) -> None:
    key = build_key("dora@praxis.test", "Dora")
    inner = signed_literal(ENTITY, key)
    public = revoke(key) if revoked else armored(key)[1]
    result = _read(inner, bob, [public])
    assert result.signature_valid is not revoked
    assert result.reason == (Reason.REVOKED if revoked else None)
