"""Storage errors: what a caller can act on, with the driver's exception as the cause."""

import errno


class StorageError(Exception):
    """Root of the storage errors."""


class StorageUnavailable(StorageError):
    """The database cannot be reached or refused the write (full disk, down, locked).

    Protocol edges turn it into a temporary failure (SMTP 451 4.3.0, IMAP NO [UNAVAILABLE];
    452 4.3.1 when `disk_full` says the storage is out of space).
    """


def disk_full(exc: BaseException) -> bool:
    """SQLITE_FULL, PostgreSQL 53100 disk_full, or ENOSPC anywhere in the cause chain."""
    current: BaseException | None = exc
    for _ in range(10):  # a cause chain is short; never follow a cycle
        if current is None:
            return False
        if isinstance(current, OSError) and current.errno == errno.ENOSPC:
            return True
        text = f"{type(current).__name__} {current}".lower()
        if "disk is full" in text or "diskfull" in text or "no space left" in text:
            return True
        if getattr(current, "sqlstate", None) == "53100":
            return True
        current = current.__cause__ or getattr(current, "orig", None)
    return False


class AuditChainBroken(StorageError):
    """`salus audit verify` found an entry whose hash or link does not match."""

    def __init__(self, seq: int, reason: str) -> None:
        self.seq = seq
        self.reason = reason
        super().__init__(f"audit entry {seq}: {reason}")
