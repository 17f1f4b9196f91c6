"""`salus keys …` (mailbox keys from the service CA) and `salus trust export-ca`.

    salus keys issue ADDRESS        S/MIME certificate + OpenPGP key for a local mailbox
    salus keys renew ADDRESS        a new generation; the old one is kept for old mail
    salus keys revoke ADDRESS       every generation onto the CRL (keys kept for old mail)
    salus keys list ADDRESS [--json]
    salus keys export ADDRESS (--p12 FILE | --openpgp-secret FILE) --passphrase-stdin
    salus keys crl                  the CRL (PEM), re-signed first when it is due
    salus keys rotate-service-key   new service key; CA, TLS and mailbox keys re-sealed

Every action, refused or done, is in the audit trail (identifiers only, never key bytes).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from cryptography.hazmat.primitives import serialization

from crypto import keystore, policy, rotation, service_key
from crypto.ca import ServiceCa, export_chain
from crypto.errors import CryptoError
from crypto.models import MailboxKey
from crypto.sealing import KeySealer
from crypto.service_key import ServiceKeyError
from directory import repository
from directory.models import MailboxStatus
from storage import audit
from storage.base import utcnow
from storage.cli import CliContext, cli_context, data_dir_option, fail, read_secret_stdin, run_async


@click.command("export-ca")
@data_dir_option
def export_ca(data_dir: Path) -> None:
    """Print this operator's CA chain (issuing CA then root, PEM) for peer operators."""
    try:
        click.echo(export_chain(data_dir).decode("ascii"), nl=False)
    except CryptoError as exc:
        fail(str(exc))


@click.group()
def keys() -> None:
    """Mailbox keys: S/MIME certificates from the service CA and OpenPGP keys."""


def _open(ctx: CliContext) -> tuple[KeySealer, ServiceCa]:
    try:
        sealer = KeySealer.from_data_dir(ctx.settings.data_dir)
        return sealer, ServiceCa.load(ctx.settings.data_dir, sealer)
    except (ServiceKeyError, CryptoError) as exc:
        fail(str(exc))


async def _refuse(ctx: CliContext, action: str, address: str, reason: str) -> None:
    await audit.record(
        ctx.db, audit.AuditEvent(ctx.actor, action, address, "refused", detail={"reason": reason})
    )
    fail(reason)


@dataclass(frozen=True, slots=True)
class LocalMailbox:
    address: str
    name: str  # what the certificate and the OpenPGP user id show


async def _local_mailbox(ctx: CliContext, action: str, address: str) -> LocalMailbox:
    """The mailbox to issue keys for: it must exist, be local and be active."""
    async with ctx.db.read() as session:
        mailbox = await repository.mailbox_by_address(session, address)
        owner = None
        if mailbox is not None and mailbox.owner_id:
            owner = await repository.practitioner(session, mailbox.owner_id)
    if mailbox is None:
        await _refuse(ctx, action, address, f"no mailbox {address} in the directory")
    elif not mailbox.local:
        await _refuse(
            ctx, action, address, f"{address} is not a local mailbox: its operator issues its keys"
        )
    elif mailbox.status != MailboxStatus.ACTIVE.value:
        await _refuse(ctx, action, address, f"{address} is {mailbox.status}")
    assert mailbox is not None  # _refuse does not return
    name = mailbox.display_name or (f"{owner.first_name} {owner.last_name}" if owner else "")
    return LocalMailbox(mailbox.address, name)


def _detail(row: MailboxKey) -> dict[str, Any]:
    return {
        "serial": row.smime_serial,
        "not_after": row.not_after.isoformat(),
        "openpgp_fingerprint": row.openpgp_fingerprint,
    }


