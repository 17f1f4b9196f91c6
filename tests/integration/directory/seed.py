"""Synthetic directory content for the directory tests, written straight through the
models (the administration API has its own tests)."""

from __future__ import annotations

from directory import passwords
from directory.models import Credential, CredentialKind, Mailbox, Organisation, Practitioner
from directory.national_id import Rpps
from storage.database import Database

PASSWORD = "correct horse battery staple"


def rpps(n: int) -> str:
    """A valid `8` + RPPS national identifier built from a small number."""
    return "8" + Rpps().with_check_digit(f"{10_000_000_00 + n:010d}")


async def practitioner_with_mailbox(
    db: Database,
    n: int,
    *,
    domain: str = "salus.test",
    password: str | None = PASSWORD,
    local: bool = True,
) -> tuple[str, str]:
    """A practitioner and a personal mailbox; returns (national id, address)."""
    national_id = rpps(n)
    address = f"doctor.{n}@{domain}"
    secret_hash = await passwords.hash_secret(password) if password else None
    async with db.write() as session:
        session.add(
            Practitioner(
                national_id=national_id,
                id_scheme="rpps",
                first_name=f"Alex{n}",
                last_name=f"Martin{n}",
                profession="10",
            )
        )
        await session.flush()
        mailbox = Mailbox(address=address, kind="personal", owner_id=national_id, local=local)
        session.add(mailbox)
        await session.flush()
        if secret_hash:
            session.add(
                Credential(
                    mailbox_id=mailbox.id, kind=CredentialKind.PASSWORD, secret_hash=secret_hash
                )
            )
    return national_id, address


async def organisation_mailbox(db: Database, address: str, org_id: str = "1990000001") -> int:
    async with db.write() as session:
        if await session.get(Organisation, org_id) is None:
            session.add(Organisation(id=org_id, name="Hôpital Synthétique", kind="hospital"))
            await session.flush()
        mailbox = Mailbox(address=address, kind="organizational", organisation_id=org_id)
        session.add(mailbox)
        await session.flush()
        return mailbox.id
