"""The administration API on SQLite and PostgreSQL: each change does what it says, is
audited without secrets, and a refused change leaves the database as it was."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from config.settings import HostPort
from directory.admin import credentials, mailboxes, organisations, practitioners, show, trust
from directory.admin.organisations import OrganisationInput
from directory.admin.practitioners import PractitionerInput
from directory.admin.trust import TrustDomainInput
from directory.authn import AuthFailed, authenticate
from directory.errors import AlreadyExists, DirectoryError, InvalidInput, NotFound
from directory.models import (
    Activity,
    Credential,
    MailboxKind,
    MailboxStatus,
    PractitionerStatus,
)
from directory.national_id import InvalidNationalId
from directory.repository import (
    mailbox_ref,
    mailboxes_of_practitioner,
    practitioner,
    search,
    trust_domain,
    trust_domains,
)
from storage import audit
from storage.database import Database
from tests.certs import issue_leaf, make_ca
from tests.integration.directory.seed import rpps

ACTOR = "cli:test"
LOCAL = ("salus.test",)
PASSWORD = "a long enough password"
DOCTOR = rpps(101)


async def _populate(db: Database) -> None:
    async with db.write() as s:
        await organisations.add_organisation(
            s, ACTOR, OrganisationInput("1990000001", "Centre Hospitalier Test", "hospital")
        )
        await practitioners.add_practitioner(
            s,
            ACTOR,
            PractitionerInput(DOCTOR, "Camille", "Durand", "10", "SM26", "DR", "1990000001"),
        )
        await mailboxes.add_mailbox(
            s,
            ACTOR,
            "Camille.Durand@Salus.test",
            MailboxKind.PERSONAL,
            local_domains=LOCAL,
            owner=DOCTOR,
        )
        await mailboxes.add_mailbox(
            s,
            ACTOR,
            "cardio@salus.test",
            MailboxKind.ORGANIZATIONAL,
            local_domains=LOCAL,
            organisation="1990000001",
        )


async def _snapshot(db: Database) -> list[dict[str, object]]:
    """Everything an administrator could see, to prove a refused change changed nothing."""
    async with db.read() as s:
        described = [
            await show.describe(s, key)
            for key in ("camille.durand@salus.test", "cardio@salus.test", DOCTOR, "1990000001")
        ]
        count = (await s.execute(select(func.count()).select_from(Credential))).scalar_one()
    return [*described, {"credentials": count, "audit": len([e async for e in audit.export(db)])}]


async def test_added_objects_are_found_and_audited(db: Database) -> None:
    await _populate(db)
    async with db.read() as s:
        ref = await mailbox_ref(s, "CAMILLE.durand@salus.test")
        person = await practitioner(s, DOCTOR)
        owned = await mailboxes_of_practitioner(s, DOCTOR)
        activity = (await s.execute(select(Activity))).scalar_one()
    assert ref is not None and ref.local and ref.kind == "personal"
    assert ref.display_name == "Camille Durand" and ref.crypto == "smime"
    assert person is not None and person.id_scheme == "rpps"
    assert [m.address for m in owned] == ["camille.durand@salus.test"]
    assert activity.organisation_id == "1990000001"
    actions = [e["action"] async for e in audit.export(db)]
    assert actions == [
        "directory.org.add",
        "directory.practitioner.add",
        "directory.mailbox.add",
        "directory.mailbox.add",
    ]


async def test_other_domains_become_directory_entries(db: Database) -> None:
    await _populate(db)
    async with db.write() as s:
        entry = await mailboxes.add_mailbox(
            s,
            ACTOR,
            "c.durand@other-operator.test",
            MailboxKind.PERSONAL,
            local_domains=LOCAL,
            owner=DOCTOR,
        )
    assert not entry.local
    with pytest.raises(NotFound, match="another operator"):
        async with db.write() as s:
            await credentials.set_password(s, ACTOR, "c.durand@other-operator.test", PASSWORD)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (
            lambda s: practitioners.add_practitioner(
                s, ACTOR, PractitionerInput(rpps(102), "A", "B", "10", organisation_id="nope")
            ),
            NotFound,
            "unknown organisation 'nope'",
        ),
        (
            lambda s: practitioners.add_practitioner(
                s, ACTOR, PractitionerInput("812345678901", "A", "B", "10")
            ),
            InvalidNationalId,
            "check digit",
        ),
        (
            lambda s: practitioners.add_practitioner(
                s, ACTOR, PractitionerInput(DOCTOR, "A", "B", "10")
            ),
            AlreadyExists,
            "already exists",
        ),
        (
            lambda s: mailboxes.add_mailbox(
                s,
                ACTOR,
                "CARDIO@salus.test",
                MailboxKind.ORGANIZATIONAL,
                local_domains=LOCAL,
                organisation="1990000001",
            ),
            AlreadyExists,
            "'cardio@salus.test' already exists",
        ),
        (
            lambda s: mailboxes.add_mailbox(
                s, ACTOR, "x@salus.test", MailboxKind.APPLICATIVE, local_domains=LOCAL, owner=DOCTOR
            ),
            InvalidInput,
            "belongs to an organisation",
        ),
        (
            lambda s: mailboxes.add_mailbox(
                s, ACTOR, "not an address", MailboxKind.PERSONAL, local_domains=LOCAL, owner=DOCTOR
            ),
            InvalidInput,
            "invalid address",
        ),
        (
            lambda s: mailboxes.add_mailbox(
                s,
                ACTOR,
                "new@salus.test",
                MailboxKind.PERSONAL,
                local_domains=LOCAL,
                owner=rpps(999),
            ),
            NotFound,
            "no practitioner",
        ),
        (
            lambda s: credentials.set_password(s, ACTOR, "cardio@salus.test", "short"),
            InvalidInput,
            "at least 12",
        ),
        (
            lambda s: mailboxes.set_mailbox(s, ACTOR, "cardio@salus.test", crypto="rot13"),
            InvalidInput,
            "unknown crypto form 'rot13'",
        ),
        (
            lambda s: mailboxes.delegate(s, ACTOR, "camille.durand@salus.test", DOCTOR),
            InvalidInput,
            "personal mailbox",
        ),
        (
            lambda s: organisations.add_organisation(s, ACTOR, OrganisationInput("a b", "X")),
            InvalidInput,
            "no blanks",
        ),
        (
            lambda s: practitioners.remove_practitioner(s, ACTOR, DOCTOR),
            InvalidInput,
            "still owns mailboxes served here",
        ),
    ],
)
async def test_refused_changes_leave_the_database_as_it_was(
    db: Database, change: object, error: type[DirectoryError], message: str
) -> None:
    await _populate(db)
    before = await _snapshot(db)
    with pytest.raises(error, match=message):
        async with db.write() as s:
            await change(s)  # type: ignore[operator]
    assert await _snapshot(db) == before


async def test_passwords_app_passwords_and_revocation(db: Database) -> None:
    await _populate(db)
    address = "camille.durand@salus.test"
    async with db.write() as s:
        await credentials.set_password(s, ACTOR, address, PASSWORD)
        phone = await credentials.add_app_password(s, ACTOR, address, "phone")
        laptop = await credentials.add_app_password(s, ACTOR, address, "laptop")
    assert phone != laptop
    for secret in (PASSWORD, phone, laptop):
        await authenticate(db, address, secret, client="192.0.2.1", protocol="imap")
    async with db.write() as s:
        assert [i.label for i in await credentials.app_passwords(s, address)] == ["laptop", "phone"]
        assert await credentials.revoke_app_passwords(s, ACTOR, address, "phone") == 1
    with pytest.raises(AuthFailed):
        await authenticate(db, address, phone, client="192.0.2.1", protocol="imap")
    with pytest.raises(AlreadyExists):
        async with db.write() as s:
            await credentials.add_app_password(s, ACTOR, address, "laptop")
    async with db.write() as s:
        await credentials.set_password(s, ACTOR, address, PASSWORD + " changed")
    with pytest.raises(AuthFailed):
        await authenticate(db, address, PASSWORD, client="192.0.2.1", protocol="imap")
    trail = repr([e async for e in audit.export(db)])
    assert PASSWORD not in trail and phone not in trail and laptop not in trail


async def test_settings_status_delegation_and_removal(db: Database) -> None:
    await _populate(db)
    async with db.write() as s:
        await mailboxes.set_mailbox(
            s,
            ACTOR,
            "cardio@salus.test",
            crypto="smime-gcm",
            delivery="server-decrypt",
            quota=10_000_000,
            red_list=True,
        )
        await mailboxes.delegate(s, ACTOR, "cardio@salus.test", DOCTOR)
        await mailboxes.set_mailbox_status(s, ACTOR, "cardio@salus.test", MailboxStatus.SUSPENDED)
        await practitioners.set_practitioner_status(s, ACTOR, DOCTOR, PractitionerStatus.SUSPENDED)
        shown = await show.describe(s, "cardio@salus.test")
        person = await show.describe(s, DOCTOR)
    assert (shown["crypto"], shown["delivery"], shown["quota"]) == (
        "smime-gcm",
        "server-decrypt",
        10_000_000,
    )
    assert shown["red_list"] and shown["status"] == "suspended" and shown["delegates"] == [DOCTOR]
    assert person["status"] == "suspended"
    assert person["delegated_mailboxes"] == ["cardio@salus.test"]
    async with db.write() as s:
        await mailboxes.delegate(s, ACTOR, "cardio@salus.test", DOCTOR, remove=True)
        await mailboxes.set_mailbox(s, ACTOR, "cardio@salus.test", quota=0)
        await mailboxes.remove_mailbox(s, ACTOR, "camille.durand@salus.test")
        await practitioners.remove_practitioner(s, ACTOR, DOCTOR)
    async with db.read() as s:
        assert await practitioner(s, DOCTOR) is None
        shown = await show.describe(s, "cardio@salus.test")
    assert shown["delegates"] == [] and shown["quota"] is None


async def test_search_by_name_address_and_national_id(db: Database) -> None:
    await _populate(db)
    async with db.read() as s:
        by_name = await search(s, "durand")
        by_id = await search(s, DOCTOR[3:9])
        by_org = await search(s, "hospitalier")
        nothing = await search(s, "100%_")
    assert [m.address for m in by_name.mailboxes] == ["camille.durand@salus.test"]
    assert [p.national_id for p in by_name.practitioners] == [DOCTOR]
    assert [p.national_id for p in by_id.practitioners] == [DOCTOR]
    assert [o.id for o in by_org.organisations] == ["1990000001"]
    assert "cardio@salus.test" in [m.address for m in by_org.mailboxes]
    assert nothing.mailboxes == nothing.practitioners == nothing.organisations == []


async def test_trust_domains_validate_the_ca(db: Database) -> None:
    ca = make_ca("Other Operator Test CA")
    peer = TrustDomainInput(
        "Other-Operator.test",
        ca.cert_pem,
        HostPort("mx.other-operator.test", 25),
        HostPort("lookup.other-operator.test", 443),
    )
    async with db.write() as s:
        added = await trust.add_trust_domain(s, ACTOR, peer, local_domains=LOCAL)
    assert added.domain == "other-operator.test" and added.relay_port == 25
    with pytest.raises(AlreadyExists, match="--replace"):
        async with db.write() as s:
            await trust.add_trust_domain(s, ACTOR, peer, local_domains=LOCAL)
    leaf = issue_leaf(ca, "mail.third.test", dns=("mail.third.test",)).cert_pem
    bad_inputs = [
        (TrustDomainInput("third.test", leaf, peer.relay, peer.lookup), "is not a CA"),
        (TrustDomainInput("third.test", b"garbage", peer.relay, peer.lookup), "no readable PEM"),
        (TrustDomainInput("salus.test", ca.cert_pem, peer.relay, peer.lookup), "own domains"),
        (TrustDomainInput("third.test", ca.cert_pem, HostPort("mx", 0), peer.lookup), "port"),
    ]
    for bad, message in bad_inputs:
        with pytest.raises(InvalidInput, match=message):
            async with db.write() as s:
                await trust.add_trust_domain(s, ACTOR, bad, local_domains=LOCAL)
    async with db.write() as s:
        assert [t.domain for t in await trust_domains(s)] == ["other-operator.test"]
        await trust.remove_trust_domain(s, ACTOR, "other-operator.test")
        assert await trust_domain(s, "other-operator.test") is None
