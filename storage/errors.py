"""Storage errors: what a caller can act on, with the driver's exception as the cause."""


class StorageError(Exception):
    """Root of the storage errors."""


class StorageUnavailable(StorageError):
    """The database cannot be reached or refused the write (full disk, down, locked).

    Protocol edges turn it into a temporary failure (SMTP 451 4.3.0, IMAP NO [UNAVAILABLE]).
    """


class AuditChainBroken(StorageError):
    """`salus audit verify` found an entry whose hash or link does not match."""

    def __init__(self, seq: int, reason: str) -> None:
        self.seq = seq
        self.reason = reason
        super().__init__(f"audit entry {seq}: {reason}")
