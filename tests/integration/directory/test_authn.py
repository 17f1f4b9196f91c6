"""Authentication against the directory on SQLite and PostgreSQL: passwords, app
passwords, certificates, suspended accounts, the mailboxes a login may use, and the audit
entries each attempt leaves."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from directory import passwords
from directory.authn import (
    AuthFailed,
    Principal,
    authenticate,
    authenticate_certificate,
    certificate_fingerprint,
    usable_mailboxes,
)
from directory.models import (
    CertificateBinding,
    Credential,
    CredentialKind,
    Delegation,
    Mailbox,
    Practitioner,
)
from storage import audit
from storage.database import Database
from tests.integration.directory.seed import (
    PASSWORD,
    organisation_mailbox,
    practitioner_with_mailbox,
)


async def _audit_actions(db: Database) -> list[tuple[str, str, str]]:
    return [(e["action"], e["object"], e["result"]) async for e in audit.export(db)]


async def test_password_login_is_case_insensitive_and_audited(db: Database) -> None:
    national_id, address = await practitioner_with_mailbox(db, 1)
    principal = await authenticate(
        db, address.upper(), PASSWORD, client="192.0.2.1", protocol="smtp"
    )
    assert principal == Principal(principal.mailbox_id, address, national_id, "password")
    assert ("auth.success", address, "ok") in await _audit_actions(db)
    async with db.read() as session:
        used = (await session.execute(select(Credential.last_used_at))).scalar_one()
    assert used is not None


async def test_wrong_password_and_unknown_user_fail_alike(db: Database) -> None:
    _, address = await practitioner_with_mailbox(db, 2)
    with pytest.raises(AuthFailed) as wrong:
        await authenticate(db, address, "not the password", client="192.0.2.1", protocol="imap")
    with pytest.raises(AuthFailed) as unknown:
        await authenticate(db, "nobody@salus.test", PASSWORD, client="192.0.2.1", protocol="imap")
    assert str(wrong.value) == str(unknown.value) == "authentication failed"
    reasons = [e["detail"]["reason"] async for e in audit.export(db)]
    assert reasons == ["wrong secret", "unknown account"]


async def test_the_secret_never_reaches_the_audit_trail(db: Database) -> None:
    _, address = await practitioner_with_mailbox(db, 3)
    await authenticate(db, address, PASSWORD, client="192.0.2.1", protocol="smtp")
    with pytest.raises(AuthFailed):
        await authenticate(db, address, "typo " + PASSWORD, client="192.0.2.1", protocol="smtp")
    text = repr([e async for e in audit.export(db)])
    assert PASSWORD not in text


async def test_app_password_logs_in_beside_the_password(db: Database) -> None:
    _, address = await practitioner_with_mailbox(db, 4)
    generated = passwords.generate_app_password()
    async with db.write() as session:
        mailbox = (await session.execute(select(Mailbox))).scalar_one()
        session.add(
            Credential(
                mailbox_id=mailbox.id,
                kind=CredentialKind.APP_PASSWORD,
                label="thunderbird",
                selector=generated.selector,
                secret_hash=await passwords.hash_secret(generated.text),
            )
        )
    by_app = await authenticate(db, address, generated.text, client="192.0.2.1", protocol="imap")
    by_password = await authenticate(db, address, PASSWORD, client="192.0.2.1", protocol="imap")
    assert (by_app.method, by_password.method) == ("app-password", "password")
    other = passwords.generate_app_password()
    with pytest.raises(AuthFailed):
        await authenticate(db, address, other.text, client="192.0.2.1", protocol="imap")


async def test_suspended_mailbox_or_practitioner_cannot_log_in(db: Database) -> None:
    national_id, address = await practitioner_with_mailbox(db, 5)
    async with db.write() as session:
        (await session.get_one(Practitioner, national_id)).status = "suspended"
    with pytest.raises(AuthFailed):
        await authenticate(db, address, PASSWORD, client="192.0.2.1", protocol="smtp")
    async with db.write() as session:
        (await session.get_one(Practitioner, national_id)).status = "active"
        mailbox = (await session.execute(select(Mailbox))).scalar_one()
        mailbox.status = "suspended"
    with pytest.raises(AuthFailed):
        await authenticate(db, address, PASSWORD, client="192.0.2.1", protocol="smtp")
    reasons = [e["detail"]["reason"] async for e in audit.export(db)]
    assert reasons == ["practitioner suspended", "mailbox suspended"]


async def test_a_mailbox_of_another_operator_cannot_log_in(db: Database) -> None:
    _, address = await practitioner_with_mailbox(db, 6, domain="other.test", local=False)
    with pytest.raises(AuthFailed):
        await authenticate(db, address, PASSWORD, client="192.0.2.1", protocol="smtp")


async def test_weak_hash_is_upgraded_at_login(db: Database) -> None:
    _, address = await practitioner_with_mailbox(db, 7, password=None)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    async with db.write() as session:
        mailbox = (await session.execute(select(Mailbox))).scalar_one()
        session.add(Credential(mailbox_id=mailbox.id, kind="password", secret_hash=weak))
    await authenticate(db, address, PASSWORD, client="192.0.2.1", protocol="smtp")
    async with db.read() as session:
        stored = (await session.execute(select(Credential.secret_hash))).scalar_one()
    assert stored != weak
    assert not passwords.needs_rehash(stored)
    await authenticate(db, address, PASSWORD, client="192.0.2.1", protocol="smtp")


async def test_client_certificate_logs_in_only_when_bound(db: Database) -> None:
    national_id, address = await practitioner_with_mailbox(db, 8, password=None)
    cert = b"0\x82synthetic certificate DER"
    with pytest.raises(AuthFailed):
        await authenticate_certificate(db, cert, client="192.0.2.1", protocol="smtp")
    async with db.write() as session:
        mailbox = (await session.execute(select(Mailbox))).scalar_one()
        session.add(
            CertificateBinding(mailbox_id=mailbox.id, fingerprint=certificate_fingerprint(cert))
        )
    principal = await authenticate_certificate(db, cert, client="192.0.2.1", protocol="smtp")
    assert principal == Principal(mailbox.id, address, national_id, "certificate")
    actions = [a for a, _, _ in await _audit_actions(db)]
    assert actions == ["auth.failure", "auth.success"]


async def test_usable_mailboxes_are_own_and_delegated_and_active(db: Database) -> None:
    national_id, address = await practitioner_with_mailbox(db, 9)
    _, colleague = await practitioner_with_mailbox(db, 10)
    shared = await organisation_mailbox(db, "cardiology@salus.test")
    closed = await organisation_mailbox(db, "closed-service@salus.test")
    async with db.write() as session:
        session.add_all(
            [
                Delegation(mailbox_id=shared, practitioner_id=national_id),
                Delegation(mailbox_id=closed, practitioner_id=national_id),
            ]
        )
        (await session.get_one(Mailbox, closed)).status = "suspended"
    principal = await authenticate(db, address, PASSWORD, client="192.0.2.1", protocol="imap")
    usable = await usable_mailboxes(db, principal)
    assert [m.address for m in usable] == [address, "cardiology@salus.test"]
    assert colleague not in [m.address for m in usable]
    assert usable[1].kind == "organizational" and usable[1].local
