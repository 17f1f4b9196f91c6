"""The pipeline's joined look-ups (a recipient's mailbox with its active keys at RCPT,
the sender's signing generation at MAIL) read what the separate key-store and directory
look-ups read, on SQLite inline and on PostgreSQL, and follow renewal and revocation."""

from __future__ import annotations

from sqlalchemy import update

from crypto import keystore
from crypto.models import KeyStatus, MailboxKey
from directory import repository
from gateway import pipeline
from storage.base import utcnow
from storage.database import Database
from tests.keys import key_material
from tests.protocol.smtp.harness import seed_directory

KEYED, KEYLESS = "doctor.1@salus.test", "doctor.2@salus.test"


async def test_a_recipient_and_its_keys_in_one_statement(db: Database) -> None:
    await seed_directory(db)
    await key_material().issue(db, KEYED)
    mailbox, keys = await pipeline._recipient(db, "Doctor.1@Salus.test")
    assert mailbox == await repository.mailbox_ref(db, KEYED)
    assert keys is not None and keys.address == KEYED
    assert keys.not_after == await keystore.usable_until(db, KEYED)
    assert keys.smime_cert_pem.encode("ascii") == await keystore.recipient_cert(db, KEYED)
    assert keys.openpgp_public == await keystore.openpgp_public(db, KEYED)
    assert keys.usable(utcnow())
    keyless, none = await pipeline._recipient(db, KEYLESS)
    assert keyless == await repository.mailbox_ref(db, KEYLESS) and none is None
    assert await pipeline._recipient(db, "nobody@salus.test") == (None, None)


async def test_the_signing_generation_is_the_active_one(db: Database) -> None:
    await seed_directory(db)
    await key_material().issue(db, KEYED)
    signing = await keystore.signing_keys(db, KEYED)
    assert signing is not None and signing.smime_key_sealed
    material = key_material()
    pair = keystore.open_signer(material.sealer, material.root, signing)
    assert pair == await keystore.signer(db, material.sealer, material.root, KEYED)
    async with db.write() as session:
        await session.execute(
            update(MailboxKey)
            .where(MailboxKey.address == KEYED)
            .values(status=KeyStatus.REVOKED.value)
        )
    assert await keystore.signing_keys(db, KEYED) is None
    mailbox, keys = await pipeline._recipient(db, KEYED)
    assert mailbox is not None and keys is None
