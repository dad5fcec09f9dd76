"""Commands of controlled copies and redlines: export, verify, diff.

Registered on the main group by sopgit.cli.main; like it, imports only click at load.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from sopgit.cli.support import echo, format_option, library, path_arg, today


def register(group: click.Group) -> None:
    """Add this module's commands to GROUP."""
    for command in (export, verify, diff):
        group.add_command(command)


@click.command()
@click.argument("sop_id", metavar="ID", required=False)
@click.option(
    "--version", "wanted", metavar="V", help="The version (default: the current one); pending."
)
@format_option(
    "html",
    "pdf",
    default=None,
    help='html or pdf (needs pip install "sopgit[pdf]"); default: as --output ends, else html.',
)
@click.option("--output", "-o", metavar="FILE|DIR", help="Where to write (default: ID-vV.html).")
@click.option("--all", "everything", is_flag=True, help="Every effective SOP and an index.")
@click.pass_context
def export(
    ctx: click.Context,
    sop_id: str | None,
    wanted: str | None,
    fmt: str | None,
    output: str | None,
    everything: bool,
) -> None:
    """Write a controlled copy of an SOP version: cover, signatures, history, text as released."""
    fmt = fmt or ("pdf" if output and output.lower().endswith(".pdf") else "html")
    from sopgit.commands.export import export_all, export_copy

    root, use_cache = ctx.obj["cwd"], not ctx.obj["no_cache"]
    where = path_arg(ctx, output) if output else None
    if everything:
        if sop_id or wanted:
            raise click.UsageError("--all exports the current version of every SOP; give no ID")
        binder = export_all(root, today(), fmt=fmt, folder=where, use_cache=use_cache)
        echo(f"wrote {len(binder.files)} controlled copies and index.html to {binder.folder}")
        return
    if not sop_id:
        raise click.UsageError("give an SOP id, or --all")
    done = export_copy(root, sop_id, version=wanted, fmt=fmt, output=where, use_cache=use_cache)
    echo(f"wrote {done.path} ({done.sop_id} v{done.version}, {done.status})")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--version",
    "expect",
    metavar="V",
    help="Fail unless the copy is of version V ('current': the effective one).",
)
@click.pass_context
def verify(ctx: click.Context, file: Path, expect: str | None) -> None:
    """Check a controlled copy against git: content, tag, commit and the released file's hash."""
    from sopgit.commands.export import verify_copy_file

    path = file if file.is_absolute() else ctx.obj["cwd"] / file
    if not path.is_file():
        raise click.BadParameter(f"{file}: no such file", param_hint="FILE")
    verdict = verify_copy_file(
        ctx.obj["cwd"], path, expect, name=file, use_cache=not ctx.obj["no_cache"]
    )
    echo(f"{verdict.line}" if verdict.ok else f"sopgit: {file}: {verdict.line}", err=not verdict.ok)
    if not verdict.ok:
        ctx.exit(1)


@click.command()
@click.argument("sop_id", metavar="ID")
@click.argument("old", metavar="[FROM]", required=False)
@click.argument("new", metavar="[TO]", required=False)
@format_option("text", "markdown", "html", "json", help="text, markdown (md), html or json.")
@click.option(
    "--color",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    help="Colour the text: auto (on a terminal, unless NO_COLOR is set), always, never.",
)
@click.pass_context
def diff(
    ctx: click.Context, sop_id: str, old: str | None, new: str | None, fmt: str, color: str
) -> None:
    """Redline of an SOP between two versions (default: the previous and the current one).

    FROM and TO are released versions (1.2.0 or v1.2.0), `current`, or `pending` for the
    text in the work tree that is not released yet.
    """
    from sopgit.commands.export import diff_versions
    from sopgit.core.redline import render_html, render_markdown, render_text
    from sopgit.repo.snapshot import load_snapshot

    line = diff_versions(load_snapshot(library(ctx)), sop_id, old, new)
    if fmt == "json":
        click.echo(json.dumps(line.as_dict(), indent=2, ensure_ascii=False))
    elif fmt == "markdown":
        click.echo(render_markdown(line), nl=False)
    elif fmt == "html":
        click.echo(render_html(line), nl=False)
    else:
        colored = color == "always" or (
            color == "auto" and not os.environ.get("NO_COLOR") and sys.stdout.isatty()
        )
        click.echo(render_text(line, colored), nl=False, color=colored)
