"""The text SEARCH BODY and TEXT look into (RFC 3501 §6.4.4): each text part with its
transfer encoding undone and its charset decoded, case-folded; bounded in size."""

from __future__ import annotations

import base64
import binascii
import quopri

from mailserver.imap.message.mime import Entity

MAX_TEXT_BYTES = 8 * 1024 * 1024


def _decoded(entity: Entity) -> bytes:
    encoding = (entity.field("content-transfer-encoding") or b"").strip().lower()
    body = entity.body
    try:
        if encoding == b"base64":
            return base64.b64decode(b"".join(body.split()), validate=False)
        if encoding == b"quoted-printable":
            return quopri.decodestring(body)
    except (binascii.Error, ValueError):
        return body
    return body


def _charset(entity: Entity) -> str:
    raw = entity.content_type.get("charset")
    name = raw.decode("ascii", "replace") if raw else "utf-8"
    try:
        "".encode(name)
    except LookupError:
        return "utf-8"
    return name


def body_text(root: Entity) -> str:
    """The searchable text of every text part under `root`, case-folded."""
    out: list[str] = []
    budget = MAX_TEXT_BYTES
    stack = [root]
    while stack and budget > 0:
        entity = stack.pop()
        if entity.is_multipart:
            stack.extend(reversed(entity.children))
        elif entity.message is not None:
            stack.append(entity.message)
        elif entity.maintype == "text":
            data = _decoded(entity)[:budget]
            budget -= len(data)
            out.append(data.decode(_charset(entity), "replace"))
    return "\n".join(out).casefold()