async def _new_generation(data_dir: Path, action: str, address: str) -> None:
    async with cli_context(data_dir) as ctx:
        mailbox = await _local_mailbox(ctx, action, address)
        async with ctx.db.read() as session:
            current = await keystore.active(session, mailbox.address)
        if action == "keys.issue" and current is not None:
            await _refuse(
                ctx,
                action,
                mailbox.address,
                f"{mailbox.address} already has an active key: renew it instead",
            )
        if action == "keys.renew" and current is None:
            await _refuse(
                ctx,
                action,
                mailbox.address,
                f"{mailbox.address} has no active key to renew: issue one",
            )
        sealer, ca = _open(ctx)
        now = utcnow()
        # RSA key generation is CPU work: off the event loop, before the transaction.
        new = await asyncio.to_thread(
            keystore.generate, ca, sealer, mailbox.address, mailbox.name, now
        )
        try:
            async with ctx.db.write() as session:
                if action == "keys.issue":
                    row = await keystore.store(session, new, now)
                    detail = _detail(row)
                else:
                    old, row = await keystore.renew(session, new, now)
                    detail = {**_detail(row), "retired_serial": old.smime_serial}
                await audit.append(
                    session,
                    audit.AuditEvent(ctx.actor, action, mailbox.address, "ok", detail=detail),
                )
        except CryptoError as exc:
            await _refuse(ctx, action, mailbox.address, str(exc))
    verb = "issued" if action == "keys.issue" else "renewed"
    click.echo(
        f"{verb} keys for {mailbox.address}: S/MIME certificate {row.smime_serial} "
        f"(valid until {row.not_after:%Y-%m-%d}), OpenPGP key {row.openpgp_fingerprint}"
    )


@keys.command()
@click.argument("address")
@data_dir_option
@run_async
async def issue(address: str, data_dir: Path) -> None:
    """Issue the first S/MIME certificate and OpenPGP key of a local mailbox."""
    await _new_generation(data_dir, "keys.issue", address)


@keys.command()
@click.argument("address")
@data_dir_option
@run_async
async def renew(address: str, data_dir: Path) -> None:
    """Replace the active keys with new ones; the old ones stay for old mail."""
    await _new_generation(data_dir, "keys.renew", address)


@keys.command()
@click.argument("address")
@data_dir_option
@run_async
async def revoke(address: str, data_dir: Path) -> None:
    """Put every certificate of ADDRESS on the CRL (its keys still read old mail)."""
    async with cli_context(data_dir) as ctx:
        _, ca = _open(ctx)
        now = utcnow()
        try:
            async with ctx.db.write() as session:
                rows = await keystore.revoke(session, ca, address, now)
                serials = [r.smime_serial for r in rows]
                await audit.append(
                    session,
                    audit.AuditEvent(
                        ctx.actor,
                        "keys.revoke",
                        keystore.normalise(address),
                        "ok",
                        detail={"serials": serials},
                    ),
                )
        except CryptoError as exc:
            await _refuse(ctx, "keys.revoke", keystore.normalise(address), str(exc))
        async with ctx.db.read() as session:
            await keystore.write_crl_file(session, data_dir)
    click.echo(
        f"revoked {len(serials)} certificate(s) of {keystore.normalise(address)}: {', '.join(serials)}"
    )


@keys.command("list")
@click.argument("address")
@click.option("--json", "as_json", is_flag=True, help="Stable JSON output for scripts.")
@data_dir_option
@run_async
async def list_keys(address: str, as_json: bool, data_dir: Path) -> None:
    """Every key generation of ADDRESS, newest first."""
    async with cli_context(data_dir) as ctx, ctx.db.read() as session:
        rows = await keystore.generations(session, address)
    now = utcnow()
    items = [
        {
            "status": r.status,
            "serial": r.smime_serial,
            "created_at": r.created_at.isoformat(),
            "not_after": r.not_after.isoformat(),
            "renew_due": r.status == "active" and r.not_after - now < policy.RENEW_BEFORE,
            "openpgp_fingerprint": r.openpgp_fingerprint,
        }
        for r in rows
    ]
    if as_json:
        click.echo(json.dumps({"address": keystore.normalise(address), "keys": items}, indent=2))
        return
    if not items:
        fail(
            f"{keystore.normalise(address)} has no keys: run `salus keys issue {keystore.normalise(address)}`"
        )
    for item in items:
        due = "  (renew soon)" if item["renew_due"] else ""
        click.echo(
            f"{item['status']:8} S/MIME {item['serial']}  until {str(item['not_after'])[:10]}  "
            f"OpenPGP {item['openpgp_fingerprint']}{due}"
        )


