"""`salus queue` and `salus trace` on a real data directory, through the installed
command line."""

from __future__ import annotations

import json
from pathlib import Path

from config.settings import load_settings
from gateway.pipeline import Copy
from mailserver.queue.enqueue import Submission, enqueue
from mailserver.queue.ids import new_queue_id
from mailserver.queue.models import Origin
from storage.database import Database
from tests.integration.ops.operator import cipher, run_salus


async def queued_message(data_dir: Path, *, held: str = "") -> str:
    settings = load_settings(data_dir)
    db = Database(settings.database_url)
    queue_id = new_queue_id()
    try:
        async with db.write() as session:
            await enqueue(
                session,
                cipher(data_dir),
                Submission(
                    queue_id=queue_id,
                    message_id="abc.123@client.salus.test",
                    sender="doctor.1@salus.test",
                    origin=Origin.SUBMISSION,
                    copies=[Copy(b"Subject: x\r\n\r\nbody\r\n",
                                 ("doctor.2@salus.test", "doctor.3@salus.test"))],
                    submitter="doctor.1@salus.test",
                    client="127.0.0.1",
                    held=held,
                ),
            )
    finally:
        await db.dispose()
    return queue_id


async def test_queue_list_show_trace_retry_delete(tmp_path: Path) -> None:
    data_dir = tmp_path / "op"
    code, _, err = await run_salus("init", "--data-dir", str(data_dir), "--domain", "salus.test")
    assert code == 0, err
    dd = ("--data-dir", str(data_dir))
    code, out, _ = await run_salus("queue", "list", *dd)
    assert (code, out.strip()) == (0, "the queue is empty")
    queue_id = await queued_message(data_dir)

    code, out, _ = await run_salus("queue", "list", "--json", *dd)
    listed = json.loads(out)
    assert [m["queue_id"] for m in listed] == [queue_id]
    assert [r["status"] for r in listed[0]["recipients"]] == ["queued", "queued"]

    for ident in ("abc.123@client.salus.test", "<abc.123@client.salus.test>"):
        code, out, err = await run_salus("trace", ident, *dd)
        assert code == 0, err
        assert queue_id in out and "<doctor.2@salus.test>  queued" in out

    code, out, _ = await run_salus("queue", "retry", queue_id, *dd)
    assert code == 0 and "2 recipient(s)" in out
    code, out, _ = await run_salus("queue", "delete", queue_id, *dd)
    assert code == 0 and "2 pending recipient(s) deleted" in out
    code, out, _ = await run_salus("queue", "show", queue_id, "--json", *dd)
    shown = json.loads(out)
    assert [r["status"] for r in shown["recipients"]] == ["bounced", "bounced"]
    assert [e["event"] for e in shown["recipients"][0]["history"]] == ["retry", "bounced"]
    code, out, err = await run_salus("trace", "nothing@here", *dd)
    assert code == 1 and "no message with queue id or Message-ID nothing@here" in err
    code, out, _ = await run_salus("audit", "export", *dd)
    actions = [json.loads(line)["action"] for line in out.splitlines()]
    assert "queue.retry" in actions and "queue.delete" in actions


async def test_queue_list_and_show_of_a_held_message(tmp_path: Path) -> None:
    data_dir = tmp_path / "op"
    code, _, err = await run_salus("init", "--data-dir", str(data_dir), "--domain", "salus.test")
    assert code == 0, err
    dd = ("--data-dir", str(data_dir))
    plain = await queued_message(data_dir)
    reason = "documents name recipients not addressed: doctor.4@salus.test"
    held = await queued_message(data_dir, held=reason)

    code, out, _ = await run_salus("queue", "list", *dd)
    assert f"{held}  " in out and "2/2 held" in out and f"{plain}  " in out
    code, out, _ = await run_salus("queue", "list", "--held", "--json", *dd)
    assert [(m["queue_id"], m["held"]) for m in json.loads(out)] == [(held, reason)]
    code, out, _ = await run_salus("queue", "show", held, *dd)
    assert f"held for review: {reason}" in out
    assert "<doctor.2@salus.test>  held after 0 attempt(s)" in out
    code, out, _ = await run_salus("trace", "abc.123@client.salus.test", *dd)
    assert f"held: {reason}" in out

    code, _, err = await run_salus("queue", "retry", held, *dd)
    assert code == 1 and f"{held} is held for review" in err
    code, _, err = await run_salus("queue", "release", plain, *dd)
    assert code == 1 and f"{plain} is not held for review" in err
    code, out, _ = await run_salus("queue", "release", held, *dd)
    assert code == 0 and "2 held recipient(s) released" in out
    code, out, _ = await run_salus("queue", "show", held, "--json", *dd)
    shown = json.loads(out)
    assert shown["held"] is None
    assert [r["status"] for r in shown["recipients"]] == ["queued", "queued"]
    assert [e["event"] for e in shown["recipients"][0]["history"]] == ["released"]
    code, out, _ = await run_salus("audit", "export", *dd)
    actions = [json.loads(line)["action"] for line in out.splitlines()]
    assert "queue.release" in actions
