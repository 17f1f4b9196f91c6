"""`salus directory mailbox export`: a mailbox's mail, every folder, in one mbox file, with
the keys that read it, for a practitioner who leaves.

    export ADDRESS --mbox FILE [--p12 FILE] [--openpgp-secret FILE] [--passphrase-stdin]
    export ADDRESS --mbox FILE --no-keys

Messages go out in their stored form (mailserver/store/mbox.py): the ciphertext of a
client-decrypt mailbox, the verified plaintext of a server-decrypt one. A mailbox with
keys must be exported with the keys its mail needs, every generation (mail encrypted to
a retired key stays readable): `--p12` (S/MIME) when its mail holds S/MIME-encrypted
messages or it is a client-decrypt S/MIME mailbox, `--openpgp-secret` likewise for
OpenPGP, both protected by the passphrase on standard input; or the administrator says
`--no-keys`. A first pass over the header sections finds the forms the mail holds.

Files are created 0600 and never overwritten; every refusal comes before anything is
written, and an export that fails while writing removes its files. The mailbox is read
in batches (mailserver/store/export.py), never whole. The audit entry holds counts,
never content.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import click

from crypto import keystore
from crypto.at_rest import AtRestCipher
from crypto.errors import CryptoError
from crypto.sealing import KeySealer
from crypto.service_key import ServiceKeyError
from directory import repository
from directory.models import CryptoForm, DeliveryMode, Mailbox
from gateway.trust.inbound import OPENPGP, SMIME, protection_form
from mailserver.cli.admin_change import refuse
from mailserver.store import mbox, sealing
from mailserver.store.export import stored_messages
from storage import audit
from storage.cli import CliContext, cli_context, data_dir_option, fail, read_secret_stdin, run_async
from storage.errors import StorageError

ACTION = "directory.mailbox.export"
CLEAR = "clear"
LABELS = {SMIME: "S/MIME", OPENPGP: "OpenPGP", CLEAR: "not encrypted"}
# Entries are handed to the writing thread this many bytes at a time.
WRITE_BYTES = 1024 * 1024
_FILE = click.Path(dir_okay=False, path_type=Path)


@dataclass(frozen=True, slots=True)
class Targets:
    mbox: Path
    p12: Path | None
    openpgp: Path | None

    def files(self) -> list[Path]:
        return [p for p in (self.mbox, self.p12, self.openpgp) if p is not None]

    def key_file(self, form: str) -> Path | None:
        return self.p12 if form == SMIME else self.openpgp


@dataclass
class Tally:
    messages: int = 0
    unreadable: int = 0
    folders: set[str] = field(default_factory=set)
    forms: Counter[str] = field(default_factory=Counter)


@click.command("export")
@click.argument("address")
@click.option("--mbox", "mbox_file", required=True, type=_FILE, help="The mbox file to write.")
@click.option("--p12", "p12_file", type=_FILE, help="S/MIME keys, every generation (PKCS#12).")
@click.option("--openpgp-secret", "pgp_file", type=_FILE, help="OpenPGP keys, every generation.")
@click.option("--passphrase-stdin", is_flag=True, help="The key files' passphrase, from stdin.")
@click.option("--no-keys", is_flag=True, help="Export encrypted mail without its keys.")
@data_dir_option
@run_async
async def export_command(  # noqa: PLR0917 - one parameter per option
    address: str,
    mbox_file: Path,
    p12_file: Path | None,
    pgp_file: Path | None,
    passphrase_stdin: bool,
    no_keys: bool,
    data_dir: Path,
) -> None:
    """Export a mailbox's mail (every folder, one mbox file) with the keys that read it."""
    targets = _targets(mbox_file, p12_file, pgp_file, passphrase_stdin=passphrase_stdin,
                       no_keys=no_keys)  # fmt: skip
    passphrase = read_secret_stdin("passphrase") if passphrase_stdin else ""
    async with cli_context(data_dir) as ctx:
        mailbox = await _mailbox(ctx, repository.normalise_address(address))
        at_rest, sealer = await _ciphers(ctx, mailbox.address)
        async with ctx.db.read() as session:
            generations = len(await keystore.generations(session, mailbox.address))
        forms = await _forms(ctx, at_rest, mailbox.id)
        if generations and not no_keys:
            problem = _missing_keys(mailbox, _needed(mailbox, forms), targets)
        elif not generations and (p12_file or pgp_file):
            problem = f"{mailbox.address} has no keys: leave out --p12 and --openpgp-secret"
        else:
            problem = None
        if problem is not None:
            await refuse(ctx, ACTION, mailbox.address, problem)
        keys = await _key_files(ctx, sealer, mailbox.address, targets, passphrase)
        tally = await _write(ctx, at_rest, mailbox, targets, keys)
        await _audit(ctx, mailbox.address, targets, tally, generations, no_keys=no_keys)
    _summary(mailbox.address, targets, tally, generations)


