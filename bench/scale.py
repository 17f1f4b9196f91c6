"""Scale benchmark: submission messages/s with one Salus node and with two nodes sharing
one PostgreSQL, driven by the same asyncio load generator in the same run (DESIGN
sections 9 and 10).

    .venv/bin/python bench/scale.py
    .venv/bin/python bench/scale.py --messages 2000 --sessions 20 --per-connection 10 --size 10240

It makes a fresh database on the PostgreSQL server of SALUS_TEST_DATABASE_URL (or
--database-url), runs `salus init`, adds a sender mailbox with a password and a recipient
mailbox and issues their keys; then, for 1 node and for 2 nodes: starts `salus serve`
processes on distinct loopback ports, waits for /readyz, submits the load over implicit
TLS with AUTH PLAIN (sessions spread round-robin over the nodes, several messages per
connection), records the time to each 250, waits until the shared queue is drained
(/metrics), and reads PostgreSQL's `active_time` for the database (time spent executing
statements, submission and delivery together) before stopping the nodes.

It prints messages/s, p50/p99 time to 250, the two/one ratio, the database time per
message, and the projected throughput for N nodes when the database is the limit:
min(N x one-node rate, database cores x 1000 / database ms per message).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import aiosmtplib  # noqa: E402
import asyncpg  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from config.settings import load_settings  # noqa: E402
from directory.admin.credentials import set_password  # noqa: E402
from directory.admin.mailboxes import add_mailbox  # noqa: E402
from directory.admin.organisations import OrganisationInput, add_organisation  # noqa: E402
from directory.models import MailboxKind  # noqa: E402
from storage.database import Database  # noqa: E402

SALUS = Path(sys.executable).parent / "salus"
DOMAIN = "bench.test"
SENDER, RECIPIENT = f"lis@{DOMAIN}", f"secretariat@{DOMAIN}"
PASSWORD = "Bench-Load-Generator-2026!"
LISTENERS = ("SMTP__SUBMISSION", "SMTP__SUBMISSIONS", "SMTP__MX", "IMAP__LISTEN",
             "IMAP__LISTEN_TLS", "HTTP__LISTEN", "LOOKUP__LISTEN")  # fmt: skip


@dataclass
class Node:
    process: asyncio.subprocess.Process
    ports: dict[str, int]

    @property
    def submissions(self) -> int:
        return self.ports["SMTP__SUBMISSIONS"]

    @property
    def http(self) -> int:
        return self.ports["HTTP__LISTEN"]


@dataclass
class Run:
    nodes: int
    messages: int
    seconds: float
    latencies: list[float]
    db: DbTime
    waits: Counter[str]

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def salus(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(SALUS), *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"salus {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


async def prepare(data_dir: Path, url: str) -> None:
    salus("init", "--data-dir", str(data_dir), "--domain", DOMAIN, "--database-url", url)
    db = Database(load_settings(data_dir).database_url)
    try:
        async with db.write() as session:
            await add_organisation(session, "bench", OrganisationInput(id="bench-lab", name="Lab"))
            for address, kind in (
                (SENDER, MailboxKind.APPLICATIVE),
                (RECIPIENT, MailboxKind.ORGANIZATIONAL),
            ):
                await add_mailbox(
                    session,
                    "bench",
                    address,
                    kind,
                    local_domains=(DOMAIN,),
                    organisation="bench-lab",
                )
            await set_password(session, "bench", SENDER, PASSWORD)
    finally:
        await db.dispose()
    for address in (SENDER, RECIPIENT):
        salus("keys", "issue", address, "--data-dir", str(data_dir))


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except OSError:
        return 0, ""


@asynccontextmanager
async def nodes(data_dir: Path, count: int) -> Any:
    started: list[Node] = []
    try:
        for _ in range(count):
            ports = {name: free_port() for name in LISTENERS}
            env = {**os.environ, **{f"SALUS_{k}": f"127.0.0.1:{p}" for k, p in ports.items()}}
            env["SALUS_LOGGING__LEVEL"] = "warning"
            process = await asyncio.create_subprocess_exec(
                str(SALUS),
                "serve",
                "--data-dir",
                str(data_dir),
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            started.append(Node(process, ports))
        for node in started:
            while (await asyncio.to_thread(_get, node.http, "/readyz"))[0] != 200:
                if node.process.returncode is not None:
                    raise SystemExit("salus serve exited during start-up")
                await asyncio.sleep(0.2)
        yield started
    finally:
        for node in started:
            if node.process.returncode is None:
                node.process.terminate()
        for node in started:
            await node.process.wait()


def message(n: int, size: int) -> bytes:
    line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n"
    body = line * max(1, size // len(line))
    head = (
        f"From: {SENDER}\r\nTo: {RECIPIENT}\r\nSubject: bench {n}\r\n"
        f"Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@{DOMAIN}>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    ).encode()
    return head + body


async def session(port: int, ctx: ssl.SSLContext, count: int, per_connection: int, size: int,
                  latencies: list[float]) -> None:  # fmt: skip
    sent = 0
    while sent < count:
        client = aiosmtplib.SMTP(
            hostname="127.0.0.1", port=port, use_tls=True, tls_context=ctx, timeout=120
        )
        await client.connect()
        await client.login(SENDER, PASSWORD)
        for _ in range(min(per_connection, count - sent)):
            body = message(sent, size)
            started = time.perf_counter()
            await client.sendmail(SENDER, [RECIPIENT], body)
            latencies.append(time.perf_counter() - started)
            sent += 1
        await client.quit()


async def queue_depth(node: Node) -> float:
    status, text = await asyncio.to_thread(_get, node.http, "/metrics")
    if status != 200:
        return float("inf")
    return sum(
        s.value for f in text_string_to_metric_families(text) if f.name == "salus_queue_depth"
        for s in f.samples
    )  # fmt: skip


async def drained(node: Node) -> None:
    """Poll the node's /metrics until the shared queue is empty (another process's state:
    there is nothing to wait on but the scrape)."""
    depth = await queue_depth(node)
    while depth > 0:
        await asyncio.sleep(0.5)
        depth = await queue_depth(node)


@dataclass(frozen=True)
class DbTime:
    """PostgreSQL's own accounting: `active` is the time statements of this database ran
    (lock waits included); `cpu` is the CPU time of the whole server's processes, reaped
    backends included (measurable when the server runs on this machine; it counts every
    database of the server, so other work on it is included)."""

    active_ms: float
    cpu_ms: float | None

    def __sub__(self, other: DbTime) -> DbTime:
        cpu = None if self.cpu_ms is None or other.cpu_ms is None else self.cpu_ms - other.cpu_ms
        return DbTime(self.active_ms - other.active_ms, cpu)


def _proc_cpu_ms(pid: int, *, with_children: bool) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # utime, stime, cutime, cstime are fields 14-17 of proc(5); after "(comm)" they are 11-14.
    ticks = int(fields[11]) + int(fields[12])
    if with_children:  # children reaped by the postmaster: backends that have exited
        ticks += int(fields[13]) + int(fields[14])
    return 1000 * ticks / os.sysconf("SC_CLK_TCK")


def _server_cpu_ms(backend_pid: int) -> float | None:
    try:
        postmaster = _parent(Path(f"/proc/{backend_pid}"))
        total = _proc_cpu_ms(postmaster, with_children=True)
    except (OSError, ValueError, IndexError):
        return None
    for child in Path("/proc").iterdir():
        if child.name.isdigit() and _parent(child) == postmaster:
            try:
                total += _proc_cpu_ms(int(child.name), with_children=False)
            except (OSError, ValueError, IndexError):
                continue  # exited meanwhile: its time is now in the postmaster's cutime
    return total


def _parent(proc: Path) -> int:
    """The parent pid of a process, or -1 when it has gone."""
    try:
        return int((proc / "stat").read_text().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


async def db_time(url: str) -> DbTime:
    plain = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(plain)
    try:
        await asyncio.sleep(1.5)  # backends flush their statistics at most once a second
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        active = await conn.fetchval(
            "SELECT active_time FROM pg_stat_database WHERE datname = current_database()"
        )
        backend = await conn.fetchval("SELECT pg_backend_pid()")
    finally:
        await conn.close()
    return DbTime(float(active), _server_cpu_ms(int(backend)))


async def one_run(data_dir: Path, url: str, count: int, args: argparse.Namespace) -> Run:
    ctx = ssl.create_default_context(cafile=str(data_dir / "ca" / "root.crt"))
    ctx.check_hostname = False  # loopback address; the chain is still verified
    async with nodes(data_dir, count) as started:
        before = await db_time(url)
        latencies: list[float] = []
        share = args.messages // args.sessions
        waits: Counter[str] = Counter()
        sampler = asyncio.create_task(sample_waits(url, waits))
        began = time.perf_counter()
        await asyncio.gather(*(
            session(started[i % count].submissions, ctx, share, args.per_connection, args.size, latencies)
            for i in range(args.sessions)
        ))  # fmt: skip
        seconds = time.perf_counter() - began
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
        await drained(started[0])
        after = await db_time(url)
    return Run(count, len(latencies), seconds, latencies, after - before, waits)


async def sample_waits(url: str, waits: Counter[str]) -> None:
    """Every 50 ms, what this database's active statements are doing: running, or waiting
    (on a row lock, on the WAL flush of a commit, ...)."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        while True:
            rows = await conn.fetch(
                "SELECT coalesce(wait_event_type || ':' || wait_event, 'running') AS what"
                " FROM pg_stat_activity WHERE datname = current_database()"
                " AND state = 'active' AND pid <> pg_backend_pid()"
            )
            waits.update(row["what"] for row in rows)
            blocked = await conn.fetch(
                "SELECT relation::regclass::text AS rel FROM pg_locks WHERE NOT granted"
                " AND locktype = 'tuple' AND database ="
                " (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            waits.update("row lock on " + row["rel"] for row in blocked)
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    base = args.database_url or os.environ.get("SALUS_TEST_DATABASE_URL", "")
    if not base.startswith("postgresql+asyncpg://"):
        raise SystemExit(
            "give --database-url postgresql+asyncpg://… or set SALUS_TEST_DATABASE_URL"
        )
    name = "salus_bench_" + uuid.uuid4().hex[:8]
    admin = await asyncpg.connect(base.replace("postgresql+asyncpg://", "postgresql://"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = base.rpartition("/")[0] + "/" + name
    try:
        with tempfile.TemporaryDirectory(prefix="salus-scale-") as tmp:
            data_dir = Path(tmp) / "operator"
            await prepare(data_dir, url)
            runs = [await one_run(data_dir, url, count, args) for count in (1, 2)]
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    report(runs, args)


def report(runs: list[Run], args: argparse.Namespace) -> None:
    print(f"$ .venv/bin/python bench/scale.py --messages {args.messages} --sessions {args.sessions} "
          f"--per-connection {args.per_connection} --size {args.size}")  # fmt: skip
    print(f"{'nodes':>5} {'messages':>8} {'seconds':>8} {'msg/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'db active ms/msg':>16} {'db cpu ms/msg':>13}")  # fmt: skip
    for run in runs:
        cpu = "n/a" if run.db.cpu_ms is None else f"{run.db.cpu_ms / run.messages:.2f}"
        print(f"{run.nodes:>5} {run.messages:>8} {run.seconds:>8.2f} {run.rate:>8.1f} "
              f"{run.percentile(0.5):>8.1f} {run.percentile(0.99):>8.1f} "
              f"{run.db.active_ms / run.messages:>16.2f} {cpu:>13}")  # fmt: skip
    for run in runs:
        states = Counter({k: n for k, n in run.waits.items() if not k.startswith("row lock")})
        rows = Counter({k: n for k, n in run.waits.items() if k.startswith("row lock")})
        total = sum(states.values()) or 1
        top = ", ".join(f"{what} {100 * n / total:.0f}%" for what, n in states.most_common(4))
        print(f"{run.nodes} node(s), active statements sampled: {top}")
        if rows:
            total = sum(rows.values())
            print("  tuple-lock waiters by table: "
                  + ", ".join(f"{k[12:]} {100 * n / total:.0f}%" for k, n in rows.most_common(3)))  # fmt: skip
    one, two = runs
    print(f"two nodes / one node: {two.rate / one.rate:.2f}x (this machine: {os.cpu_count()} cores "
          "shared by the nodes, the load generator and PostgreSQL)")  # fmt: skip
    cpu_runs = [r.db.cpu_ms / r.messages for r in runs if r.db.cpu_ms is not None]
    if not cpu_runs:
        print("database CPU not measurable here (remote server): no projection")
        return
    db_ms = statistics.mean(cpu_runs)
    limit = args.db_cores * 1000 / db_ms
    print(
        f"database CPU per message: {db_ms:.2f} ms -> limit {limit:.0f} msg/s on {args.db_cores} database cores"
    )
    for n in (1, 2, 4, 8, 16, 32):
        print(f"projected {n:>2} nodes: {min(n * one.rate, limit):8.0f} msg/s")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--per-connection", type=int, default=10)
    parser.add_argument("--size", type=int, default=10 * 1024)
    parser.add_argument(
        "--db-cores", type=int, default=8, help="cores of the projected database server"
    )
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(arguments()))
