"""`salus serve` runs the HTTP listener: probes answer, logs are JSON lines on stderr
with registered event names, and SIGTERM stops the process cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

from config.logging import EVENT_NAMES
from tests.integration.ops.operator import SALUS, run_salus
from tests.protocol.http.test_autoconfig import fetch

OTHER_LISTENERS = (
    "SMTP__SUBMISSION",
    "SMTP__SUBMISSIONS",
    "SMTP__MX",
    "IMAP__LISTEN",
    "IMAP__LISTEN_TLS",
    "LOOKUP__LISTEN",
)


async def _until_ready(port: int, process: asyncio.subprocess.Process) -> tuple[int, bytes]:
    async with asyncio.timeout(60):
        while True:
            assert process.returncode is None, "salus serve exited early"
            try:
                status, _, body = await fetch(port, "GET", "/readyz")
            except OSError:
                await asyncio.sleep(0.1)
                continue
            return status, body


async def test_serve_answers_probes_and_stops_on_sigterm(tmp_path: Path, free_port: int) -> None:
    data_dir = tmp_path / "op"
    code, _, err = await run_salus("init", "--data-dir", str(data_dir), "--domain", "salus.test")
    assert code == 0, err
    env = {**os.environ, "SALUS_HTTP__LISTEN": f"127.0.0.1:{free_port}"}
    env |= {f"SALUS_{name}": "127.0.0.1:0" for name in OTHER_LISTENERS}
    process = await asyncio.create_subprocess_exec(
        str(SALUS),
        "serve",
        "--data-dir",
        str(data_dir),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        status, body = await _until_ready(free_port, process)
        health = await fetch(free_port, "GET", "/healthz")
        config = await fetch(free_port, "GET", "/mail/config-v1.1.xml?emailaddress=dr%40salus.test")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert (status, body) == (200, b"ready\n")
    assert health[0] == 200
    assert config[0] == 200
    assert process.returncode == 0
    events = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    names = [e["event"] for e in events]
    assert "service.started" in names
    assert "service.stopped" in names
    assert set(names) <= EVENT_NAMES
    assert "log.unregistered_event" not in names
