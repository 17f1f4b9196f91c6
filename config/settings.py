"""Typed, frozen settings.

Loaded once at start from `DIR/salus.toml`, then overridden by `SALUS_<SECTION>__<KEY>`
environment variables, then validated as a whole: every problem is collected and reported
together with the key that holds it (DESIGN section 3), so a bad config never starts
halfway. Nothing here reads the environment after `load_settings` returns.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.errors import ConfigError

CONFIG_FILE_NAME = "salus.toml"
ENV_PREFIX = "SALUS_"


@dataclass(frozen=True, slots=True)
class HostPort:
    """A listen or connect address."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> HostPort:
        """Parse `host:port` or `[v6]:port`; raise ValueError with a readable reason."""
        text = text.strip()
        if text.startswith("["):
            host, sep, rest = text[1:].partition("]:")
        else:
            host, sep, rest = text.rpartition(":")
        if not sep or not host or not rest.isdigit():
            raise ValueError(f"{text!r} is not HOST:PORT")
        port = int(rest)
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} is out of range 0-65535")
        return cls(host, port)


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    domain: str = "salus.test"
    hostname: str = "mail.salus.test"
    # Other domains whose mailboxes are local to this operator.
    extra_domains: tuple[str, ...] = ()

    @property
    def local_domains(self) -> tuple[str, ...]:
        return (self.domain, *self.extra_domains)


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    submission: HostPort = HostPort("127.0.0.1", 1587)
    submissions: HostPort = HostPort("127.0.0.1", 1465)
    mx: HostPort = HostPort("127.0.0.1", 1025)
    max_message_size: int = 32 * 1024 * 1024
    max_recipients: int = 100
    max_header_count: int = 1000
    max_header_bytes: int = 256 * 1024
    max_line_length: int = 998
    max_mime_depth: int = 20
    max_mime_parts: int = 500
    idle_timeout: float = 300.0
    session_deadline: float = 1800.0
    max_connections_per_client: int = 20
    auth_failures_before_lockout: int = 5
    lockout_seconds: int = 300


@dataclass(frozen=True, slots=True)
class ImapSettings:
    listen: HostPort = HostPort("127.0.0.1", 1143)
    listen_tls: HostPort = HostPort("127.0.0.1", 1993)
    max_literal: int = 64 * 1024 * 1024
    max_line: int = 64 * 1024
    idle_timeout: float = 1800.0
    max_connections_per_client: int = 50


@dataclass(frozen=True, slots=True)
class HttpSettings:
    listen: HostPort = HostPort("127.0.0.1", 8025)
    public_imap_port: int | None = None
    public_submission_port: int | None = None


@dataclass(frozen=True, slots=True)
class LookupSettings:
    listen: HostPort = HostPort("127.0.0.1", 1443)
    cache_seconds: int = 300


@dataclass(frozen=True, slots=True)
class TlsSettings:
    cert_file: Path | None = None
    key_file: Path | None = None


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    url: str = ""


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    routing_address: str = ""
    # What to do when explicit recipients disagree with the documents' recipients:
    # "warn" (deliver, noted in the audit trail), "refuse" (550) or "hold" (accept, and
    # deliver only once an administrator releases it).
    consistency: str = "warn"
    # Processes that sign, encrypt and decrypt (0: one per CPU core).
    crypto_workers: int = 0


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    workers: int = 4
    retry_base_seconds: int = 60
    retry_max_seconds: int = 3600
    delay_dsn_after_seconds: int = 4 * 3600
    expire_after_seconds: int = 5 * 24 * 3600


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    """Days to keep mail per mailbox kind (0 = keep forever) and audit entries."""

    personal_days: int = 0
    organizational_days: int = 0
    applicative_days: int = 0
    practice_days: int = 0
    audit_days: int = 0


@dataclass(frozen=True, slots=True)
class CaSettings:
    """The service CA's CRL lives 30 days (`crypto.policy.CRL_LIFETIME`): `salus serve`
    and `salus keys crl` re-sign it when fewer than `crl_refresh_days` days are left."""

    crl_refresh_days: int = 7


