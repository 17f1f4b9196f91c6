"""Authentication of mailbox users: passwords, app passwords and client certificates.

The login name is the mailbox address (case-insensitive). Every attempt verifies exactly
one argon2id hash in a worker thread — the account's, or a dummy one when the account is
unknown, has no credential or is not local — so an unknown user and a wrong password take
the same time and get the same `AuthFailed`. A suspended mailbox or owner also gets
`AuthFailed`, after the same verification.

Failures are counted per account and per client address (`directory.throttle`); a locked
key answers `AuthThrottled` before any secret is checked. Each attempt leaves one audit
entry: `auth.success`, `auth.failure` (with the reason, for administrators only) or
`auth.throttled`; never the secret.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from directory import passwords, throttle
from directory.models import (
    CertificateBinding,
    Credential,
    CredentialKind,
    Delegation,
    Mailbox,
    MailboxStatus,
    Practitioner,
    PractitionerStatus,
)
from directory.repository import MailboxRef, mailbox_ref_of, normalise_address
from directory.throttle import ThrottlePolicy
from storage import audit
from storage.audit import AuditEvent
from storage.base import utcnow
from storage.database import Database

__all__ = [
    "AuthFailed",
    "AuthThrottled",
    "MailboxRef",
    "Principal",
    "ThrottlePolicy",
    "authenticate",
    "authenticate_certificate",
    "usable_mailboxes",
]

DEFAULT_POLICY = ThrottlePolicy()
_MAX_SHOWN_LOGIN = 320  # the longest address a mailbox can have
_MAX_SOURCE = 255
Clock = Callable[[], dt.datetime]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who logged in, and how."""

    mailbox_id: int
    address: str  # login mailbox, lowercase
    practitioner_id: str | None  # national id of the owner, if any
    method: str  # "password" | "app-password" | "certificate"


class AuthFailed(Exception):
    """The one answer for an unknown user, a wrong secret or a suspended account."""

    def __init__(self) -> None:
        super().__init__("authentication failed")


class AuthThrottled(Exception):
    """Too many failures for this account or this client: try again later."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many failed attempts: try again in {retry_after} seconds")


@dataclass(frozen=True, slots=True)
class _Candidate:
    """The mailbox a login names and the one hash to verify (None: verify the dummy)."""

    mailbox: Mailbox | None
    credential: Credential | None
    owner_status: str | None

    def outcome(self, matches: bool) -> tuple[Mailbox, Credential] | str:
        """The mailbox and credential that logged in, or the reason the login fails."""
        if self.mailbox is None:
            return "unknown account"
        if self.credential is None:
            return "no credential"
        if not matches:
            return "wrong secret"
        if self.mailbox.status != MailboxStatus.ACTIVE:
            return "mailbox suspended"
        if self.owner_status not in (None, PractitionerStatus.ACTIVE):
            return "practitioner suspended"
        return self.mailbox, self.credential


async def _candidate(session: AsyncSession, address: str, secret: str) -> _Candidate:
    row = (
        await session.execute(
            select(Mailbox, Practitioner.status)
            .outerjoin(Practitioner, Mailbox.owner_id == Practitioner.national_id)
            .where(Mailbox.address == address, Mailbox.local.is_(True))
        )
    ).one_or_none()
    if row is None:
        return _Candidate(None, None, None)
    mailbox, owner_status = row
    selector = passwords.app_password_selector(secret)
    credential = None
    if selector is not None:
        credential = await _credential(session, mailbox.id, CredentialKind.APP_PASSWORD, selector)
    if credential is None:
        credential = await _credential(session, mailbox.id, CredentialKind.PASSWORD, None)
    return _Candidate(mailbox, credential, owner_status)


async def _credential(
    session: AsyncSession, mailbox_id: int, kind: CredentialKind, selector: str | None
) -> Credential | None:
    query = select(Credential).where(Credential.mailbox_id == mailbox_id, Credential.kind == kind)
    if selector is not None:
        query = query.where(Credential.selector == selector)
    return (await session.execute(query)).scalar_one_or_none()


async def authenticate(
    db: Database,
    login: str,
    secret: str,
    *,
    client: str,
    protocol: str,
    policy: ThrottlePolicy = DEFAULT_POLICY,
    clock: Clock = utcnow,
) -> Principal:
    """Check `secret` for the mailbox `login`; raise AuthFailed or AuthThrottled."""
    address = normalise_address(login)
    keys = (throttle.account_key(address), throttle.client_key(client))
    counted = ((keys[0], policy.account_failures), (keys[1], policy.client_failures))
    source = f"{protocol}:{client}"[:_MAX_SOURCE]
    shown = _shown_login(address)
    async with db.lookup() as session:
        remaining = await throttle.lockout_remaining(session, keys, clock())
        candidate = None if remaining else await _candidate(session, address, secret)
    if candidate is None:
        await _refuse_throttled(db, shown, source, remaining)
    credential = candidate.credential
    secret_hash = credential.secret_hash if credential else await passwords.dummy_hash()
    outcome = candidate.outcome(await passwords.verify_secret(secret_hash, secret))
    if isinstance(outcome, str):
        await _fail(
            db,
            policy=policy,
            now=clock(),
            actor=shown,
            counted=counted,
            source=source,
            reason=outcome,
        )
    mailbox, credential = outcome
    rehashed = (
        await passwords.hash_secret(secret)
        if passwords.needs_rehash(credential.secret_hash)
        else None
    )
    async with db.write() as session:
        await throttle.clear(session, keys[0])
        await _touch(session, credential, rehashed, clock())
        await audit.append(
            session,
            AuditEvent(
                mailbox.address,
                "auth.success",
                mailbox.address,
                "ok",
                source,
                {"method": credential.kind, "label": credential.label},
            ),
        )
    return Principal(
        mailbox_id=mailbox.id,
        address=mailbox.address,
        practitioner_id=mailbox.owner_id,
        method=credential.kind,
    )


def _shown_login(address: str) -> str:
    """The login as the audit trail records it: anything longer than an address is cut."""
    return address if len(address) <= _MAX_SHOWN_LOGIN else address[:_MAX_SHOWN_LOGIN] + "..."


async def _touch(
    session: AsyncSession, credential: Credential, rehashed: str | None, now: dt.datetime
) -> None:
    """Record the use, and store the hash made with today's parameters if there is one."""
    values: dict[str, object] = {"last_used_at": now}
    if rehashed is not None:
        values["secret_hash"] = rehashed
    await session.execute(update(Credential).where(Credential.id == credential.id).values(values))


