"""The audit entry every administrative change appends, and the look-ups that turn a
missing object into a clear error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from directory import repository
from directory.errors import NotFound
from directory.models import Mailbox, Organisation, Practitioner
from storage import audit
from storage.audit import AuditEvent


async def record(
    session: AsyncSession,
    actor: str,
    action: str,
    obj: str,
    detail: Mapping[str, Any] | None = None,
) -> None:
    await audit.append(session, AuditEvent(actor, action, obj, "ok", "cli", detail))


async def existing_mailbox(session: AsyncSession, address: str) -> Mailbox:
    mailbox = await repository.mailbox_by_address(session, address)
    if mailbox is None:
        raise NotFound(f"no mailbox {repository.normalise_address(address)!r} in the directory")
    return mailbox


async def existing_local_mailbox(session: AsyncSession, address: str) -> Mailbox:
    mailbox = await existing_mailbox(session, address)
    if not mailbox.local:
        raise NotFound(
            f"{mailbox.address!r} is a directory entry of another operator, not a mailbox served here"
        )
    return mailbox


async def existing_practitioner(session: AsyncSession, national_id: str) -> Practitioner:
    found = await repository.practitioner(session, national_id)
    if found is None:
        raise NotFound(f"no practitioner with national identifier {national_id.strip()!r}")
    return found


async def existing_organisation(session: AsyncSession, organisation_id: str) -> Organisation:
    found = await repository.organisation(session, organisation_id)
    if found is None:
        raise NotFound(f"unknown organisation {organisation_id.strip()!r}")
    return found
