"""Helpers shared by the command modules: exit statuses, failing with a message."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print ``fakescope: MESSAGE`` on stderr and exit with ``code``."""
    click.echo(f"fakescope: {message}", err=True)
    sys.exit(code)


def command_line() -> str:
    """The command as a user would retype it (program name, not the interpreter path)."""
    return " ".join(["fakescope", *sys.argv[1:]])
