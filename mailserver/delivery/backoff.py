"""When to try again after a temporary failure: exponential back-off from
`delivery.retry_base_seconds`, capped at `delivery.retry_max_seconds`, until the
message is `delivery.expire_after_seconds` old (RFC 5321 §4.5.4.1: retry for days)."""

from __future__ import annotations

import datetime as dt

from config.settings import DeliverySettings


def next_attempt(
    attempts: int, queued_at: dt.datetime, now: dt.datetime, settings: DeliverySettings
) -> dt.datetime | None:
    """The time of the next attempt after `attempts` failed ones, or None when the
    message has been queued too long and must bounce."""
    if now - queued_at >= dt.timedelta(seconds=settings.expire_after_seconds):
        return None
    exponent = min(max(attempts - 1, 0), 30)
    delay = min(settings.retry_base_seconds * 2**exponent, settings.retry_max_seconds)
    return now + dt.timedelta(seconds=delay)


def delay_notice_due(queued_at: dt.datetime, now: dt.datetime, settings: DeliverySettings) -> bool:
    """True once a message has waited long enough to tell its sender (RFC 3464 "delayed")."""
    return now - queued_at >= dt.timedelta(seconds=settings.delay_dsn_after_seconds)
