"""The key store on SQLite and PostgreSQL: generations, renewal that keeps old mail
readable, revocation onto a CRL, one active key per mailbox, and re-sealing after a
service-key rotation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12 as crypto_pkcs12
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from crypto import keystore, openpgp, policy, smime
from crypto.ca import CaPaths, ServiceCa
from crypto.errors import CertificateRefused, KeyStoreError, NoUsableKey, Reason, SealedKeyError
from crypto.models import KeyStatus, MailboxKey
from crypto.openpgp.keys import load_key
from crypto.sealing import KeySealer
from crypto.service_key import ServiceKey
from crypto.validation import Usage, validate
from storage.database import Database

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
OLD_KEY = ServiceKey(b"\x11" * 32)
ENTITY = b"Content-Type: text/plain\r\n\r\nBlood culture negative at 48 h.\r\n"


class Setup:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.sealer = KeySealer(OLD_KEY)
        self.ca = ServiceCa.create(data_dir, self.sealer, "salus.test", NOW - dt.timedelta(days=1))
        # Real 3072-bit generations, made once and stored in each backend's database.
        self.first = keystore.generate(
            self.ca, self.sealer, "Alice@Salus.test", "Alice Martin", NOW
        )
        self.second = keystore.generate(
            self.ca, self.sealer, "alice@salus.test", "Alice Martin", NOW
        )
        self.bob = keystore.generate(self.ca, self.sealer, "bob@salus.test", "", NOW)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    return Setup(tmp_path_factory.mktemp("keystore"))


def test_generation_follows_the_policy(setup: Setup) -> None:
    key = setup.first.cert.public_key()
    assert key.key_size == policy.MAILBOX_RSA_BITS  # type: ignore[union-attr]
    assert setup.first.address == "alice@salus.test"
    assert validate(
        setup.first.cert,
        anchors=[setup.ca.root],
        intermediates=[setup.ca.issuing],
        at=NOW,
        usage=Usage.SIGN,
        address="alice@salus.test",
    )


async def test_issue_renew_and_read_old_mail(db: Database, setup: Setup) -> None:
    async with db.write() as session:
        await keystore.store(session, setup.first, NOW)
    async with db.read() as session:
        signer = await keystore.signer(session, setup.sealer, setup.data_dir, "alice@salus.test")
        old_cert = await keystore.recipient_cert(session, "alice@salus.test")
    old_mail = smime.sign_and_encrypt(
        ENTITY, signer.key_pem, signer.chain_pem, [old_cert], policy.FORM_CBC
    )
    with pytest.raises(KeyStoreError, match="already has an active key"):
        async with db.write() as session:
            await keystore.store(session, setup.second, NOW)
    async with db.write() as session:
        retired, current = await keystore.renew(session, setup.second, NOW)
    assert (retired.status, current.status) == (KeyStatus.RETIRED, KeyStatus.ACTIVE)
    async with db.read() as session:
        assert await keystore.recipient_cert(session, "alice@salus.test") != old_cert
        keys = await keystore.decryption_keys(session, setup.sealer, "alice@salus.test")
        rows = await keystore.generations(session, "ALICE@salus.test")
    assert [r.status for r in rows] == ["active", "retired"]
    pairs = [(k.key_pem, k.chain_pem) for k in keys]
    result = smime.unprotect(old_mail, pairs, [setup.ca.chain_pem], NOW, sender="alice@salus.test")
    assert result.valid and result.content == ENTITY


async def test_only_one_active_generation_per_mailbox(db: Database, setup: Setup) -> None:
    async with db.write() as session:
        await keystore.store(session, setup.first, NOW)
    with pytest.raises(IntegrityError):
        async with db.write() as session:
            await keystore._insert(session, setup.second, NOW)


async def test_revocation_publishes_a_crl_and_keeps_keys(db: Database, setup: Setup) -> None:
    async with db.write() as session:
        await keystore.store(session, setup.first, NOW)
        first_crl = await keystore.publish_crl(session, setup.ca, NOW)
    async with db.write() as session:
        await keystore.renew(session, setup.second, NOW)
        await keystore.store(session, setup.bob, NOW)
    async with db.write() as session:
        revoked = await keystore.revoke(
            session, setup.ca, "alice@salus.test", NOW + dt.timedelta(seconds=1)
        )
    assert {r.status for r in revoked} == {KeyStatus.REVOKED}
    async with db.read() as session:
        crl = await keystore.current_crl(session)
        await keystore.write_crl_file(session, setup.data_dir)
        with pytest.raises(NoUsableKey):
            await keystore.signer(session, setup.sealer, setup.data_dir, "alice@salus.test")
        assert len(await keystore.decryption_keys(session, setup.sealer, "alice@salus.test")) == 2
        assert await keystore.recipient_cert(session, "bob@salus.test")
    assert crl is not None and keystore.crl_number(crl) == keystore.crl_number(first_crl) + 1
    assert crl.is_signature_valid(setup.ca.issuing.public_key())  # type: ignore[arg-type]
    listed = {entry.serial_number for entry in crl}
    assert listed == {setup.first.cert.serial_number, setup.second.cert.serial_number}
    assert x509.load_pem_x509_crl(CaPaths.of(setup.data_dir).crl.read_bytes()) == crl
    with pytest.raises(CertificateRefused) as caught:
        validate(
            setup.second.cert,
            anchors=[setup.ca.issuing],
            at=NOW + dt.timedelta(seconds=2),
            usage=Usage.SIGN,
            crls=[crl],
        )
    assert caught.value.reason is Reason.REVOKED
    with pytest.raises(KeyStoreError, match="no key to revoke"):
        async with db.write() as session:
            await keystore.revoke(session, setup.ca, "alice@salus.test", NOW)


async def test_crl_is_resigned_only_when_close_to_its_next_update(
    db: Database, setup: Setup
) -> None:
    opened: list[int] = []

    def open_ca() -> ServiceCa:
        opened.append(1)
        return setup.ca

    week = dt.timedelta(days=7)
    async with db.write() as session:  # none yet: signed
        first = await keystore.refresh_crl(session, open_ca, NOW, week)
    async with db.write() as session:  # fresh: left alone, the CA key not even opened
        assert (
            await keystore.refresh_crl(session, open_ca, NOW + dt.timedelta(days=22), week) is None
        )
    assert len(opened) == 1
    late = NOW + policy.CRL_LIFETIME - dt.timedelta(days=6)
    async with db.write() as session:
        second = await keystore.refresh_crl(session, open_ca, late, week)
    assert first is not None and second is not None
    assert keystore.crl_number(second) == keystore.crl_number(first) + 1
    assert second.next_update_utc == late + policy.CRL_LIFETIME
    async with db.read() as session:
        assert await keystore.current_crl(session) == second


async def test_rotation_reseals_every_generation(db: Database, setup: Setup) -> None:
    async with db.write() as session:
        await keystore.store(session, setup.first, NOW)
        await keystore.store(session, setup.bob, NOW)
    rotated = KeySealer(ServiceKey(b"\x22" * 32), (OLD_KEY,))
    async with db.write() as session:
        assert await keystore.reseal_all(session, rotated, batch=1) == 2
    async with db.write() as session:
        assert await keystore.reseal_all(session, rotated) == 0
    only_new = KeySealer(rotated.current)
    async with db.read() as session:
        pairs = await keystore.decryption_keys(session, only_new, "alice@salus.test")
        secrets = await keystore.openpgp_secrets(session, only_new, "bob@salus.test")
    assert serialization.load_pem_private_key(pairs[0].key_pem, None)
    assert "PRIVATE KEY BLOCK" in secrets[0]


async def test_sealed_keys_are_bound_to_their_row(db: Database, setup: Setup) -> None:
    """A sealed key copied onto another mailbox's row does not open there."""
    async with db.write() as session:
        await keystore.store(session, setup.first, NOW)
        await keystore.store(session, setup.bob, NOW)
    async with db.write() as session:
        await session.execute(
            update(MailboxKey)
            .where(MailboxKey.address == "bob@salus.test")
            .values(smime_key_sealed=setup.first.smime_key_sealed)
        )
    async with db.read() as session:
        with pytest.raises(SealedKeyError, match="does not open"):
            await keystore.signer(session, setup.sealer, setup.data_dir, "bob@salus.test")


