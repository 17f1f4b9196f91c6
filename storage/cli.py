"""Plumbing shared by the `salus` command groups: the `--data-dir` option, loading the
settings and the database once per command, and turning errors into one clear sentence
on stderr with a non-zero exit (DESIGN section 2)."""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import click

from config.errors import ConfigError
from config.settings import Settings, load_settings
from storage.database import Database
from storage.errors import StorageError

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_DATA_DIR = "./var"


class CommandError(click.ClickException):
    """A user-facing failure: printed as one sentence, exit status 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"salus: {self.format_message()}", err=True)


def fail(message: str) -> NoReturn:
    raise CommandError(message)


def data_dir_option(func: Callable[P, T]) -> Callable[P, T]:
    """`--data-dir DIR` (default ./var or SALUS_DATA_DIR) on a leaf command."""
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=lambda: os.environ.get("SALUS_DATA_DIR", DEFAULT_DATA_DIR),
        show_default="./var or $SALUS_DATA_DIR",
        help="The Salus data directory.",
    )(func)


def read_secret_stdin(what: str) -> str:
    """The first line of standard input, newline stripped (DESIGN section 2)."""
    line = sys.stdin.readline()
    secret = line.rstrip("\r\n")
    if not secret:
        fail(f"no {what} on standard input (give it as the first line)")
    return secret


@dataclass(frozen=True, slots=True)
class CliContext:
    settings: Settings
    db: Database
    actor: str


def load_cli_settings(data_dir: Path) -> Settings:
    if not (data_dir / "salus.toml").exists():
        fail(f"{data_dir} is not a Salus data directory (no salus.toml): run `salus init`")
    try:
        return load_settings(data_dir)
    except ConfigError as exc:
        fail("invalid configuration: " + "; ".join(exc.problems))


@asynccontextmanager
async def cli_context(data_dir: Path) -> AsyncIterator[CliContext]:
    """Settings and an open database for one command; closed afterwards."""
    settings = load_cli_settings(data_dir)
    db = Database(settings.database_url, pool_size=2)
    try:
        yield CliContext(settings, db, actor=f"cli:{_operator()}")
    finally:
        await db.dispose()


def _operator() -> str:
    try:
        return os.getlogin()
    except OSError:
        return os.environ.get("USER", "admin")


def run_async(func: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """Run an async click callback, mapping storage failures to a clear sentence."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return asyncio.run(func(*args, **kwargs))
        except StorageError as exc:
            fail(str(exc))

    return wrapper