@keys.command()
@click.argument("address")
@click.option(
    "--p12",
    "p12_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a PKCS#12 file.",
)
@click.option(
    "--openpgp-secret",
    "pgp_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the OpenPGP secret keys (every generation).",
)
@click.option(
    "--passphrase-stdin", is_flag=True, required=True, help="Read the export passphrase from stdin."
)
@data_dir_option
@run_async
async def export(
    address: str,
    p12_file: Path | None,
    pgp_file: Path | None,
    passphrase_stdin: bool,
    data_dir: Path,
) -> None:
    """Export the keys of ADDRESS for its owner's mail client (every generation)."""
    if (p12_file is None) == (pgp_file is None):
        fail("give exactly one of --p12 FILE or --openpgp-secret FILE")
    target = p12_file or pgp_file
    assert target is not None
    if target.exists():
        fail(f"{target} already exists: choose a new file name")
    passphrase = read_secret_stdin("passphrase")
    kind = "p12" if p12_file else "openpgp-secret"
    address = keystore.normalise(address)
    async with cli_context(data_dir) as ctx:
        sealer, _ = _open(ctx)
        try:
            async with ctx.db.read() as session:
                if p12_file:
                    data = await keystore.export_p12(session, sealer, data_dir, address, passphrase)
                    count = len(await keystore.generations(session, address))
                else:
                    secret, count = await keystore.export_openpgp_secrets(
                        session, sealer, address, passphrase
                    )
                    data = secret.encode("utf-8")
        except CryptoError as exc:
            await _refuse(ctx, "keys.export", address, str(exc))
        _write_private(target, data)
        await audit.record(
            ctx.db,
            audit.AuditEvent(
                ctx.actor,
                "keys.export",
                address,
                "ok",
                detail={"format": kind, "generations": count},
            ),
        )
    click.echo(f"wrote {kind} for {address} ({count} key generation(s)) to {target}")


def _write_private(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")


@keys.command()
@data_dir_option
@run_async
async def crl(data_dir: Path) -> None:
    """Print the service CA's CRL (PEM), re-signed first when it is close to expiry."""
    async with cli_context(data_dir) as ctx:
        margin = dt.timedelta(days=ctx.settings.ca.crl_refresh_days)
        async with ctx.db.write() as session:
            new = await keystore.refresh_crl(session, lambda: _open(ctx)[1], utcnow(), margin)
            if new is not None:
                await audit.append(
                    session,
                    audit.AuditEvent(
                        ctx.actor,
                        "ca.crl",
                        ctx.settings.service.domain,
                        "ok",
                        detail={"number": keystore.crl_number(new)},
                    ),
                )
        async with ctx.db.read() as session:
            await keystore.write_crl_file(session, data_dir)
            current = await keystore.current_crl(session)
    if current is None:
        fail("this data dir has no CRL: run `salus init`")
    click.echo(current.public_bytes(serialization.Encoding.PEM).decode("ascii"), nl=False)


@keys.command("rotate-service-key")
@data_dir_option
@run_async
async def rotate_service_key(data_dir: Path) -> None:
    """Replace the service key; re-seal the CA, TLS and mailbox keys under the new one."""
    async with cli_context(data_dir) as ctx:
        try:
            sealer = rotation.rotate_key_file(service_key.key_path(data_dir))
            files = rotation.reseal_files(data_dir, sealer)
        except (ServiceKeyError, CryptoError) as exc:
            fail(str(exc))
        async with ctx.db.write() as session:
            rows = await keystore.reseal_all(session, sealer)
            await audit.append(
                session,
                audit.AuditEvent(
                    ctx.actor,
                    "service-key.rotate",
                    ctx.settings.service.domain,
                    "ok",
                    detail={
                        "key_id": sealer.current.key_id.hex(),
                        "files": files,
                        "mailbox_keys": rows,
                    },
                ),
            )
    click.echo(
        f"service key rotated (new key id {sealer.current.key_id.hex()}); re-sealed {files} file(s) and "
        f"{rows} mailbox key generation(s); copy DIR/keys to every node"
    )
