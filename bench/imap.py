"""IMAP: Salus against Dovecot, same messages, same client, same TLS, same password hash,
in one run (DESIGN section 10).

Salus is `salus serve` on a fresh `salus init` data dir (SQLite, `synchronous=FULL`,
every body sealed at rest, every body fetch audited). Dovecot is Debian's dovecot-imapd
2.3, started here on a loopback port with a throwaway configuration: Maildir, the same
certificate and key as Salus, and a passwd-file holding the very argon2id hash Salus
keeps for the user (libsodium verifies it), so a login costs both the same.

Both are driven by the small asyncio IMAP client below over implicit TLS:

- APPEND: 10 KB messages with LITERAL+ (both advertise it), 4 connections;
- FETCH BODY[]: one message per command, 4 connections; and FETCH 1:* BODY[] on one;
- SEARCH: a header key (FROM), a flag key (UNSEEN) and a body key (BODY), 4 connections;
- mixed sessions: log in, SELECT, FETCH 1:* (FLAGS), the headers of the last 20, three
  bodies, STORE \\Seen, APPEND a copy to Sent, LOGOUT; 8 at a time;
- memory: the resident size of the server (Salus: its one process; Dovecot: the
  proportional set size of all its processes) with 1,000 idle authenticated connections.

Set-up (not needed by CI): `apt-get install dovecot-imapd`. Run:

    .venv/bin/python -m bench.imap [--quick] [--messages N] [--idle N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pwd
import random
import re
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SALUS = Path(sys.executable).parent / "salus"
USER, PASSWORD = "bench@salus.test", "correct horse battery staple"
KB = 1024
WORDS = ("potassium", "troponine", "glycemie", "creatinine", "hemoglobine", "ferritine",
         "bilan", "controle", "resultat", "patient", "dossier", "consultation")
_LITERAL = re.compile(rb"\{(\d+)\}\r\n$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def message(n: int, size: int = 10 * KB) -> bytes:
    rng = random.Random(n)
    head = (
        f"From: Sender {n % 50} <sender-{n % 50}@labo.test>\r\n"
        f"To: {USER}\r\n"
        f"Subject: Resultat {n} {rng.choice(WORDS)}\r\n"
        f"Date: Mon, 4 Mar 2024 10:{n % 60:02d}:00 +0100\r\n"
        f"Message-ID: <bench-{n}@labo.test>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    ).encode()
    body = bytearray()
    while len(head) + len(body) < size - 80:
        body += (" ".join(rng.choice(WORDS) for _ in range(10)) + "\r\n").encode()
    if n % 97 == 0:
        body += b"marqueur-rare\r\n"
    return head + bytes(body)


# ---- a minimal IMAP client ---------------------------------------------------------
class Client:
    """Just enough IMAP to drive both servers the same way."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.n = reader, writer, 0

    @classmethod
    async def connect(cls, port: int, tls: ssl.SSLContext) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls, limit=1 << 22)
        client = cls(reader, writer)
        await reader.readline()
        return client

    async def command(self, text: bytes, literal: bytes | None = None) -> list[bytes]:
        self.n += 1
        tag = b"c%d" % self.n
        data = tag + b" " + text
        if literal is not None:
            data += b" {%d+}\r\n" % len(literal) + literal  # LITERAL+ (RFC 7888)
        self.writer.write(data + b"\r\n")
        lines = []
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionError("server closed the connection")
            while (found := _LITERAL.search(line)) is not None:
                line += await self.reader.readexactly(int(found.group(1)))
                line += await self.reader.readline()
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(f"{text[:40]!r} -> {line!r}")
                return lines
            lines.append(line)

    async def login(self) -> None:
        await self.command(b'LOGIN %s "%s"' % (USER.encode(), PASSWORD.encode()))

    async def close(self) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.command(b"LOGOUT")
        self.writer.close()


# ---- servers -----------------------------------------------------------------------
@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    memory: Callable[[], int]


def raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * KB
    return 0


