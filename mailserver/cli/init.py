"""`salus init`: a new data directory with its configuration, schema and service keys."""

from __future__ import annotations

import os
from pathlib import Path

import click

from config.settings import CONFIG_FILE_NAME, render_toml
from crypto import service_key
from storage import audit, migrate
from storage.cli import fail, load_cli_settings, run_async
from storage.database import Database


@click.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--domain", required=True, help="The mail domain this operator serves.")
@click.option("--hostname", help="Host name for TLS (default mail.DOMAIN).")
@click.option("--database-url", help="postgresql+asyncpg://… (default: SQLite in DIR).")
@run_async
async def init(data_dir: Path, domain: str, hostname: str | None, database_url: str | None) -> None:
    """Create DIR/salus.toml, the schema, the service key, the CA and the TLS certificate."""
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
    finally:
        await db.dispose()
    click.echo(f"initialised {data_dir} for {settings.service.domain}")
