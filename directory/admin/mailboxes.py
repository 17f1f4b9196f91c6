"""Adding mailboxes, their settings (crypto, delivery, quota, red list), suspension,
removal and delegation to practitioners."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from directory import repository
from directory.addresses import domain_of, parse_address
from directory.admin.changes import (
    existing_local_mailbox,
    existing_mailbox,
    existing_organisation,
    existing_practitioner,
    record,
)
from directory.errors import AlreadyExists, InvalidInput, NotFound
from directory.models import (
    BAL_TYPES,
    CryptoForm,
    Delegation,
    DeliveryMode,
    Mailbox,
    MailboxKind,
    MailboxStatus,
)

_SHARED = (MailboxKind.ORGANIZATIONAL, MailboxKind.APPLICATIVE, MailboxKind.PRACTICE)


def mailbox_kind(text: str) -> MailboxKind:
    """A kind from its name (personal, organizational, ...) or its BAL type (PER, ORG, ...)."""
    value = text.strip()
    if value.upper() in BAL_TYPES:
        return BAL_TYPES[value.upper()]
    try:
        return MailboxKind(value.lower())
    except ValueError:
        names = ", ".join(k.value for k in MailboxKind)
        raise InvalidInput(
            f"unknown mailbox kind {text!r} (one of {names}, or PER/ORG/APP/CAB)"
        ) from None


async def add_mailbox(
    session: AsyncSession,
    actor: str,
    address: str,
    kind: MailboxKind,
    *,
    local_domains: tuple[str, ...],
    owner: str | None = None,
    organisation: str | None = None,
) -> Mailbox:
    """A mailbox owned by a practitioner or attached to an organisation (exactly one).

    Addresses in `local_domains` become mailboxes served here; others are directory
    entries of other operators. Organizational and applicative mailboxes belong to an
    organisation."""
    address = parse_address(address)
    if (owner is None) == (organisation is None):
        raise InvalidInput(f"mailbox {address}: give either an owner or an organisation")
    if owner is not None and kind in (MailboxKind.ORGANIZATIONAL, MailboxKind.APPLICATIVE):
        raise InvalidInput(f"mailbox {address}: a {kind.value} mailbox belongs to an organisation")
    if await repository.mailbox_by_address(session, address) is not None:
        raise AlreadyExists(f"mailbox {address!r} already exists")
    mailbox = Mailbox(address=address, kind=kind.value, local=domain_of(address) in local_domains)
    if owner is not None:
        person = await existing_practitioner(session, owner)
        mailbox.owner_id = person.national_id
        mailbox.display_name = f"{person.first_name} {person.last_name}"
    if organisation is not None:
        org = await existing_organisation(session, organisation)
        mailbox.organisation_id = org.id
        mailbox.display_name = org.name
    session.add(mailbox)
    await session.flush()
    await record(
        session,
        actor,
        "directory.mailbox.add",
        address,
        {
            "kind": kind.value,
            "local": mailbox.local,
            "owner": mailbox.owner_id,
            "organisation": mailbox.organisation_id,
        },
    )
    return mailbox


def _enum_value(enum: type[CryptoForm] | type[DeliveryMode], text: str, what: str) -> str:
    try:
        return enum(text).value
    except ValueError:
        names = ", ".join(v.value for v in enum)
        raise InvalidInput(f"unknown {what} {text!r} (one of {names})") from None


async def set_mailbox(
    session: AsyncSession,
    actor: str,
    address: str,
    *,
    crypto: str | None = None,
    delivery: str | None = None,
    quota: int | None = None,
    red_list: bool | None = None,
) -> Mailbox:
    """Change the settings given (None leaves one as it is); quota 0 means unlimited."""
    changes: dict[str, object] = {}
    if crypto is not None:
        changes["crypto"] = _enum_value(CryptoForm, crypto, "crypto form")
    if delivery is not None:
        changes["delivery"] = _enum_value(DeliveryMode, delivery, "delivery mode")
    if quota is not None:
        if quota < 0:
            raise InvalidInput(f"mailbox {address}: a quota is a number of bytes, 0 for none")
        changes["quota"] = quota or None
    if red_list is not None:
        changes["red_list"] = red_list
    mailbox = await existing_mailbox(session, address)
    if not changes:
        raise InvalidInput(f"mailbox {mailbox.address}: nothing to change")
    for key, value in changes.items():
        setattr(mailbox, key, value)
    await session.flush()
    await record(session, actor, "directory.mailbox.set", mailbox.address, changes)
    return mailbox


async def set_mailbox_status(
    session: AsyncSession, actor: str, address: str, status: MailboxStatus
) -> Mailbox:
    mailbox = await existing_mailbox(session, address)
    mailbox.status = status.value
    await session.flush()
    action = "suspend" if status == MailboxStatus.SUSPENDED else "resume"
    await record(session, actor, f"directory.mailbox.{action}", mailbox.address)
    return mailbox


async def remove_mailbox(session: AsyncSession, actor: str, address: str) -> None:
    """Remove a mailbox with its credentials, delegations and stored mail."""
    mailbox = await existing_mailbox(session, address)
    await session.delete(mailbox)
    await session.flush()
    await record(
        session, actor, "directory.mailbox.remove", mailbox.address, {"local": mailbox.local}
    )


async def delegate(
    session: AsyncSession, actor: str, address: str, national_id: str, *, remove: bool = False
) -> None:
    """Let a practitioner use a shared mailbox served here (or stop, with `remove`)."""
    mailbox = await existing_local_mailbox(session, address)
    person = await existing_practitioner(session, national_id)
    if MailboxKind(mailbox.kind) not in _SHARED:
        raise InvalidInput(
            f"{mailbox.address} is a personal mailbox: only shared mailboxes are delegated"
        )
    key = (Delegation.mailbox_id == mailbox.id, Delegation.practitioner_id == person.national_id)
    existing = (await session.execute(select(Delegation).where(*key))).scalar_one_or_none()
    if remove:
        if existing is None:
            raise NotFound(f"{person.national_id} has no delegation on {mailbox.address}")
        await session.execute(delete(Delegation).where(*key))
    else:
        if existing is not None:
            raise AlreadyExists(
                f"{person.national_id} already has a delegation on {mailbox.address}"
            )
        session.add(Delegation(mailbox_id=mailbox.id, practitioner_id=person.national_id))
    await session.flush()
    action = "undelegate" if remove else "delegate"
    await record(
        session,
        actor,
        f"directory.mailbox.{action}",
        mailbox.address,
        {"practitioner": person.national_id},
    )
