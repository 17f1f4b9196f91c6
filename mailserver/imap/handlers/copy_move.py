"""COPY, MOVE and their UID forms (RFC 3501 §6.4.7, RFC 6851) with COPYUID (RFC 4315).
A copy into another mailbox the user may use (a delegated one) is sealed again for it;
a move out of a folder is audited like an expunge."""

from __future__ import annotations

from mailserver.imap import responses
from mailserver.imap.commands import messages as commands
from mailserver.imap.grammar.sequence_sets import compress
from mailserver.imap.outcome import Outcome
from mailserver.imap.responses import CommandFailed, Status
from mailserver.imap.session import Session
from mailserver.imap.states import Selected
from mailserver.imap.store_errors import failure
from mailserver.store import writes
from mailserver.store.errors import StoreError


def _copyuid(result: writes.CopyResult) -> str | None:
    """RFC 4315 §3: COPYUID uidvalidity source-uids target-uids (same order)."""
    if not result.pairs:
        return None
    sources = compress([src for src, _ in result.pairs])
    targets = compress([dst for _, dst in result.pairs])
    return f"COPYUID {result.uidvalidity} {sources} {targets}"


async def copy(cmd: commands.Copy, session: Session, state: Selected) -> Outcome:
    view = state.folder
    verb = "Move" if cmd.move else "Copy"
    if cmd.move and view.readonly:
        raise CommandFailed("The mailbox is read-only", "READ-ONLY")
    uids = view.resolve(cmd.numbers, uid=cmd.uid)
    target = (await session.namespace(state.principal)).resolve(cmd.mailbox)
    if not uids:
        return Outcome(responses.ok(cmd.tag, f"{verb} completed"))
    try:
        async with session.ctx.db.write() as db_session:
            result = await writes.copy_messages(
                db_session,
                session.ctx.at_rest,
                (view.mailbox_id, view.folder_id),
                uids,
                (target.mailbox.id, target.folder),
                move=cmd.move,
            )
    except StoreError as exc:
        raise failure(exc, missing_code="TRYCREATE") from exc
    session.publish(view.mailbox_id, target.mailbox.id)
    moved = [src for src, _ in result.pairs]
    code = _copyuid(result)
    if not cmd.move:
        return Outcome(responses.ok(cmd.tag, "Copy completed", code))
    await session.audit(
        state.principal,
        "imap.move",
        f"{view.mailbox_address}/{view.stored_name}",
        {
            "uidvalidity": view.uidvalidity,
            "uids": compress(moved),
            "to": f"{target.mailbox.address}/{target.folder}",
        },
    )
    lines = [responses.untagged_status(Status.OK, "Moved", code)] if code else []
    lines += view.remove(moved)
    await session.send_all(lines)
    return Outcome(responses.ok(cmd.tag, "Move completed"))
