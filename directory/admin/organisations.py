"""Adding organisations (hospitals, labs, practices) by hand."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from directory import repository
from directory.admin.changes import record
from directory.errors import AlreadyExists, InvalidInput
from directory.models import Organisation, OrgKind

MAX_ID = 64
_BLANK_OR_BAR = re.compile(r"[\s|]")


@dataclass(frozen=True, slots=True)
class OrganisationInput:
    id: str
    name: str
    kind: str = OrgKind.OTHER.value
    address: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = ""


def organisation_id_problem(organisation_id: str) -> str | None:
    if not organisation_id or len(organisation_id) > MAX_ID:
        return f"an organisation identifier has 1 to {MAX_ID} characters"
    if not organisation_id.isprintable() or _BLANK_OR_BAR.search(organisation_id):
        return "an organisation identifier has no blanks and no '|'"
    return None


def _checked(org: OrganisationInput) -> OrganisationInput:
    reason = organisation_id_problem(org.id.strip())
    if reason is not None:
        raise InvalidInput(f"invalid organisation identifier {org.id!r}: {reason}")
    if not org.name.strip():
        raise InvalidInput(f"organisation {org.id!r} needs a name")
    if org.kind not in {k.value for k in OrgKind}:
        kinds = ", ".join(k.value for k in OrgKind)
        raise InvalidInput(f"unknown organisation kind {org.kind!r} (one of {kinds})")
    return org


async def add_organisation(
    session: AsyncSession, actor: str, org: OrganisationInput
) -> Organisation:
    org = _checked(org)
    if await repository.organisation(session, org.id) is not None:
        raise AlreadyExists(f"organisation {org.id.strip()!r} already exists")
    created = Organisation(
        id=org.id.strip(),
        name=org.name.strip(),
        kind=org.kind,
        address=org.address.strip(),
        postal_code=org.postal_code.strip(),
        city=org.city.strip(),
        country=org.country.strip(),
    )
    session.add(created)
    await session.flush()
    await record(session, actor, "directory.org.add", created.id, {"kind": created.kind})
    return created
