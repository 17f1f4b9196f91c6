"""EXPUNGE (RFC 3501 §6.4.3) and UID EXPUNGE (RFC 4315 §2.1). Every expunge that removes
messages is in the audit trail with the UIDs removed."""

from __future__ import annotations

from collections.abc import Sequence

from mailserver.imap import responses
from mailserver.imap.commands import messages as commands
from mailserver.imap.grammar.sequence_sets import compress
from mailserver.imap.outcome import Outcome
from mailserver.imap.responses import CommandFailed
from mailserver.imap.session import Session
from mailserver.imap.states import Selected
from mailserver.imap.store_errors import failure
from mailserver.store import writes
from mailserver.store.errors import StoreError


async def _expunge(session: Session, state: Selected, uids: Sequence[int] | None) -> list[int]:
    view = state.folder
    try:
        async with session.ctx.db.write() as db_session:
            removed = await writes.expunge(db_session, view.mailbox_id, view.folder_id, uids)
    except StoreError as exc:
        raise failure(exc) from exc
    if removed:
        await session.audit(
            state.principal,
            "imap.expunge",
            f"{view.mailbox_address}/{view.stored_name}",
            {"uidvalidity": view.uidvalidity, "uids": compress(removed)},
        )
        session.publish(view.mailbox_id, reported=True)
    return removed


async def expunge(cmd: commands.Expunge, session: Session, state: Selected) -> Outcome:
    if state.folder.readonly:
        raise CommandFailed("The mailbox is read-only", "READ-ONLY")
    uids = None if cmd.uids is None else state.folder.resolve(cmd.uids, uid=True)
    removed = await _expunge(session, state, uids)
    await session.send_all(state.folder.remove(removed))
    return Outcome(responses.ok(cmd.tag, "Expunge completed"))


async def expunge_silently(session: Session, state: Selected) -> None:
    await _expunge(session, state, None)
