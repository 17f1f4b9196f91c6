"""`salus directory mailbox …`: mailboxes, their credentials, settings and delegations.

    add ADDRESS --kind KIND (--owner NATIONAL_ID | --org ID) [--password-stdin]
    passwd ADDRESS --password-stdin
    app-password add ADDRESS --label L      prints a generated password once
    app-password list ADDRESS | revoke ADDRESS [--label L]   (no label: all of them)
    delegate ADDRESS --to NATIONAL_ID [--remove]
    set ADDRESS [--crypto …] [--delivery …] [--quota BYTES] [--red-list|--no-red-list]
    suspend | resume | remove ADDRESS
    certificate bind ADDRESS --cert FILE | unbind ADDRESS FINGERPRINT | list ADDRESS
    export ADDRESS --mbox FILE [--p12 FILE] [--openpgp-secret FILE] [--passphrase-stdin]
                   [--no-keys]             (mailserver/cli/mailbox_export.py)

Secrets come from the first line of standard input, never from an argument.
"""

from __future__ import annotations

from pathlib import Path

import click

from directory import passwords
from directory.admin import credentials, mailboxes
from directory.models import CryptoForm, DeliveryMode, MailboxKind, MailboxStatus
from mailserver.cli.admin_change import change, echo_json, refusal
from mailserver.cli.mailbox_export import export_command
from storage.cli import cli_context, data_dir_option, fail, read_secret_stdin, run_async

KIND_CHOICES = [k.value for k in MailboxKind] + ["PER", "ORG", "APP", "CAB"]


def _password_from_stdin() -> str:
    password = read_secret_stdin("password")
    problem = passwords.password_problem(password)
    if problem is not None:
        fail(f"password refused: {problem}")
    return password


@click.group()
def mailbox() -> None:
    """Mailboxes: personal, organizational, applicative, practice."""


