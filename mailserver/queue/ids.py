"""Queue identifiers."""

from __future__ import annotations

import base64
import secrets
import time


def new_queue_id() -> str:
    """16 characters, time-ordered (seconds, base32) then random: sortable in listings,
    unguessable, and short enough to read out on the phone."""
    stamp = int(time.time()).to_bytes(5, "big")
    return base64.b32encode(stamp + secrets.token_bytes(5)).decode("ascii")

