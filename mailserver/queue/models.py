"""Queue tables: messages, their sealed contents, one delivery row per recipient, and the
events `salus trace` shows.

A delivery row moves `queued → delivered | deferred → … → delivered | bounced` (and
`relayed` for remote recipients, added by the trust-space relay); `final_at` is set once,
with the final state. A message held for an administrator (gateway.consistency "hold")
has its rows `held`: neither pending (no worker claims them) nor final, until `salus
queue release` makes them `queued` or `salus queue delete` bounces them. Message content is sealed under the service key (no plaintext at
rest) and dropped once no delivery needs it.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, UtcDateTime, utcnow


class DeliveryStatus(enum.StrEnum):
    QUEUED = "queued"
    DEFERRED = "deferred"
    HELD = "held"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    RELAYED = "relayed"


# Waiting for a delivery worker.
PENDING = (DeliveryStatus.QUEUED.value, DeliveryStatus.DEFERRED.value)
# Not final yet: pending, or held for an administrator (which no worker claims).
OPEN = (*PENDING, DeliveryStatus.HELD.value)
FINAL = (
    DeliveryStatus.DELIVERED.value,
    DeliveryStatus.BOUNCED.value,
    DeliveryStatus.RELAYED.value,
)


class Origin(enum.StrEnum):
    SUBMISSION = "submission"
    DSN = "dsn"
    MX = "mx"


def _check_in(column: str, values: type[enum.StrEnum]) -> CheckConstraint:
    allowed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=f"{column}_allowed")


class QueuedMessage(Base):
    """One accepted message: who sent it, from where, and the Message-ID it carries."""

    __tablename__ = "queue_messages"
    __table_args__ = (_check_in("origin", Origin),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the queue id
    message_id: Mapped[str] = mapped_column(String(998), index=True)  # without <>
    sender: Mapped[str] = mapped_column(String(320))  # envelope sender; "" for a DSN
    origin: Mapped[str] = mapped_column(String(16))
    submitter: Mapped[str] = mapped_column(String(320), default="")  # login, when any
    client: Mapped[str] = mapped_column(String(64), default="")
    size: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


class QueuedContent(Base):
    """The bytes one group of recipients receives, sealed; None once all are final."""

    __tablename__ = "queue_contents"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "QUEUEID.N"
    queue_id: Mapped[str] = mapped_column(
        ForeignKey("queue_messages.id", ondelete="CASCADE"), index=True
    )
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)


class Delivery(Base):
    """One recipient of one message, and where its delivery stands."""

    __tablename__ = "queue_deliveries"
    __table_args__ = (
        _check_in("status", DeliveryStatus),
        Index("ix_queue_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_id: Mapped[str] = mapped_column(
        ForeignKey("queue_messages.id", ondelete="CASCADE"), index=True
    )
    content_id: Mapped[str] = mapped_column(ForeignKey("queue_contents.id", ondelete="CASCADE"))
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.QUEUED.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_reply: Mapped[str] = mapped_column(String(1000), default="")
    delay_notified: Mapped[bool] = mapped_column(Boolean, default=False)
    # Queued for delivery at: the message's arrival, or its release when it was held.
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    final_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class QueueEvent(Base):
    """What happened to a message or one of its deliveries, for `salus trace`."""

    __tablename__ = "queue_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True
    )
    queue_id: Mapped[str] = mapped_column(
        ForeignKey("queue_messages.id", ondelete="CASCADE"), index=True
    )
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("queue_deliveries.id", ondelete="CASCADE")
    )
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    event: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(1000), default="")
