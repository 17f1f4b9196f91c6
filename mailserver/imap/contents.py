"""Opening the messages of one batch for FETCH and SEARCH: sealed bytes from the store,
opened with the service key; header sections through the shared HeaderCache. A blob
that does not open (wrong key, altered bytes) is logged and counted, never shown."""

from __future__ import annotations

from collections.abc import Sequence

from config.logging import Event
from crypto.at_rest import SealedDataError
from mailserver.imap.fetch_items import MessageView
from mailserver.imap.selected import SelectedFolder
from mailserver.imap.session import Session
from mailserver.store import sealing
from mailserver.store.reads import MessageMeta

Opened = list[tuple[MessageMeta, MessageView]]


async def open_batch(
    session: Session,
    view: SelectedFolder,
    batch: Sequence[MessageMeta] | Sequence[int],
    *,
    header_only: bool,
) -> tuple[Opened, int]:
    """The batch's messages (or header sections) in UID order, and how many did not open.

    With metadata given, cached header sections are used without reading the store.
    """
    cache = session.ctx.headers if header_only else None
    found: dict[int, tuple[MessageMeta, MessageView]] = {}
    uids = [m if isinstance(m, int) else m.uid for m in batch]
    if cache is not None:
        for meta in batch:
            if not isinstance(meta, int) and (cached := cache.get(meta.blob_id)) is not None:
                found[meta.uid] = (meta, cached)
    missing = [uid for uid in uids if uid not in found]
    unreadable = 0
    if missing:
        rows = await session.ctx.reader.sealed_contents(
            view.folder_id, missing, header_only=header_only
        )
        for meta, sealed in rows:
            opened = _open(session, view, meta, sealed, header_only=header_only)
            if opened is None:
                unreadable += 1
            else:
                found[meta.uid] = (meta, opened)
    return [found[uid] for uid in uids if uid in found], unreadable


def _open(
    session: Session, view: SelectedFolder, meta: MessageMeta, sealed: bytes, *, header_only: bool
) -> MessageView | None:
    cache = session.ctx.headers if header_only else None
    if cache is not None and (cached := cache.get(meta.blob_id)) is not None:
        return cached
    opener = sealing.open_header if header_only else sealing.open_message
    try:
        message = MessageView(opener(session.ctx.at_rest, view.mailbox_id, meta.blob_id, sealed))
    except SealedDataError:
        session.log.exception(
            Event.IMAP_COMMAND_FAILED, reason="sealed message does not open", uid=meta.uid
        )
        return None
    if cache is not None:
        cache.put(meta.blob_id, message)
    return message
