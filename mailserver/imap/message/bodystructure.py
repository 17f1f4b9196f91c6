"""BODY and BODYSTRUCTURE (RFC 3501 §7.4.2): the MIME tree as nested lists, with the
extension data (MD5, disposition, language, location) in BODYSTRUCTURE only."""

from __future__ import annotations

from mailserver.imap.message import parameters
from mailserver.imap.message.envelope import envelope
from mailserver.imap.message.mime import Entity
from mailserver.imap.wire import Run, Value


def _params(params: tuple[tuple[bytes, bytes], ...]) -> Value:
    if not params:
        return None
    out: list[Value] = []
    for name, value in params:
        out.extend([name.upper(), value])
    return out


def _lines(body: bytes) -> int:
    if not body:
        return 0
    return body.count(b"\n") + (0 if body.endswith(b"\n") else 1)


def _disposition(entity: Entity) -> Value:
    parsed = parameters.parse(entity.field("content-disposition"))
    if parsed is None or not parsed.value:
        return None
    return [parsed.value.upper(), _params(parsed.params)]


def _language(entity: Entity) -> Value:
    raw = entity.field("content-language")
    if raw is None:
        return None
    langs: list[Value] = [p.strip() for p in raw.split(b",") if p.strip()]
    return langs or None


def structure(entity: Entity, *, extensible: bool) -> Value:
    if entity.is_multipart:
        return _multipart(entity, extensible=extensible)
    return _single(entity, extensible=extensible)


def _multipart(entity: Entity, *, extensible: bool) -> Value:
    children = Run([structure(child, extensible=extensible) for child in entity.children])
    out: list[Value] = [children, entity.subtype.upper()]
    if extensible:
        out.extend(
            [
                _params(entity.content_type.params),
                _disposition(entity),
                _language(entity),
                entity.field("content-location"),
            ]
        )
    return out


def _single(entity: Entity, *, extensible: bool) -> Value:
    encoding = entity.field("content-transfer-encoding")
    body = entity.body
    out: list[Value] = [
        entity.maintype.upper(),
        entity.subtype.upper(),
        _params(entity.content_type.params),
        entity.field("content-id"),
        entity.field("content-description"),
        encoding.upper() if encoding else b"7BIT",
        len(body),
    ]
    if entity.maintype == "text":
        out.append(_lines(body))
    elif entity.message is not None:
        inner = entity.message
        out.extend([envelope(inner.fields), structure(inner, extensible=extensible), _lines(body)])
    if extensible:
        out.extend(
            [
                entity.field("content-md5"),
                _disposition(entity),
                _language(entity),
                entity.field("content-location"),
            ]
        )
    return out
