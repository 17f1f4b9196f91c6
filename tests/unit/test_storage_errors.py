"""storage.errors.disk_full: which storage failures are "out of space" (answered 452 4.3.1
by the submission and MX listeners, IMAP NO [UNAVAILABLE] with its reason) and which
are an outage (451 4.3.0), through the wrappers the drivers and SQLAlchemy add."""

from __future__ import annotations

import errno
import sqlite3

from sqlalchemy.exc import OperationalError

from storage.errors import StorageUnavailable, disk_full


def _wrapped(orig: BaseException) -> StorageUnavailable:
    """As Database.write raises it: the driver's error inside SQLAlchemy's, as cause."""
    try:
        try:
            raise OperationalError("COMMIT", None, orig)
        except OperationalError as exc:
            raise StorageUnavailable("database unavailable") from exc
    except StorageUnavailable as outer:
        return outer


class _DiskFullError(Exception):
    """asyncpg's error for SQLSTATE 53100 carries the code as `sqlstate`."""

    sqlstate = "53100"


def test_a_full_disk_is_recognised_through_every_wrapper() -> None:
    assert disk_full(_wrapped(sqlite3.OperationalError("database or disk is full")))
    assert disk_full(_wrapped(_DiskFullError("could not extend file")))
    assert disk_full(_wrapped(OSError(errno.ENOSPC, "No space left on device")))


def test_an_outage_is_not_a_full_disk() -> None:
    assert not disk_full(_wrapped(sqlite3.OperationalError("unable to open database file")))
    assert not disk_full(_wrapped(ConnectionRefusedError(111, "Connection refused")))
    assert not disk_full(StorageUnavailable("database unavailable"))