CRL_LIFETIME_DAYS = 30  # crypto.policy.CRL_LIFETIME is made from it


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    level: str = "info"
    json: bool = True


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole configuration of one Salus data dir."""

    data_dir: Path
    service: ServiceSettings = field(default_factory=ServiceSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    imap: ImapSettings = field(default_factory=ImapSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    lookup: LookupSettings = field(default_factory=LookupSettings)
    tls: TlsSettings = field(default_factory=TlsSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    ca: CaSettings = field(default_factory=CaSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite+aiosqlite:///{self.data_dir / 'salus.db'}"

    @property
    def routing_address(self) -> str:
        return self.gateway.routing_address or f"routing@{self.service.domain}"

    @property
    def tls_cert_file(self) -> Path:
        return self.tls.cert_file or self.data_dir / "tls" / "server.crt"

    @property
    def tls_key_file(self) -> Path:
        return self.tls.key_file or self.data_dir / "tls" / "server.key"


_SECTIONS: dict[str, type[Any]] = {
    f.name: globals()[str(f.type)] for f in dataclasses.fields(Settings) if f.name != "data_dir"
}


def load_settings(data_dir: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read DIR/salus.toml (absent means defaults), apply SALUS_* overrides, validate."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    raw: dict[str, dict[str, Any]] = {}
    path = data_dir / CONFIG_FILE_NAME
    if path.exists():
        try:
            loaded = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
            raise ConfigError([f"{path}: cannot be read as TOML ({exc})"]) from exc
        for section, values in loaded.items():
            if not isinstance(values, dict):
                problems.append(f"{section}: must be a [table], not a value")
                continue
            raw[section] = dict(values)
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        raw.setdefault(section, {})[key] = value
    sections: dict[str, Any] = {}
    for section, values in raw.items():
        cls = _SECTIONS.get(section)
        if cls is None:
            problems.append(f"[{section}]: unknown section")
            continue
        sections[section] = _build_section(section, cls, values, problems)
    settings = Settings(data_dir=data_dir, **sections)
    problems.extend(_validate(settings))
    if problems:
        raise ConfigError(problems)
    return settings


def _build_section(name: str, cls: type[Any], values: dict[str, Any], problems: list[str]) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        fld = known.get(key)
        if fld is None:
            problems.append(f"{name}.{key}: unknown key")
            continue
        try:
            kwargs[key] = _coerce(str(fld.type), value)
        except (ValueError, TypeError) as exc:
            problems.append(f"{name}.{key}: {exc}")
    return cls(**kwargs)


def _coerce(type_name: str, value: Any) -> Any:  # noqa: PLR0911, PLR0912 - a branch per type
    optional = type_name.endswith(" | None")
    base = type_name.removesuffix(" | None")
    if optional and value in ("", None):
        return None
    if base == "HostPort":
        return value if isinstance(value, HostPort) else HostPort.parse(str(value))
    if base == "int":
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise TypeError(f"expected a whole number, got {value!r}")
        return int(value)
    if base == "float":
        return float(value)
    if base == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {value!r}")
    if base == "Path":
        return Path(str(value))
    if base == "tuple[str, ...]":
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return tuple(str(v) for v in value)
    if base == "str":
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported setting type {type_name}")


def _validate(s: Settings) -> list[str]:
    problems: list[str] = []
    if "." not in s.service.domain:
        problems.append(f"service.domain: {s.service.domain!r} is not a domain name")
    if (s.tls.cert_file is None) != (s.tls.key_file is None):
        problems.append("tls.cert_file and tls.key_file: set both or neither")
    for fld in ("cert_file", "key_file"):
        p = getattr(s.tls, fld)
        if p is not None and not p.exists():
            problems.append(f"tls.{fld}: {p} does not exist")
    url = s.database_url
    if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        problems.append(
            "database.url: use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB"
        )
    problems.extend(_listener_clashes(s))
    if s.gateway.consistency not in ("warn", "refuse", "hold"):
        problems.append("gateway.consistency: must be 'warn', 'refuse' or 'hold'")
    if "@" not in s.routing_address:
        problems.append(f"gateway.routing_address: {s.routing_address!r} is not an address")
    if s.logging.level not in ("debug", "info", "warning", "error"):
        problems.append("logging.level: must be debug, info, warning or error")
    problems.extend(_out_of_range(s))
    return problems


def _out_of_range(s: Settings) -> list[str]:
    problems: list[str] = []
    for name in ("max_message_size", "max_recipients", "max_line_length"):
        if getattr(s.smtp, name) <= 0:
            problems.append(f"smtp.{name}: must be positive")
    if s.delivery.workers < 1:
        problems.append("delivery.workers: must be at least 1")
    if s.gateway.crypto_workers < 0:
        problems.append("gateway.crypto_workers: must be 0 (one per core) or more")
    if not 1 <= s.ca.crl_refresh_days < CRL_LIFETIME_DAYS:
        problems.append(
            f"ca.crl_refresh_days: must be 1 to {CRL_LIFETIME_DAYS - 1} "
            f"(a CRL lives {CRL_LIFETIME_DAYS} days)"
        )
    return problems


def _listener_clashes(s: Settings) -> list[str]:
    problems: list[str] = []
    listeners = {
        "smtp.submission": s.smtp.submission,
        "smtp.submissions": s.smtp.submissions,
        "smtp.mx": s.smtp.mx,
        "imap.listen": s.imap.listen,
        "imap.listen_tls": s.imap.listen_tls,
        "http.listen": s.http.listen,
        "lookup.listen": s.lookup.listen,
    }
    seen: dict[HostPort, str] = {}
    for key, addr in listeners.items():
        if addr.port != 0 and addr in seen:
            problems.append(f"{key}: {addr} is already used by {seen[addr]}")
        seen[addr] = key
    return problems


def render_toml(values: Mapping[str, Mapping[str, Any]]) -> str:
    """Write a salus.toml body from {section: {key: value}} (used by `salus init`)."""
    lines: list[str] = []
    for section, items in values.items():
        lines.append(f"[{section}]")
        for key, value in items.items():
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, int | float):
                text = str(value)
            elif isinstance(value, list | tuple):
                text = "[" + ", ".join(_toml_str(str(v)) for v in value) + "]"
            else:
                text = _toml_str(str(value))
            lines.append(f"{key} = {text}")
        lines.append("")
    return "\n".join(lines)


def _toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
