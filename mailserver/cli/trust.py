"""`salus trust …`: the other operators of the trust space.

salus trust export-ca            this operator's CA chain (from mailserver.cli.keys)
salus trust add DOMAIN --ca CHAIN.pem --relay HOST:PORT --lookup HOST:PORT
                [--operator NAME] [--replace]
salus trust list [--json] | remove DOMAIN
"""

from __future__ import annotations

from pathlib import Path

import click

from config.settings import HostPort
from directory import repository
from directory.admin import trust as trust_admin
from directory.admin.trust import TrustDomainInput
from mailserver.cli.admin_change import change, echo_json
from mailserver.cli.keys import export_ca
from storage.cli import cli_context, data_dir_option, fail, run_async


@click.group()
def trust() -> None:
    """The trust space: other operators, their CAs, relays and lookups."""


trust.add_command(export_ca, "export-ca")


def _host_port(option: str, text: str) -> HostPort:
    try:
        return HostPort.parse(text)
    except ValueError as exc:
        fail(f"{option}: {exc}")


@trust.command("add")
@click.argument("domain")
@click.option("--ca", "ca_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The operator's CA certificates (PEM), its trust anchors.")  # fmt: skip
@click.option("--relay", required=True, help="HOST:PORT of its MX (mutual TLS).")
@click.option("--lookup", required=True, help="HOST:PORT of its certificate lookup.")
@click.option("--operator", default="", help="Operator name (default: from the CA).")
@click.option("--replace", is_flag=True, help="Update a known domain (CA rotation, new relay).")
@data_dir_option
@run_async
async def add(  # noqa: PLR0917 - one parameter per option
    domain: str,
    ca_file: Path,
    relay: str,
    lookup: str,
    operator: str,
    replace: bool,
    data_dir: Path,
) -> None:
    """Add another operator's domain to the trust space."""
    try:
        ca_pem = ca_file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {ca_file}: {exc.strerror}")
    peer = TrustDomainInput(
        domain, ca_pem, _host_port("--relay", relay), _host_port("--lookup", lookup), operator
    )
    async with cli_context(data_dir) as ctx, change(ctx, "trust.add", domain) as session:
        added = await trust_admin.add_trust_domain(
            session, ctx.actor, peer, local_domains=ctx.settings.service.local_domains,
            replace=replace,
        )  # fmt: skip
    click.echo(f"trust domain {added.domain} {'updated' if replace else 'added'}")


@trust.command("list")
@click.option("--json", "as_json", is_flag=True, help="Stable JSON for scripts.")
@data_dir_option
@run_async
async def list_command(as_json: bool, data_dir: Path) -> None:
    """The trust domains, their relays and lookups."""
    async with cli_context(data_dir) as ctx, ctx.db.read() as session:
        domains = await repository.trust_domains(session)
    rows = [
        {
            "domain": d.domain,
            "operator": d.operator_name,
            "relay": str(HostPort(d.relay_host, d.relay_port)),
            "lookup": str(HostPort(d.lookup_host, d.lookup_port)),
            "anchors": d.ca_pem.count("-----BEGIN CERTIFICATE-----"),
        }
        for d in domains
    ]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        click.echo(
            f"{r['domain']:<30} relay {r['relay']:<28} lookup {r['lookup']:<28} {r['operator']}"
        )


@trust.command("remove")
@click.argument("domain")
@data_dir_option
@run_async
async def remove(domain: str, data_dir: Path) -> None:
    """Remove a domain from the trust space."""
    async with cli_context(data_dir) as ctx, change(ctx, "trust.remove", domain) as session:
        await trust_admin.remove_trust_domain(session, ctx.actor, domain)
    click.echo(f"trust domain {domain.strip().lower()} removed")
