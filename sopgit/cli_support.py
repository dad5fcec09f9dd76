"""What every command module shares: the library of -C, paths, today, text tables."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from sopgit.workspace import Library

FORMATS = click.Choice(["text", "json"])


def library(ctx: click.Context, *, recover: bool = True) -> Library:
    """The library of -C. First, a release that a killed sopgit left unfinished is
    finished or undone (one line on stderr says which); git hooks skip that (RECOVER)."""
    from sopgit.workspace import open_library

    lib = open_library(ctx.obj["cwd"])
    if recover:
        from sopgit.transaction import recover as finish_interrupted

        finish_interrupted(lib.repo)
    return lib


def path_arg(ctx: click.Context, value: str) -> Path:
    """A path from the command line, relative to -C like git's."""
    path = Path(value)
    return path if path.is_absolute() else ctx.obj["cwd"] / path


def today() -> dt.date:
    """Today, or SOPGIT_TODAY (YYYY-MM-DD) so that scripts and tests need no clock."""
    fixed = os.environ.get("SOPGIT_TODAY")
    if fixed:
        try:
            return dt.date.fromisoformat(fixed)
        except ValueError:
            raise click.UsageError(f"SOPGIT_TODAY={fixed!r} is not a date YYYY-MM-DD") from None
    return dt.date.today()


def text_table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)


def date_option(value: str | None) -> dt.date:
    """A --date value (YYYY-MM-DD), or today when none was given."""
    if not value:
        return today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date YYYY-MM-DD", param_hint="--date"
        ) from None
