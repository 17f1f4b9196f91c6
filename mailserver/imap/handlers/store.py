"""STORE and UID STORE (RFC 3501 §6.4.6): FLAGS, +FLAGS, -FLAGS, each with .SILENT."""

from __future__ import annotations

from mailserver.imap import responses, wire
from mailserver.imap.commands import messages as commands
from mailserver.imap.outcome import Outcome
from mailserver.imap.responses import CommandFailed
from mailserver.imap.session import Session
from mailserver.imap.states import Selected
from mailserver.imap.store_errors import failure, flag_failure
from mailserver.store import writes
from mailserver.store.errors import StoreError
from mailserver.store.flags import FlagError, Flags


async def store(cmd: commands.Store, session: Session, state: Selected) -> Outcome:
    view = state.folder
    if view.readonly:
        raise CommandFailed("The mailbox is read-only", "READ-ONLY")
    uids = view.resolve(cmd.numbers, uid=cmd.uid)
    try:
        change = Flags.parse(cmd.flags)
    except FlagError as exc:
        raise flag_failure(exc) from exc
    try:
        result = await session.ctx.writes.run(
            lambda db_session: writes.set_flags(db_session, view.folder_id, uids, cmd.mode, change)
        )
    except FlagError as exc:
        raise flag_failure(exc) from exc
    except StoreError as exc:
        raise failure(exc) from exc
    if result.modseq:
        view.own_modseqs.add(result.modseq)
        session.publish(view.mailbox_id, reported=True)
    if not cmd.silent:
        lines = []
        for uid in sorted(result.flags):
            seq = view.seq_of(uid)
            if seq is None:
                continue
            items: list[tuple[str, wire.Value]] = [
                ("FLAGS", responses.flag_list(result.flags[uid].names()))
            ]
            if cmd.uid:
                items.append(("UID", uid))
            lines.append(responses.fetch(seq, items))
        await session.send_all(lines, more=True)
    return Outcome(responses.ok(cmd.tag, "Store completed"))
