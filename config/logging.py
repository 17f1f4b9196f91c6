"""Structured JSON logs with a closed set of event names and redaction by allow-list.

Every part of Salus logs through `get_logger(name)`, which returns an `EventLogger` whose
methods take an `Event` (the closed set below) and keyword fields. A processor keeps only
the fields whose key is on the allow-list `FIELDS` and whose value is a plain scalar (or
a short list of scalars for list keys); every other key is dropped and only its name is
listed under `redacted`. So a subject, a body, an attachment name or a patient field never
reaches a log line, whatever the caller passes: there is no regex guessing at content, a
key is either known to carry an identifier or a measure, or it is not written.

Exceptions are reduced to their class name and the place they were raised: exception
messages routinely quote the input (a header value, a parser's view of a document).
Records of the standard `logging` module (asyncio, SQLAlchemy, aiosmtpd) come through the
same chain as `library.message`, with the logger name and the format string only, never
the arguments (aiosmtpd's debug lines carry SMTP data).

This module must not import anything above `config` (DESIGN section 1): every layer logs.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from enum import StrEnum
from types import TracebackType
from typing import Any, Final, TextIO

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

from config.settings import LoggingSettings


class Event(StrEnum):
    """Every event name a Salus log line may carry. Add a member to log something new."""

    # process and services
    SERVICE_STARTED = "service.started"
    SERVICE_STOPPED = "service.stopped"
    SERVICE_FAILED = "service.failed"
    TLS_RELOADED = "tls.reloaded"
    TLS_RELOAD_FAILED = "tls.reload_failed"
    STORAGE_UNAVAILABLE = "storage.unavailable"
    EVENTS_LISTENER_RECONNECTED = "events.listener_reconnected"
    # SMTP submission and MX
    SMTP_SESSION_OPENED = "smtp.session.opened"
    SMTP_SESSION_CLOSED = "smtp.session.closed"
    SMTP_SESSION_TIMEOUT = "smtp.session.timeout"
    SMTP_CONNECTION_REFUSED = "smtp.connection.refused"
    SMTP_TLS_FAILED = "smtp.tls.failed"
    SMTP_AUTH_SUCCEEDED = "smtp.auth.succeeded"
    SMTP_AUTH_FAILED = "smtp.auth.failed"
    SMTP_COMMAND_REFUSED = "smtp.command.refused"
    SMTP_MESSAGE_ACCEPTED = "smtp.message.accepted"
    SMTP_MESSAGE_REFUSED = "smtp.message.refused"
    # queue and delivery
    QUEUE_ENQUEUED = "queue.enqueued"
    QUEUE_CLAIMED = "queue.claimed"
    DELIVERY_DELIVERED = "delivery.delivered"
    DELIVERY_DEFERRED = "delivery.deferred"
    DELIVERY_BOUNCED = "delivery.bounced"
    DELIVERY_RELAYED = "delivery.relayed"
    DELIVERY_FAILED = "delivery.failed"
    DSN_SENT = "dsn.sent"
    DSN_SIGNER_MISSING = "dsn.signer_missing"
    # IMAP and the mailbox store
    IMAP_SESSION_OPENED = "imap.session.opened"
    IMAP_SESSION_CLOSED = "imap.session.closed"
    IMAP_SESSION_TIMEOUT = "imap.session.timeout"
    IMAP_CONNECTION_REFUSED = "imap.connection.refused"
    IMAP_TLS_FAILED = "imap.tls.failed"
    IMAP_AUTH_SUCCEEDED = "imap.auth.succeeded"
    IMAP_AUTH_FAILED = "imap.auth.failed"
    IMAP_COMMAND_FAILED = "imap.command.failed"
    STORE_MESSAGE_STORED = "store.message.stored"
    STORE_QUOTA_EXCEEDED = "store.quota.exceeded"
    # gateway and crypto
    GATEWAY_DECISION = "gateway.decision"
    GATEWAY_DOCUMENT_ROUTED = "gateway.document.routed"
    GATEWAY_DOCUMENT_INVALID = "gateway.document.invalid"
    CRYPTO_PROTECTED = "crypto.protected"
    CRYPTO_PROTECT_FAILED = "crypto.protect_failed"
    CRYPTO_UNPROTECTED = "crypto.unprotected"
    CRYPTO_UNPROTECT_FAILED = "crypto.unprotect_failed"
    CRYPTO_SIGNATURE_INVALID = "crypto.signature_invalid"
    CRYPTO_KEY_ISSUED = "crypto.key_issued"
    CA_CRL_RESIGNED = "ca.crl_resigned"
    CA_CRL_FAILED = "ca.crl_failed"
    # directory and trust space
    DIRECTORY_IMPORTED = "directory.imported"
    AUTH_THROTTLED = "auth.throttled"
    TRUST_PEER_REFUSED = "trust.peer_refused"
    LOOKUP_REQUEST = "lookup.request"
    LOOKUP_CRL = "lookup.crl"  # a peer's CRL asked for (or ours answered)
    LOOKUP_CRL_REFUSED = "lookup.crl_refused"  # a peer's CRL failed its checks
    LOOKUP_CRL_KEPT = "lookup.crl_kept"  # no fresh CRL: the one held, still current, is used
    LOOKUP_CRL_UNKNOWN = "lookup.crl_unknown"  # no current CRL of a peer can be had
    # operations
    HTTP_REQUEST = "http.request"
    HTTP_CONNECTION_REFUSED = "http.connection.refused"
    HTTP_BAD_REQUEST = "http.bad_request"
    RETENTION_PURGED = "retention.purged"
    RETENTION_FAILED = "retention.failed"
    BACKUP_WRITTEN = "backup.written"
    BACKUP_RESTORED = "backup.restored"
    # other sources
    LIBRARY_MESSAGE = "library.message"
    LOG_UNREGISTERED_EVENT = "log.unregistered_event"


EVENT_NAMES: Final = frozenset(e.value for e in Event)

# Keys a log line may carry. "text" and "number" values are scalars; "list" values are
# short sequences of scalars. Each key names an identifier, a measure or a reason written
# by our own code, never content. Keep it that way when adding one.
_TEXT, _NUMBER, _LIST, _FLAG = "text", "number", "list", "flag"
FIELDS: Final[Mapping[str, str]] = {
    # produced by the chain itself
    "event": _TEXT,
    "level": _TEXT,
    "timestamp": _TEXT,
    "logger": _TEXT,
    "error": _TEXT,
    "error_at": _TEXT,
    "redacted": _LIST,
    # where and who
    "node": _TEXT,
    "service": _TEXT,
    "listener": _TEXT,
    "protocol": _TEXT,
    "client": _TEXT,
    "port": _NUMBER,
    "peer": _TEXT,
    "session": _TEXT,
    "login": _TEXT,
    "method": _TEXT,
    "mechanism": _TEXT,
    "tls_version": _TEXT,
    "cipher": _TEXT,
    "mailbox": _TEXT,
    "mailbox_id": _NUMBER,
    "practitioner_id": _TEXT,
    "address": _TEXT,
    "sender": _TEXT,
    "recipient": _TEXT,
    "recipients": _LIST,
    "domain": _TEXT,
    "fingerprint": _TEXT,
    "serial": _TEXT,
    # which message
    "queue_id": _TEXT,
    "delivery_id": _TEXT,
    "message_id": _TEXT,
    "folder_id": _NUMBER,
    "uid": _NUMBER,
    "document_type": _TEXT,
    # what happened
    "rule": _TEXT,
    "rules": _LIST,
    "reply": _TEXT,
    "code": _NUMBER,
    "status": _TEXT,
    "outcome": _TEXT,
    "reason": _TEXT,
    "operation": _TEXT,
    "form": _TEXT,
    "route": _TEXT,
    "http_status": _NUMBER,
    "library": _TEXT,
    "template": _TEXT,
    "unregistered": _TEXT,
    "kind": _TEXT,
    "target": _TEXT,
    "backend": _TEXT,
    # how much and how long
    "size": _NUMBER,
    "count": _NUMBER,
    "attempt": _NUMBER,
    "retry_in": _NUMBER,
    "duration_ms": _NUMBER,
    "limit": _NUMBER,
    "days": _NUMBER,
    "cutoff": _TEXT,
    "messages": _NUMBER,
    "audit_entries": _NUMBER,
    "crl_number": _NUMBER,
    "next_update": _TEXT,
    "bytes": _NUMBER,
    "tls": _FLAG,
    "authenticated": _FLAG,
}
MAX_TEXT: Final = 256
MAX_LIST: Final = 50
_LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def check_event_name(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Keep the closed set closed: an unknown name is replaced, never written as given."""
    name = event_dict.get("event")
    if name not in EVENT_NAMES:
        event_dict["event"] = Event.LOG_UNREGISTERED_EVENT.value
        event_dict["unregistered"] = _clean_text(str(name))[:64]
    return event_dict