@mailbox.command("add")
@click.argument("address")
@click.option("--kind", required=True, type=click.Choice(KIND_CHOICES, case_sensitive=False))
@click.option("--owner", help="National identifier of the owning practitioner.")
@click.option("--org", "org_id", help="Identifier of the owning organisation.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@data_dir_option
@run_async
async def add(  # noqa: PLR0917 - one parameter per option
    address: str,
    kind: str,
    owner: str | None,
    org_id: str | None,
    password_stdin: bool,
    data_dir: Path,
) -> None:
    """Add a mailbox; addresses outside this operator's domains are directory entries."""
    password = _password_from_stdin() if password_stdin else None
    async with cli_context(data_dir) as ctx, change(ctx, "directory.mailbox.add", address) as s:
        added = await mailboxes.add_mailbox(
            s, ctx.actor, address, mailboxes.mailbox_kind(kind),
            local_domains=ctx.settings.service.local_domains, owner=owner, organisation=org_id,
        )  # fmt: skip
        if password is not None:
            await credentials.set_password(s, ctx.actor, added.address, password)
    where = "served here" if added.local else "directory entry of another operator"
    click.echo(f"mailbox {added.address} added ({added.kind}, {where})")


@mailbox.command("passwd")
@click.argument("address")
@click.option("--password-stdin", is_flag=True, required=True, help="Read it from standard input.")
@data_dir_option
@run_async
async def passwd(address: str, password_stdin: bool, data_dir: Path) -> None:
    """Set the password of a mailbox served here."""
    password = _password_from_stdin()
    async with cli_context(data_dir) as ctx, change(ctx, "directory.password.set", address) as s:
        await credentials.set_password(s, ctx.actor, address, password)
    click.echo(f"password of {address.strip().lower()} set")


@mailbox.group("app-password")
def app_password() -> None:
    """Generated passwords for mail clients, one per label."""


@app_password.command("add")
@click.argument("address")
@click.option("--label", required=True, help="What the password is for (phone, laptop...).")
@data_dir_option
@run_async
async def app_password_add(address: str, label: str, data_dir: Path) -> None:
    """Generate an app password and print it once."""
    async with (
        cli_context(data_dir) as ctx,
        change(ctx, "directory.app-password.add", address) as s,
    ):
        text = await credentials.add_app_password(s, ctx.actor, address, label)
    click.echo(text)
    click.echo(
        f"app password {label.strip()!r} of {address.strip().lower()}: shown only now", err=True
    )


@app_password.command("list")
@click.argument("address")
@click.option("--label", help="Only this label.")
@click.option("--json", "as_json", is_flag=True, help="Stable JSON for scripts.")
@data_dir_option
@run_async
async def app_password_list(address: str, label: str | None, as_json: bool, data_dir: Path) -> None:
    """List the app passwords of a mailbox (labels and dates, never the secrets)."""
    async with cli_context(data_dir) as ctx, ctx.db.read() as s:
        with refusal():
            found = await credentials.app_passwords(s, address)
    rows = [
        {"label": i.label, "created_at": i.created_at.isoformat(),
         "last_used_at": i.last_used_at.isoformat() if i.last_used_at else None}
        for i in found
        if label is None or i.label == label.strip()
    ]  # fmt: skip
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        click.echo(
            f"{r['label']:<24} created {r['created_at']}  last used {r['last_used_at'] or 'never'}"
        )


@app_password.command("revoke")
@click.argument("address")
@click.option("--label", help="The one to revoke (default: all of them).")
@data_dir_option
@run_async
async def app_password_revoke(address: str, label: str | None, data_dir: Path) -> None:
    """Revoke an app password, or all of them."""
    async with (
        cli_context(data_dir) as ctx,
        change(ctx, "directory.app-password.revoke", address) as s,
    ):
        count = await credentials.revoke_app_passwords(s, ctx.actor, address, label)
    click.echo(f"{count} app password(s) of {address.strip().lower()} revoked")


@mailbox.command("delegate")
@click.argument("address")
@click.option("--to", "national_id", required=True, help="National identifier of the delegate.")
@click.option("--remove", is_flag=True, help="End the delegation.")
@data_dir_option
@run_async
async def delegate(address: str, national_id: str, remove: bool, data_dir: Path) -> None:
    """Let a practitioner use a shared mailbox (or stop, with --remove)."""
    action = "directory.mailbox.undelegate" if remove else "directory.mailbox.delegate"
    async with cli_context(data_dir) as ctx, change(ctx, action, address) as s:
        await mailboxes.delegate(s, ctx.actor, address, national_id, remove=remove)
    verb = "no longer uses" if remove else "may now use"
    click.echo(f"{national_id.strip().upper()} {verb} {address.strip().lower()}")


@mailbox.command("set")
@click.argument("address")
@click.option("--crypto", type=click.Choice([c.value for c in CryptoForm]))
@click.option("--delivery", type=click.Choice([d.value for d in DeliveryMode]))
@click.option("--quota", type=click.IntRange(min=0), help="Bytes; 0 for no quota.")
@click.option("--red-list/--no-red-list", default=None, help="Leave out of published exports.")
@data_dir_option
@run_async
async def set_command(  # noqa: PLR0917 - one parameter per option
    address: str,
    crypto: str | None,
    delivery: str | None,
    quota: int | None,
    red_list: bool | None,
    data_dir: Path,
) -> None:
    """Change a mailbox's preferred crypto, delivery mode, quota or red-list flag."""
    async with cli_context(data_dir) as ctx, change(ctx, "directory.mailbox.set", address) as s:
        found = await mailboxes.set_mailbox(
            s, ctx.actor, address, crypto=crypto, delivery=delivery, quota=quota, red_list=red_list
        )
    click.echo(
        f"{found.address}: crypto {found.crypto}, delivery {found.delivery}, "
        f"quota {found.quota or 'none'}, red list {'yes' if found.red_list else 'no'}"
    )


def _status_command(name: str, status: MailboxStatus, help_text: str) -> None:
    @mailbox.command(name, help=help_text)
    @click.argument("address")
    @data_dir_option
    @run_async
    async def command(address: str, data_dir: Path) -> None:
        async with (
            cli_context(data_dir) as ctx,
            change(ctx, f"directory.mailbox.{name}", address) as s,
        ):
            found = await mailboxes.set_mailbox_status(s, ctx.actor, address, status)
        click.echo(f"mailbox {found.address} {status.value}")


_status_command("suspend", MailboxStatus.SUSPENDED, "Suspend: no login, no delivery to it.")
_status_command("resume", MailboxStatus.ACTIVE, "Resume a suspended mailbox.")


@mailbox.command("remove")
@click.argument("address")
@click.option("--yes", is_flag=True, required=True, help="Confirm: its stored mail goes too.")
@data_dir_option
@run_async
async def remove(address: str, yes: bool, data_dir: Path) -> None:
    """Remove a mailbox with its credentials, delegations and stored mail."""
    async with cli_context(data_dir) as ctx, change(ctx, "directory.mailbox.remove", address) as s:
        await mailboxes.remove_mailbox(s, ctx.actor, address)
    click.echo(f"mailbox {address.strip().lower()} removed")


mailbox.add_command(export_command)


@mailbox.group("certificate")
def certificate() -> None:
    """Client certificates that log in as a mailbox (TLS client authentication)."""


@certificate.command("bind")
@click.argument("address")
@click.option("--cert", "cert_file", required=True, type=click.Path(dir_okay=False, path_type=Path))
@data_dir_option
@run_async
async def certificate_bind(address: str, cert_file: Path, data_dir: Path) -> None:
    """Bind a client certificate (PEM or DER file) to a mailbox served here."""
    try:
        data = cert_file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {cert_file}: {exc.strerror}")
    with refusal():
        cert = credentials.load_certificate(data)
    async with (
        cli_context(data_dir) as ctx,
        change(ctx, "directory.certificate.bind", address) as s,
    ):
        fingerprint = await credentials.bind_certificate(s, ctx.actor, address, cert)
    click.echo(f"certificate {fingerprint} bound to {address.strip().lower()}")


@certificate.command("unbind")
@click.argument("address")
@click.argument("fingerprint")
@data_dir_option
@run_async
async def certificate_unbind(address: str, fingerprint: str, data_dir: Path) -> None:
    """Unbind a certificate by its SHA-256 fingerprint."""
    async with (
        cli_context(data_dir) as ctx,
        change(ctx, "directory.certificate.unbind", address) as s,
    ):
        await credentials.unbind_certificate(s, ctx.actor, address, fingerprint)
    click.echo(f"certificate unbound from {address.strip().lower()}")


@certificate.command("list")
@click.argument("address")
@click.option("--json", "as_json", is_flag=True, help="Stable JSON for scripts.")
@data_dir_option
@run_async
async def certificate_list(address: str, as_json: bool, data_dir: Path) -> None:
    """The certificates bound to a mailbox."""
    async with cli_context(data_dir) as ctx, ctx.db.read() as s:
        with refusal():
            bound = await credentials.certificate_bindings(s, address)
    rows = [
        {"fingerprint": b.fingerprint, "subject": b.subject, "created_at": b.created_at.isoformat()}
        for b in bound
    ]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        click.echo(f"{r['fingerprint']}  {r['subject']}")
