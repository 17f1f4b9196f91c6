"""`make run`'s command, `salus demo`, as a person would use it: it prints credentials that
log in over IMAP with STARTTLS, serves every listener, and stops cleanly on SIGTERM."""

from __future__ import annotations

import imaplib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

SALUS = [sys.executable, "-m", "mailserver.cli.main"]
LISTENERS = (
    "SMTP__SUBMISSION",
    "SMTP__SUBMISSIONS",
    "SMTP__MX",
    "IMAP__LISTEN",
    "IMAP__LISTEN_TLS",
    "HTTP__LISTEN",
    "LOOKUP__LISTEN",
)


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _wait_for(port: int, proc: subprocess.Popen[str], deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"salus demo exited early with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"nothing listens on {port}")


@pytest.mark.slow
def test_demo_prints_working_credentials_and_stops_on_sigterm(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    ports = dict(zip(LISTENERS, _free_ports(len(LISTENERS)), strict=True))
    env = {**os.environ, **{f"SALUS_{k}": f"127.0.0.1:{p}" for k, p in ports.items()}}
    out = tmp_path / "demo.out"
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [*SALUS, "demo", "--data-dir", str(data_dir)],
            stdout=sink,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        try:
            _wait_for(ports["IMAP__LISTEN"], proc, time.monotonic() + 120)
            lines = out.read_text().splitlines()
            creds = dict(
                line.strip().split(" | ") for line in lines if "@" in line and " | " in line
            )
            assert "lis@chu-demo.test" in creds
            address = next(a for a in creds if a.startswith("alice."))
            ca = subprocess.run(
                [*SALUS, "trust", "export-ca", "--data-dir", str(data_dir)],
                capture_output=True,
                text=True,
                check=True,
                env=env,
            ).stdout
            ctx = ssl.create_default_context(cadata=ca)
            ctx.check_hostname = False
            imap = imaplib.IMAP4("127.0.0.1", ports["IMAP__LISTEN"])
            imap.starttls(ctx)
            assert imap.login(address, creds[address])[0] == "OK"
            names = b" ".join(imap.list()[1])
            assert b"INBOX" in names and b"\\Sent" in names
            imap.logout()
            bad = imaplib.IMAP4("127.0.0.1", ports["IMAP__LISTEN"])
            bad.starttls(ctx)
            with pytest.raises(imaplib.IMAP4.error):
                bad.login(address, creds[address] + "x")
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
    assert code == 0
