"""Descriptions of directory objects as plain dicts, for `salus directory show|search`.

The keys are a stable interface (`--json` output for scripts): add keys, never rename.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from directory import national_id, repository
from directory.errors import NotFound
from directory.models import (
    Activity,
    CertificateBinding,
    Credential,
    CredentialKind,
    Delegation,
    Mailbox,
    Organisation,
    Practitioner,
)


def mailbox_summary(mailbox: Mailbox) -> dict[str, Any]:
    return {
        "address": mailbox.address,
        "kind": mailbox.kind,
        "local": mailbox.local,
        "status": mailbox.status,
        "display_name": mailbox.display_name,
        "owner": mailbox.owner_id,
        "organisation": mailbox.organisation_id,
    }


def practitioner_summary(person: Practitioner) -> dict[str, Any]:
    return {
        "national_id": person.national_id,
        "scheme": person.id_scheme,
        "civility": person.civility,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "profession": person.profession,
        "specialty": person.specialty,
        "status": person.status,
    }


def organisation_summary(org: Organisation) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "kind": org.kind,
        "address": org.address,
        "postal_code": org.postal_code,
        "city": org.city,
        "country": org.country,
    }


async def describe_mailbox(session: AsyncSession, mailbox: Mailbox) -> dict[str, Any]:
    credentials = list(
        (
            await session.execute(select(Credential).where(Credential.mailbox_id == mailbox.id))
        ).scalars()
    )
    delegates = (
        await session.execute(
            select(Delegation.practitioner_id)
            .where(Delegation.mailbox_id == mailbox.id)
            .order_by(Delegation.practitioner_id)
        )
    ).scalars()
    certificates = (
        await session.execute(
            select(CertificateBinding.fingerprint)
            .where(CertificateBinding.mailbox_id == mailbox.id)
            .order_by(CertificateBinding.fingerprint)
        )
    ).scalars()
    return {
        "type": "mailbox",
        **mailbox_summary(mailbox),
        "service": mailbox.service,
        "red_list": mailbox.red_list,
        "crypto": mailbox.crypto,
        "delivery": mailbox.delivery,
        "quota": mailbox.quota,
        "password_set": any(c.kind == CredentialKind.PASSWORD for c in credentials),
        "app_passwords": sorted(
            c.label for c in credentials if c.kind == CredentialKind.APP_PASSWORD
        ),
        "delegates": list(delegates),
        "certificates": list(certificates),
    }


async def describe_practitioner(session: AsyncSession, person: Practitioner) -> dict[str, Any]:
    organisations = (
        await session.execute(
            select(Activity.organisation_id)
            .where(Activity.practitioner_id == person.national_id)
            .order_by(Activity.organisation_id)
        )
    ).scalars()
    delegated = (
        await session.execute(
            select(Mailbox.address)
            .join(Delegation, Delegation.mailbox_id == Mailbox.id)
            .where(Delegation.practitioner_id == person.national_id)
            .order_by(Mailbox.address)
        )
    ).scalars()
    owned = await repository.mailboxes_of_practitioner(session, person.national_id)
    return {
        "type": "practitioner",
        **practitioner_summary(person),
        "profession_label": person.profession_label,
        "specialty_label": person.specialty_label,
        "organisations": list(organisations),
        "mailboxes": [m.address for m in owned],
        "delegated_mailboxes": list(delegated),
    }


async def describe_organisation(session: AsyncSession, org: Organisation) -> dict[str, Any]:
    mailboxes = (
        await session.execute(
            select(Mailbox.address)
            .where(Mailbox.organisation_id == org.id)
            .order_by(Mailbox.address)
        )
    ).scalars()
    return {"type": "organisation", **organisation_summary(org), "mailboxes": list(mailboxes)}


async def describe(session: AsyncSession, key: str) -> dict[str, Any]:
    """A mailbox (by address), a practitioner (by national identifier) or an
    organisation (by identifier)."""
    key = key.strip()
    if "@" in key:
        mailbox = await repository.mailbox_by_address(session, key)
        if mailbox is not None:
            return await describe_mailbox(session, mailbox)
    elif national_id.problem(key.upper()) is None:
        person = await repository.practitioner(session, key)
        if person is not None:
            return await describe_practitioner(session, person)
    org = await repository.organisation(session, key)
    if org is not None:
        return await describe_organisation(session, org)
    raise NotFound(
        f"nothing in the directory matches {key!r} (an address, national identifier or organisation)"
    )
