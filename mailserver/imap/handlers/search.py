"""SEARCH and UID SEARCH (RFC 3501 §6.4.4, §6.4.8). Metadata keys are evaluated on the
stored rows; keys on headers or text open the messages in size-bounded batches."""

from __future__ import annotations

from config.logging import Event
from crypto.at_rest import SealedDataError
from mailserver.imap import responses
from mailserver.imap.commands import messages as commands
from mailserver.imap.fetch_items import HEADER, NONE, MessageView
from mailserver.imap.handlers.fetch import by_size
from mailserver.imap.outcome import Outcome
from mailserver.imap.search_eval import Candidate, content_needed, matches
from mailserver.imap.selected import SelectedFolder
from mailserver.imap.session import Session
from mailserver.imap.states import Selected
from mailserver.store import reads, sealing
from mailserver.store.reads import MessageMeta


async def search(cmd: commands.Search, session: Session, state: Selected) -> Outcome:
    view = state.folder
    async with session.ctx.db.read() as db_session:
        metas = await reads.all_metadata(db_session, view.folder_id)
    known = [m for m in metas if view.seq_of(m.uid)]
    found = await _matching(cmd, session, view, known)
    numbers = sorted(m.uid if cmd.uid else view.seq_of(m.uid) or 0 for m in found)
    await session.send(b"* SEARCH" + b"".join(b" %d" % n for n in numbers) + b"\r\n")
    return Outcome(responses.ok(cmd.tag, "Search completed"))


async def _matching(
    cmd: commands.Search, session: Session, view: SelectedFolder, known: list[MessageMeta]
) -> list[MessageMeta]:
    max_uid = view.uids[-1] if view.uids else 0

    def candidate(meta: MessageMeta, message: MessageView | None) -> Candidate:
        return Candidate(view.seq_of(meta.uid) or 0, meta, message, view.exists, max_uid)

    level = content_needed(cmd.key)
    if level == NONE:
        return [m for m in known if matches(cmd.key, candidate(m, None))]
    header_only = level == HEADER
    opener = sealing.open_header if header_only else sealing.open_message
    found: list[MessageMeta] = []
    for batch in by_size(known):
        async with session.ctx.db.read() as db_session:
            rows = await reads.sealed_contents(
                db_session, view.folder_id, [m.uid for m in batch], header_only=header_only
            )
        for meta, sealed in rows:
            try:
                data = opener(session.ctx.at_rest, view.mailbox_id, meta.blob_id, sealed)
            except SealedDataError:
                session.log.exception(Event.IMAP_COMMAND_FAILED, uid=meta.uid)
                continue
            if matches(cmd.key, candidate(meta, MessageView(data))):
                found.append(meta)
    return found
