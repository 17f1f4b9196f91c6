"""Look-ups the protocols and the gateway make in the directory: mailboxes by address,
practitioners by national identifier, trust domains, and the text search of the CLI.

All functions take the caller's session (read or write); none writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from directory.models import Mailbox, Organisation, Practitioner, TrustDomain
from storage.database import Database
from storage.inline import rows


@dataclass(frozen=True, slots=True)
class MailboxRef:
    """What a protocol needs to know about a mailbox, detached from the session."""

    id: int
    address: str
    kind: str
    crypto: str
    delivery: str
    quota: int | None
    status: str
    local: bool
    display_name: str


def mailbox_ref_of(mailbox: Mailbox) -> MailboxRef:
    return MailboxRef(
        id=mailbox.id,
        address=mailbox.address,
        kind=mailbox.kind,
        crypto=mailbox.crypto,
        delivery=mailbox.delivery,
        quota=mailbox.quota,
        status=mailbox.status,
        local=mailbox.local,
        display_name=mailbox.display_name,
    )


def normalise_address(address: str) -> str:
    """Addresses are compared case-insensitively and stored lowercase."""
    return address.strip().lower()


async def mailbox_by_address(session: AsyncSession, address: str) -> Mailbox | None:
    result = await session.execute(
        select(Mailbox).where(Mailbox.address == normalise_address(address))
    )
    return result.scalar_one_or_none()


# MailboxRef's fields, looked up at every RCPT (storage.inline: inline on SQLite).
_REF = select(
    Mailbox.id,
    Mailbox.address,
    Mailbox.kind,
    Mailbox.crypto,
    Mailbox.delivery,
    Mailbox.quota,
    Mailbox.status,
    Mailbox.local,
    Mailbox.display_name,
).where(Mailbox.address == bindparam("address"))
_TRUSTED = select(TrustDomain.domain).where(TrustDomain.domain == bindparam("domain"))


REF_COLUMNS = _REF.selected_columns  # for a look-up that joins more to the mailbox's


async def mailbox_ref(source: AsyncSession | Database, address: str) -> MailboxRef | None:
    found = await rows(source, _REF, address=normalise_address(address))
    return MailboxRef(*found[0]) if found else None


async def practitioner(session: AsyncSession, national_id: str) -> Practitioner | None:
    return await session.get(Practitioner, national_id.strip().upper())


async def organisation(session: AsyncSession, organisation_id: str) -> Organisation | None:
    return await session.get(Organisation, organisation_id.strip())


async def mailboxes_of_practitioner(session: AsyncSession, national_id: str) -> list[Mailbox]:
    result = await session.execute(
        select(Mailbox)
        .where(Mailbox.owner_id == national_id.strip().upper())
        .order_by(Mailbox.address)
    )
    return list(result.scalars())


async def trust_domain(session: AsyncSession, domain: str) -> TrustDomain | None:
    return await session.get(TrustDomain, domain.strip().lower().rstrip("."))


async def trusted(source: AsyncSession | Database, domain: str) -> bool:
    """Is `domain` another operator of the trust space?"""
    return bool(await rows(source, _TRUSTED, domain=domain.strip().lower().rstrip(".")))


async def trust_domains(session: AsyncSession) -> list[TrustDomain]:
    result = await session.execute(select(TrustDomain).order_by(TrustDomain.domain))
    return list(result.scalars())


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _search_mailboxes(pattern: str, limit: int) -> Select[Mailbox]:
    return (
        select(Mailbox)
        .outerjoin(Practitioner, Mailbox.owner_id == Practitioner.national_id)
        .outerjoin(Organisation, Mailbox.organisation_id == Organisation.id)
        .where(
            or_(
                Mailbox.address.like(pattern, escape="\\"),
                func.lower(Mailbox.display_name).like(pattern, escape="\\"),
                func.lower(Practitioner.last_name).like(pattern, escape="\\"),
                func.lower(Practitioner.first_name).like(pattern, escape="\\"),
                func.lower(Practitioner.national_id).like(pattern, escape="\\"),
                func.lower(Organisation.name).like(pattern, escape="\\"),
            )
        )
        .order_by(Mailbox.address)
        .limit(limit)
    )


@dataclass(frozen=True, slots=True)
class SearchResult:
    mailboxes: list[Mailbox]
    practitioners: list[Practitioner]
    organisations: list[Organisation]


async def search(session: AsyncSession, text: str, *, limit: int = 100) -> SearchResult:
    """Mailboxes, practitioners and organisations whose address, name or identifier
    contains `text` (case-insensitive), at most `limit` of each."""
    pattern = _like(text.strip())
    mailboxes = list((await session.execute(_search_mailboxes(pattern, limit))).scalars())
    practitioners = (
        await session.execute(
            select(Practitioner)
            .where(
                or_(
                    func.lower(Practitioner.national_id).like(pattern, escape="\\"),
                    func.lower(Practitioner.last_name).like(pattern, escape="\\"),
                    func.lower(Practitioner.first_name).like(pattern, escape="\\"),
                )
            )
            .order_by(Practitioner.last_name, Practitioner.first_name, Practitioner.national_id)
            .limit(limit)
        )
    ).scalars()
    organisations = (
        await session.execute(
            select(Organisation)
            .where(
                or_(
                    func.lower(Organisation.id).like(pattern, escape="\\"),
                    func.lower(Organisation.name).like(pattern, escape="\\"),
                )
            )
            .order_by(Organisation.name, Organisation.id)
            .limit(limit)
        )
    ).scalars()
    return SearchResult(mailboxes, list(practitioners), list(organisations))
