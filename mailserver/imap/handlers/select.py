"""SELECT and EXAMINE (RFC 3501 §6.3.1, §6.3.2), CLOSE (§6.4.2), UNSELECT (RFC 3691).

Every SELECT and EXAMINE is in the audit trail: who opened which folder, when."""

from __future__ import annotations

from mailserver.imap import responses
from mailserver.imap.commands import folders as folder_commands
from mailserver.imap.commands import messages as message_commands
from mailserver.imap.handlers.expunge import expunge_silently
from mailserver.imap.outcome import Outcome
from mailserver.imap.responses import CommandFailed
from mailserver.imap.selected import SelectedFolder
from mailserver.imap.session import Session
from mailserver.imap.states import Authenticated, Selected, State, principal_of
from mailserver.store.flags import SEEN

FLAGS = "(\\Answered \\Flagged \\Deleted \\Seen \\Draft)"
PERMANENT = "(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)"


async def select(cmd: folder_commands.Select, session: Session, state: State) -> Outcome:
    principal = principal_of(state)
    # A SELECT that fails leaves no folder selected (RFC 3501 §6.3.1).
    session.set_state(Authenticated(principal))
    place = (await session.namespace(principal)).resolve(cmd.mailbox)
    folder = await session.ctx.reader.opening(place.mailbox.id, place.folder)
    if folder is None:
        raise CommandFailed("No such mailbox", "NONEXISTENT")
    index = folder.index
    view = SelectedFolder(
        mailbox_id=place.mailbox.id,
        mailbox_address=place.mailbox.address,
        folder_id=folder.folder_id,
        name=cmd.mailbox,
        stored_name=folder.name,
        readonly=cmd.readonly,
        uidvalidity=folder.uidvalidity,
        uids=[uid for uid, _ in index],
        modseq=folder.highestmodseq,
        watch=session.ctx.events.watch([place.mailbox.id]),
    )
    first_unseen = next((i + 1 for i, (_, f) in enumerate(index) if not f & SEEN), None)
    await session.audit(
        principal,
        "imap.examine" if cmd.readonly else "imap.select",
        f"{place.mailbox.address}/{folder.name}",
        {"uidvalidity": folder.uidvalidity, "messages": view.exists},
    )
    await session.send_all(_opening(view, folder.uidnext, first_unseen), more=True)
    mode = "READ-ONLY" if cmd.readonly else "READ-WRITE"
    verb = "Examine" if cmd.readonly else "Select"
    return Outcome(responses.ok(cmd.tag, f"{verb} completed", mode), Selected(principal, view))


def _opening(view: SelectedFolder, uidnext: int, first_unseen: int | None) -> list[bytes]:
    """The untagged responses of SELECT and EXAMINE (RFC 3501 §6.3.1)."""
    ok = responses.Status.OK
    permanent = "()" if view.readonly else PERMANENT
    lines = [
        responses.untagged("FLAGS", FLAGS),
        responses.untagged_status(ok, "Flags permitted", f"PERMANENTFLAGS {permanent}"),
        responses.exists(view.exists),
        b"* 0 RECENT\r\n",
    ]
    if first_unseen is not None:
        lines.append(responses.untagged_status(ok, "First unseen", f"UNSEEN {first_unseen}"))
    lines += [
        responses.untagged_status(ok, "UIDs valid", f"UIDVALIDITY {view.uidvalidity}"),
        responses.untagged_status(ok, "Predicted next UID", f"UIDNEXT {uidnext}"),
    ]
    return lines


async def close(cmd: message_commands.Close, session: Session, state: State) -> Outcome:
    """RFC 3501 §6.4.2: expunge without EXPUNGE responses, then leave the folder."""
    if isinstance(state, Selected) and not state.folder.readonly:
        await expunge_silently(session, state)
    return Outcome(responses.ok(cmd.tag, "Close completed"), Authenticated(principal_of(state)))


async def unselect(cmd: message_commands.Unselect, session: Session, state: State) -> Outcome:
    return Outcome(responses.ok(cmd.tag, "Unselect completed"), Authenticated(principal_of(state)))
