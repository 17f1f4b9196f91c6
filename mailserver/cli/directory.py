"""`salus directory …`: organisations, practitioners, show, search, import and export;
the `mailbox` subgroup lives in `mailserver.cli.directory_mailbox`.

    salus directory org add --id ID --name NAME [--kind hospital|lab|practice|other]
    salus directory practitioner add --national-id ID --first-name F --last-name L
                                     --profession CODE [--specialty CODE] [--org ID]
    salus directory practitioner suspend|resume|remove NATIONAL_ID
    salus directory show ADDRESS|NATIONAL_ID|ORG_ID [--json]
    salus directory search TEXT [--json]
    salus directory import FILE [--format mssante|csv] [--dry-run]
    salus directory export [--format mssante|csv] [--include-red-list]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from directory import repository
from directory.admin import organisations, practitioners, show
from directory.admin.organisations import OrganisationInput
from directory.admin.practitioners import PractitionerInput
from directory.models import OrgKind, PractitionerStatus
from mailserver.cli.admin_change import change, echo_json, refusal
from mailserver.cli.directory_import import export_command, import_command
from mailserver.cli.directory_mailbox import mailbox
from storage.cli import cli_context, data_dir_option, run_async


@click.group()
def directory() -> None:
    """Practitioners, organisations and mailboxes."""


@directory.group()
def org() -> None:
    """Organisations (hospitals, labs, practices)."""


@org.command("add")
@click.option("--id", "org_id", required=True, help="FINESS-like identifier.")
@click.option("--name", required=True)
@click.option("--kind", type=click.Choice([k.value for k in OrgKind]), default=OrgKind.OTHER.value)
@click.option("--address", default="", help="Postal address on one line.")
@click.option("--postal-code", default="")
@click.option("--city", default="")
@click.option("--country", default="")
@data_dir_option
@run_async
async def org_add(  # noqa: PLR0917 - one parameter per option
    org_id: str,
    name: str,
    kind: str,
    address: str,
    postal_code: str,
    city: str,
    country: str,
    data_dir: Path,
) -> None:
    """Add an organisation."""
    org = OrganisationInput(org_id, name, kind, address, postal_code, city, country)
    async with cli_context(data_dir) as ctx, change(ctx, "directory.org.add", org_id) as session:
        await organisations.add_organisation(session, ctx.actor, org)
    click.echo(f"organisation {org_id.strip()} added")


@directory.group()
def practitioner() -> None:
    """Practitioners, by national identifier (8 + RPPS, or 0 + ADELI)."""


@practitioner.command("add")
@click.option("--national-id", required=True, help="8 + RPPS (11 digits) or 0 + ADELI (9).")
@click.option("--first-name", required=True)
@click.option("--last-name", required=True)
@click.option("--profession", required=True, help="Profession code (10 physician, 60 nurse...).")
@click.option("--specialty", default="", help="Savoir-faire code (SM26...).")
@click.option("--civility", default="", help="DR, PR, M, MME...")
@click.option("--org", "org_id", help="The organisation the practitioner works at.")
@data_dir_option
@run_async
async def practitioner_add(  # noqa: PLR0917 - one parameter per option
    national_id: str,
    first_name: str,
    last_name: str,
    profession: str,
    specialty: str,
    civility: str,
    org_id: str | None,
    data_dir: Path,
) -> None:
    """Add a practitioner (and their activity at --org)."""
    person = PractitionerInput(
        national_id, first_name, last_name, profession, specialty, civility, org_id
    )
    async with (
        cli_context(data_dir) as ctx,
        change(ctx, "directory.practitioner.add", national_id) as session,
    ):
        added = await practitioners.add_practitioner(session, ctx.actor, person)
    click.echo(f"practitioner {added.national_id} added")


def _status_command(name: str, status: PractitionerStatus, help_text: str) -> None:
    @practitioner.command(name, help=help_text)
    @click.argument("national_id")
    @data_dir_option
    @run_async
    async def command(national_id: str, data_dir: Path) -> None:
        async with (
            cli_context(data_dir) as ctx,
            change(ctx, f"directory.practitioner.{name}", national_id) as session,
        ):
            found = await practitioners.set_practitioner_status(
                session, ctx.actor, national_id, status
            )
        click.echo(f"practitioner {found.national_id} {status.value}")


_status_command(
    "suspend", PractitionerStatus.SUSPENDED, "Suspend: their mailboxes refuse every login."
)
_status_command("resume", PractitionerStatus.ACTIVE, "Resume a suspended practitioner.")


@practitioner.command("remove")
@click.argument("national_id")
@data_dir_option
@run_async
async def practitioner_remove(national_id: str, data_dir: Path) -> None:
    """Remove a practitioner (refused while they own mailboxes served here)."""
    async with (
        cli_context(data_dir) as ctx,
        change(ctx, "directory.practitioner.remove", national_id) as session,
    ):
        await practitioners.remove_practitioner(session, ctx.actor, national_id)
    click.echo(f"practitioner {national_id.strip().upper()} removed")


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return "-" if value is None or value == "" else str(value)


def _echo_description(described: dict[str, Any]) -> None:
    for key, value in described.items():
        click.echo(f"{key:<20} {_shown(value)}")


@directory.command("show")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True, help="Stable JSON for scripts.")
@data_dir_option
@run_async
async def show_command(key: str, as_json: bool, data_dir: Path) -> None:
    """Show a mailbox (ADDRESS), a practitioner (NATIONAL_ID) or an organisation."""
    async with cli_context(data_dir) as ctx, ctx.db.read() as session:
        with refusal():
            described = await show.describe(session, key)
    if as_json:
        echo_json(described)
    else:
        _echo_description(described)


@directory.command("search")
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help="Stable JSON for scripts.")
@click.option("--limit", default=100, show_default=True, help="At most this many of each kind.")
@data_dir_option
@run_async
async def search_command(text: str, as_json: bool, limit: int, data_dir: Path) -> None:
    """Find mailboxes, practitioners and organisations by name, address or identifier
    (exit status 1 when nothing matches)."""
    async with cli_context(data_dir) as ctx, ctx.db.read() as session:
        found = await repository.search(session, text, limit=limit)
    result = {
        "mailboxes": [show.mailbox_summary(m) for m in found.mailboxes],
        "practitioners": [show.practitioner_summary(p) for p in found.practitioners],
        "organisations": [show.organisation_summary(o) for o in found.organisations],
    }
    if as_json:
        echo_json(result)
        return
    for m in result["mailboxes"]:
        local = "local" if m["local"] else "remote"
        click.echo(f"mailbox       {m['address']:<40} {m['kind']:<15} {local:<7} {m['status']}")
    for p in result["practitioners"]:
        click.echo(
            f"practitioner  {p['national_id']:<40} {p['last_name']} {p['first_name']} ({p['status']})"
        )
    for o in result["organisations"]:
        click.echo(f"organisation  {o['id']:<40} {o['name']}")
    if not any(result.values()):
        click.echo(f"nothing matches {text!r}", err=True)
        sys.exit(1)


directory.add_command(mailbox)
directory.add_command(import_command)
directory.add_command(export_command)
