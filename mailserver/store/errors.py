"""The store's error tree. Each error carries a sentence a user can act on; the IMAP layer
maps them to response codes (RFC 5530) at its boundary."""

from __future__ import annotations


class StoreError(Exception):
    """Root of the mailbox store's errors."""


class QuotaExceeded(StoreError):
    """Storing the message would pass the mailbox quota."""

    def __init__(self, mailbox_id: int, quota: int, used: int, size: int) -> None:
        super().__init__("the mailbox is over its quota")
        self.mailbox_id = mailbox_id
        self.quota = quota
        self.used = used
        self.size = size


class FolderNotFound(StoreError):
    """No folder of that name in the mailbox."""


class FolderExists(StoreError):
    """A folder of that name already exists."""


class InvalidFolderName(StoreError):
    """The name is not one the store accepts (store/names.py says why)."""


class FolderHasChildren(StoreError):
    """A folder with sub-folders cannot be deleted."""


class FolderNotDeletable(StoreError):
    """INBOX cannot be deleted."""


class MailboxUnavailable(StoreError):
    """The directory mailbox does not exist or is not local."""
