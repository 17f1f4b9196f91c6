"""ENVELOPE (RFC 3501 §7.4.2): date, subject, from, sender, reply-to, to, cc, bcc,
in-reply-to, message-id, as written in the header; sender and reply-to default to from."""

from __future__ import annotations

from mailserver.imap.message import addresses, headers
from mailserver.imap.message.headers import HeaderField
from mailserver.imap.wire import Run, Value


def _addresses(value: bytes | None) -> Value:
    found = addresses.parse(value)
    if not found:
        return None
    return [Run([[a.name, a.adl, a.mailbox, a.host] for a in found])]


def envelope(header_fields: list[HeaderField]) -> Value:
    def get(name: str) -> bytes | None:
        return headers.first(header_fields, name)

    sender_from = _addresses(get("from"))
    sender = _addresses(get("sender")) or sender_from
    reply_to = _addresses(get("reply-to")) or sender_from
    return [
        get("date"),
        get("subject"),
        sender_from,
        sender,
        reply_to,
        _addresses(get("to")),
        _addresses(get("cc")),
        _addresses(get("bcc")),
        get("in-reply-to"),
        get("message-id"),
    ]