async def test_p12_export_has_all_generations(db: Database, setup: Setup) -> None:
    async with db.write() as session:
        await keystore.store(session, setup.first, NOW)
    async with db.write() as session:
        await keystore.renew(session, setup.second, NOW)
    async with db.read() as session:
        data = await keystore.export_p12(
            session, setup.sealer, setup.data_dir, "alice@salus.test", "pass phrase"
        )
    loaded = crypto_pkcs12.load_pkcs12(data, b"pass phrase")
    assert loaded.cert is not None and loaded.cert.certificate == setup.second.cert
    assert setup.first.cert in {c.certificate for c in loaded.additional_certs}


async def test_openpgp_export_of_every_generation(db: Database, setup: Setup) -> None:
    async with db.write() as session:
        await keystore.store(session, setup.first, NOW)
    async with db.write() as session:
        await keystore.renew(session, setup.second, NOW)
    async with db.read() as session:
        armored, count = await keystore.export_openpgp_secrets(
            session, setup.sealer, "alice@salus.test", "pass phrase"
        )
        with pytest.raises(NoUsableKey):
            await keystore.export_openpgp_secrets(session, setup.sealer, "nobody@salus.test", "p")
    end = "-----END PGP PRIVATE KEY BLOCK-----\n"
    blocks = [block + end for block in armored.split(end) if block.strip()]
    assert count == len(blocks) == 2
    keys = [load_key(block) for block in blocks]
    assert all(key.is_protected for key in keys)
    assert [openpgp.fingerprint(block) for block in blocks] == [
        setup.second.openpgp_fingerprint,
        setup.first.openpgp_fingerprint,
    ]
