"""`salus audit verify | export`: check and read the hash-chained audit trail."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from storage import audit as trail
from storage.cli import cli_context, data_dir_option, fail, run_async
from storage.errors import AuditChainBroken


@click.group()
def audit() -> None:
    """The audit trail."""


@audit.command()
@data_dir_option
@run_async
async def verify(data_dir: Path) -> None:
    """Check every link of the chain; name the first broken one."""
    async with cli_context(data_dir) as ctx:
        try:
            count = await trail.verify(ctx.db)
        except AuditChainBroken as exc:
            fail(f"audit trail broken at entry {exc.seq}: {exc.reason}")
    click.echo(f"audit trail intact: {count} entries")


@audit.command()
@click.option("--since", help="ISO 8601 date or time (UTC when no zone is given).")
@data_dir_option
@run_async
async def export(data_dir: Path, since: str | None) -> None:
    """Entries as JSON lines, oldest first."""
    start = _parse_since(since) if since else None
    async with cli_context(data_dir) as ctx:
        async for entry in trail.export(ctx.db, start):
            click.echo(json.dumps(entry, ensure_ascii=False))


def _parse_since(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        fail(f"--since {text!r} is not an ISO 8601 date or time")
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
