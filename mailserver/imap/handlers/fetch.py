"""FETCH and UID FETCH (RFC 3501 §6.4.5, §6.4.8), streamed: messages are read from the
store in batches bounded by count and bytes, opened, rendered and written one by one,
each write waiting for the client to read (mailserver/imap/output.py). Memory stays
bounded by one batch whatever the number of messages fetched.

A fetch that reveals content (any section, ENVELOPE, BODYSTRUCTURE) is audited once per
command, with the UIDs asked for, in the transaction that commits before the first
message is sent; a non-PEEK section sets \\Seen (RFC 3501 §6.4.5) on the messages that
lack it in that same transaction, and their new FLAGS are sent with their data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from mailserver.imap import responses
from mailserver.imap.commands import messages as commands
from mailserver.imap.contents import Opened, open_batch
from mailserver.imap.fetch_items import HEADER, NONE, FetchPlan, MessageView, render
from mailserver.imap.grammar.fetch_attributes import Simple
from mailserver.imap.grammar.sequence_sets import compress
from mailserver.imap.outcome import Outcome
from mailserver.imap.responses import CommandFailed
from mailserver.imap.selected import SelectedFolder
from mailserver.imap.session import Session
from mailserver.imap.states import Selected
from mailserver.store import writes
from mailserver.store.flags import SEEN
from mailserver.store.reads import MessageMeta, chunks
from storage.audit import AuditEvent

BATCH_COUNT = 500
BATCH_BYTES = 4 * 1024 * 1024
# A single message (a client opening one) is read without looking up its size first.
SMALL_FETCH = 1
# Small responses are written together, up to this many bytes per write.
SEND_BYTES = 256 * 1024


async def fetch(cmd: commands.Fetch, session: Session, state: Selected) -> Outcome:
    view = state.folder
    uids = view.resolve(cmd.numbers, uid=cmd.uid)
    plan = FetchPlan.of(cmd.items, uid=cmd.uid)
    if not uids:
        return Outcome(responses.ok(cmd.tag, "Fetch completed"))
    event = None
    if plan.reveals_content:
        event = session.audit_event(
            state.principal,
            "imap.fetch",
            f"{view.mailbox_address}/{view.stored_name}",
            {"uidvalidity": view.uidvalidity, "uids": compress(uids), "items": _names(plan)},
        )
    unreadable = 0
    events = [] if event is None else [event]
    for part in chunks(uids, BATCH_COUNT):
        if plan.content == NONE:  # flags, dates, sizes: nothing to audit or mark \Seen
            metas = await session.ctx.reader.metadata(view.folder_id, part)
            await session.send_all([_one(view, m, None, plan, set()) for m in metas], more=True)
            continue
        for batch in await _content_batches(session, view, part):
            opened, bad = await open_batch(session, view, batch, header_only=plan.content == HEADER)
            unreadable += bad
            # Read, then write the audit entry and the implicit \Seen (one transaction),
            # then send: nothing is shown before it is on record.
            opened, newly_seen = await _record(session, view, opened, plan, events)
            events = events if not opened else []
            await _send(session, view, opened, plan, newly_seen)
    if unreadable:
        raise CommandFailed("Some messages could not be read", "SERVERBUG")
    return Outcome(responses.ok(cmd.tag, "Fetch completed"))


def _names(plan: FetchPlan) -> str:
    return " ".join(i.name if isinstance(i, Simple) else i.response_name() for i in plan.items)[
        :200
    ]


async def _record(
    session: Session,
    view: SelectedFolder,
    opened: Opened,
    plan: FetchPlan,
    events: list[AuditEvent],
) -> tuple[Opened, set[int]]:
    """Append the audit events and set \\Seen where it is not set yet; the batch with its
    flags brought up to date, and the UIDs whose flags changed."""
    unseen = [meta.uid for meta, _ in opened if not meta.flags.has(SEEN)]
    if not (plan.sets_seen and not view.readonly and unseen):
        if events and opened:
            await session.ctx.writes.record(*events, fsync=False)
        return opened, set()
    result = await session.ctx.writes.run(
        lambda db_session: writes.add_system_flags(db_session, view.folder_id, unseen, SEEN),
        events=events,
        fsync=False,
        atomic=True,  # add_system_flags has changed nothing when it raises FolderNotFound
    )
    if result.modseq:
        view.own_modseqs.add(result.modseq)
        session.publish(view.mailbox_id, reported=True)
    updated = [
        (
            replace(meta, flags=result.flags[meta.uid]) if meta.uid in result.changed else meta,
            message,
        )
        for meta, message in opened
    ]
    return updated, result.changed


async def _content_batches(
    session: Session, view: SelectedFolder, uids: Sequence[int]
) -> list[list[MessageMeta]] | list[list[int]]:
    """UIDs grouped so that each group's bytes stay under BATCH_BYTES (one message alone
    needs no look-up of its size first)."""
    if len(uids) <= SMALL_FETCH:
        return [list(uids)]
    return by_size(await session.ctx.reader.metadata(view.folder_id, uids))


def by_size(metas: Sequence[MessageMeta]) -> list[list[MessageMeta]]:
    batches: list[list[MessageMeta]] = [[]]
    size = 0
    for meta in metas:
        if batches[-1] and size + meta.size > BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(meta)
        size += meta.size
    return [b for b in batches if b]


async def _send(
    session: Session, view: SelectedFolder, opened: Opened, plan: FetchPlan, newly_seen: set[int]
) -> None:
    pending: list[bytes] = []
    pending_size = 0
    for meta, message in opened:
        if view.seq_of(meta.uid):
            response = _one(view, meta, message, plan, newly_seen)
            pending.append(response)
            pending_size += len(response)
            if pending_size >= SEND_BYTES:
                await session.send_all(pending, more=True)
                pending, pending_size = [], 0
    await session.send_all(pending, more=True)


def _one(
    view: SelectedFolder,
    meta: MessageMeta,
    message: MessageView | None,
    plan: FetchPlan,
    newly_seen: set[int],
) -> bytes:
    seq = view.seq_of(meta.uid)
    if seq is None:  # not announced to this session yet: it learns of it by EXISTS first
        return b""
    return render(seq, meta, message, plan, add_flags=meta.uid in newly_seen)
