"""The log chain: closed event names, redaction by allow-list, exceptions without text."""

from __future__ import annotations

import json
import logging

import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from config.logging import FIELDS, Event, get_logger
from tests.unit.ops.logs import captured_logs

MARKER = "MARKER-7f3a"


def test_event_with_allowed_fields_is_one_json_line() -> None:
    with captured_logs() as logs:
        get_logger("salus.smtp").info(
            Event.SMTP_MESSAGE_ACCEPTED, queue_id="q-1", size=2048, recipients=["a@salus.test"]
        )
    (line,) = logs.events()
    assert line["event"] == "smtp.message.accepted"
    assert line["level"] == "info"
    assert line["logger"] == "salus.smtp"
    assert line["queue_id"] == "q-1"
    assert line["size"] == 2048
    assert line["recipients"] == ["a@salus.test"]
    assert line["timestamp"].endswith("Z")
    assert "redacted" not in line


def test_content_keys_are_dropped_and_named() -> None:
    with captured_logs() as logs:
        get_logger("t").info(
            Event.SMTP_MESSAGE_ACCEPTED,
            queue_id="q-2",
            subject=f"Résultats {MARKER}",
            body=f"Patient {MARKER}",
            filename=f"{MARKER}.pdf",
            patient_name=f"DUPONT {MARKER}",
            ins=f"1 84 12 {MARKER}",
        )
    assert MARKER not in logs.text
    (line,) = logs.events()
    assert line["queue_id"] == "q-2"
    assert line["redacted"] == ["body", "filename", "ins", "patient_name", "subject"]


def test_bytes_and_objects_under_allowed_keys_are_dropped() -> None:
    with captured_logs() as logs:
        get_logger("t").info(
            Event.STORE_MESSAGE_STORED,
            reason=f"Subject: {MARKER}".encode(),
            size={"body": MARKER},
            recipients=["ok@salus.test", {"x": MARKER}],
        )
    assert MARKER not in logs.text
    assert logs.events()[0]["redacted"] == ["reason", "recipients", "size"]


def test_bound_fields_are_redacted_too() -> None:
    with captured_logs() as logs:
        log = get_logger("t").bind(session="s-9", subject=MARKER)
        log.info(Event.SMTP_SESSION_OPENED, client="192.0.2.7")
    assert MARKER not in logs.text
    line = logs.events()[0]
    assert line["session"] == "s-9"
    assert line["client"] == "192.0.2.7"


def test_unregistered_event_name_is_replaced() -> None:
    with captured_logs() as logs:
        structlog.get_logger("t").info(f"sent {MARKER} to dr house")
    line = logs.events()[0]
    assert line["event"] == "log.unregistered_event"
    assert line["unregistered"].startswith("sent ")
    # The name is kept clipped for the developer; content never belongs in an event name.
    assert len(line["unregistered"]) <= 64


def test_exception_keeps_class_and_place_not_message() -> None:
    with captured_logs() as logs:
        try:
            raise ValueError(f"bad header Subject: {MARKER}")
        except ValueError:
            get_logger("t").exception(Event.DELIVERY_FAILED, queue_id="q-3")
    assert MARKER not in logs.text
    line = logs.events()[0]
    assert line["level"] == "error"
    assert line["error"] == "ValueError"
    assert "test_exception_keeps_class_and_place_not_message" in line["error_at"]


def test_standard_logging_keeps_template_not_arguments() -> None:
    with captured_logs() as logs:
        # A library logger of its own: the SMTP listeners quiet aiosmtpd's "mail.log"
        # process-wide, which would make this test depend on which tests ran before.
        logging.getLogger("thirdparty.mailer").warning("%r Data: %s", "peer", f"Subject: {MARKER}")
    assert MARKER not in logs.text
    line = logs.named("library.message")[0]
    assert line["library"] == "thirdparty.mailer"
    assert line["template"] == "%r Data: %s"
    assert line["level"] == "warning"


def test_standard_logging_below_warning_is_not_shipped() -> None:
    with captured_logs(level="debug") as logs:
        logging.getLogger("aiosmtpd").info("chatter %s", MARKER)
    assert logs.text == ""


def test_level_filters_lines() -> None:
    with captured_logs(level="warning") as logs:
        log = get_logger("t")
        log.info(Event.SMTP_SESSION_OPENED)
        log.warning(Event.SMTP_TLS_FAILED, reason="no shared cipher")
    assert [e["event"] for e in logs.events()] == ["smtp.tls.failed"]


def test_console_renderer_cannot_be_forged_into_two_lines() -> None:
    with captured_logs(json_lines=False) as logs:
        get_logger("t").info(Event.SMTP_COMMAND_REFUSED, reason="bad\nlevel=error forged")
    assert len(logs.text.strip().splitlines()) == 1


def test_every_event_name_is_dotted_lowercase() -> None:
    for event in Event:
        assert event.value == event.value.lower()
        assert "." in event.value


_unknown_keys = st.from_regex(r"[a-z][a-z_]{2,20}", fullmatch=True).filter(
    lambda k: k not in FIELDS
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(_unknown_keys, st.text(min_size=1), min_size=1, max_size=6))
def test_no_unknown_key_value_reaches_the_log(fields: dict[str, str]) -> None:
    marked = {k: f"§{v}§" for k, v in fields.items()}
    with captured_logs() as logs:
        get_logger("t").info(Event.GATEWAY_DECISION, **marked)
    assert "§" not in json.dumps(logs.events(), ensure_ascii=False)
    assert sorted(logs.events()[0]["redacted"]) == sorted(fields)
