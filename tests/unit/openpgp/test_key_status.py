"""check_key: what pgpy does not check (revocation, expiry, flags, self-signatures)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pgpy.constants import HashAlgorithm, KeyFlags, PubKeyAlgorithm

from crypto.openpgp import KeyProblem, check_key, fingerprint, generate_key
from tests.unit.openpgp.key_builders import (
    armored,
    build_key,
    revoke,
    revoke_subkeys,
    with_altered_user_id,
)


@pytest.fixture
def now() -> datetime:
    """The time of the test (not of the module's import: a loaded machine may run a
    test minutes after collection)."""
    return datetime.now(UTC)


def test_a_fresh_mailbox_key_can_sign_and_receive() -> None:
    secret, public = generate_key("alice@praxis.test", "Alice")
    now = datetime.now(UTC)
    status = check_key(public, now + timedelta(seconds=1))
    assert status.problem is None
    assert status.fingerprint == fingerprint(public)
    assert status.addresses == ("alice@praxis.test",)
    assert status.signing_keys == (status.fingerprint,)
    assert len(status.encryption_keys) == 1
    assert status.encryption_keys[0] != status.fingerprint
    assert status.refusal("encrypt") is None
    assert status.refusal("sign") is None
    assert check_key(secret, now + timedelta(seconds=1)) == status


def test_revoked_key_is_refused_whatever_the_time(now: datetime) -> None:
    key = build_key("rev@praxis.test", "Rev")
    public = revoke(key)
    assert check_key(public, now).problem is KeyProblem.REVOKED
    assert check_key(public, now + timedelta(days=400)).refusal("encrypt") is KeyProblem.REVOKED


def test_expired_key_is_refused_after_its_expiry_only(now: datetime) -> None:
    key = build_key(
        "old@praxis.test", "Old", created=now - timedelta(days=10), expires=timedelta(days=5)
    )
    _, public = armored(key)
    assert check_key(public, now - timedelta(days=6)).problem is None
    assert check_key(public, now).problem is KeyProblem.EXPIRED


def test_key_from_the_future_is_not_yet_valid(now: datetime) -> None:
    key = build_key("future@praxis.test", "Future", created=now + timedelta(days=1))
    assert check_key(armored(key)[1], now).problem is KeyProblem.NOT_YET_VALID


def test_expired_encryption_subkey_leaves_no_encryption_key(now: datetime) -> None:
    key = build_key(
        "sub@praxis.test", "Sub", created=now - timedelta(days=10), subkey_expires=timedelta(days=1)
    )
    public = armored(key)[1]
    assert len(check_key(public, now - timedelta(days=9, hours=12)).encryption_keys) == 1
    status = check_key(public, now)
    assert status.problem is None
    assert status.encryption_keys == ()
    assert status.refusal("encrypt") is KeyProblem.NO_ENCRYPTION_KEY
    assert status.refusal("sign") is None


def test_revoked_subkey_is_not_used(now: datetime) -> None:
    key = build_key("subrev@praxis.test", "SubRev")
    status = check_key(revoke_subkeys(key), now)
    assert status.refusal("encrypt") is KeyProblem.NO_ENCRYPTION_KEY


def test_key_without_encryption_flag_cannot_receive(now: datetime) -> None:
    key = build_key("signonly@praxis.test", "SignOnly", with_encryption_subkey=False)
    status = check_key(armored(key)[1], now)
    assert status.refusal("encrypt") is KeyProblem.NO_ENCRYPTION_KEY


def test_key_without_sign_flag_cannot_sign(now: datetime) -> None:
    key = build_key("certonly@praxis.test", "CertOnly", primary_flags={KeyFlags.Certify})
    status = check_key(armored(key)[1], now)
    assert status.refusal("sign") is KeyProblem.NO_SIGNING_KEY


def test_altered_user_id_breaks_the_self_signature(now: datetime) -> None:
    key = build_key("mallory@praxis.test", "Mallory")
    public = with_altered_user_id(armored(key)[1], b"mallory@praxis.test", b"alice00@praxis.test")
    status = check_key(public, now)
    assert status.problem is KeyProblem.BAD_SELF_SIGNATURE
    assert status.addresses == ()


def test_sha1_self_signatures_are_weak(now: datetime) -> None:
    key = build_key("sha1@praxis.test", "Sha1", self_signature_hash=HashAlgorithm.SHA1)
    assert check_key(armored(key)[1], now).problem is KeyProblem.WEAK_ALGORITHM


@pytest.mark.parametrize("bits, problem", [(1024, KeyProblem.WEAK_ALGORITHM), (2048, None)])
def test_rsa_keys_below_policy_size_are_weak(
    bits: int, problem: KeyProblem | None, now: datetime
) -> None:
    key = build_key(
        "rsa@praxis.test",
        "Rsa",
        algorithm=(PubKeyAlgorithm.RSAEncryptOrSign, bits),
        with_encryption_subkey=False,
    )
    assert check_key(armored(key)[1], now).problem is problem


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        check_key(generate_key("a@praxis.test", "A")[1], datetime.now())
