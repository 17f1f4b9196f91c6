"""`salus serve`: every listener and the delivery workers, until SIGTERM or SIGINT."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import func, select

from config.logging import Event, configure_logging, get_logger
from crypto import keystore
from crypto.service_key import ServiceKeyError
from directory.models import TrustDomain
from mailserver import app
from mailserver.services import service_factories
from mailserver.tls import TlsConfigError
from storage.base import utcnow
from storage.cli import data_dir_option, fail, load_cli_settings, run_async

log = get_logger(__name__)


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
        await warn_unsigned_reports(runtime)
        await app.run(runtime, service_factories())
    except (ServiceKeyError, TlsConfigError) as exc:
        fail(str(exc))


async def warn_unsigned_reports(runtime: app.Runtime) -> str | None:
    """Say at start-up when delivery reports to other operators cannot leave: they are
    signed by postmaster@ this operator's domain (nothing leaves unsigned), so without
    that mailbox's keys a failure report to a sender of a trusted domain is never sent.
    The warning's reason, or None when there is nothing to say."""
    postmaster = f"postmaster@{runtime.settings.service.domain}"
    async with runtime.db.read() as session:
        peers = await session.scalar(select(func.count()).select_from(TrustDomain))
        keys = await keystore.signing_keys(session, postmaster) if peers else None
    if not peers or (keys is not None and keys.usable(utcnow())):
        return None
    reason = (
        f"reports to other operators' senders are signed by {postmaster}, which has no"
        f" usable keys: none is sent until `salus directory mailbox add {postmaster}"
        f" --kind organizational --org ID` and `salus keys issue {postmaster}`"
    )
    log.warning(Event.DSN_SIGNER_MISSING, address=postmaster, count=peers, reason=reason)
    return reason
