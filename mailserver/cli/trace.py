"""`salus trace ID`: each recipient's history of a message, by queue id or by the
Message-ID the sender's client wrote (with or without <>)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mailserver.cli.queue import as_dict, json_option, render
from mailserver.queue import inspect
from storage.cli import cli_context, data_dir_option, fail, run_async


@click.command()
@click.argument("ident", metavar="ID")
@json_option
@data_dir_option
@run_async
async def trace(data_dir: Path, ident: str, as_json: bool) -> None:
    """Where a message went: a queue id, or a Message-ID with or without <>."""
    async with cli_context(data_dir) as ctx:
        views = await inspect.find(ctx.db, ident)
    if not views:
        fail(f"no message with queue id or Message-ID {ident}")
    if as_json:
        click.echo(json.dumps([as_dict(v) for v in views], indent=2))
        return
    click.echo("\n\n".join(render(v) for v in views))
