"""Relay: messages/s from a doctor at operator A to a doctor at operator B over mutual
TLS, against the same load delivered locally at A, in one run (issue 6, DESIGN 10).

Two `salus serve` processes, each on its own `salus init` data dir (own CA, own SQLite),
trusting each other with `salus trust add`. The same load generator submits the same
plain ~10 KB letters from doctor.1@a.test over STARTTLS + AUTH at A's submission port;
A's pipeline signs each with the sender's key and encrypts it for the recipient
(S/MIME AES-256-CBC, the recipients' default form), in its crypto pool:

- local:  to doctor.2@a.test; done when A has stored them all in the INBOX;
- remote: to doctor.2@b.test; A encrypts for the certificate B's lookup publishes
  (looked up once, cached), relays each message over mutual TLS to B's MX, which
  decrypts and verifies it for the recipient and queues it; done when B has stored them.

The ratio remote/local is the cost of crossing operators. With `--protect client` the
letters arrive already signed and encrypted (as from a client with S/MIME): the pipeline
checks and passes them through, which isolates the crossing from A's protect step. Run:

    .venv/bin/python -m bench.relay [--messages N] [--sessions S] [--protect server|client]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select

from bench.loadgen import Connection, Load, SmtpError, Target
from config.settings import load_settings
from crypto import keystore, smime
from crypto.ca import export_chain
from crypto.sealing import KeySealer
from mailserver.queue.models import Delivery
from storage.database import Database
from tests.integration.trust.operators import PASSWORD, _make_template, doctor

SALUS = Path(sys.executable).parent / "salus"
LISTENERS = ("SMTP__SUBMISSION", "SMTP__SUBMISSIONS", "SMTP__MX", "IMAP__LISTEN",
             "IMAP__LISTEN_TLS", "HTTP__LISTEN", "LOOKUP__LISTEN")  # fmt: skip
SENDER = doctor(1, "a.test")
# ~10 KB of text in lines of 76 characters.
BODY = "\r\n".join(["Synthetic consultation letter, no patient data, for the benchmark."] * 150)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    data_dir: Path
    ports: dict[str, int]
    process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {**os.environ, "SALUS_LOGGING__LEVEL": "warning"}
        env |= {f"SALUS_{name}": f"127.0.0.1:{port}" for name, port in self.ports.items()}
        return env

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(SALUS), "serve", "--data-dir", str(self.data_dir)],
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.ports["LOOKUP__LISTEN"]), 1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"salus serve for {self.data_dir} did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)


def trust(node: Node, peer: Node, domain: str) -> None:
    chain = node.data_dir.parent / f"{domain}.chain.pem"
    chain.write_bytes(export_chain(peer.data_dir))
    subprocess.run(
        [
            str(SALUS),
            "trust",
            "add",
            domain,
            "--ca",
            str(chain),
            "--relay",
            f"127.0.0.1:{peer.ports['SMTP__MX']}",
            "--lookup",
            f"127.0.0.1:{peer.ports['LOOKUP__LISTEN']}",
            "--data-dir",
            str(node.data_dir),
        ],
        check=True,
        capture_output=True,
    )


def letter(recipient: str) -> tuple[bytes, bytes]:
    """(outer header, body entity) of a plain letter; each copy gets its Message-ID."""
    head = f"From: Dr Alex1 Martin1 <{SENDER}>\r\nTo: <{recipient}>\r\nSubject: Letter\r\n"
    entity = f"Content-Type: text/plain; charset=utf-8\r\n\r\n{BODY}\r\n"
    return head.encode(), entity.encode()


async def protected(a_dir: Path, recipient_dir: Path, recipient: str) -> tuple[bytes, bytes]:
    """The letter as a client that protects its own mail sends it (`--protect client`):
    signed by the sender, encrypted for `recipient`; the pipeline checks and passes it."""
    head, inner = letter(recipient)
    a_db = Database(load_settings(a_dir).database_url)
    r_db = Database(load_settings(recipient_dir).database_url)
    try:
        async with a_db.read() as session:
            pair = await keystore.signer(session, KeySealer.from_data_dir(a_dir), a_dir, SENDER)
        async with r_db.read() as session:
            cert = await keystore.recipient_cert(session, recipient)
    finally:
        await a_db.dispose()
        await r_db.dispose()
    return head, smime.sign_and_encrypt(inner, pair.key_pem, pair.chain_pem, [cert], "smime")


async def submit(target: Target, load: Load, head: bytes, entity: bytes) -> tuple[int, list[float]]:
    """Send `load.messages` copies, each with its own Message-ID; (sent, latencies)."""
    sent, latencies = 0, []

    async def session() -> None:
        nonlocal sent
        conn = await Connection.open(target)
        for _ in range(load.per_connection):
            message_id = f"Message-ID: <{secrets.token_hex(10)}@a.test>\r\n"
            body = head + message_id.encode() + b"MIME-Version: 1.0\r\n" + entity
            started = time.perf_counter()
            await conn.send(load, body)
            latencies.append(time.perf_counter() - started)
            sent += 1
        await conn.close()

    await asyncio.gather(*(session() for _ in range(load.sessions)))
    return sent, latencies


async def delivered(data_dir: Path, recipient: str) -> int:
    db = Database(load_settings(data_dir).database_url)
    try:
        async with db.read() as session:
            count = await session.scalar(
                select(func.count()).where(
                    Delivery.recipient == recipient, Delivery.status == "delivered"
                )
            )
    finally:
        await db.dispose()
    return int(count or 0)


async def measure(
    a: Node, store_dir: Path, recipient: str, entity: tuple[bytes, bytes], load: Load
) -> dict[str, float]:
    context = ssl.create_default_context(cadata=export_chain(a.data_dir).decode("ascii"))
    context.check_hostname = False
    target = Target("127.0.0.1", a.ports["SMTP__SUBMISSION"], context, SENDER, PASSWORD)
    before = await delivered(store_dir, recipient)
    started = time.perf_counter()
    sent, latencies = await submit(target, load, *entity)
    accepted = time.perf_counter() - started
    while await delivered(store_dir, recipient) < before + sent:
        if time.perf_counter() - started > 600:
            raise RuntimeError("messages not delivered within 10 minutes")
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "messages": sent,
        "rate": sent / elapsed,
        "accepted_rate": sent / accepted,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
    }


def operators() -> tuple[Node, Node]:
    """Two fresh operators a.test and b.test that trust each other (not started)."""
    root = Path(tempfile.mkdtemp(prefix="salus-bench-relay-"))
    print(f"making two operators in {root} (salus init, directory, keys)...", flush=True)
    with ThreadPoolExecutor(2) as pool:
        a_dir, b_dir = pool.map(lambda d: _make_template(root, d), ("a.test", "b.test"))
    a = Node(a_dir, {name: free_port() for name in LISTENERS})
    b = Node(b_dir, {name: free_port() for name in LISTENERS})
    trust(a, b, "b.test")
    trust(b, a, "a.test")
    return a, b


def report(results: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    reference = results["local (A -> A)"]["rate"]
    print(
        f"\n{'path':30} {'msgs':>5} {'delivered/s':>12} {'accepted/s':>11} "
        f"{'p50 250':>9} {'p99 250':>9} {'ratio':>6}"
    )
    for name, r in results.items():
        print(
            f"{name:30} {int(r['messages']):5d} {r['rate']:12.1f} {r['accepted_rate']:11.1f} "
            f"{r['p50_ms']:7.1f}ms {r['p99_ms']:7.1f}ms {r['rate'] / reference:6.2f}"
        )
    print(
        f"\ncommand: .venv/bin/python -m bench.relay --messages {args.messages}"
        f" --sessions {args.sessions} --protect {args.protect}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument(
        "--protect",
        choices=("server", "client"),
        default="server",
        help="who signs and encrypts: A's pipeline (plain letters), or the client",
    )
    args = parser.parse_args()
    per = max(1, args.messages // args.sessions)
    a, b = operators()
    local_to, remote_to = doctor(2, "a.test"), doctor(2, "b.test")
    if args.protect == "client":
        local = asyncio.run(protected(a.data_dir, a.data_dir, local_to))
        remote = asyncio.run(protected(a.data_dir, b.data_dir, remote_to))
    else:
        local, remote = letter(local_to), letter(remote_to)
    runs = {  # name: (where it is stored, recipient, message, sessions, per session)
        "warm-up": (b.data_dir, remote_to, remote, 1, 2),
        "local (A -> A)": (a.data_dir, local_to, local, args.sessions, per),
        "remote (A -> B, mutual TLS)": (b.data_dir, remote_to, remote, args.sessions, per),
    }
    a.start()
    b.start()
    try:
        results = {}
        for name, (store, to, entity, sessions, each) in runs.items():
            load = Load(sessions, 1, each, len(entity[1]), SENDER, (to,))
            results[name] = asyncio.run(measure(a, store, to, entity, load))
    except SmtpError as exc:
        raise SystemExit(f"the load was refused: {exc.reply}") from exc
    finally:
        a.stop()
        b.stop()
    del results["warm-up"]
    report(results, args)


if __name__ == "__main__":
    main()
