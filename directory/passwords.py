"""Secrets of mailbox credentials: argon2id hashes and generated app passwords.

Parameters are RFC 9106 §4's second recommended option (argon2id, t=3, m=64 MiB, p=4),
argon2-cffi's `RFC_9106_LOW_MEMORY` profile: about 0.1 s per hash on one core here.
Hashing and verifying release the GIL and run in a worker thread, never in the event loop.

An app password is `SSSSSS-XXXXXX-XXXXXX-XXXXXX` in lowercase base32 (120 random bits);
its first group is a public selector stored beside the hash, so a login tries exactly one
hash whatever the number of app passwords a mailbox has.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

HASHER = PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)

_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_GROUP = 6
_GROUPS = 4
MIN_PASSWORD_LENGTH = 12
MAX_SECRET_LENGTH = 1024

_dummy_hash: str | None = None


@dataclass(frozen=True, slots=True)
class AppPassword:
    """A freshly generated app password: shown once, then only its hash is kept."""

    selector: str
    text: str


def generate_app_password() -> AppPassword:
    groups = ["".join(secrets.choice(_ALPHABET) for _ in range(_GROUP)) for _ in range(_GROUPS)]
    return AppPassword(selector=groups[0], text="-".join(groups))


def app_password_selector(secret: str) -> str | None:
    """The selector of `secret` if it has the shape of an app password, else None."""
    groups = secret.split("-")
    if len(groups) != _GROUPS or any(
        len(g) != _GROUP or not set(g) <= set(_ALPHABET) for g in groups
    ):
        return None
    return groups[0]


def password_problem(password: str) -> str | None:
    """Why an administrator-chosen password is refused, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_SECRET_LENGTH:
        return f"a password has at most {MAX_SECRET_LENGTH} characters"
    return None


async def hash_secret(secret: str) -> str:
    return await asyncio.to_thread(HASHER.hash, secret)


def _verify(secret_hash: str, secret: str) -> bool:
    try:
        return HASHER.verify(secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


async def verify_secret(secret_hash: str, secret: str) -> bool:
    """True when `secret` matches; every kind of mismatch is just False."""
    return await asyncio.to_thread(_verify, secret_hash, secret)


def needs_rehash(secret_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    try:
        return HASHER.check_needs_rehash(secret_hash)
    except InvalidHashError:
        return True


async def dummy_hash() -> str:
    """A hash of a random secret with today's parameters: verified for unknown accounts so
    that they cost the same time as a wrong password."""
    global _dummy_hash  # noqa: PLW0603 - computed once per process, immutable afterwards
    if _dummy_hash is None:
        _dummy_hash = await hash_secret(secrets.token_urlsafe(32))
    return _dummy_hash
