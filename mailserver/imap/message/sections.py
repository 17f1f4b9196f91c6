"""The bytes of BODY[section] (RFC 3501 §6.4.5): part numbers walk the MIME tree (a
single-part message is its own part 1; a message/rfc822 part's numbers address the
encapsulated message), then HEADER, HEADER.FIELDS[.NOT], TEXT or MIME select within it.
A part that does not exist is empty, as other servers answer."""

from __future__ import annotations

from mailserver.imap.grammar.fetch_attributes import Section
from mailserver.imap.message import headers
from mailserver.imap.message.mime import Entity


def _walk(root: Entity, part: tuple[int, ...]) -> Entity | None:
    current = root
    for number in part:
        if current is not root and current.message is not None:
            current = current.message
        if current.is_multipart:
            if number > len(current.children):
                return None
            current = current.children[number - 1]
        elif number != 1:
            return None
    return current


def _message_of(root: Entity, entity: Entity) -> Entity | None:
    """The message that HEADER/TEXT apply to: the root itself, or an encapsulated one."""
    if entity is root:
        return root
    return entity.message


def extract(root: Entity, message: bytes, section: Section) -> bytes:
    if not section.part and not section.text:
        return message
    entity = _walk(root, section.part)
    if entity is None:
        return b""
    if not section.text:
        return entity.body
    if section.text == "MIME":
        return entity.header
    target = _message_of(root, entity)
    return b"" if target is None else _message_text(target, section)


def _message_text(target: Entity, section: Section) -> bytes:
    if section.text == "HEADER":
        return target.header
    if section.text == "TEXT":
        return target.body
    exclude = section.text == "HEADER.FIELDS.NOT"
    return headers.subset(target.header, section.fields, exclude=exclude)


def partial(data: bytes, window: tuple[int, int] | None) -> bytes:
    if window is None:
        return data
    origin, count = window
    return data[origin : origin + count]