def pss_of_tree(root: int) -> int:
    """Proportional set size of `root` and all its descendants (shared pages split)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * KB
        except OSError:
            continue
    return total


def wait_ready(port: int, process: subprocess.Popen[bytes], tls: ssl.SSLContext) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited")
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=2) as s,
                tls.wrap_socket(s) as t,
            ):
                if t.recv(100).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} not ready")


def start_salus(work: Path, idle: int) -> tuple[Server, Path, Path, str]:
    data = work / "salus"
    subprocess.run([str(SALUS), "init", "--data-dir", str(data), "--domain", "salus.test"],
                   check=True, capture_output=True)
    subprocess.run([str(SALUS), "directory", "org", "add", "--id", "1990000001", "--name",
                    "Bench Hospital", "--data-dir", str(data)], check=True, capture_output=True)
    subprocess.run([str(SALUS), "directory", "mailbox", "add", USER, "--kind", "organizational",
                    "--org", "1990000001", "--password-stdin", "--data-dir", str(data)],
                   input=PASSWORD.encode(), check=True, capture_output=True)
    port = free_port()
    env = {**os.environ, "SALUS_IMAP__LISTEN_TLS": f"127.0.0.1:{port}",
           "SALUS_IMAP__MAX_CONNECTIONS_PER_CLIENT": str(idle + 100),
           "SALUS_LOGGING__LEVEL": "warning"}
    env |= {f"SALUS_{n}": f"127.0.0.1:{free_port()}" for n in (
        "SMTP__SUBMISSION", "SMTP__SUBMISSIONS", "SMTP__MX", "IMAP__LISTEN", "HTTP__LISTEN",
        "LOOKUP__LISTEN")}
    process = subprocess.Popen([str(SALUS), "serve", "--data-dir", str(data)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cert, key = _plain_key_copy(data, work)
    return Server("salus", port, process, lambda: rss(process.pid)), cert, key, _user_hash(data)


def _plain_key_copy(data: Path, work: Path) -> tuple[Path, Path]:
    """The certificate and key `salus init` made (key decrypted for Dovecot)."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    from config.settings import load_settings  # noqa: PLC0415
    from mailserver.app import tls_material  # noqa: PLC0415

    material = tls_material(load_settings(data))
    key = serialization.load_pem_private_key(material.key_file.read_bytes(), material.key_password)
    plain = work / "server.key"
    plain.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
    plain.chmod(0o600)
    return material.cert_file, plain


def _user_hash(data: Path) -> str:
    import sqlite3  # noqa: PLC0415

    with sqlite3.connect(data / "salus.db") as conn:
        (secret_hash,) = conn.execute(
            "SELECT secret_hash FROM credentials JOIN mailboxes ON mailboxes.id = mailbox_id "
            "WHERE address = ?", (USER,)).fetchone()
    return str(secret_hash)


DOVECOT_CONF = """\
base_dir = {work}/run
state_dir = {work}/state
instance_name = salus-bench-{port}
listen = 127.0.0.1
protocols = imap
log_path = {work}/dovecot.log
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
mail_location = maildir:{work}/mail/%u
first_valid_uid = {uid}
protocol imap {{
  mail_max_userip_connections = {clients}
}}
passdb {{
  driver = passwd-file
  args = scheme=ARGON2ID {work}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={work}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
  service_count = 0
  client_limit = {clients}
  process_min_avail = 2
}}
service imap {{
  process_limit = {clients}
}}
default_process_limit = {clients}
default_client_limit = {clients}
default_vsz_limit = 0
"""