def summarise_exception(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Replace exc_info with the exception's class and where it was raised; no message."""
    exc_info = event_dict.pop("exc_info", None)
    event_dict.pop("exception", None)
    if exc_info is None or exc_info is False:
        return event_dict
    if exc_info is True:
        exc_info = sys.exc_info()
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if isinstance(exc_info, tuple) and exc_info[0] is not None:
        event_dict["error"] = exc_info[0].__qualname__
        where = _innermost(exc_info[2])
        if where:
            event_dict["error_at"] = where
    return event_dict


def _innermost(tb: TracebackType | None) -> str:
    if tb is None:
        return ""
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    module = tb.tb_frame.f_globals.get("__name__", "?")
    return f"{module}:{tb.tb_lineno}:{code.co_name}"


def redact(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Keep allow-listed keys with plain values; drop the rest, naming the dropped keys."""
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in event_dict.items():
        kind = FIELDS.get(key)
        cleaned = _UNSET if kind is None else _clean(kind, value)
        if cleaned is _UNSET:
            dropped.append(key if key.isidentifier() and len(key) <= 40 else "?")
        else:
            kept[key] = cleaned
    if dropped:
        kept["redacted"] = sorted(set(dropped))
    return kept


_UNSET: Final = object()
# The configured level (configure_logging); until then every line goes to structlog.
_threshold: list[int] = [logging.NOTSET]


def _clean(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == _FLAG:
        return value if isinstance(value, bool) else _UNSET
    if kind == _NUMBER:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return value if ok else _UNSET
    if kind == _TEXT:
        return _clean_text(str(value)) if isinstance(value, str | int | StrEnum) else _UNSET
    if isinstance(value, list | tuple | frozenset | set):
        items = [_clean_text(str(v)) for v in list(value)[:MAX_LIST] if isinstance(v, str | int)]
        return items if len(items) == min(len(value), MAX_LIST) else _UNSET
    return _UNSET


def _clean_text(text: str) -> str:
    """Clip, and neutralise control characters (no forged lines in text renderers)."""
    clipped = text[:MAX_TEXT]
    if clipped.isprintable():
        return clipped
    return "".join(c if c.isprintable() else "?" for c in clipped)


class EventLogger:
    """A logger whose events come from the closed set `Event`."""

    __slots__ = ("_logger",)

    def __init__(self, logger: FilteringBoundLogger) -> None:
        self._logger = logger

    def bind(self, **fields: Any) -> EventLogger:
        """A logger that adds `fields` to every line (a session id, a listener)."""
        return EventLogger(self._logger.bind(**fields))

    def debug(self, event: Event, **fields: Any) -> None:
        if _threshold[0] <= logging.DEBUG:
            self._logger.debug(event.value, **fields)

    def info(self, event: Event, **fields: Any) -> None:
        # structlog's lazy proxy binds a new logger at each call before its level filter
        # drops the line (~20 us): an info line per message is dropped here first.
        if _threshold[0] <= logging.INFO:
            self._logger.info(event.value, **fields)

    def warning(self, event: Event, **fields: Any) -> None:
        self._logger.warning(event.value, **fields)

    def error(self, event: Event, **fields: Any) -> None:
        self._logger.error(event.value, **fields)

    def exception(self, event: Event, **fields: Any) -> None:
        """An error line with the current exception's class and place (never its text)."""
        self._logger.error(event.value, exc_info=True, **fields)


def get_logger(name: str) -> EventLogger:
    """The logger for module `name`; the redacting chain applies even before set-up."""
    if not structlog.is_configured():
        configure_logging(LoggingSettings())
    return EventLogger(structlog.get_logger().bind(logger=name))


def processors(*, json: bool, colors: bool = False) -> list[Processor]:
    """The chain every line goes through; redaction comes before any renderer."""
    renderer: Processor = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=colors)
    )
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        check_event_name,
        summarise_exception,
        redact,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        renderer,
    ]


