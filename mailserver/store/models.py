"""Tables of the mailbox store: one store row per directory mailbox, its folders, the
messages in each folder, and the sealed blobs they point at.

A message row is what IMAP sees (UID, flags, internal date, size); its bytes live in a
blob sealed under the service key (crypto/at_rest.py) with the blob's identity as
associated data, so no body is ever at rest in clear and a blob moved to another row does
not open. Several message rows of one mailbox may share a blob (COPY does not re-seal).
Folder names are keys in these tables, never paths.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, UtcDateTime, utcnow

# SQLite only makes INTEGER PRIMARY KEY an alias of the rowid (autoincrement).
_BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class StoreMailbox(Base):
    """The store's state of one directory mailbox; its row is the per-mailbox lock that
    serialises quota accounting and folder creation."""

    __tablename__ = "store_mailboxes"

    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True
    )
    used_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    # The last UIDVALIDITY handed to a folder of this mailbox (RFC 3501 §2.3.1.1: a name
    # that is deleted and created again gets a new, larger value).
    last_uidvalidity: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Folder(Base):
    """An IMAP mailbox (called a folder here, the directory owns the word mailbox)."""

    __tablename__ = "store_folders"
    __table_args__ = (UniqueConstraint("mailbox_id", "name", name="uq_store_folders_name"),)

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("store_mailboxes.mailbox_id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(512))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uidnext: Mapped[int] = mapped_column(BigInteger, default=1)
    # Raised by every change in the folder (new message, flag change, expunge), so a
    # session knows from one row whether it has anything to catch up on.
    highestmodseq: Mapped[int] = mapped_column(BigInteger, default=1)
    subscribed: Mapped[bool] = mapped_column(Boolean, default=True)
    special_use: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Blob(Base):
    """The sealed bytes of a message, and its sealed header section (for the header
    fetches clients make when they list a folder)."""

    __tablename__ = "store_blobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("store_mailboxes.mailbox_id", ondelete="CASCADE"), index=True
    )
    size: Mapped[int] = mapped_column(BigInteger)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_header: Mapped[bytes] = mapped_column(LargeBinary)


class Message(Base):
    """A message in a folder. `uid` is unique in its folder and never reused."""

    __tablename__ = "store_messages"
    __table_args__ = (
        UniqueConstraint("folder_id", "uid", name="uq_store_messages_uid"),
        Index("ix_store_messages_folder_modseq", "folder_id", "modseq"),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    folder_id: Mapped[int] = mapped_column(ForeignKey("store_folders.id", ondelete="CASCADE"))
    uid: Mapped[int] = mapped_column(BigInteger)
    blob_id: Mapped[str] = mapped_column(ForeignKey("store_blobs.id"), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    internal_date: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # RFC 3501 §2.3.2 system flags as bits (store/flags.py), keywords space-separated.
    system_flags: Mapped[int] = mapped_column(Integer, default=0)
    keywords: Mapped[str] = mapped_column(Text, default="")
    modseq: Mapped[int] = mapped_column(BigInteger)
