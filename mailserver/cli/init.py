"""`salus init`: a new data directory with its configuration, schema and service keys."""

from __future__ import annotations

import os
from pathlib import Path

import click

from config.settings import CONFIG_FILE_NAME, Settings, render_toml
from crypto import keystore, service_key, tls_certificate
from crypto.ca import ServiceCa
from crypto.errors import CaError
from crypto.sealing import KeySealer
from storage import audit, migrate
from storage.base import utcnow
from storage.cli import data_dir_option, fail, load_cli_settings, run_async
from storage.database import Database


@click.command()
@data_dir_option
@click.option("--domain", required=True, help="The mail domain this operator serves.")
@click.option("--hostname", help="Host name for TLS (default mail.DOMAIN).")
@click.option("--database-url", help="postgresql+asyncpg://… (default: SQLite in DIR).")
@run_async
async def init(data_dir: Path, domain: str, hostname: str | None, database_url: str | None) -> None:
    """Create DIR/salus.toml, the schema, the service key, the CA and the TLS certificate."""
    await initialise(data_dir, domain, hostname, database_url)


async def initialise(
    data_dir: Path, domain: str, hostname: str | None, database_url: str | None
) -> None:
    """What `salus init` does (also the first step of `salus demo`)."""
    config_path = data_dir / CONFIG_FILE_NAME
    if config_path.exists():
        fail(f"{config_path} already exists: this data directory is initialised")
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(data_dir, 0o700)
        values: dict[str, dict[str, object]] = {
            "service": {
                "domain": domain.lower(),
                "hostname": (hostname or f"mail.{domain}").lower(),
            }
        }
        if database_url:
            values["database"] = {"url": database_url}
        config_path.write_text(render_toml(values), encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write to {data_dir}: {exc.strerror}")
    settings = load_cli_settings(data_dir)
    db = Database(settings.database_url, pool_size=1)
    try:
        await migrate.upgrade(db)
        key_file = service_key.key_path(data_dir)
        if not key_file.exists():
            service_key.create(key_file)
        await audit.record(
            db,
            audit.AuditEvent("cli:init", "service.init", settings.service.domain, "ok"),
        )
        await create_pki(db, settings)
    finally:
        await db.dispose()
    click.echo(f"initialised {data_dir} for {settings.service.domain}")


async def create_pki(db: Database, settings: Settings) -> None:
    """The CA step: root and issuing CA, the TLS certificate for the host name and a first
    (empty) CRL, all under the service key just made (contracts.md, data-dir layout)."""
    data_dir, domain = settings.data_dir, settings.service.domain
    sealer = KeySealer.from_data_dir(data_dir)
    now = utcnow()
    try:
        ca = ServiceCa.create(data_dir, sealer, domain, now)
    except CaError as exc:
        fail(str(exc))
    tls_certificate.create(
        data_dir, ca, sealer.current, hostname=settings.service.hostname, domain=domain, now=now
    )
    async with db.write() as session:
        crl = await keystore.publish_crl(session, ca, now)
        await audit.append(
            session,
            audit.AuditEvent(
                "cli:init",
                "ca.create",
                domain,
                "ok",
                detail={
                    "root_serial": format(ca.root.serial_number, "x"),
                    "issuing_serial": format(ca.issuing.serial_number, "x"),
                    "tls_host": settings.service.hostname,
                    "crl_number": keystore.crl_number(crl),
                },
            ),
        )
    async with db.read() as session:
        await keystore.write_crl_file(session, data_dir)
