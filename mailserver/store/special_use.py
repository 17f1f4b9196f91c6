"""The folders every mailbox has from its first use: INBOX and the RFC 6154 special-use
folders that mail clients look for (Sent for the copy of what they send, Drafts, Trash,
Junk, Archive)."""

from __future__ import annotations

from mailserver.store.names import INBOX

# name -> RFC 6154 §2 attribute
SPECIAL_USE: dict[str, str] = {
    "Sent": "\\Sent",
    "Drafts": "\\Drafts",
    "Trash": "\\Trash",
    "Junk": "\\Junk",
    "Archive": "\\Archive",
}

INITIAL_FOLDERS: tuple[tuple[str, str | None], ...] = (
    (INBOX, None),
    *SPECIAL_USE.items(),
)
