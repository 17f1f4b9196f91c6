"""The `salus` root command and the groups attached to it."""

from __future__ import annotations

import click

from mailserver.cli.audit import audit
from mailserver.cli.backup import backup, restore
from mailserver.cli.db import db
from mailserver.cli.demo import demo
from mailserver.cli.directory import directory
from mailserver.cli.init import init
from mailserver.cli.keys import keys
from mailserver.cli.queue import queue
from mailserver.cli.serve import serve
from mailserver.cli.trace import trace
from mailserver.cli.trust import trust


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="salus")
def salus() -> None:
    """Salus: secure health messaging in a closed trust space."""


salus.add_command(init)
salus.add_command(db)
salus.add_command(audit)
salus.add_command(serve)
salus.add_command(demo)
salus.add_command(keys)
salus.add_command(backup)
salus.add_command(restore)
salus.add_command(queue)
salus.add_command(trace)
salus.add_command(directory)
salus.add_command(trust)


def main() -> None:
    salus(prog_name="salus")


if __name__ == "__main__":
    main()
