"""FETCH data items for one message (RFC 3501 §7.4.2), from its metadata and, when an
item needs it, its header section or whole bytes (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from mailserver.imap import responses, wire
from mailserver.imap.grammar.dates import format_date_time
from mailserver.imap.grammar.fetch_attributes import BodySection, FetchItem, Simple
from mailserver.imap.message import bodystructure, headers, mime, sections
from mailserver.imap.message.envelope import envelope
from mailserver.imap.wire import Value
from mailserver.store.reads import MessageMeta

NONE, HEADER, FULL = 0, 1, 2
_HEADER_TEXTS = ("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT")


def content_needed(item: FetchItem) -> int:
    """NONE, HEADER (the sealed header section suffices) or FULL."""
    if isinstance(item, Simple):
        if item.name == "ENVELOPE":
            return HEADER
        return FULL if item.name in ("BODY", "BODYSTRUCTURE") else NONE
    if not item.section.part and item.section.text in _HEADER_TEXTS:
        return HEADER
    return FULL


@dataclass(frozen=True, slots=True)
class FetchPlan:
    items: tuple[FetchItem, ...]
    content: int  # NONE, HEADER or FULL
    sets_seen: bool  # a non-PEEK body section (RFC 3501 §6.4.5)
    reveals_content: bool  # audited: anything beyond flags, dates and sizes

    @classmethod
    def of(cls, items: tuple[FetchItem, ...], *, uid: bool) -> FetchPlan:
        if uid and Simple("UID") not in items:
            items = (Simple("UID"), *items)  # RFC 3501 §6.4.8
        content = max((content_needed(i) for i in items), default=NONE)
        sets_seen = any(isinstance(i, BodySection) and not i.peek for i in items)
        return cls(items, content, sets_seen, content != NONE)


class MessageView:
    """Lazily parsed views of the bytes of one message (or of its header section)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    @cached_property
    def header(self) -> bytes:
        return headers.split(self.data)[0]

    @cached_property
    def fields(self) -> list[headers.HeaderField]:
        return headers.fields(self.header)

    @cached_property
    def searchable(self) -> dict[str, list[str]]:
        """Each field's values, unfolded, RFC 2047-decoded and case-folded, by lowercase
        name: what SEARCH matches (kept with the view in the header cache)."""
        out: dict[str, list[str]] = {}
        for field in self.fields:
            out.setdefault(field.name, []).append(headers.decoded(field.value).casefold())
        return out

    @cached_property
    def entity(self) -> mime.Entity:
        return mime.parse(self.data)


def _section(view: MessageView, item: BodySection) -> bytes:
    section = item.section
    if not section.part and not section.text:
        data = view.data
    elif not section.part and section.text == "HEADER":
        data = view.header
    elif not section.part and section.text.startswith("HEADER.FIELDS"):
        data = headers.subset(
            view.header, section.fields, exclude=section.text == "HEADER.FIELDS.NOT"
        )
    else:
        data = sections.extract(view.entity, view.data, section)
    return sections.partial(data, item.partial)


def _simple(name: str, meta: MessageMeta, view: MessageView | None) -> Value:
    match name:
        case "UID":
            return meta.uid
        case "FLAGS":
            return responses.flag_list(meta.flags.names())
        case "INTERNALDATE":
            return format_date_time(meta.internal_date)
        case "RFC822.SIZE":
            return meta.size
    if view is None:  # pragma: no cover - the plan loads content for these items
        raise ValueError(f"{name} needs the message content")
    if name == "ENVELOPE":
        return envelope(view.fields)
    return bodystructure.structure(view.entity, extensible=name == "BODYSTRUCTURE")


def render(
    seq: int, meta: MessageMeta, view: MessageView | None, plan: FetchPlan, *, add_flags: bool
) -> bytes:
    """The FETCH response; `add_flags` adds FLAGS when \\Seen was just set implicitly."""
    out: list[tuple[str, Value]] = []
    for item in plan.items:
        if isinstance(item, Simple):
            out.append((item.name, _simple(item.name, meta, view)))
        elif view is not None:
            out.append((item.response_name(), wire.Literal(_section(view, item))))
    if add_flags and Simple("FLAGS") not in plan.items:
        out.append(("FLAGS", responses.flag_list(meta.flags.names())))
    return responses.fetch(seq, out)
