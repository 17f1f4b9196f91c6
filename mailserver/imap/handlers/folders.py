"""CREATE, DELETE, RENAME, SUBSCRIBE/UNSUBSCRIBE, LIST/LSUB and STATUS (RFC 3501 §6.3;
LIST-EXTENDED RFC 5258, CHILDREN RFC 3348, SPECIAL-USE RFC 6154)."""

from __future__ import annotations

from dataclasses import dataclass

from mailserver.imap import responses, wire
from mailserver.imap.commands import folders as commands
from mailserver.imap.grammar import list_patterns, mailbox_names
from mailserver.imap.namespace import DELIMITER, Namespace
from mailserver.imap.outcome import Outcome
from mailserver.imap.responses import CommandFailed
from mailserver.imap.session import Session
from mailserver.imap.states import Authenticated, Selected, State, principal_of
from mailserver.imap.store_errors import failure
from mailserver.store import folders, reads
from mailserver.store.errors import StoreError
from mailserver.store.names import INBOX


async def create(cmd: commands.Create, session: Session, state: State) -> Outcome:
    # RFC 3501 §6.3.3: a trailing delimiter only says the client means to add children.
    name = cmd.mailbox[:-1] if cmd.mailbox.endswith(DELIMITER) else cmd.mailbox
    place = (await session.namespace(principal_of(state))).resolve(name)
    try:
        async with session.ctx.db.write() as db_session:
            await folders.create_folder(db_session, place.mailbox.id, place.folder)
    except StoreError as exc:
        raise failure(exc) from exc
    return Outcome(responses.ok(cmd.tag, "Create completed"))


async def delete(cmd: commands.Delete, session: Session, state: State) -> Outcome:
    principal = principal_of(state)
    place = (await session.namespace(principal)).resolve(cmd.mailbox)
    try:
        async with session.ctx.db.write() as db_session:
            await folders.delete_folder(db_session, place.mailbox.id, place.folder)
    except StoreError as exc:
        raise failure(exc) from exc
    await session.audit(principal, "imap.delete", f"{place.mailbox.address}/{place.folder}", {})
    session.publish(place.mailbox.id)
    deleted_selected = (
        isinstance(state, Selected)
        and state.folder.mailbox_id == place.mailbox.id
        and state.folder.stored_name == place.folder
    )
    return Outcome(
        responses.ok(cmd.tag, "Delete completed"),
        Authenticated(principal) if deleted_selected else None,
    )


async def rename(cmd: commands.Rename, session: Session, state: State) -> Outcome:
    names = await session.namespace(principal_of(state))
    old, new = names.resolve(cmd.old), names.resolve(cmd.new)
    if old.mailbox.id != new.mailbox.id:
        raise CommandFailed("A mailbox cannot be renamed into another account", "CANNOT")
    try:
        async with session.ctx.db.write() as db_session:
            await folders.rename_folder(db_session, old.mailbox.id, old.folder, new.folder)
    except StoreError as exc:
        raise failure(exc) from exc
    session.publish(old.mailbox.id)
    return Outcome(responses.ok(cmd.tag, "Rename completed"))


async def subscribe(cmd: commands.Subscribe, session: Session, state: State) -> Outcome:
    place = (await session.namespace(principal_of(state))).resolve(cmd.mailbox)
    try:
        async with session.ctx.db.write() as db_session:
            await folders.set_subscribed(db_session, place.mailbox.id, place.folder, cmd.subscribe)
    except StoreError as exc:
        raise failure(exc) from exc
    verb = "Subscribe" if cmd.subscribe else "Unsubscribe"
    return Outcome(responses.ok(cmd.tag, f"{verb} completed"))


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    selectable: bool
    subscribed: bool
    special_use: str | None


async def _entries(session: Session, names: Namespace) -> list[_Entry]:
    out: list[_Entry] = []
    async with session.ctx.db.read() as db_session:
        for mailbox in names.mailboxes:
            for info in await folders.list_folders(db_session, mailbox.id):
                display = names.display(mailbox, info.name)
                out.append(_Entry(display, True, info.subscribed, info.special_use))
    out += [_Entry(name, False, False, None) for name in names.containers()]
    return out


def _matches(pattern: str, name: str) -> bool:
    if name == INBOX or name.startswith(INBOX + DELIMITER):
        # INBOX is case-insensitive, in patterns too (RFC 3501 §5.1).
        head = pattern[: len(INBOX)]
        if head.upper() == INBOX:
            pattern = INBOX + pattern[len(INBOX) :]
    return list_patterns.matches(pattern, name, DELIMITER)


def _attributes(entry: _Entry, all_names: set[str], cmd: commands.ListFolders) -> list[str]:
    attrs: list[str] = []
    if not entry.selectable:
        attrs.append("\\Noselect")
    has_children = any(n.startswith(entry.name + DELIMITER) for n in all_names)
    attrs.append("\\HasChildren" if has_children else "\\HasNoChildren")
    wants_subscribed = "SUBSCRIBED" in cmd.returns or "SUBSCRIBED" in cmd.selection
    if entry.subscribed and wants_subscribed and not cmd.lsub:
        attrs.append("\\Subscribed")
    if entry.special_use and not cmd.lsub:
        attrs.append(entry.special_use)
    return attrs


async def list_folders(cmd: commands.ListFolders, session: Session, state: State) -> Outcome:
    verb = "LSUB" if cmd.lsub else "LIST"
    if cmd.patterns == ("",) and not cmd.lsub:
        # RFC 3501 §6.3.8: the empty pattern asks for the delimiter and the root.
        await session.send(responses.untagged(verb, "(\\Noselect)", '"/"', '""'))
        return Outcome(responses.ok(cmd.tag, "List completed"))
    names = await session.namespace(principal_of(state))
    entries = await _entries(session, names)
    all_names = {e.name for e in entries}
    chosen = [
        e
        for e in entries
        if any(_matches(cmd.reference + p, e.name) for p in cmd.patterns)
        and ("SUBSCRIBED" not in cmd.selection or e.subscribed)
        and ("SPECIAL-USE" not in cmd.selection or e.special_use)
    ]
    chosen.sort(key=lambda e: (e.name != INBOX, e.name))
    lines = [
        responses.untagged(
            verb,
            "(" + " ".join(_attributes(e, all_names, cmd)) + ")",
            '"/"',
            wire.string(mailbox_names.encode(e.name)),
        )
        for e in chosen
    ]
    await session.send_all(lines)
    return Outcome(responses.ok(cmd.tag, f"{verb} completed"))


async def status(cmd: commands.Status, session: Session, state: State) -> Outcome:
    place = (await session.namespace(principal_of(state))).resolve(cmd.mailbox)
    async with session.ctx.db.read() as db_session:
        folder = await reads.folder_by_name(db_session, place.mailbox.id, place.folder)
        if folder is None:
            raise CommandFailed("No such mailbox", "NONEXISTENT")
        counts = await reads.counts(db_session, folder.id)
    values = {
        "MESSAGES": counts.messages,
        "RECENT": 0,
        "UIDNEXT": folder.uidnext,
        "UIDVALIDITY": folder.uidvalidity,
        "UNSEEN": counts.unseen,
    }
    items = " ".join(f"{item} {values[item]}" for item in cmd.items)
    await session.send(
        responses.untagged("STATUS", wire.string(mailbox_names.encode(cmd.mailbox)), f"({items})")
    )
    return Outcome(responses.ok(cmd.tag, "Status completed"))
