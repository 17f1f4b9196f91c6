"""The MIME tree of a message (RFC 2045, RFC 2046) with each entity's own header and body
bytes, as IMAP part numbers address them (RFC 3501 §6.4.5).

Bounded: beyond MAX_DEPTH levels or MAX_PARTS entities, a multipart is kept as an opaque
leaf, so a hostile message cannot make parsing deep or quadratic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mailserver.imap.message import headers, parameters
from mailserver.imap.message.headers import HeaderField
from mailserver.imap.message.parameters import Parameterised

MAX_DEPTH = 32
MAX_PARTS = 1000
_TEXT_PLAIN = Parameterised("text/plain", ((b"charset", b"us-ascii"),))
_MESSAGE_RFC822 = Parameterised("message/rfc822", ())


@dataclass(slots=True)
class Entity:
    header: bytes
    body: bytes
    fields: list[HeaderField]
    content_type: Parameterised
    children: list[Entity] = field(default_factory=list)
    message: Entity | None = None  # the encapsulated message of message/rfc822

    @property
    def maintype(self) -> str:
        return self.content_type.value.partition("/")[0] or "text"

    @property
    def subtype(self) -> str:
        return self.content_type.value.partition("/")[2] or "plain"

    @property
    def is_multipart(self) -> bool:
        return self.maintype == "multipart" and bool(self.children)

    def field(self, name: str) -> bytes | None:
        return headers.first(self.fields, name)


@dataclass(slots=True)
class _Budget:
    parts: int = 0


def parse(message: bytes) -> Entity:
    return _entity(message, _TEXT_PLAIN, 0, _Budget())


def _entity(data: bytes, default: Parameterised, depth: int, budget: _Budget) -> Entity:
    budget.parts += 1
    if data.startswith((b"\r\n", b"\n")):  # a part without header fields (RFC 2046 §5.1.1)
        blank = 2 if data.startswith(b"\r\n") else 1
        header, body = data[:blank], data[blank:]
    else:
        header, body = headers.split(data)
    header_fields = headers.fields(header)
    content_type = parameters.parse(headers.first(header_fields, "content-type"))
    if content_type is None or "/" not in content_type.value:
        content_type = default
    entity = Entity(header, body, header_fields, content_type)
    if depth >= MAX_DEPTH or budget.parts >= MAX_PARTS:
        return entity
    if entity.maintype == "multipart":
        boundary = content_type.get("boundary")
        if boundary:
            child_default = _MESSAGE_RFC822 if entity.subtype == "digest" else _TEXT_PLAIN
            entity.children = [
                _entity(part, child_default, depth + 1, budget)
                for part in split_multipart(body, boundary)
                if budget.parts < MAX_PARTS
            ]
    elif content_type.value == "message/rfc822":
        entity.message = _entity(body, _TEXT_PLAIN, depth + 1, budget)
    return entity


def split_multipart(body: bytes, boundary: bytes) -> list[bytes]:
    """The bodies between the delimiter lines of `boundary` (RFC 2046 §5.1.1); the CRLF
    before each delimiter belongs to the delimiter."""
    delimiter = re.compile(rb"(?:^|\r?\n)--" + re.escape(boundary) + rb"(--)?[ \t]*(?:\r?\n|$)")
    parts: list[bytes] = []
    start: int | None = None
    for found in delimiter.finditer(body):
        if start is not None:
            parts.append(body[start : found.start()])
        if found.group(1):  # the close delimiter
            return parts
        start = found.end()
        if len(parts) >= MAX_PARTS:
            return parts
    if start is not None:
        parts.append(body[start:])
    return parts
