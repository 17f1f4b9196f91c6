"""Adding, updating, suspending, resuming and removing practitioners."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from directory import national_id, repository
from directory.admin.changes import existing_organisation, existing_practitioner, record
from directory.errors import AlreadyExists, InvalidInput
from directory.models import Activity, Mailbox, Practitioner, PractitionerStatus

MAX_NAME = 128
MAX_CODE = 32


@dataclass(frozen=True, slots=True)
class PractitionerInput:
    national_id: str
    first_name: str
    last_name: str
    profession: str
    specialty: str = ""
    civility: str = ""
    organisation_id: str | None = None


def _checked(person: PractitionerInput) -> PractitionerInput:
    parsed = national_id.parse(person.national_id)
    for what, value, limit in (
        ("first name", person.first_name, MAX_NAME),
        ("last name", person.last_name, MAX_NAME),
        ("profession code", person.profession, MAX_CODE),
    ):
        if not value.strip() or len(value.strip()) > limit:
            raise InvalidInput(
                f"practitioner {parsed.value}: the {what} needs 1 to {limit} characters"
            )
    if len(person.specialty.strip()) > MAX_CODE:
        raise InvalidInput(f"practitioner {parsed.value}: the specialty code is too long")
    return replace(person, national_id=parsed.value)


async def add_practitioner(
    session: AsyncSession, actor: str, person: PractitionerInput
) -> Practitioner:
    """A new practitioner, with an activity at `organisation_id` when given."""
    person = _checked(person)
    if await repository.practitioner(session, person.national_id) is not None:
        raise AlreadyExists(f"practitioner {person.national_id} already exists")
    if person.organisation_id is not None:
        await existing_organisation(session, person.organisation_id)
    created = Practitioner(
        national_id=person.national_id,
        id_scheme=national_id.scheme_name(person.national_id),
        civility=person.civility.strip(),
        first_name=person.first_name.strip(),
        last_name=person.last_name.strip(),
        profession=person.profession.strip(),
        specialty=person.specialty.strip(),
    )
    session.add(created)
    await session.flush()
    if person.organisation_id is not None:
        session.add(
            Activity(
                practitioner_id=created.national_id, organisation_id=person.organisation_id.strip()
            )
        )
        await session.flush()
    await record(
        session,
        actor,
        "directory.practitioner.add",
        created.national_id,
        {"organisation": person.organisation_id},
    )
    return created


async def update_practitioner(
    session: AsyncSession,
    actor: str,
    identifier: str,
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    profession: str | None = None,
    specialty: str | None = None,
) -> Practitioner:
    found = await existing_practitioner(session, identifier)
    changes = {
        k: v.strip()
        for k, v in {
            "first_name": first_name,
            "last_name": last_name,
            "profession": profession,
            "specialty": specialty,
        }.items()
        if v is not None
    }
    merged = PractitionerInput(
        national_id=found.national_id,
        first_name=changes.get("first_name", found.first_name),
        last_name=changes.get("last_name", found.last_name),
        profession=changes.get("profession", found.profession),
        specialty=changes.get("specialty", found.specialty),
    )
    _checked(merged)
    for key, value in changes.items():
        setattr(found, key, value)
    await session.flush()
    await record(
        session,
        actor,
        "directory.practitioner.update",
        found.national_id,
        {"fields": sorted(changes)},
    )
    return found


async def set_practitioner_status(
    session: AsyncSession, actor: str, identifier: str, status: PractitionerStatus
) -> Practitioner:
    """Suspend or resume: a suspended practitioner's mailboxes refuse every login."""
    found = await existing_practitioner(session, identifier)
    action = "suspend" if status == PractitionerStatus.SUSPENDED else "resume"
    found.status = status.value
    await session.flush()
    await record(session, actor, f"directory.practitioner.{action}", found.national_id)
    return found


async def remove_practitioner(session: AsyncSession, actor: str, identifier: str) -> None:
    """Remove a practitioner, their activities, delegations and directory entries of
    other operators; refused while they own mailboxes served here."""
    found = await existing_practitioner(session, identifier)
    served = list(
        (
            await session.execute(
                select(Mailbox.address).where(
                    Mailbox.owner_id == found.national_id, Mailbox.local.is_(True)
                )
            )
        ).scalars()
    )
    if served:
        raise InvalidInput(
            f"practitioner {found.national_id} still owns mailboxes served here "
            f"({', '.join(served)}): remove them first (salus directory mailbox remove)"
        )
    removed = await session.execute(
        delete(Mailbox).where(Mailbox.owner_id == found.national_id, Mailbox.local.is_(False))
    )
    await session.delete(found)
    await session.flush()
    await record(
        session,
        actor,
        "directory.practitioner.remove",
        found.national_id,
        {"directory_entries_removed": int(removed.rowcount or 0)},  # type: ignore[attr-defined]
    )
