from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.errors import ConfigError
from config.settings import HostPort, load_settings


def test_defaults_bind_loopback_unprivileged(tmp_path: Path) -> None:
    s = load_settings(tmp_path, {})
    assert s.smtp.submission == HostPort("127.0.0.1", 1587)
    assert s.imap.listen_tls == HostPort("127.0.0.1", 1993)
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path / 'salus.db'}"
    assert s.routing_address == "routing@salus.test"


def test_file_then_environment_override(tmp_path: Path) -> None:
    (tmp_path / "salus.toml").write_text(
        '[service]\ndomain = "chu-nord.test"\n[smtp]\nsubmission = "127.0.0.1:3587"\n'
    )
    s = load_settings(tmp_path, {"SALUS_SMTP__SUBMISSION": "127.0.0.1:2587"})
    assert s.service.domain == "chu-nord.test"
    assert s.smtp.submission.port == 2587
    assert s.routing_address == "routing@chu-nord.test"


def test_every_problem_is_listed_with_its_key(tmp_path: Path) -> None:
    (tmp_path / "salus.toml").write_text('[smtp]\nmx = "nowhere"\nbogus = 1\n[nope]\nx = 1\n')
    env = {"SALUS_DATABASE__URL": "mysql://x", "SALUS_IMAP__LISTEN": "127.0.0.1:1587"}
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, env)
    text = "\n".join(info.value.problems)
    for key in ("smtp.mx", "smtp.bogus", "[nope]", "database.url", "imap.listen"):
        assert key in text


def test_unreadable_toml_is_named(tmp_path: Path) -> None:
    (tmp_path / "salus.toml").write_text("[service\n")
    with pytest.raises(ConfigError, match=r"salus\.toml"):
        load_settings(tmp_path, {})


@given(st.integers(0, 65535))
def test_hostport_round_trip(port: int) -> None:
    assert HostPort.parse(str(HostPort("::1", port))) == HostPort("::1", port)
    assert HostPort.parse(f"mx.salus.test:{port}") == HostPort("mx.salus.test", port)


@pytest.mark.parametrize("text", ["", "host", "host:", ":25", "host:70000", "host:x"])
def test_hostport_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        HostPort.parse(text)


def test_crl_refresh_margin_is_set_and_bounded_by_the_crl_lifetime(tmp_path: Path) -> None:
    assert load_settings(tmp_path, {}).ca.crl_refresh_days == 7
    s = load_settings(tmp_path, {"SALUS_CA__CRL_REFRESH_DAYS": "10"})
    assert s.ca.crl_refresh_days == 10
    for bad in ("0", "30"):
        with pytest.raises(ConfigError) as info:
            load_settings(tmp_path, {"SALUS_CA__CRL_REFRESH_DAYS": bad})
        assert "ca.crl_refresh_days: must be 1 to 29 (a CRL lives 30 days)" in info.value.problems


@pytest.mark.parametrize("mode", ["warn", "refuse", "hold"])
def test_consistency_modes(tmp_path: Path, mode: str) -> None:
    settings = load_settings(tmp_path, {"SALUS_GATEWAY__CONSISTENCY": mode})
    assert settings.gateway.consistency == mode


def test_an_unknown_consistency_mode_names_the_three(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, {"SALUS_GATEWAY__CONSISTENCY": "deliver"})
    assert "gateway.consistency: must be 'warn', 'refuse' or 'hold'" in info.value.problems
