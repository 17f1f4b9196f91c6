"""`salus demo`: a ready-to-try operator on an embedded SQLite data dir.

It initialises the data dir when needed (as `salus init` does), fills a synthetic sample
directory once — two hospitals, a lab with an applicative mailbox, city practitioners —
issues every local mailbox's keys, prints the credentials and serves until SIGTERM.
Every person and address is synthetic (`.test` domains).
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from pathlib import Path

import click
from sqlalchemy import func, select

from crypto import keystore
from crypto.ca import ServiceCa
from crypto.sealing import KeySealer
from directory.admin.credentials import set_password
from directory.admin.mailboxes import add_mailbox, delegate, set_mailbox
from directory.admin.organisations import OrganisationInput, add_organisation
from directory.admin.practitioners import PractitionerInput, add_practitioner
from directory.models import MailboxKind, Organisation
from directory.national_id import Rpps
from mailserver.cli.init import initialise
from mailserver.cli.serve import serve_until_stopped
from storage import audit
from storage.base import utcnow
from storage.cli import CliContext, cli_context, data_dir_option, run_async

ACTOR = "cli:demo"


@dataclass(frozen=True, slots=True)
class Person:
    rpps_stem: str  # ten digits; the check digit is computed
    first: str
    last: str
    profession: str
    specialty: str
    org: str
    local_part: str


ORGANISATIONS = (
    OrganisationInput("1000000019", "CHU Demo Nord", "hospital", city="Lille"),
    OrganisationInput("1000000027", "Clinique Demo Sud", "hospital", city="Nice"),
    OrganisationInput("1000000035", "Laboratoire Demo Biologie", "lab", city="Lyon"),
    OrganisationInput("1000000043", "Cabinet Demo Centre", "practice", city="Lyon"),
)
PEOPLE = (
    Person("1000000001", "Alice", "Martin", "10", "SM54", "1000000019", "alice.martin"),
    Person("1000000002", "Paul", "Durand", "10", "SM26", "1000000027", "paul.durand"),
    Person("1000000003", "Claire", "Bernard", "10", "SM53", "1000000043", "claire.bernard"),
    Person("1000000004", "Hugo", "Petit", "10", "SM53", "1000000043", "hugo.petit"),
)


@click.command()
@click.option("--domain", default="chu-demo.test", show_default=True, help="Demo mail domain.")
@click.option("--no-serve", is_flag=True, help="Prepare the data dir and exit.")
@data_dir_option
@run_async
async def demo(data_dir: Path, domain: str, no_serve: bool) -> None:
    """Initialise a demo operator with a sample directory, print credentials, serve."""
    if not (data_dir / "salus.toml").exists():
        await initialise(data_dir, domain, None, None)
    async with cli_context(data_dir) as ctx:
        async with ctx.db.read() as session:
            filled = (
                await session.execute(select(func.count()).select_from(Organisation))
            ).scalar_one()
        if filled:
            click.echo(
                f"{data_dir} already holds a directory: credentials were printed when it was made"
            )
        else:
            credentials = await _populate(ctx)
            _print(ctx, credentials)
    if not no_serve:
        await serve_until_stopped(data_dir)


async def _populate(ctx: CliContext) -> list[tuple[str, str]]:
    domain = ctx.settings.service.domain
    local = ctx.settings.service.local_domains
    rpps = Rpps()
    credentials: list[tuple[str, str]] = []
    async with ctx.db.write() as session:
        for org in ORGANISATIONS:
            await add_organisation(session, ACTOR, org)
        for p in PEOPLE:
            national_id = "8" + rpps.with_check_digit(p.rpps_stem)
            await add_practitioner(
                session,
                ACTOR,
                PractitionerInput(
                    national_id, p.first, p.last, p.profession, p.specialty, "", p.org
                ),
            )
            address = f"{p.local_part}@{domain}"
            await add_mailbox(
                session,
                ACTOR,
                address,
                MailboxKind.PERSONAL,
                local_domains=local,
                owner=national_id,
            )
            credentials.append((address, secrets.token_urlsafe(12)))
        lab = f"lis@{domain}"
        await add_mailbox(
            session,
            ACTOR,
            lab,
            MailboxKind.APPLICATIVE,
            local_domains=local,
            organisation="1000000035",
        )
        await set_mailbox(session, ACTOR, lab, crypto="smime-gcm", delivery="server-decrypt")
        credentials.append((lab, secrets.token_urlsafe(12)))
        secretariat = f"secretariat.cardiologie@{domain}"
        await add_mailbox(
            session,
            ACTOR,
            secretariat,
            MailboxKind.ORGANIZATIONAL,
            local_domains=local,
            organisation="1000000019",
        )
        # Dr Martin also reads and sends as the cardiology secretariat (delegation).
        await delegate(
            session, ACTOR, secretariat, "8" + rpps.with_check_digit(PEOPLE[0].rpps_stem)
        )
        for address, password in credentials:
            await set_password(session, ACTOR, address, password)
    await _issue_keys(ctx, [a for a, _ in credentials] + [secretariat])
    return credentials


async def _issue_keys(ctx: CliContext, addresses: list[str]) -> None:
    sealer = KeySealer.from_data_dir(ctx.settings.data_dir)
    ca = ServiceCa.load(ctx.settings.data_dir, sealer)
    for address in addresses:
        now = utcnow()
        new = await asyncio.to_thread(keystore.generate, ca, sealer, address, address, now)
        async with ctx.db.write() as session:
            row = await keystore.store(session, new, now)
            await audit.append(
                session,
                audit.AuditEvent(
                    ACTOR, "keys.issue", address, "ok", detail={"serial": row.smime_serial}
                ),
            )


def _print(ctx: CliContext, credentials: list[tuple[str, str]]) -> None:
    s = ctx.settings
    click.echo(f"Salus demo for {s.service.domain} in {s.data_dir}")
    click.echo(
        f"  IMAP {s.imap.listen} (STARTTLS) / {s.imap.listen_tls} (TLS); "
        f"submission {s.smtp.submission} (STARTTLS) / {s.smtp.submissions} (TLS)"
    )
    click.echo(f"  CA chain to trust: salus trust export-ca --data-dir {s.data_dir}")
    click.echo(f"  routing address for documents: {s.routing_address}")
    click.echo("  mailbox | password (shown once)")
    for address, password in credentials:
        click.echo(f"  {address} | {password}")
    click.echo(f"  ({PEOPLE[0].local_part}@{s.service.domain} also uses secretariat.cardiologie@…)")
