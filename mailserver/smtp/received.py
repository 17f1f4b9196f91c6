"""The Received trace field a submission adds (RFC 5321 §4.4, RFC 3848 "ESMTPSA")."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from email.utils import format_datetime

_HELO_SAFE = re.compile(r"[^A-Za-z0-9.:\[\]_-]")


@dataclass(frozen=True, slots=True)
class Trace:
    helo: str
    client_ip: str
    hostname: str
    queue_id: str
    tls_version: str | None
    cipher: str | None


def received_field(trace: Trace, now: dt.datetime) -> bytes:
    """`Received: from HELO ([IP]) by HOST with ESMTPSA id ID (TLS…); DATE`, CRLF-folded.
    The login is not written: the header travels with the message."""
    helo = _HELO_SAFE.sub("?", trace.helo)[:255] or "unknown"
    protocol = "ESMTPSA" if trace.tls_version else "ESMTPA"
    tls = f"\r\n\t(using {trace.tls_version} with cipher {trace.cipher})" if trace.tls_version else ""
    return (
        f"Received: from {helo} ([{trace.client_ip}])\r\n"
        f"\tby {trace.hostname} (Salus) with {protocol} id {trace.queue_id}{tls};\r\n"
        f"\t{format_datetime(now)}\r\n"
    ).encode("ascii", "replace")
