"""Key status of keys that GnuPG made, revoked and let expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crypto.openpgp import KeyProblem, KeyRefused, check_key, sign_and_encrypt
from tests.protocol.openpgp.conftest import Gpg


def test_gpg_default_key_can_sign_and_receive(gpg: Gpg) -> None:
    fpr = gpg.new_key("Erin Example <erin@praxis.test>")
    status = check_key(gpg.export(fpr), datetime.now(UTC) + timedelta(seconds=2))
    assert status.problem is None
    assert status.fingerprint == fpr
    assert status.addresses == ("erin@praxis.test",)
    assert status.signing_keys == (fpr,)
    assert len(status.encryption_keys) == 1


def test_gpg_revocation_certificate_revokes(gpg: Gpg, alice: tuple[str, str]) -> None:
    fpr = gpg.new_key("Erin Example <erin@praxis.test>")
    certificate = (gpg.home / "openpgp-revocs.d" / f"{fpr}.rev").read_text()
    gpg.import_key(certificate.replace(":-----BEGIN", "-----BEGIN"))  # gpg's guard colon
    revoked = gpg.export(fpr)
    assert check_key(revoked, datetime.now(UTC)).problem is KeyProblem.REVOKED
    with pytest.raises(KeyRefused) as caught:
        sign_and_encrypt(b"Content-Type: text/plain\r\n\r\nx", alice[0], [revoked])
    assert caught.value.reason is KeyProblem.REVOKED


def test_gpg_key_expiry(gpg: Gpg) -> None:
    fpr = gpg.new_key("Erin Example <erin@praxis.test>", expire="1d")
    public, now = gpg.export(fpr), datetime.now(UTC)
    assert check_key(public, now + timedelta(hours=12)).problem is None
    assert check_key(public, now + timedelta(days=2)).problem is KeyProblem.EXPIRED


def test_gpg_subkey_expiry_leaves_a_signing_only_key(gpg: Gpg) -> None:
    fpr = gpg.new_key("Erin Example <erin@praxis.test>", "ed25519")
    gpg.run("--passphrase", "", "--quick-add-key", fpr, "cv25519", "encr", "1d")
    public, now = gpg.export(fpr), datetime.now(UTC)
    assert check_key(public, now + timedelta(hours=12)).refusal("encrypt") is None
    later = check_key(public, now + timedelta(days=2))
    assert (later.problem, later.refusal("encrypt"), later.refusal("sign")) == (
        None,
        KeyProblem.NO_ENCRYPTION_KEY,
        None,
    )
