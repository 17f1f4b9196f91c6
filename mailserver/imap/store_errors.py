"""Store errors as IMAP responses (RFC 5530 response codes), mapped at this boundary."""

from __future__ import annotations

from mailserver.imap.responses import CommandFailed, bad
from mailserver.store.errors import (
    FolderExists,
    FolderHasChildren,
    FolderNotDeletable,
    FolderNotFound,
    InvalidFolderName,
    MailboxUnavailable,
    QuotaExceeded,
    StoreError,
)
from mailserver.store.flags import FlagError

_CODES: dict[type[StoreError], tuple[str, str]] = {
    QuotaExceeded: ("OVERQUOTA", "The mailbox is over its quota: delete messages first"),
    FolderNotFound: ("NONEXISTENT", "No such mailbox"),
    FolderExists: ("ALREADYEXISTS", "A mailbox of that name already exists"),
    FolderHasChildren: ("CANNOT", "The mailbox has sub-mailboxes: delete them first"),
    FolderNotDeletable: ("CANNOT", "INBOX cannot be deleted"),
    MailboxUnavailable: ("UNAVAILABLE", "The mailbox is not available"),
}


def failure(exc: StoreError, *, missing_code: str = "NONEXISTENT") -> CommandFailed:
    """The response for a store error; `missing_code` is TRYCREATE for APPEND/COPY/MOVE
    targets (RFC 3501 §6.3.11)."""
    if isinstance(exc, InvalidFolderName):
        return CommandFailed(str(exc).capitalize(), "CANNOT")
    if isinstance(exc, FolderNotFound):
        return CommandFailed("No such mailbox", missing_code)
    code, text = _CODES.get(type(exc), ("SERVERBUG", "The mailbox store refused the change"))
    return CommandFailed(text, code)


def flag_failure(exc: FlagError) -> CommandFailed:
    text = str(exc)
    if "too many" in text or "too long" in text:
        return CommandFailed(f"Cannot keep that flag: {text}", "LIMIT")
    return bad(f"Invalid flag: {text}")
