"""Plumbing shared by the `salus directory …` and `salus trust …` commands: one write
transaction per administrative change, and directory errors turned into one sentence on
stderr. A refused change is itself recorded in the audit trail (result "refused", with
the reason), beside the unchanged directory."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, NoReturn

import click
from sqlalchemy.ext.asyncio import AsyncSession

from directory.errors import DirectoryError
from storage import audit
from storage.audit import AuditEvent
from storage.cli import CliContext, fail


@asynccontextmanager
async def change(ctx: CliContext, action: str, obj: str) -> AsyncIterator[AsyncSession]:
    """A write session for one change; a DirectoryError rolls it back, is audited as
    refused and ends the command with its message."""
    try:
        async with ctx.db.write() as session:
            yield session
    except DirectoryError as exc:
        await refuse(ctx, action, obj, str(exc))


async def refuse(ctx: CliContext, action: str, obj: str, reason: str) -> NoReturn:
    """Record the refusal in the audit trail, then end the command with its reason."""
    await audit.record(
        ctx.db, AuditEvent(ctx.actor, action, obj, "refused", "cli", {"reason": reason})
    )
    fail(reason)


@contextmanager
def refusal() -> Iterator[None]:
    """Turn a DirectoryError of a read-only command into its one-sentence message."""
    try:
        yield
    except DirectoryError as exc:
        fail(str(exc))


def echo_json(value: Any) -> None:
    """Stable JSON for scripts: sorted keys, two-space indent, UTF-8."""
    click.echo(json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, default=str))
