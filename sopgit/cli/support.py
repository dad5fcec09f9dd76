"""What every command module shares: the library of -C, paths, today, text tables,
the --format vocabulary, colour and shell completion."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.shell_completion import CompletionItem

if TYPE_CHECKING:
    from sopgit.repo.workspace import Library

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class FormatChoice(click.Choice):  # type: ignore[type-arg]
    """--format: the same names on every command (text, markdown, json, github, csv),
    with short forms accepted as aliases (md for markdown)."""

    ALIASES = {"md": "markdown"}

    def __init__(self, *choices: str) -> None:
        super().__init__(list(choices))

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str):
            value = self.ALIASES.get(value.lower(), value)
        return super().convert(value, param, ctx)


def format_option(*choices: str, default: str | None = "text", help: str | None = None) -> Any:
    """The --format option of a command that reports, in the shared vocabulary."""
    names = ", ".join(choices)
    return click.option(
        "--format",
        "fmt",
        type=FormatChoice(*choices),
        default=default,
        show_default=default is not None,
        help=help or f"One of {names}{' (md for short)' if 'markdown' in choices else ''}.",
    )


FORMATS = FormatChoice("text", "json")


def library(ctx: click.Context, *, recover: bool = True) -> Library:
    """The library of -C (see sopgit.repo.workspace.open_sop_library)."""
    from sopgit.repo.workspace import open_sop_library

    return open_sop_library(
        ctx.obj["cwd"], use_cache=not ctx.obj.get("no_cache", False), recover=recover
    )


def colour_enabled() -> bool:
    """Colour unless NO_COLOR is set (https://no-color.org); click.echo drops it when piped."""
    return not os.environ.get("NO_COLOR")


def paint(text: str, **style: Any) -> str:
    return click.style(text, **style) if colour_enabled() else text


STATE_COLOURS = {
    "effective": "green",
    "changed": "yellow",
    "draft": "cyan",
    "review-due": "red",
    "retired": "bright_black",
}
SEVERITY_COLOURS = {"error": "red", "warning": "yellow", "info": "cyan"}


def since_option(value: str | None) -> str | None:
    """--since TAG|DATE: a value shaped like a date must be a real one."""
    if value and ISO_DATE.fullmatch(value):
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise click.BadParameter(
                f"{value!r} is not a date YYYY-MM-DD", param_hint="--since"
            ) from None
    return value


def _completion_root(ctx: click.Context) -> Path:
    directory = ctx.find_root().params.get("directory") or "."
    return Path(directory).resolve()


def complete_sop_id(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Shell completion: the ids of the library's SOP files (their file names)."""
    try:
        from sopgit.repo.library import sop_files
        from sopgit.repo.workspace import open_library

        lib = open_library(_completion_root(ctx))
        ids = sorted({f.id_from_name for f in sop_files(lib.root, lib.config) if f.id_from_name})
    except Exception:  # completion must never print a traceback into the shell
        return []
    return [CompletionItem(i) for i in ids if i.upper().startswith(incomplete.upper())]


def complete_department(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Shell completion: the department codes of sopgit.toml."""
    try:
        from sopgit.repo.workspace import open_library

        lib = open_library(_completion_root(ctx))
        departments = lib.config.departments
    except Exception:  # completion must never print a traceback into the shell
        return []
    return [
        CompletionItem(code, help=dept.name)
        for code, dept in sorted(departments.items())
        if code.upper().startswith(incomplete.upper())
    ]


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


def text_table(
    rows: list[list[str]],
    header: list[str],
    style: Callable[[int, str], dict[str, Any] | None] | None = None,
) -> str:
    """Aligned columns; STYLE(column, cell) may give click.style keywords for a body cell
    (colour is added after padding, so the columns stay aligned)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(row: Sequence[str], body: bool) -> str:
        cells = []
        for column, (cell, width) in enumerate(zip(row, widths, strict=True)):
            padded = cell.ljust(width)
            wanted = style(column, cell) if body and style else None
            if wanted:
                padded = paint(cell, **wanted) + " " * (width - len(cell))
            cells.append(padded)
        return "  ".join(cells).rstrip()

    return "\n".join([line(header, False), *(line(row, True) for row in rows)])


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
