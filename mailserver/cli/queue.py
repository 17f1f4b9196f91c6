"""`salus queue list | show ID | retry ID | release ID | delete ID`: the delivery queue.

A message held for review (gateway.consistency "hold") waits for `release` (delivered)
or `delete` (refused: its sender gets a DSN); `retry` leaves it held."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from crypto.at_rest import AtRestCipher
from crypto.service_key import ServiceKeyError
from mailserver.queue import hold, inspect
from mailserver.queue.inspect import MessageView
from mailserver.queue.models import PENDING, DeliveryStatus
from storage.cli import CliContext, cli_context, data_dir_option, fail, run_async

json_option = click.option("--json", "as_json", is_flag=True, help="Stable JSON output.")


@click.group()
def queue() -> None:
    """Messages waiting for delivery."""


@queue.command("list")
@click.option("--all", "include_final", is_flag=True, help="Also messages already delivered.")
@click.option("--held", "held_only", is_flag=True, help="Only messages held for review.")
@json_option
@data_dir_option
@run_async
async def list_(data_dir: Path, include_final: bool, held_only: bool, as_json: bool) -> None:
    """Messages with a pending or held recipient (newest first)."""
    async with cli_context(data_dir) as ctx:
        views = await inspect.pending(ctx.db, include_final=include_final, held_only=held_only)
    if as_json:
        click.echo(json.dumps([as_dict(v) for v in views], indent=2))
        return
    if not views:
        click.echo("no message is held" if held_only else "the queue is empty")
        return
    for view in views:
        waiting = sum(1 for d in view.deliveries if d.status in PENDING)
        held = sum(1 for d in view.deliveries if d.status == DeliveryStatus.HELD.value)
        state = f"{held}/{len(view.deliveries)} held" if held else (
            f"{waiting}/{len(view.deliveries)} pending"
        )
        click.echo(
            f"{view.queue_id}  {view.received_at:%Y-%m-%d %H:%M:%S}  {view.size:>9} B"
            f"  <{view.sender}>  {state}"
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
        view = await _message(ctx, queue_id)
        if view.held:
            fail(f"{queue_id} is held for review: `salus queue release {queue_id}` delivers"
                 f" it, `salus queue delete {queue_id}` refuses it")  # fmt: skip
        count = await inspect.retry(ctx.db, queue_id, actor=ctx.actor)
    click.echo(f"{queue_id}: {count} recipient(s) will be tried again now")


@queue.command()
@click.argument("queue_id")
@data_dir_option
@run_async
async def release(data_dir: Path, queue_id: str) -> None:
    """Deliver a message held for review (its recipients become due now)."""
    async with cli_context(data_dir) as ctx:
        if not (await _message(ctx, queue_id)).held:
            fail(f"{queue_id} is not held for review")
        count = await hold.release(ctx.db, queue_id, actor=ctx.actor)
    if not count:  # another administrator released or refused it meanwhile
        fail(f"{queue_id} is no longer held for review: see `salus queue show {queue_id}`")
    click.echo(f"{queue_id}: {count} held recipient(s) released for delivery")


@queue.command()
@click.argument("queue_id")
@data_dir_option
@run_async
async def delete(data_dir: Path, queue_id: str) -> None:
    """Give up on the message's pending recipients (bounced, no report to the sender),
    or refuse a message held for review (bounced, its sender gets a report)."""
    async with cli_context(data_dir) as ctx:
        if (await _message(ctx, queue_id)).held:
            count = await hold.refuse(
                ctx.db, _at_rest(ctx), ctx.settings, queue_id, actor=ctx.actor
            )
            if not count:  # released or refused by another administrator meanwhile
                fail(f"{queue_id} is no longer held for review: see `salus queue show {queue_id}`")
            click.echo(f"{queue_id}: {count} held recipient(s) refused; the sender gets a report")
            return
        count = await inspect.delete(ctx.db, queue_id, actor=ctx.actor)
    click.echo(f"{queue_id}: {count} pending recipient(s) deleted")


async def _message(ctx: CliContext, queue_id: str) -> MessageView:
    view = await inspect.show(ctx.db, queue_id)
    if view is None:
        fail(f"no message {queue_id} in the queue")
    return view


def _at_rest(ctx: CliContext) -> AtRestCipher:
    """The service key's cipher: the report quotes the queued message's header block."""
    try:
        return AtRestCipher.from_data_dir(ctx.settings.data_dir)
    except ServiceKeyError as exc:
        fail(str(exc))


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
        "held": view.hold_reason if view.held else None,
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
    if view.held:
        lines.append(f"  held for review: {view.hold_reason or 'no reason recorded'}")
        lines.append(f"  `salus queue release {view.queue_id}` delivers it,"
                     f" `salus queue delete {view.queue_id}` refuses it")  # fmt: skip
    lines += [f"  {e.at:%Y-%m-%d %H:%M:%S}  {e.event}: {e.detail}"
              for e in view.events if e.delivery_id is None]
    for d in view.deliveries:
        lines.append(f"  <{d.recipient}>  {d.status} after {d.attempts} attempt(s)")
        if d.status in PENDING:
            lines.append(f"    next attempt {d.next_attempt_at:%Y-%m-%d %H:%M:%S}")
        lines += [f"    {e.at:%Y-%m-%d %H:%M:%S}  {e.event}: {e.detail}"
                  for e in view.events if e.delivery_id == d.id]
    return "\n".join(lines)
