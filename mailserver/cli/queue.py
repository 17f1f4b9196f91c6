"""`salus queue list | show ID | retry ID | delete ID`: the delivery queue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from mailserver.queue import inspect
from mailserver.queue.inspect import MessageView
from storage.cli import cli_context, data_dir_option, fail, run_async

json_option = click.option("--json", "as_json", is_flag=True, help="Stable JSON output.")


@click.group()
def queue() -> None:
    """Messages waiting for delivery."""


@queue.command("list")
@click.option("--all", "include_final", is_flag=True, help="Also messages already delivered.")
@json_option
@data_dir_option
@run_async
async def list_(data_dir: Path, include_final: bool, as_json: bool) -> None:
    """Messages with a pending recipient (newest first)."""
    async with cli_context(data_dir) as ctx:
        views = await inspect.pending(ctx.db, include_final=include_final)
    if as_json:
        click.echo(json.dumps([as_dict(v) for v in views], indent=2))
        return
    if not views:
        click.echo("the queue is empty")
        return
    for view in views:
        waiting = sum(1 for d in view.deliveries if d.status in ("queued", "deferred"))
        click.echo(
            f"{view.queue_id}  {view.received_at:%Y-%m-%d %H:%M:%S}  {view.size:>9} B"
            f"  <{view.sender}>  {waiting}/{len(view.deliveries)} pending"
        )


@queue.command()
@click.argument("queue_id")
@json_option
@data_dir_option
@run_async
async def show(data_dir: Path, queue_id: str, as_json: bool) -> None:
    """One message: its recipients, their state and history."""
    async with cli_context(data_dir) as ctx:
        view = await inspect.show(ctx.db, queue_id)
    if view is None:
        fail(f"no message {queue_id} in the queue")
    click.echo(json.dumps(as_dict(view), indent=2) if as_json else render(view))


@queue.command()
@click.argument("queue_id")
@data_dir_option
@run_async
async def retry(data_dir: Path, queue_id: str) -> None:
    """Try the message's pending recipients again now."""
    async with cli_context(data_dir) as ctx:
        if await inspect.show(ctx.db, queue_id) is None:
            fail(f"no message {queue_id} in the queue")
        count = await inspect.retry(ctx.db, queue_id, actor=ctx.actor)
    click.echo(f"{queue_id}: {count} recipient(s) will be tried again now")


@queue.command()
@click.argument("queue_id")
@data_dir_option
@run_async
async def delete(data_dir: Path, queue_id: str) -> None:
    """Give up on the message's pending recipients (bounced, no report to the sender)."""
    async with cli_context(data_dir) as ctx:
        if await inspect.show(ctx.db, queue_id) is None:
            fail(f"no message {queue_id} in the queue")
        count = await inspect.delete(ctx.db, queue_id, actor=ctx.actor)
    click.echo(f"{queue_id}: {count} pending recipient(s) deleted")


def as_dict(view: MessageView) -> dict[str, Any]:
    return {
        "queue_id": view.queue_id,
        "message_id": view.message_id,
        "sender": view.sender,
        "origin": view.origin,
        "submitter": view.submitter,
        "client": view.client,
        "size": view.size,
        "received_at": view.received_at.isoformat(),
        "recipients": [
            {
                "recipient": d.recipient,
                "status": d.status,
                "attempts": d.attempts,
                "next_attempt_at": d.next_attempt_at.isoformat(),
                "last_reply": d.last_reply,
                "final_at": d.final_at.isoformat() if d.final_at else None,
                "history": [
                    {"at": e.at.isoformat(), "event": e.event, "detail": e.detail}
                    for e in view.events
                    if e.delivery_id == d.id
                ],
            }
            for d in view.deliveries
        ],
        "events": [
            {"at": e.at.isoformat(), "event": e.event, "detail": e.detail}
            for e in view.events
            if e.delivery_id is None
        ],
    }


def render(view: MessageView) -> str:
    """A message and each recipient's history, for people."""
    who = f" by {view.submitter}" if view.submitter else ""
    lines = [
        f"{view.queue_id}  Message-ID <{view.message_id}>",
        f"  {view.origin}{who} from {view.client or 'the server'},"
        f" {view.size} bytes, envelope sender <{view.sender}>",
    ]
    lines += [f"  {e.at:%Y-%m-%d %H:%M:%S}  {e.event}: {e.detail}"
              for e in view.events if e.delivery_id is None]
    for d in view.deliveries:
        lines.append(f"  <{d.recipient}>  {d.status} after {d.attempts} attempt(s)")
        if d.status in ("queued", "deferred"):
            lines.append(f"    next attempt {d.next_attempt_at:%Y-%m-%d %H:%M:%S}")
        lines += [f"    {e.at:%Y-%m-%d %H:%M:%S}  {e.event}: {e.detail}"
                  for e in view.events if e.delivery_id == d.id]
    return "\n".join(lines)
