"""`salus db upgrade`: bring the schema to the newest migration."""

from __future__ import annotations

from pathlib import Path

import click

from storage import migrate
from storage.cli import cli_context, data_dir_option, run_async


@click.group()
def db() -> None:
    """Database schema."""


@db.command()
@data_dir_option
@run_async
async def upgrade(data_dir: Path) -> None:
    """Apply every pending migration."""
    async with cli_context(data_dir) as ctx:
        before = await migrate.current_revision(ctx.db)
        await migrate.upgrade(ctx.db)
        after = await migrate.current_revision(ctx.db)
    click.echo(f"schema at {after}" + ("" if before == after else f" (was {before or 'empty'})"))
