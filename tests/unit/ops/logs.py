"""Reading Salus log lines back in tests: configure the real chain on a string buffer."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

from config.logging import configure_logging
from config.settings import LoggingSettings


class CapturedLogs:
    """The raw text written by the configured chain, and its lines parsed as JSON."""

    def __init__(self, buffer: io.StringIO) -> None:
        self._buffer = buffer

    @property
    def text(self) -> str:
        return self._buffer.getvalue()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events() if e["event"] == name]


@contextmanager
def captured_logs(level: str = "debug", *, json_lines: bool = True) -> Iterator[CapturedLogs]:
    buffer = io.StringIO()
    root = logging.getLogger()
    handlers, root_level = list(root.handlers), root.level
    configure_logging(LoggingSettings(level=level, json=json_lines), stream=buffer)
    try:
        yield CapturedLogs(buffer)
    finally:
        structlog.reset_defaults()
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(root_level)