def configure_logging(settings: LoggingSettings, *, stream: TextIO | None = None) -> None:
    """Set up structlog and route the standard `logging` module through the same chain.

    Lines go to standard error (standard output belongs to the CLI's results) unless
    `stream` is given (tests read the lines back).
    """
    out = stream if stream is not None else sys.stderr
    level = _LEVELS[settings.level]
    _threshold[0] = level
    structlog.configure(
        processors=processors(json=settings.json, colors=not settings.json and out.isatty()),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _LibraryBridge)]:
        root.removeHandler(handler)
    root.addHandler(_LibraryBridge())
    # Libraries speak from WARNING up: their debug output is theirs to read, not ours to ship.
    root.setLevel(max(level, logging.WARNING))


class _LibraryBridge(logging.Handler):
    """Standard `logging` records as `library.message`: logger name and format string."""

    def emit(self, record: logging.LogRecord) -> None:
        fields: MutableMapping[str, Any] = {
            "library": record.name,
            "template": record.msg if isinstance(record.msg, str) else type(record.msg).__name__,
        }
        if record.exc_info and record.exc_info[0] is not None:
            fields["exc_info"] = record.exc_info
        logger = structlog.get_logger().bind(logger=record.name)
        method = {
            logging.DEBUG: logger.debug,
            logging.INFO: logger.info,
            logging.WARNING: logger.warning,
        }.get(record.levelno, logger.error)
        method(Event.LIBRARY_MESSAGE.value, **fields)