async def _refuse_throttled(db: Database, actor: str, source: str, retry_after: int) -> NoReturn:
    await audit.record(
        db,
        AuditEvent(actor, "auth.throttled", actor, "refused", source, {"retry_after": retry_after}),
    )
    raise AuthThrottled(retry_after)


async def _fail(
    db: Database,
    *,
    policy: ThrottlePolicy,
    now: dt.datetime,
    actor: str,
    counted: tuple[tuple[str, int], ...],
    source: str,
    reason: str,
) -> NoReturn:
    """Count the failure on each (key, threshold), audit it, and raise AuthFailed."""
    async with db.write() as session:
        locked = [
            key
            for key, threshold in counted
            if await throttle.record_failure(session, key, threshold, policy, now)
        ]
        detail: dict[str, object] = {"reason": reason}
        if locked:
            detail["locked"] = [key.partition(":")[0] for key in locked]
        await audit.append(
            session, AuditEvent(actor, "auth.failure", actor, "failed", source, detail)
        )
    raise AuthFailed


def certificate_fingerprint(cert_der: bytes) -> str:
    """The key of a certificate binding: SHA-256 of the DER, lowercase hex."""
    return hashlib.sha256(cert_der).hexdigest()


async def authenticate_certificate(
    db: Database,
    cert_der: bytes,
    *,
    client: str,
    protocol: str,
    policy: ThrottlePolicy = DEFAULT_POLICY,
    clock: Clock = utcnow,
) -> Principal:
    """Log in as the mailbox bound to this client certificate (TLS has verified its chain
    to the service CA); raise AuthFailed or AuthThrottled."""
    fingerprint = certificate_fingerprint(cert_der)
    key = throttle.client_key(client)
    source = f"{protocol}:{client}"
    actor = f"certificate:{fingerprint}"
    async with db.lookup() as session:
        remaining = await throttle.lockout_remaining(session, (key,), clock())
        bound = None if remaining else await _bound_mailbox(session, fingerprint)
    if bound is None:
        await _refuse_throttled(db, actor, source, remaining)
    if isinstance(bound, str):
        await _fail(
            db,
            policy=policy,
            now=clock(),
            actor=actor,
            counted=((key, policy.client_failures),),
            source=source,
            reason=bound,
        )
    await audit.record(
        db,
        AuditEvent(
            bound.address,
            "auth.success",
            bound.address,
            "ok",
            source,
            {"method": "certificate", "fingerprint": fingerprint},
        ),
    )
    return Principal(bound.id, bound.address, bound.owner_id, "certificate")


async def _bound_mailbox(session: AsyncSession, fingerprint: str) -> Mailbox | str:
    """The active local mailbox bound to `fingerprint`, or why there is none."""
    row = (
        await session.execute(
            select(Mailbox, Practitioner.status)
            .join(CertificateBinding, CertificateBinding.mailbox_id == Mailbox.id)
            .outerjoin(Practitioner, Mailbox.owner_id == Practitioner.national_id)
            .where(CertificateBinding.fingerprint == fingerprint, Mailbox.local.is_(True))
        )
    ).one_or_none()
    if row is None:
        return "certificate not bound"
    mailbox, owner_status = row
    if mailbox.status != MailboxStatus.ACTIVE:
        return "mailbox suspended"
    if owner_status not in (None, PractitionerStatus.ACTIVE):
        return "practitioner suspended"
    return mailbox


async def usable_mailboxes(db: Database, principal: Principal) -> list[MailboxRef]:
    """The active local mailboxes `principal` may use: the login mailbox, the other
    mailboxes its practitioner owns, and those delegated to that practitioner; a mailbox
    whose owner is suspended is left out. The login mailbox comes first."""
    delegated = select(Delegation.mailbox_id).where(
        Delegation.practitioner_id == principal.practitioner_id
    )
    conditions = [Mailbox.id == principal.mailbox_id]
    if principal.practitioner_id is not None:
        conditions += [Mailbox.owner_id == principal.practitioner_id, Mailbox.id.in_(delegated)]
    async with db.lookup() as session:
        mailboxes = (
            await session.execute(
                select(Mailbox)
                .outerjoin(Practitioner, Mailbox.owner_id == Practitioner.national_id)
                .where(
                    or_(*conditions),
                    Mailbox.local.is_(True),
                    Mailbox.status == MailboxStatus.ACTIVE,
                    or_(
                        Practitioner.national_id.is_(None),
                        Practitioner.status == PractitionerStatus.ACTIVE,
                    ),
                )
                .order_by(Mailbox.address)
            )
        ).scalars()
        refs = [mailbox_ref_of(m) for m in mailboxes]
    return sorted(refs, key=lambda ref: ref.id != principal.mailbox_id)
