"""What a handler returns: the tagged response, the next state, and what the connection
does after sending it (upgrade to TLS, close)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mailserver.imap.responses import Tagged
from mailserver.imap.states import State


class After(enum.Enum):
    NOTHING = "nothing"
    STARTTLS = "starttls"
    CLOSE = "close"


@dataclass(frozen=True, slots=True)
class Outcome:
    response: Tagged
    state: State | None = None
    after: After = After.NOTHING
