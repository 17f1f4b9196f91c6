"""Directory tables: practitioners, organisations, activities, mailboxes, delegations,
credentials, client-certificate bindings, authentication throttling and trust domains.

Enumerations are stored as short strings (readable in SQL and in exports), checked by
CHECK constraints so that a bad value never lands from any path.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.base import Base, UtcDateTime, utcnow


class OrgKind(enum.StrEnum):
    HOSPITAL = "hospital"
    LAB = "lab"
    PRACTICE = "practice"
    OTHER = "other"


class PractitionerStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class MailboxKind(enum.StrEnum):
    """MSSanté BAL types."""

    PERSONAL = "personal"  # PER
    ORGANIZATIONAL = "organizational"  # ORG
    APPLICATIVE = "applicative"  # APP
    PRACTICE = "practice"  # CAB


# The MSSanté BAL types ("Type de BAL" of the extraction file) beside our kind names.
BAL_TYPES = {
    "PER": MailboxKind.PERSONAL,
    "ORG": MailboxKind.ORGANIZATIONAL,
    "APP": MailboxKind.APPLICATIVE,
    "CAB": MailboxKind.PRACTICE,
}
BAL_TYPE_OF = {kind.value: code for code, kind in BAL_TYPES.items()}


class MailboxStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class CryptoForm(enum.StrEnum):
    SMIME = "smime"  # EnvelopedData, AES-256-CBC: every mainstream client reads it
    SMIME_GCM = "smime-gcm"  # AuthEnvelopedData, AES-256-GCM, RSAES-OAEP-SHA256
    OPENPGP = "openpgp"


class DeliveryMode(enum.StrEnum):
    CLIENT_DECRYPT = "client-decrypt"
    SERVER_DECRYPT = "server-decrypt"


class CredentialKind(enum.StrEnum):
    PASSWORD = "password"  # noqa: S105 - a kind name, not a secret
    APP_PASSWORD = "app-password"  # noqa: S105 - a kind name, not a secret


def _check_in(column: str, values: type[enum.StrEnum]) -> CheckConstraint:
    allowed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=f"{column}_allowed")


class Organisation(Base):
    __tablename__ = "organisations"
    # Keyed by a text identifier: on SQLite a WITHOUT ROWID table keeps one B-tree, not two.
    __table_args__ = (_check_in("kind", OrgKind), {"sqlite_with_rowid": False})

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16), default=OrgKind.OTHER.value)
    # Identifier type of the MSSanté extraction ("1" FINESS, "3" SIRET, ...), kept for export.
    id_type: Mapped[str] = mapped_column(String(8), default="")
    trade_name: Mapped[str] = mapped_column(String(255), default="")
    # Postal address, in the lines of the French postal standard (AFNOR NF Z 10-011) that
    # the MSSanté extraction uses: L2 location complement, L3 distribution complement, L4
    # number, its complement (bis, ter), street type and name, L5 locality, L6 routing line.
    address_location: Mapped[str] = mapped_column(String(255), default="")
    address_distribution: Mapped[str] = mapped_column(String(255), default="")
    street_number: Mapped[str] = mapped_column(String(16), default="")
    street_number_complement: Mapped[str] = mapped_column(String(16), default="")
    street_type: Mapped[str] = mapped_column(String(32), default="")
    street_name: Mapped[str] = mapped_column(String(255), default="")
    locality: Mapped[str] = mapped_column(String(255), default="")
    routing_line: Mapped[str] = mapped_column(String(255), default="")  # L6, "75013 PARIS"
    address: Mapped[str] = mapped_column(Text, default="")  # the whole address, for display
    postal_code: Mapped[str] = mapped_column(String(16), default="")
    city: Mapped[str] = mapped_column(String(128), default="")
    department: Mapped[str] = mapped_column(String(8), default="")
    country: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Practitioner(Base):
    __tablename__ = "practitioners"
    __table_args__ = (_check_in("status", PractitionerStatus), {"sqlite_with_rowid": False})

    national_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    id_scheme: Mapped[str] = mapped_column(String(16))
    civility: Mapped[str] = mapped_column(String(16), default="")
    first_name: Mapped[str] = mapped_column(String(128))
    # Not indexed: names are searched by substring, which no B-tree index serves.
    last_name: Mapped[str] = mapped_column(String(128))
    category: Mapped[str] = mapped_column(String(8), default="")  # C civil, M military, E student
    category_label: Mapped[str] = mapped_column(String(128), default="")
    profession: Mapped[str] = mapped_column(String(32), default="")
    profession_label: Mapped[str] = mapped_column(String(128), default="")
    specialty: Mapped[str] = mapped_column(String(32), default="")
    specialty_label: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(16), default=PractitionerStatus.ACTIVE.value)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    activities: Mapped[list[Activity]] = relationship(
        back_populates="practitioner", cascade="all, delete-orphan"
    )


class Activity(Base):
    """A practitioner's activity at an organisation."""

    __tablename__ = "activities"
    # uq_activity's index also serves look-ups by practitioner.
    __table_args__ = (UniqueConstraint("practitioner_id", "organisation_id", name="uq_activity"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    practitioner_id: Mapped[str] = mapped_column(
        ForeignKey("practitioners.national_id", ondelete="CASCADE")
    )
    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(64), default="")

    practitioner: Mapped[Practitioner] = relationship(back_populates="activities")
    organisation: Mapped[Organisation] = relationship()


class Mailbox(Base):
    """A mail address known to the directory.

    `local` mailboxes are served by this operator; the others are directory entries of
    other operators (from the MSSanté extraction) used for routing and lookup.
    """

    __tablename__ = "mailboxes"
    __table_args__ = (
        _check_in("kind", MailboxKind),
        _check_in("status", MailboxStatus),
        _check_in("crypto", CryptoForm),
        _check_in("delivery", DeliveryMode),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    local: Mapped[bool] = mapped_column(Boolean, default=True)
    display_name: Mapped[str] = mapped_column(String(255), default="")
    owner_id: Mapped[str | None] = mapped_column(
        ForeignKey("practitioners.national_id", ondelete="SET NULL"), index=True
    )
    organisation_id: Mapped[str | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default=MailboxStatus.ACTIVE.value)
    red_list: Mapped[bool] = mapped_column(Boolean, default=False)
    crypto: Mapped[str] = mapped_column(String(16), default=CryptoForm.SMIME.value)
    delivery: Mapped[str] = mapped_column(String(16), default=DeliveryMode.CLIENT_DECRYPT.value)
    quota: Mapped[int | None] = mapped_column(BigInteger)
    # From the MSSanté extraction: the service the mailbox belongs to, the
    # "Dématérialisation" flag as given, and a digest of the last imported row (an
    # unchanged row is skipped on re-import).
    service: Mapped[str] = mapped_column(String(255), default="")
    dematerialisation: Mapped[str] = mapped_column(String(8), default="")
    source_hash: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    owner: Mapped[Practitioner | None] = relationship()
    organisation: Mapped[Organisation | None] = relationship()


class Delegation(Base):
    """A practitioner allowed to read and send as a shared (organisational) mailbox."""

    __tablename__ = "delegations"

    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True
    )
    practitioner_id: Mapped[str] = mapped_column(
        ForeignKey("practitioners.national_id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Credential(Base):
    """A password (label "") or a labelled app password, as an argon2id hash.

    An app password starts with a random public `selector`, so that a login verifies
    exactly one hash whatever the number of app passwords (no timing hint).
    """

    __tablename__ = "credentials"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "kind", "label", name="uq_credential"),
        UniqueConstraint("mailbox_id", "selector", name="uq_credential_selector"),
        _check_in("kind", CredentialKind),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(64), default="")
    selector: Mapped[str | None] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class CertificateBinding(Base):
    """A client certificate (by SHA-256 fingerprint of its DER) that logs in as a mailbox."""

    __tablename__ = "certificate_bindings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), index=True
    )
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    subject: Mapped[str] = mapped_column(String(512), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class AuthThrottle(Base):
    """Failed-authentication counters, per account and per client address.

    Kept in the database so that every node of a cluster sees the same counts.
    """

    __tablename__ = "auth_throttle"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)  # "account:x" / "client:ip"
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class TrustDomain(Base):
    """Another operator of the trust space."""

    __tablename__ = "trust_domains"

    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    operator_name: Mapped[str] = mapped_column(String(255), default="")
    ca_pem: Mapped[str] = mapped_column(Text)
    relay_host: Mapped[str] = mapped_column(String(255))
    relay_port: Mapped[int] = mapped_column(Integer)
    lookup_host: Mapped[str] = mapped_column(String(255))
    lookup_port: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
