"""`salus serve`: every listener and the delivery workers, until SIGTERM or SIGINT."""

from __future__ import annotations

from pathlib import Path

import click

from config.logging import configure_logging
from crypto.service_key import ServiceKeyError
from mailserver import app
from mailserver.services import service_factories
from mailserver.tls import TlsConfigError
from storage.cli import data_dir_option, fail, load_cli_settings, run_async


@click.command()
@data_dir_option
@run_async
async def serve(data_dir: Path) -> None:
    """Run Salus until SIGTERM/SIGINT (SIGHUP reloads the TLS certificate)."""
    await serve_until_stopped(data_dir)


async def serve_until_stopped(data_dir: Path) -> None:
    """Start every service of the data dir and run until SIGTERM/SIGINT."""
    settings = load_cli_settings(data_dir)
    configure_logging(settings.logging)
    try:
        runtime = await app.open_runtime(settings)
        await app.run(runtime, service_factories())
    except (ServiceKeyError, TlsConfigError) as exc:
        fail(str(exc))
