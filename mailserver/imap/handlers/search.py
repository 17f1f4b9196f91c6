"""SEARCH and UID SEARCH (RFC 3501 §6.4.4, §6.4.8). A program of flag, size, date and
set keys is one SQL query (search_sql.py); any other is evaluated row by row, opening
headers (cached) or whole messages in size-bounded batches only when a key needs them."""

from __future__ import annotations

from mailserver.imap import responses, search_sql
from mailserver.imap.commands import messages as commands
from mailserver.imap.contents import open_batch
from mailserver.imap.fetch_items import HEADER, NONE, MessageView
from mailserver.imap.handlers.fetch import by_size
from mailserver.imap.outcome import Outcome
from mailserver.imap.search_eval import Candidate, content_needed, matches
from mailserver.imap.selected import SelectedFolder
from mailserver.imap.session import Session
from mailserver.imap.states import Selected
from mailserver.store import reads
from mailserver.store.reads import MessageMeta


async def search(cmd: commands.Search, session: Session, state: Selected) -> Outcome:
    view = state.folder
    sql = search_sql.condition(cmd.key, view.uids)
    if sql is not None:
        async with session.ctx.db.read() as db_session:
            matched = await reads.matching_uids(
                db_session, view.folder_id, sql, view.uids[-1] if view.uids else 0
            )
        found_numbers = [uid if cmd.uid else view.seq_of(uid) for uid in matched]
        await _answer(session, [n for n in found_numbers if n is not None])
        return Outcome(responses.ok(cmd.tag, "Search completed"))
    metas = await session.ctx.reader.all_metadata(view.folder_id)
    # Messages this session has not been told about yet (no EXISTS) are not searched.
    seqs = {uid: seq for seq, uid in enumerate(view.uids, start=1)}
    known = [m for m in metas if m.uid in seqs]
    found = await _matching(cmd, session, view, known, seqs)
    await _answer(session, [m.uid if cmd.uid else seqs[m.uid] for m in found])
    return Outcome(responses.ok(cmd.tag, "Search completed"))


async def _answer(session: Session, numbers: list[int]) -> None:
    numbers.sort()
    await session.send(b"* SEARCH" + b"".join(b" %d" % n for n in numbers) + b"\r\n", more=True)


async def _matching(
    cmd: commands.Search,
    session: Session,
    view: SelectedFolder,
    known: list[MessageMeta],
    seqs: dict[int, int],
) -> list[MessageMeta]:
    max_uid = view.uids[-1] if view.uids else 0

    def candidate(meta: MessageMeta, message: MessageView | None) -> Candidate:
        return Candidate(seqs[meta.uid], meta, message, view.exists, max_uid)

    level = content_needed(cmd.key)
    if level == NONE:
        return [m for m in known if matches(cmd.key, candidate(m, None))]
    found: list[MessageMeta] = []
    for batch in by_size(known):
        opened, _unreadable = await open_batch(session, view, batch, header_only=level == HEADER)
        found += [meta for meta, message in opened if matches(cmd.key, candidate(meta, message))]
    return found