def _targets(
    mbox_file: Path, p12: Path | None, pgp: Path | None, *, passphrase_stdin: bool, no_keys: bool
) -> Targets:
    """The files to write; usage mistakes end the command before anything is read."""
    key_files = [p for p in (p12, pgp) if p is not None]
    if no_keys and (key_files or passphrase_stdin):
        fail("--no-keys writes no keys: leave out --p12, --openpgp-secret and --passphrase-stdin")
    if key_files and not passphrase_stdin:
        fail("key files are protected by a passphrase: add --passphrase-stdin")
    if passphrase_stdin and not key_files:
        fail("--passphrase-stdin protects key files: add --p12 FILE or --openpgp-secret FILE")
    targets = Targets(mbox_file, p12, pgp)
    if len({p.absolute() for p in targets.files()}) != len(targets.files()):
        fail("--mbox, --p12 and --openpgp-secret must name different files")
    for path in targets.files():
        if path.exists() or path.is_symlink():
            fail(f"{path} already exists: choose a new file name")
    return targets


async def _mailbox(ctx: CliContext, address: str) -> Mailbox:
    async with ctx.db.read() as session:
        found = await repository.mailbox_by_address(session, address)
    if found is None:
        await refuse(ctx, ACTION, address, f"no mailbox {address} in the directory")
    if not found.local:
        reason = f"{address} is not a local mailbox: its own operator holds its mail"
        await refuse(ctx, ACTION, address, reason)
    return found


async def _ciphers(ctx: CliContext, address: str) -> tuple[AtRestCipher, KeySealer]:
    try:
        data_dir = ctx.settings.data_dir
        return AtRestCipher.from_data_dir(data_dir), KeySealer.from_data_dir(data_dir)
    except ServiceKeyError as exc:
        await refuse(ctx, ACTION, address, str(exc))


def _form(message: bytes) -> str:
    """The message's protection as a whole (its outer header decides)."""
    return protection_form(message[: sealing.header_length(message)]) or CLEAR


async def _forms(ctx: CliContext, at_rest: AtRestCipher, mailbox_id: int) -> Counter[str]:
    """How many messages of each protection form the mailbox holds (header sections)."""
    forms: Counter[str] = Counter()
    async for copy in stored_messages(ctx.db, at_rest, mailbox_id, header_only=True):
        if copy.message is not None:
            forms[_form(copy.message)] += 1
    return forms


def _needed(mailbox: Mailbox, forms: Counter[str]) -> list[str]:
    """The key forms that read this mailbox's mail: those its stored mail is encrypted
    in, and its own form when its owner's client decrypts."""
    needed = {form for form in (SMIME, OPENPGP) if forms[form]}
    if mailbox.delivery == DeliveryMode.CLIENT_DECRYPT.value:
        needed.add(OPENPGP if mailbox.crypto == CryptoForm.OPENPGP.value else SMIME)
    return [form for form in (SMIME, OPENPGP) if form in needed]


def _missing_keys(mailbox: Mailbox, needed: list[str], targets: Targets) -> str | None:
    missing = [form for form in needed if targets.key_file(form) is None]
    if not missing:
        return None
    options = " and ".join("--p12 FILE" if f == SMIME else "--openpgp-secret FILE" for f in missing)
    kinds = " and ".join(LABELS[f] for f in missing)
    return (
        f"{mailbox.address} holds mail that only its {kinds} keys open: "
        f"add {options} with --passphrase-stdin, or --no-keys to export it without them"
    )


async def _key_files(
    ctx: CliContext, sealer: KeySealer, address: str, targets: Targets, passphrase: str
) -> dict[Path, bytes]:
    """The key files' contents (every generation), made before any file is created."""
    out: dict[Path, bytes] = {}
    try:
        async with ctx.db.read() as session:
            if targets.p12 is not None:
                out[targets.p12] = await keystore.export_p12(
                    session, sealer, ctx.settings.data_dir, address, passphrase
                )
            if targets.openpgp is not None:
                text, _ = await keystore.export_openpgp_secrets(
                    session, sealer, address, passphrase
                )
                out[targets.openpgp] = text.encode("ascii")
    except CryptoError as exc:
        await refuse(ctx, ACTION, address, str(exc))
    return out


