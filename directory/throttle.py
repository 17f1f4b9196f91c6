"""Counting failed authentications per account and per client address.

The counters live in the `auth_throttle` table so that every node of a cluster sees the
same counts. A key ("account:ADDRESS" or "client:IP") collects failures in a window that
starts at its first failure; reaching the policy's threshold locks the key for
`lockout_seconds` and restarts the count. While a key is locked, attempts are refused
before any secret is checked (and are not counted again).

Unknown accounts are counted like known ones, so a lockout tells an attacker nothing
about which addresses exist.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import SmtpSettings
from directory.models import AuthThrottle

# Many users of one hospital may sit behind one NAT address: a client address gets this
# many times the failures of one account before it is locked.
CLIENT_FACTOR = 4
# Failures older than this many lockout periods no longer count.
WINDOW_FACTOR = 3
_MAX_KEY_PART = 380


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """How many failures lock an account or a client, and for how long."""

    account_failures: int = 5
    client_failures: int = 5 * CLIENT_FACTOR
    lockout_seconds: int = 300
    window_seconds: int = 300 * WINDOW_FACTOR

    @classmethod
    def from_settings(cls, smtp: SmtpSettings) -> ThrottlePolicy:
        """`smtp.auth_failures_before_lockout` per account (and CLIENT_FACTOR times that per
        client), locked for `smtp.lockout_seconds`."""
        failures = smtp.auth_failures_before_lockout
        return cls(
            account_failures=failures,
            client_failures=failures * CLIENT_FACTOR,
            lockout_seconds=smtp.lockout_seconds,
            window_seconds=smtp.lockout_seconds * WINDOW_FACTOR,
        )


def _key(kind: str, value: str) -> str:
    if len(value) > _MAX_KEY_PART:  # longer than any address: keep the key bounded
        value = "sha256:" + hashlib.sha256(value.encode()).hexdigest()
    return f"{kind}:{value}"


def account_key(login: str) -> str:
    return _key("account", login)


def client_key(client: str) -> str:
    return _key("client", client)


async def lockout_remaining(session: AsyncSession, keys: tuple[str, ...], now: dt.datetime) -> int:
    """Seconds until every key in `keys` is unlocked (0 when none is locked)."""
    until = (
        await session.execute(
            select(func.max(AuthThrottle.locked_until)).where(
                AuthThrottle.key.in_(keys), AuthThrottle.locked_until > now
            )
        )
    ).scalar_one_or_none()
    if until is None:
        return 0
    if until.tzinfo is None:  # func.max() loses the column type on SQLite
        until = dt.datetime.fromisoformat(str(until)).replace(tzinfo=dt.UTC)
    return max(1, math.ceil((until - now).total_seconds()))


async def record_failure(
    session: AsyncSession, key: str, threshold: int, policy: ThrottlePolicy, now: dt.datetime
) -> bool:
    """Count one failure for `key`; True when this failure locked it."""
    cutoff = now - dt.timedelta(seconds=policy.window_seconds)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    expired = AuthThrottle.window_start < cutoff
    statement = (
        insert(AuthThrottle)
        .values(key=key, failures=1, window_start=now, locked_until=None)
        .on_conflict_do_update(
            index_elements=[AuthThrottle.key],
            set_={
                "failures": case((expired, 1), else_=AuthThrottle.failures + 1),
                "window_start": case((expired, now), else_=AuthThrottle.window_start),
            },
        )
        .returning(AuthThrottle.failures)
    )
    failures = (await session.execute(statement)).scalar_one()
    if failures < threshold:
        return False
    await session.execute(
        update(AuthThrottle)
        .where(AuthThrottle.key == key)
        .values(
            failures=0,
            window_start=now,
            locked_until=now + dt.timedelta(seconds=policy.lockout_seconds),
        )
    )
    return True


async def clear(session: AsyncSession, key: str) -> None:
    """Forget the failures of `key` (after a successful login of that account)."""
    await session.execute(delete(AuthThrottle).where(AuthThrottle.key == key))
