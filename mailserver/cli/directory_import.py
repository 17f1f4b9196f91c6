"""`salus directory import FILE [--format mssante|csv] [--dry-run]` and
`salus directory export [--format mssante|csv] [--include-red-list]`.

The import shows a progress bar on stderr, then prints the summary on stdout and each
rejected line (number and reason) on stderr; the exit status is 0 once the file has been
processed, even with rejected lines, and 1 when the file as a whole is refused (nothing
is written then).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from directory.errors import DirectoryError
from directory.importer.export import export
from directory.importer.reader import FORMATS
from directory.importer.run import ImportAborted, ImportSummary, import_file
from mailserver.cli.admin_change import refusal
from storage import audit
from storage.audit import AuditEvent
from storage.cli import cli_context, data_dir_option, fail, run_async


def _report(path: Path, summary: ImportSummary) -> None:
    for rejection in summary.rejections:
        click.echo(f"{path.name} line {rejection.line}: {rejection.reason}", err=True)
    if summary.rejected > len(summary.rejections):
        click.echo(
            f"... and {summary.rejected - len(summary.rejections)} more rejected lines", err=True
        )
    counts = ", ".join(f"{n} {what}" for what, n in summary.counts().items())
    click.echo(f"{'dry run, nothing written: ' if summary.dry_run else ''}{counts}")


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format", "file_format", type=click.Choice(FORMATS), default="mssante", show_default=True
)
@click.option("--dry-run", is_flag=True, help="Check and count, write nothing.")
@data_dir_option
@run_async
async def import_command(file: Path, file_format: str, dry_run: bool, data_dir: Path) -> None:
    """Import an MSSanté extraction file (or a plain CSV list): upsert by address.

    The CSV format has a header naming its columns, in any order: kind (PER, ORG, APP,
    CAB; required), address (required), national_id, civility, last_name, first_name,
    profession, specialty, organisation_id, organisation_name, service.
    """
    console = Console(stderr=True)
    columns = (
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("lines"),
        TimeRemainingColumn(),
    )
    async with cli_context(data_dir) as ctx:
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("import", total=None)
            try:
                summary = await import_file(
                    ctx.db, file, file_format=file_format,
                    local_domains=ctx.settings.service.local_domains, actor=ctx.actor,
                    dry_run=dry_run,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )  # fmt: skip
            except ImportAborted as exc:
                _report(file, exc.summary)
                fail(str(exc))
            except DirectoryError as exc:
                if not dry_run:
                    await audit.record(
                        ctx.db,
                        AuditEvent(
                            ctx.actor,
                            "directory.import",
                            file.name,
                            "refused",
                            "cli",
                            {"reason": str(exc)},
                        ),
                    )
                fail(str(exc))
    _report(file, summary)


@click.command("export")
@click.option(
    "--format", "file_format", type=click.Choice(FORMATS), default="mssante", show_default=True
)
@click.option(
    "--include-red-list", is_flag=True, help="Also the red-listed (unpublished) mailboxes."
)
@data_dir_option
@run_async
async def export_command(file_format: str, include_red_list: bool, data_dir: Path) -> None:
    """Write the directory on stdout in an import format."""
    async with cli_context(data_dir) as ctx:
        with refusal():
            count = await export(
                ctx.db, sys.stdout, file_format=file_format, include_red_list=include_red_list
            )
    click.echo(f"exported {count} mailboxes", err=True)