async def _write(
    ctx: CliContext, at_rest: AtRestCipher, mailbox: Mailbox, targets: Targets,
    keys: dict[Path, bytes],
) -> Tally:  # fmt: skip
    """Create every file, write the keys, stream the mail, sync; on a failure remove
    them all (a later export starts clean) and refuse."""
    files: dict[Path, BinaryIO] = {}
    try:
        for path in targets.files():
            files[path] = _create(path)
        for path, data in keys.items():
            await asyncio.to_thread(files[path].write, data)
        tally = await _write_mbox(ctx, at_rest, mailbox.id, files[targets.mbox])
        for handle in files.values():
            await asyncio.to_thread(_close, handle)
    except (OSError, StorageError) as exc:
        _discard(files)
        if isinstance(exc, OSError) and exc.filename:
            reason = f"cannot write {exc.filename}: {exc.strerror}"
        else:
            detail = exc.strerror if isinstance(exc, OSError) else str(exc)
            reason = f"the export of {mailbox.address} failed and its files were removed: {detail}"
        await refuse(ctx, ACTION, mailbox.address, reason)
    return tally


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def _create(path: Path) -> BinaryIO:
    """A new file, 0600; an existing one (or a link) is refused by O_EXCL."""
    return open(path, "xb", opener=_private)


def _close(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


def _discard(files: dict[Path, BinaryIO]) -> None:
    for path, handle in files.items():
        handle.close()
        path.unlink(missing_ok=True)


async def _write_mbox(
    ctx: CliContext, at_rest: AtRestCipher, mailbox_id: int, out: BinaryIO
) -> Tally:
    tally = Tally()
    pending: list[bytes] = []
    size = 0
    async for copy in stored_messages(ctx.db, at_rest, mailbox_id):
        tally.folders.add(copy.folder)
        if copy.message is None:
            tally.unreadable += 1
            continue
        tally.messages += 1
        tally.forms[_form(copy.message)] += 1
        entry = mbox.entry(copy.message, folder=copy.folder, flags=copy.meta.flags,
                           internal_date=copy.meta.internal_date)  # fmt: skip
        pending.append(entry)
        size += len(entry)
        if size >= WRITE_BYTES:
            await asyncio.to_thread(out.writelines, pending)
            pending, size = [], 0
    await asyncio.to_thread(out.writelines, pending)
    return tally


def _shortfall(
    address: str, targets: Targets, tally: Tally, generations: int, *, no_keys: bool
) -> str | None:
    """Why a written export is not the whole readable mailbox, if it is not."""
    if tally.unreadable:
        return (
            f"{tally.unreadable} message(s) of {address} did not open with this data dir's "
            f"service keys (is a retired key missing?): {targets.mbox} holds the other "
            f"{tally.messages}"
        )
    late = [f for f in (SMIME, OPENPGP) if tally.forms[f] and targets.key_file(f) is None]
    if generations and not no_keys and late:
        kinds = " and ".join(LABELS[f] for f in late)
        return (
            f"{kinds}-encrypted mail reached {address} during the export and its key file "
            f"was not asked for: suspend {address} and export again to new files"
        )
    return None


async def _audit(
    ctx: CliContext, address: str, targets: Targets, tally: Tally, generations: int,
    *, no_keys: bool,
) -> None:  # fmt: skip
    """One entry with counts (never content); an incomplete export also ends in error."""
    written = [k for k, p in (("p12", targets.p12), ("openpgp-secret", targets.openpgp)) if p]
    detail: dict[str, object] = {
        "messages": tally.messages,
        "folders": len(tally.folders),
        "forms": dict(sorted(tally.forms.items())),
        "unreadable": tally.unreadable,
        "keys": written,
        "key_generations": generations if written else 0,
        "no_keys": no_keys,
    }
    problem = _shortfall(address, targets, tally, generations, no_keys=no_keys)
    if problem is not None:
        detail["reason"] = problem
    result = "ok" if problem is None else "incomplete"
    await audit.record(ctx.db, audit.AuditEvent(ctx.actor, ACTION, address, result, "cli", detail))
    if problem is not None:
        fail(problem)


def _summary(address: str, targets: Targets, tally: Tally, generations: int) -> None:
    forms = ", ".join(f"{tally.forms[f]} {LABELS[f]}" for f in LABELS if tally.forms[f])
    click.echo(
        f"exported {tally.messages} message(s) from {len(tally.folders)} folder(s) of "
        f"{address} to {targets.mbox}" + (f" ({forms})" if forms else "")
    )
    for kind, path in (("S/MIME keys (PKCS#12)", targets.p12), ("OpenPGP keys", targets.openpgp)):
        if path is not None:
            click.echo(f"wrote {kind}, {generations} generation(s), to {path}")
