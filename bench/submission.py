"""Submission: Salus's full pipeline against a bare aiosmtpd sink, same TLS, same AUTH,
same load generator (bench/loadgen.py), in one run (DESIGN section 10).

Salus is `salus serve` on a fresh `salus init` data dir (policy, MIME walk, the
document step, signing and encryption for the recipient in the crypto process pool,
Received, the queue commit with `synchronous=FULL`, and its delivery workers storing
each message in the INBOX at the same time). A second table sends Salus a ~200 KB CDA
attachment against a plain message of the same size. The sink is aiosmtpd 1.4.6 with the same TLS context and
the same `directory.authn.authenticate`, answering 250 to DATA without looking at it.
The protecting sink is that sink plus the one step every message needs whatever the
design (DESIGN section 8: nothing stored or sent unsigned or unencrypted): it signs and
encrypts each message in the same crypto pool with the same keys as Salus, then answers
250 without storing anything. Its rate is the ceiling of any Salus built from these
parts on this machine; Salus/(sink + protect) is the share of that ceiling Salus keeps
while it also runs policy, the queue commit, the audit trail and delivery.
For scale, Postfix's smtp-source drives smtp-sink and the sink in plaintext.

Each session opens one connection and sends all its messages on it (an MUA or an
application gateway keeps its submission connection); the rate is measured from the
moment every session is authenticated (bench/loadgen.py), and the set-up (TLS and an
argon2id AUTH, ~0.1 s of CPU, the same for both servers) is reported apart.

Set-up for the Postfix part (not needed by CI): `apt-get install postfix` (smtp-source
and smtp-sink in /usr/sbin). Run:

    .venv/bin/python -m bench.submission [--quick] [--database-url postgresql+asyncpg://…]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.loadgen import Load, Result, Target, run

SALUS = Path(sys.executable).parent / "salus"
DOCTOR, COLLEAGUE, PASSWORD = "doctor.1@salus.test", "doctor.2@salus.test", "correct horse battery staple"
KB = 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- the bare sink (runs as its own process) -----------------------------------------
class Protection:
    """What the protecting sink does to every message: the one step no design of Salus
    can leave out (DESIGN section 8, no plaintext escape), the same call Salus's protect
    step makes (gateway.protect), in the same crypto pool (crypto.pool, as many workers
    as `salus serve` starts), with the same keys (doctor.1 signs, RSA-3072; doctor.2 is
    the recipient, EnvelopedData AES-256-CBC)."""

    def __init__(self, data_dir: Path, workers: int | None) -> None:
        from crypto.pool import CryptoPool  # noqa: PLC0415

        self.data_dir = data_dir
        self.pool = CryptoPool(workers)
        self.key_pem = self.chain_pem = self.cert_pem = b""

    async def start(self, db: Any) -> None:
        from crypto import keystore, service_key  # noqa: PLC0415
        from crypto.sealing import KeySealer  # noqa: PLC0415

        current, previous = service_key.load_with_previous(service_key.key_path(self.data_dir))
        keys = await keystore.signing_keys(db, DOCTOR)
        assert keys is not None, "the benchmark issues the sender's keys first"
        signer = keystore.open_signer(KeySealer(current, previous), self.data_dir, keys)
        self.key_pem, self.chain_pem = signer.key_pem, signer.chain_pem
        self.cert_pem = await keystore.recipient_cert(db, COLLEAGUE)
        await self.pool.start()

    async def __call__(self, message: bytes) -> bytes:
        from crypto import smime  # noqa: PLC0415

        outer, entity = smime.split_message(message)
        body = await self.pool.run(smime.sign_and_encrypt, entity, self.key_pem, self.chain_pem,
                                   [self.cert_pem], "smime")
        return smime.join_message(outer, body)


def serve_sink(data_dir: Path, port: int, plain: bool, protect: bool = False) -> None:
    from aiosmtpd.smtp import SMTP, AuthResult  # noqa: PLC0415

    from config.settings import load_settings  # noqa: PLC0415
    from directory.authn import AuthFailed, authenticate  # noqa: PLC0415
    from mailserver.app import tls_material  # noqa: PLC0415
    from mailserver.tls import server_context  # noqa: PLC0415
    from storage.database import Database  # noqa: PLC0415

    settings = load_settings(data_dir)
    protection = Protection(data_dir, settings.gateway.crypto_workers or None) if protect else None

    class Sink:
        def __init__(self, db: Database) -> None:
            self.db = db

        async def auth_PLAIN(self, server: Any, args: list[str]) -> Any:  # noqa: N802
            try:
                _, login, password = base64.b64decode(args[1]).decode().split("\0")
                await authenticate(self.db, login, password, client="127.0.0.1", protocol="smtp")
            except (AuthFailed, ValueError, IndexError, binascii.Error):
                return AuthResult(success=False, handled=False)
            return AuthResult(success=True)

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            if protection is not None:
                await protection(envelope.original_content)
                return "250 2.0.0 Ok: protected and discarded"
            return "250 2.0.0 Ok: discarded"

    async def main() -> None:
        db = Database(settings.database_url)
        if protection is not None:
            await protection.start(db)
        handler = Sink(db)
        context = None if plain else server_context(tls_material(settings))
        loop = asyncio.get_running_loop()

        def factory() -> SMTP:
            return SMTP(
                handler, hostname="sink.salus.test", tls_context=context,
                require_starttls=not plain, auth_required=not plain,
                data_size_limit=settings.smtp.max_message_size, loop=loop,
            )

        server = await loop.create_server(factory, "127.0.0.1", port)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        server.close()
        if protection is not None:
            await protection.pool.stop()
        await db.dispose()

    asyncio.run(main())


# ---- set-up --------------------------------------------------------------------------
def init(data_dir: Path, database_url: str | None) -> None:
    args = [str(SALUS), "init", "--data-dir", str(data_dir), "--domain", "salus.test"]
    if database_url:
        args += ["--database-url", database_url]
    subprocess.run(args, check=True, capture_output=True)


async def seed(data_dir: Path) -> None:
    from config.settings import load_settings  # noqa: PLC0415
    from storage.database import Database  # noqa: PLC0415
    from tests.protocol.smtp.harness import seed_directory  # noqa: PLC0415

    db = Database(load_settings(data_dir).database_url)
    await seed_directory(db)
    await db.dispose()


def issue_keys(data_dir: Path) -> None:
    """Every message is signed by its sender and encrypted for its recipient."""
    for address in (DOCTOR, COLLEAGUE):
        subprocess.run([str(SALUS), "keys", "issue", address, "--data-dir", str(data_dir)],
                       check=True, capture_output=True)


def start_salus(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SALUS_SMTP__SUBMISSION": f"127.0.0.1:{port}",
           # One client address drives 20 sessions here; the default cap is 20.
           "SALUS_SMTP__MAX_CONNECTIONS_PER_CLIENT": "200"}
    env |= {f"SALUS_{n}": "127.0.0.1:0" for n in ("SMTP__SUBMISSIONS", "SMTP__MX", "IMAP__LISTEN",
                                                  "IMAP__LISTEN_TLS", "HTTP__LISTEN", "LOOKUP__LISTEN")}
    env["SALUS_LOGGING__LEVEL"] = "warning"
    return subprocess.Popen([str(SALUS), "serve", "--data-dir", str(data_dir)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_sink(
    data_dir: Path, port: int, *, plain: bool = False, protect: bool = False
) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "bench.submission", "sink", "--data-dir", str(data_dir),
            "--port", str(port)] + (["--plain"] if plain else []) + (["--protect"] if protect else [])
    return subprocess.Popen(args, cwd=Path(__file__).resolve().parents[1],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if s.recv(100).startswith(b"220"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} not ready")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


# ---- measurements --------------------------------------------------------------------
CELLS = (  # size, sessions, connections per session, messages per connection
    (10 * KB, 1, 1, 100),
    (10 * KB, 20, 1, 50),
    (1024 * KB, 1, 1, 10),
    (1024 * KB, 20, 1, 3),
)


def cells(quick: bool) -> list[tuple[int, int, int, int]]:
    if not quick:
        return list(CELLS)
    return [(s, n, c, max(2, m // 2)) for s, n, c, m in CELLS]


def tls_client(data_dir: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(data_dir / "ca" / "root.crt"))
    ctx.check_hostname = False
    return ctx


def row(label: str, result: Result) -> str:
    errors = f" ({result.failed} failed: {result.replies})" if result.failed else ""
    return (f"{label}: {result.sent} msgs in {result.elapsed:.1f} s = {result.rate:.1f} msg/s, "
            f"time to 250 p50 {result.p50_ms:.1f} ms p99 {result.p99_ms:.1f} ms, "
            f"set-up (TLS + AUTH) p50 {result.setup_p50_ms:.0f} ms{errors}")


def _task_seconds(pid: int, tid: int) -> float:
    """A thread's time on a CPU so far, in nanoseconds from the scheduler (schedstat),
    not the 10 ms ticks of stat."""
    try:
        with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except OSError:  # the thread ended
        return 0.0


def _process_seconds(pid: int) -> float:
    try:
        return sum(_task_seconds(pid, int(t)) for t in os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0.0


def _children(pid: int) -> list[int]:
    found = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return found


def _postgres_seconds() -> float:
    """The CPU of every PostgreSQL server process on the machine (its backends serve
    Salus's connections; nothing else uses it during a run)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() != "postgres":
                        continue
            except OSError:
                continue
            total += _process_seconds(int(entry))
    return total


def cpu_seconds(pid: int, *, database: bool = False) -> dict[str, float]:
    """CPU seconds a server has used so far (Linux /proc): its main thread (the event
    loop), its other threads, its child processes with theirs (crypto workers and the
    forkserver), and with `database` the PostgreSQL server's processes."""
    split = {"loop": 0.0, "threads": 0.0, "workers": 0.0, "database": 0.0}
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return split
    for tid in tids:
        split["loop" if tid == pid else "threads"] += _task_seconds(pid, tid)
    pending = _children(pid)
    while pending:
        child = pending.pop()
        pending += _children(child)
        split["workers"] += _process_seconds(child)
    if database:
        split["database"] = _postgres_seconds()
    return split


@dataclass
class CpuWindow:
    """The CPU a server and this process (the load generator) use while the load
    generator's clock runs (`run(..., window=...)`, connection set-up excluded), the
    server's counted on until `server_done` (Salus: its queue delivered)."""

    pid: int
    database: bool = False
    start: dict[str, float] = field(default_factory=dict)
    end: dict[str, float] = field(default_factory=dict)

    def _now(self) -> dict[str, float]:
        return {**cpu_seconds(self.pid, database=self.database), "loadgen": time.process_time()}

    def __call__(self, starting: bool) -> None:
        if starting:
            self.start = self._now()
        else:
            self.end = self._now()

    def server_done(self) -> None:
        """Count the server's CPU up to now (the load generator's stays at its clock's end)."""
        self.end = {**self._now(), "loadgen": self.end.get("loadgen", time.process_time())}

    def per_message_ms(self, key: str, result: Result) -> float:
        if not result.sent:
            return float("nan")
        return 1000 * (self.end.get(key, 0.0) - self.start.get(key, 0.0)) / result.sent


DRAIN_SECONDS = 120.0  # at most this long for Salus to deliver what it accepted


async def drained(data_dir: Path) -> None:
    """Wait until Salus has no delivery pending (every accepted message stored)."""
    from sqlalchemy import func, select  # noqa: PLC0415

    from config.settings import load_settings  # noqa: PLC0415
    from mailserver.queue.models import PENDING, Delivery  # noqa: PLC0415
    from storage.database import Database  # noqa: PLC0415

    db = Database(load_settings(data_dir).database_url)
    query = select(func.count()).where(Delivery.status.in_(PENDING))
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            while True:
                async with db.read() as session:
                    if not await session.scalar(query):
                        return
                await asyncio.sleep(0.02)
    finally:
        await db.dispose()


async def compare(
    data_dir: Path, ports: dict[str, int], pids: dict[str, int], quick: bool, *, database: bool
) -> tuple[list[str], list[str]]:
    """The rate table, and where the CPU goes per message in each cell (`database`:
    count the PostgreSQL server's processes as Salus's)."""
    tls = tls_client(data_dir)
    lines = ["| size | sessions | msgs | sink msg/s | sink + protect msg/s | Salus msg/s | Salus/sink "
             "| (sink + protect)/sink | Salus/(sink + protect) | sink p50/p99 ms "
             "| sink + protect p50/p99 ms | Salus p50/p99 ms | set-up p50 ms sink/Salus |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    cpu = ["| size | sessions | loadgen (sink run) | sink | sink + protect | loadgen (Salus run) "
           "| Salus loop | Salus other threads | Salus crypto workers | PostgreSQL | Salus total "
           "| Salus may use at half the sink's rate |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    cores = os.cpu_count() or 1
    for size, sessions, connections, per in cells(quick):
        load = Load(sessions, connections, per, size, DOCTOR, (COLLEAGUE,))
        results, windows = {}, {}
        for name in ("sink", "protect", "salus"):
            target = Target("127.0.0.1", ports[name], tls, DOCTOR, PASSWORD)
            await run(target, Load(1, 1, 1, size, DOCTOR, (COLLEAGUE,)))  # warm-up
            if name == "salus":
                await drained(data_dir)  # the warm-up's delivery not in the window
            windows[name] = CpuWindow(pids[name], database=name == "salus" and database)
            results[name] = await run(target, load, windows[name])
            if name == "salus":
                await drained(data_dir)  # the last messages' deliveries in the window
                windows[name].server_done()
            print(row(f"{name:7} {size // KB:>5} KB x{sessions:>2}", results[name]), flush=True)
        sink, protect, salus = results["sink"], results["protect"], results["salus"]
        lines.append(
            f"| {size // KB} KB | {sessions} | {load.messages} | {sink.rate:.1f} | {protect.rate:.1f} "
            f"| {salus.rate:.1f} | {salus.rate / sink.rate:.2f} | {protect.rate / sink.rate:.2f} "
            f"| {salus.rate / protect.rate:.2f} | {sink.p50_ms:.1f} / {sink.p99_ms:.1f} "
            f"| {protect.p50_ms:.1f} / {protect.p99_ms:.1f} | {salus.p50_ms:.1f} / {salus.p99_ms:.1f} "
            f"| {sink.setup_p50_ms:.0f} / {salus.setup_p50_ms:.0f} |"
        )
        sink_ms, protect_ms = (
            sum(windows[name].per_message_ms(k, results[name]) for k in ("loop", "threads", "workers"))
            for name in ("sink", "protect")
        )
        parts = [windows["salus"].per_message_ms(k, salus)
                 for k in ("loop", "threads", "workers", "database")]
        protect_workers = windows["protect"].per_message_ms("workers", protect)
        cpu.append(
            f"| {size // KB} KB | {sessions} | {windows['sink'].per_message_ms('loadgen', sink):.2f} "
            f"| {sink_ms:.2f} | {protect_ms:.2f} (workers {protect_workers:.2f}) | {windows['salus'].per_message_ms('loadgen', salus):.2f} "
            + "".join(f"| {part:.2f} " for part in parts) + f"| {sum(parts):.2f} "
            f"| {_budget_ms(cores, sink.rate, windows['salus'].per_message_ms('loadgen', salus)):.2f} |"
        )
    return lines, cpu


def _budget_ms(cores: int, sink_rate: float, loadgen_ms: float) -> float:
    """The CPU one message may cost Salus, all processes together, for Salus to run at
    half the sink's rate on these cores, which the load generator shares (a bound: no
    core ever idles at it)."""
    return 1000 * cores / (sink_rate / 2) - loadgen_ms if sink_rate else float("nan")


def signature_ms(count: int = 200) -> str:
    """What the one private-key operation every message needs costs here: an RSA-3072
    PKCS#1 v1.5 SHA-256 signature (the mailbox keys' size, crypto.policy), best of runs."""
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: PLC0415

    from crypto import policy  # noqa: PLC0415

    key = rsa.generate_private_key(65537, policy.MAILBOX_RSA_BITS)
    digest = b"x" * 32
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(count // 5):
            key.sign(digest, padding.PKCS1v15(), hashes.SHA256())
        best = min(best, (time.process_time() - started) / (count // 5))
    return f"RSA-{policy.MAILBOX_RSA_BITS} signature (cryptography, one core): {1000 * best:.2f} ms"


PACED = (20, 10, 1.0)  # sessions, messages each, seconds between a session's messages


async def compare_paced(data_dir: Path, salus_port: int, sink_port: int, quick: bool) -> list[str]:
    """Time to 250 at a rate both servers can take: 20 sessions each sending a 10 KB
    message every second (20 msg/s offered), back-to-back sessions measuring throughput
    instead (the closed loop makes time to 250 = sessions / rate)."""
    sessions, each, pace = PACED
    each = each // 2 if quick else each
    tls = tls_client(data_dir)
    lines = ["| paced load | msgs | sink p50/p99 ms | Salus p50/p99 ms |", "|---|---|---|---|"]
    results = {}
    for name, port in (("sink", sink_port), ("salus", salus_port)):
        target = Target("127.0.0.1", port, tls, DOCTOR, PASSWORD)
        load = Load(sessions, 1, each, 10 * KB, DOCTOR, (COLLEAGUE,), pace=pace)
        results[name] = await run(target, load)
        print(row(f"{name:5} paced x{sessions}", results[name]), flush=True)
    sink, salus = results["sink"], results["salus"]
    lines.append(
        f"| {sessions} sessions x 1 msg/s, 10 KB | {salus.sent} | {sink.p50_ms:.1f} / {sink.p99_ms:.1f} "
        f"| {salus.p50_ms:.1f} / {salus.p99_ms:.1f} |"
    )
    return lines


def document_mails(size: int = 200 * KB) -> tuple[bytes, bytes]:
    """(a mail carrying a ~200 KB CDA R2 document, a plain mail of the same size), from
    doctor.1 to doctor.2; the CDA names a recipient the directory does not know, which
    the default consistency mode ("warn") records and lets through."""
    import email.policy  # noqa: PLC0415

    from bench.documents import big_cda  # noqa: PLC0415
    from tests.unit.documents.builders import mail  # noqa: PLC0415

    document = big_cda(size)
    line = "Compte rendu de consultation, texte libre, sans document structure.\n"
    plain = mail(body=line * (len(document) // len(line)), sender=DOCTOR, to=COLLEAGUE)
    with_cda = mail((document, "text/xml", "compte-rendu.xml"), sender=DOCTOR, to=COLLEAGUE)
    return (with_cda.as_bytes(policy=email.policy.SMTP), plain.as_bytes(policy=email.policy.SMTP))


async def compare_documents(data_dir: Path, salus_port: int, quick: bool) -> list[str]:
    """Salus against itself: the same session load with a CDA attachment (recognised,
    validated, routed, packaged into IHE_XDM.ZIP, then signed and encrypted) and with a
    plain message of the same size."""
    with_cda, plain = document_mails()
    cells = ((1, 1, 10 if quick else 20), (20, 1, 3 if quick else 5))
    target = Target("127.0.0.1", salus_port, tls_client(data_dir), DOCTOR, PASSWORD)
    lines = ["| message | sessions | msgs | Salus msg/s | p50/p99 ms | CDA/plain |", "|---|---|---|---|---|---|"]
    for count, conns, each in cells:
        results = {}
        for name, body in (("plain", plain), ("CDA", with_cda)):
            load = Load(count, conns, each, len(body), DOCTOR, (COLLEAGUE,), body)
            await run(target, Load(1, 1, 1, len(body), DOCTOR, (COLLEAGUE,), body))  # warm-up
            results[name] = await run(target, load)
            print(row(f"{name:5} {len(body) // KB:>5} KB x{count:>2}", results[name]), flush=True)
        for name, result in results.items():
            ratio = f"{result.rate / results['plain'].rate:.2f}" if name == "CDA" else ""
            lines.append(f"| {name} {len(plain if name == 'plain' else with_cda) // KB} KB | {count} "
                         f"| {result.sent} | {result.rate:.1f} | {result.p50_ms:.1f} / {result.p99_ms:.1f} | {ratio} |")
    return lines


def fsync_floor(directory: Path, count: int = 50) -> str:
    """What one durable commit costs at least here: an fsync of a 4 KB write."""
    path = directory / "fsync.probe"
    times = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for _ in range(count):
            os.write(fd, b"x" * 4096)
            started = time.perf_counter()
            os.fsync(fd)
            times.append(time.perf_counter() - started)
    finally:
        os.close(fd)
        path.unlink()
    times.sort()
    return f"fsync of 4 KB in the data dir: p50 {1000 * times[count // 2]:.1f} ms, p90 {1000 * times[count * 9 // 10]:.1f} ms"


def postfix_scale(data_dir: Path, quick: bool) -> list[str]:
    source, smtp_sink = shutil.which("smtp-source") or "/usr/sbin/smtp-source", "/usr/sbin/smtp-sink"
    if not (Path(source).exists() and Path(smtp_sink).exists()):
        return ["(Postfix's smtp-source/smtp-sink not installed: `apt-get install postfix`)"]
    count = 2000 if quick else 10000
    lines = ["| server | smtp-source -d -s 20 -m N -l 10240 | msg/s |", "|---|---|---|"]
    pf_port, plain_port = free_port(), free_port()
    as_root = ["-u", "nobody"] if os.geteuid() == 0 else []
    pf = subprocess.Popen([smtp_sink, *as_root, "-c", f"127.0.0.1:{pf_port}", "1000"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    plain = start_sink(data_dir, plain_port, plain=True)
    try:
        wait_ready(plain_port, plain)
        time.sleep(0.5)
        for name, port in (("Postfix smtp-sink", pf_port), ("bare aiosmtpd sink (plaintext)", plain_port)):
            started = time.perf_counter()
            subprocess.run([source, "-d", "-s", "20", "-m", str(count), "-l", "10240", "-f", DOCTOR,
                            "-t", COLLEAGUE, f"127.0.0.1:{port}"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            elapsed = time.perf_counter() - started
            print(f"{name}: {count} msgs in {elapsed:.1f} s = {count / elapsed:.0f} msg/s", flush=True)
            lines.append(f"| {name} | N = {count} | {count / elapsed:.0f} |")
    finally:
        pf.terminate()
        stop(plain)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "sink"])
    parser.add_argument("--quick", action="store_true", help="Half the messages per cell.")
    parser.add_argument("--database-url", help="Run Salus on this database (default SQLite).")
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--protect", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode == "sink":
        serve_sink(args.data_dir, args.port, args.plain, args.protect)
        return
    with tempfile.TemporaryDirectory(prefix="salus-bench-") as tmp:
        data_dir = Path(tmp) / "op"
        init(data_dir, args.database_url)
        asyncio.run(seed(data_dir))
        issue_keys(data_dir)
        salus_port, sink_port, protect_port = free_port(), free_port(), free_port()
        salus, sink = start_salus(data_dir, salus_port), start_sink(data_dir, sink_port)
        protecting = start_sink(data_dir, protect_port, protect=True)
        try:
            wait_ready(salus_port, salus)
            wait_ready(sink_port, sink)
            wait_ready(protect_port, protecting)
            ports = {"salus": salus_port, "sink": sink_port, "protect": protect_port}
            pids = {"salus": salus.pid, "sink": sink.pid, "protect": protecting.pid}
            table, cpu = asyncio.run(
                compare(data_dir, ports, pids, args.quick, database=bool(args.database_url))
            )
            paced = asyncio.run(compare_paced(data_dir, salus_port, sink_port, args.quick))
            documents = asyncio.run(compare_documents(data_dir, salus_port, args.quick))
        finally:
            stop(salus)
            stop(sink)
            stop(protecting)
        scale = postfix_scale(data_dir, args.quick)
        floor = fsync_floor(data_dir)
        signature = signature_ms()
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"\nSubmission, Salus on {backend} ({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}):")
    print("\n".join(table))
    print("\nCPU per message (ms, from /proc, while the load generator's clock runs and, for "
          "Salus, until its queue is delivered; PostgreSQL's processes counted as Salus's):")
    print("\n".join(cpu))
    print("\nTime to 250 at an offered rate below saturation:")
    print("\n".join(paced))
    print("\nA 200 KB CDA attachment against a plain message of the same size (Salus both):")
    print("\n".join(documents))
    print(f"\nThe floor of a durable commit: {floor}")
    print(f"The floor of a signature: {signature}")
    print("\nFor scale (plaintext, no AUTH):")
    print("\n".join(scale))
    print(f"\ncommand: .venv/bin/python -m bench.submission {' '.join(sys.argv[1:])}".rstrip())


if __name__ == "__main__":
    main()
