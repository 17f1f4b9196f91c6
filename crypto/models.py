"""Key store tables: mailbox key generations and the service CA's CRL state.

One `mailbox_keys` row is one generation of a mailbox's keys: an S/MIME certificate from
the service CA with its private key, and an OpenPGP key, both private parts sealed under
the service key (`crypto.sealing`). A mailbox has at most one `active` generation (a
partial unique index); renewal retires the old one and revocation revokes them, but rows
are never deleted, so mail encrypted to an old key stays readable.

Rows name the mailbox by address, not by a foreign key: crypto does not depend on the
directory (DESIGN section 1); the CLI checks the mailbox before issuing.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, UtcDateTime, utcnow


class KeyStatus(enum.StrEnum):
    ACTIVE = "active"  # signs, and is the one others encrypt to
    RETIRED = "retired"  # replaced by a renewal; still decrypts old mail
    REVOKED = "revoked"  # on the CRL; still decrypts old mail


_ACTIVE = text("status = 'active'")


class MailboxKey(Base):
    __tablename__ = "mailbox_keys"
    __table_args__ = (
        CheckConstraint(
            "status IN ({})".format(", ".join(f"'{s.value}'" for s in KeyStatus)),
            name="status_allowed",
        ),
        Index(
            "uq_mailbox_keys_one_active",
            "address",
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(320), index=True)
    status: Mapped[str] = mapped_column(String(16), default=KeyStatus.ACTIVE.value)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    not_after: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    smime_serial: Mapped[str] = mapped_column(String(48), unique=True)  # hex, lower case
    smime_cert_pem: Mapped[str] = mapped_column(Text)
    smime_key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    openpgp_fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    openpgp_public: Mapped[str] = mapped_column(Text)
    openpgp_secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)


class CaCrl(Base):
    """The issuing CA's current CRL (one row): its number grows with each new CRL."""

    __tablename__ = "ca_crl"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger)
    this_update: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    next_update: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    pem: Mapped[str] = mapped_column(Text)
