"""`salus backup --to FILE` and `salus restore --from FILE`: the whole operator (database,
configuration, key material) in one 0600 archive, and back (mailserver/backup.py)."""

from __future__ import annotations

import getpass
from pathlib import Path

import click

from config.errors import ConfigError
from mailserver.backup import BackupError, restore_backup, write_backup
from storage.cli import cli_context, data_dir_option, fail, run_async


@click.command()
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The archive to write (must not exist).",
)
@data_dir_option
@run_async
async def backup(data_dir: Path, target: Path) -> None:
    """Back up the database, configuration and keys while the server runs."""
    async with cli_context(data_dir) as ctx:
        try:
            summary = await write_backup(ctx.settings, ctx.db, target, actor=ctx.actor)
        except BackupError as exc:
            fail(str(exc))
    click.echo(
        f"backup written to {summary.archive} ({summary.backend}, {summary.files} files, "
        f"{summary.bytes} bytes); it holds the service key: keep it as safe as the key"
    )


@click.command()
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An archive written by `salus backup`.",
)
@click.option(
    "--replace",
    is_flag=True,
    help="Overwrite an existing data directory (stop the server first).",
)
@data_dir_option
@run_async
async def restore(data_dir: Path, source: Path, replace: bool) -> None:
    """Restore a backup into the data directory (and its database)."""
    try:
        summary = await restore_backup(
            source, data_dir, replace=replace, actor=f"cli:{getpass.getuser()}"
        )
    except BackupError as exc:
        fail(str(exc))
    except ConfigError as exc:
        fail("the restored configuration is invalid here: " + "; ".join(exc.problems))
    click.echo(
        f"restored {summary.files} files into {summary.data_dir} ({summary.backend}); "
        f"audit trail intact: {summary.audit_entries} entries"
    )
