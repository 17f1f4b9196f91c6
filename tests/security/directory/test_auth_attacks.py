"""Attacks on authentication, each with the expected safe behaviour: probing for
accounts, guessing one account's password, and spraying guesses across many accounts
from one address."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest

from directory.authn import AuthFailed, AuthThrottled, ThrottlePolicy, authenticate
from storage import audit
from storage.database import Database
from tests.integration.directory.seed import PASSWORD, practitioner_with_mailbox

START = dt.datetime(2030, 1, 1, 8, 0, tzinfo=dt.UTC)
POLICY = ThrottlePolicy(
    account_failures=3, client_failures=5, lockout_seconds=300, window_seconds=900
)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


async def _attempt(db: Database, login: str, secret: str, client: str, clock: Clock) -> object:
    return await authenticate(
        db, login, secret, client=client, protocol="smtp", policy=POLICY, clock=clock
    )


async def test_unknown_user_and_wrong_password_are_indistinguishable(db: Database) -> None:
    """Same exception type, same message, same attributes: nothing tells them apart."""
    _, address = await practitioner_with_mailbox(db, 20)
    clock = Clock()
    answers = []
    for login in (address, "nobody@salus.test", "doctor.20@unknown.test"):
        with pytest.raises(AuthFailed) as caught:
            await _attempt(db, login, "guess-123456", "192.0.2.10", clock)
        answers.append((type(caught.value), str(caught.value), caught.value.args))
    assert answers[0] == answers[1] == answers[2]


async def test_guessing_one_password_locks_the_account(db: Database) -> None:
    _, address = await practitioner_with_mailbox(db, 21)
    clock = Clock()
    for n in range(POLICY.account_failures):
        with pytest.raises(AuthFailed):
            await _attempt(db, address, f"guess-{n}", f"198.51.100.{n}", clock)
    # Locked: even the right password is refused without being checked, from any client.
    clock.advance(10)
    with pytest.raises(AuthThrottled) as throttled:
        await _attempt(db, address, PASSWORD, "203.0.113.7", clock)
    assert throttled.value.retry_after == POLICY.lockout_seconds - 10
    # An unknown account is locked the same way: a lockout reveals no existence.
    for n in range(POLICY.account_failures):
        with pytest.raises(AuthFailed):
            await _attempt(db, "ghost@salus.test", f"guess-{n}", f"198.51.100.{n}", clock)
    with pytest.raises(AuthThrottled):
        await _attempt(db, "ghost@salus.test", PASSWORD, "203.0.113.8", clock)
    clock.advance(POLICY.lockout_seconds)
    principal = await _attempt(db, address, PASSWORD, "203.0.113.7", clock)
    assert principal is not None
    actions = [e["action"] async for e in audit.export(db)]
    assert actions.count("auth.throttled") == 2
    assert actions[-1] == "auth.success"


async def test_spraying_many_accounts_from_one_client_locks_the_client(db: Database) -> None:
    accounts = [(await practitioner_with_mailbox(db, 30 + n))[1] for n in range(7)]
    clock = Clock()
    attacker = "192.0.2.66"
    for address in accounts[: POLICY.client_failures]:
        with pytest.raises(AuthFailed):
            await _attempt(db, address, "Winter2030!", attacker, clock)
    # The next account is untouched, yet the attacker's address is refused...
    with pytest.raises(AuthThrottled):
        await _attempt(db, accounts[-1], PASSWORD, attacker, clock)
    # ...while the same account still logs in from elsewhere.
    principal = await _attempt(db, accounts[-1], PASSWORD, "192.0.2.67", clock)
    assert principal is not None


async def test_old_failures_leave_the_window(db: Database) -> None:
    _, address = await practitioner_with_mailbox(db, 40)
    clock = Clock()
    for n in range(POLICY.account_failures - 1):
        with pytest.raises(AuthFailed):
            await _attempt(db, address, f"guess-{n}", "192.0.2.11", clock)
    clock.advance(POLICY.window_seconds + 1)
    with pytest.raises(AuthFailed):  # counted afresh: one failure, not a lockout
        await _attempt(db, address, "guess-late", "192.0.2.11", clock)
    assert await _attempt(db, address, PASSWORD, "192.0.2.11", clock) is not None


async def test_a_success_resets_the_account_count(db: Database) -> None:
    _, address = await practitioner_with_mailbox(db, 41)
    clock = Clock()
    for _ in range(2):
        for n in range(POLICY.account_failures - 1):
            with pytest.raises(AuthFailed):
                await _attempt(db, address, f"typo-{n}", f"192.0.2.{20 + n}", clock)
        assert await _attempt(db, address, PASSWORD, "192.0.2.30", clock) is not None


async def test_lockout_is_shared_by_every_node(db: Database) -> None:
    """Counters live in the database: a second node (another Database) sees the lock."""
    _, address = await practitioner_with_mailbox(db, 42)
    clock = Clock()
    for n in range(POLICY.account_failures):
        with pytest.raises(AuthFailed):
            await _attempt(db, address, f"guess-{n}", "192.0.2.12", clock)
    node_b = Database(db.url)
    try:
        with pytest.raises(AuthThrottled):
            await _attempt(node_b, address, PASSWORD, "192.0.2.13", clock)
    finally:
        await node_b.dispose()


async def test_every_attempt_costs_exactly_one_hash_verification(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The work done does not depend on whether the account exists, is local, is
    suspended, or how many app passwords it has: one argon2id verification each time."""
    from sqlalchemy import select  # noqa: PLC0415

    from directory import passwords  # noqa: PLC0415
    from directory.models import Credential, Mailbox  # noqa: PLC0415

    _, address = await practitioner_with_mailbox(db, 50)
    _, remote = await practitioner_with_mailbox(db, 51, domain="other.test", local=False)
    async with db.write() as session:
        mailbox = (
            await session.execute(select(Mailbox).where(Mailbox.address == address))
        ).scalar_one()
        for n in range(5):
            generated = passwords.generate_app_password()
            session.add(
                Credential(
                    mailbox_id=mailbox.id, kind="app-password", label=f"client-{n}",
                    selector=generated.selector,
                    secret_hash=await passwords.hash_secret(generated.text),
                )
            )  # fmt: skip
    calls: list[str] = []
    verify = passwords.verify_secret

    async def counting(secret_hash: str, secret: str) -> bool:
        calls.append(secret_hash)
        return await verify(secret_hash, secret)

    monkeypatch.setattr(passwords, "verify_secret", counting)
    policy = ThrottlePolicy(account_failures=100, client_failures=100)
    attempts = [
        (address, "wrong password"),
        (address, passwords.generate_app_password().text),  # app-password shaped, no match
        ("nobody@salus.test", "wrong password"),
        (remote, PASSWORD),
        (address, PASSWORD),
    ]
    for login, secret in attempts:
        before = len(calls)
        with contextlib.suppress(AuthFailed):
            await authenticate(
                db, login, secret, client="192.0.2.70", protocol="imap", policy=policy
            )
        assert len(calls) - before == 1, login


async def test_an_oversized_login_is_just_a_failure(db: Database) -> None:
    """A 10,000-character login (or secret) is refused like any other, and audited cut."""
    clock = Clock()
    for login, secret in (("x" * 10_000 + "@salus.test", "guess"), ("a@salus.test", "y" * 10_000)):
        with pytest.raises(AuthFailed):
            await _attempt(db, login, secret, "192.0.2.80", clock)
    entries = [e async for e in audit.export(db)]
    assert [e["action"] for e in entries] == ["auth.failure", "auth.failure"]
    assert len(entries[0]["actor"]) <= 323