def start_dovecot(work: Path, cert: Path, key: Path, secret_hash: str, idle: int) -> Server:
    if shutil.which("dovecot") is None and not Path("/usr/sbin/dovecot").exists():
        raise SystemExit("dovecot is not installed: apt-get install dovecot-imapd")
    owner = pwd.getpwnam("dovecot")
    home = work / "dovecot"
    for sub in ("run", "state", "mail", "home"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    for sub in ("mail", "home"):
        os.chown(home / sub, owner.pw_uid, owner.pw_gid)
    (home / "passwd").write_text(f"{USER}:{{ARGON2ID}}{secret_hash}\n")
    port = free_port()
    conf = home / "dovecot.conf"
    conf.write_text(DOVECOT_CONF.format(work=home, cert=cert, key=key, port=port,
                                        uid=owner.pw_uid, gid=owner.pw_gid, clients=idle + 200))
    process = subprocess.Popen(["/usr/sbin/dovecot", "-F", "-c", str(conf)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return Server("dovecot", port, process, lambda: pss_of_tree(process.pid))


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


# ---- workloads ---------------------------------------------------------------------
async def timed(jobs: list[Callable[[], Awaitable[int]]]) -> tuple[int, float]:
    """Run the jobs concurrently; (units of work done, seconds)."""
    start = time.perf_counter()
    done = await asyncio.gather(*(job() for job in jobs))
    return sum(done), time.perf_counter() - start


def shares(total: int, parts: int) -> list[range]:
    step = -(-total // parts)
    return [range(i, min(i + step, total)) for i in range(0, total, step)]


async def append(port: int, tls: ssl.SSLContext, count: int) -> float:
    async def job(part: range) -> int:
        client = await Client.connect(port, tls)
        await client.login()
        for n in part:
            await client.command(b"APPEND INBOX", message(n))
        await client.close()
        return len(part)

    done, elapsed = await timed([lambda p=p: job(p) for p in shares(count, 4)])
    return done / elapsed


async def fetch_each(port: int, tls: ssl.SSLContext, count: int) -> float:
    async def job(part: range) -> int:
        client = await Client.connect(port, tls)
        await client.login()
        await client.command(b"SELECT INBOX")
        for n in part:
            lines = await client.command(b"FETCH %d BODY[]" % (n + 1))
            assert b"BODY[] {" in lines[0], lines[:1]
        await client.close()
        return len(part)

    done, elapsed = await timed([lambda p=p: job(p) for p in shares(count, 4)])
    return done / elapsed


async def fetch_all(port: int, tls: ssl.SSLContext, count: int) -> float:
    client = await Client.connect(port, tls)
    await client.login()
    await client.command(b"EXAMINE INBOX")
    start = time.perf_counter()
    lines = await client.command(b"FETCH 1:* BODY[]")
    elapsed = time.perf_counter() - start
    assert len(lines) == count, len(lines)
    await client.close()
    return count / elapsed


async def search(port: int, tls: ssl.SSLContext, key: bytes, rounds: int) -> float:
    async def job(_: int) -> int:
        client = await Client.connect(port, tls)
        await client.login()
        await client.command(b"EXAMINE INBOX")
        for _ in range(rounds):
            lines = await client.command(b"SEARCH " + key)
            assert lines and lines[0].startswith(b"* SEARCH"), lines
        await client.close()
        return rounds

    done, elapsed = await timed([lambda i=i: job(i) for i in range(4)])
    return done / elapsed


async def mixed(port: int, tls: ssl.SSLContext, sessions: int, count: int) -> float:
    async def one(n: int) -> None:
        client = await Client.connect(port, tls)
        await client.login()
        await client.command(b"SELECT INBOX")
        await client.command(b"UID FETCH 1:* (FLAGS)")
        await client.command(
            b"FETCH %d:* (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)])"
            % max(1, count - 19))
        for seq in (1 + n % count, 1 + (n * 7) % count, count):
            await client.command(b"FETCH %d BODY[]" % seq)
        await client.command(b"STORE %d +FLAGS (\\Seen)" % (1 + n % count))
        await client.command(b"APPEND Sent (\\Seen)", message(100_000 + n))
        await client.close()

    async def job(part: range) -> int:
        for n in part:
            await one(n)
        return len(part)

    done, elapsed = await timed([lambda p=p: job(p) for p in shares(sessions, 8)])
    return done / elapsed


async def idle_memory(server: Server, tls: ssl.SSLContext, connections: int) -> tuple[int, int]:
    """(resident bytes before, after) `connections` authenticated idle connections."""
    before = server.memory()
    clients: list[Client] = []
    gate = asyncio.Semaphore(16)

    async def open_one() -> None:
        async with gate:
            client = await Client.connect(server.port, tls)
            await client.login()
            clients.append(client)

    await asyncio.gather(*(open_one() for _ in range(connections)))
    await asyncio.sleep(2)
    after = server.memory()
    await asyncio.gather(*(c.close() for c in clients))
    return before, after


async def prepare_sent(port: int, tls: ssl.SSLContext) -> None:
    client = await Client.connect(port, tls)
    await client.login()
    listing = await client.command(b'LIST "" Sent')
    if not listing:
        await client.command(b"CREATE Sent")  # Dovecot makes no folder by itself
    await client.close()


# ---- the run -----------------------------------------------------------------------
Step = tuple[str, Callable[[Server, ssl.SSLContext, int], Awaitable[float]]]


def steps(count: int) -> list[Step]:
    """The workloads, in order (APPEND fills the mailbox the others read)."""
    return [
        ("APPEND 10 KB (LITERAL+), msg/s", lambda s, t, c: append(s.port, t, c)),
        ("FETCH n BODY[] (unread: sets \\Seen), msg/s", lambda s, t, c: fetch_each(s.port, t, c)),
        ("FETCH n BODY[] (read again), msg/s", lambda s, t, c: fetch_each(s.port, t, c)),
        ("FETCH 1:* BODY[], msg/s", lambda s, t, c: fetch_all(s.port, t, c)),
        ("SEARCH FROM (header), searches/s", lambda s, t, c: search(s.port, t, b"FROM sender-7", 10)),
        ("SEARCH UNSEEN (flags), searches/s", lambda s, t, c: search(s.port, t, b"UNSEEN", 20)),
        ("SEARCH BODY (text), searches/s", lambda s, t, c: search(s.port, t, b"BODY marqueur-rare", 3)),
        ("mixed session, sessions/s", lambda s, t, c: mixed(s.port, t, 40, c)),
    ]


async def measure(
    servers: list[Server], tls: ssl.SSLContext, count: int, idle: int
) -> dict[str, dict[str, float]]:
    """Each workload on each server in turn, so that both see the same machine load."""
    out: dict[str, dict[str, float]] = {s.name: {} for s in servers}
    for server in servers:
        await prepare_sent(server.port, tls)
    for label, step in steps(count):
        for server in servers:
            out[server.name][label] = value = await step(server, tls, count)
            print(f"   {server.name:8} {label}: {value:.1f}", flush=True)
    for server in servers:
        before, after = await idle_memory(server, tls, idle)
        out[server.name][f"memory before {idle} idle connections, MB"] = before / KB / KB
        out[server.name][f"memory with {idle} idle connections, MB"] = after / KB / KB
        out[server.name]["memory per idle connection, KB"] = (after - before) / idle / KB
        print(f"   {server.name:8} memory per idle connection: {(after - before) / idle / KB:.1f} KB")
    return out


def report(results: dict[str, dict[str, float]]) -> list[str]:
    lines = ["| measure | Dovecot | Salus | Salus/Dovecot |", "|---|---|---|---|"]
    for label, salus in results["salus"].items():
        dovecot = results["dovecot"][label]
        ratio = salus / dovecot if dovecot else float("nan")
        lines.append(f"| {label} | {dovecot:.1f} | {salus:.1f} | {ratio:.2f} |")
    return lines


async def main(count: int, idle: int) -> None:
    raise_fd_limit(4 * idle + 1000)
    with tempfile.TemporaryDirectory(prefix="salus-bench-imap-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        salus, cert, key, secret_hash = start_salus(work, idle)
        dovecot = start_dovecot(work, cert, key, secret_hash, idle)
        tls = ssl.create_default_context(cafile=str(work / "salus" / "ca" / "root.crt"))
        tls.check_hostname = False
        try:
            for server in (dovecot, salus):
                wait_ready(server.port, server.process, tls)
            results = await measure([dovecot, salus], tls, count, idle)
        finally:
            stop(salus.process)
            stop(dovecot.process)
    print()
    print("\n".join(report(results)))
    print(f"\ncommand: .venv/bin/python -m bench.imap --messages {count} --idle {idle}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="200 messages, 100 idle")
    args = parser.parse_args()
    if args.quick:
        args.messages, args.idle = 200, 100
    asyncio.run(main(args.messages, args.idle))
