"""What every command module shares: the library of -C, paths, today, text tables."""

from __future__ import annotations

import datetime as dt
import os
import re
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

    lib = open_library(ctx.obj["cwd"], use_cache=not ctx.obj.get("no_cache", False))
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


# --- printing: every text output goes through echo, every JSON output through echo_json


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


# C0 and C1 controls (ESC, OSC, CSI, BEL, CR, ...), DEL, lone surrogates, and the
# characters that reorder or break a terminal line (bidi controls, U+2028/U+2029).
UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def clean(text: str, *, one_line: bool = False) -> str:
    """TEXT safe for a terminal: every control character shown as an escape, so no
    repository content can move the cursor, retitle the window or hide text. Newline and
    tab are kept where they are structure (not in ONE_LINE text, such as an error)."""
    text = UNSAFE.sub(lambda m: _escape(m.group()), text)
    if one_line:
        text = text.replace("\n", "\\n").replace("\t", "\\t")
    return text


def echo(message: object = "", *, err: bool = False, nl: bool = True) -> None:
    """Print text output (tables, Markdown, diffs, messages) with clean()."""
    click.echo(clean(str(message)), err=err, nl=nl)


def echo_json(text: str, *, nl: bool = True) -> None:
    """Print JSON exactly as json.dumps made it; only a lone surrogate (a byte that was
    not UTF-8) becomes its JSON escape, which no terminal acts on."""
    click.echo(re.sub("[\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", text), nl=nl)
