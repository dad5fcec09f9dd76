"""Commands of controlled copies and redlines: export, verify, diff.

Registered on the main group by sopgit.cli.main; like it, imports only click at load.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sopgit.cli.support import echo, format_option, library, path_arg, today

if TYPE_CHECKING:
    from sopgit.core.history import SopVersion
    from sopgit.repo.snapshot import Snapshot, Sop


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
    from sopgit.errors import UsageError
    from sopgit.publish.export import file_name, gather
    from sopgit.repo.snapshot import load_snapshot

    if everything:
        if sop_id or wanted:
            raise click.UsageError("--all exports the current version of every SOP; give no ID")
        _export_all(ctx, fmt, output)
        return
    if not sop_id:
        raise click.UsageError("give an SOP id, or --all")
    if fmt == "pdf":
        _need_pdf()
    snapshot = load_snapshot(library(ctx))
    copy = gather(snapshot, sop_id, wanted)
    target = path_arg(ctx, output) if output else Path(ctx.obj["cwd"]) / file_name(copy, fmt)
    if target.is_dir():
        target = target / file_name(copy, fmt)
    if not target.parent.is_dir():
        raise UsageError(f"no such folder {target.parent}; create it first")
    _write(target, _render(copy, fmt))
    echo(f"wrote {target} ({copy.binding.sop_id} v{copy.binding.version}, {copy.status})")


def _need_pdf() -> None:
    from sopgit.errors import UsageError
    from sopgit.publish.export import PDF_EXTRA

    try:
        import pypdf  # noqa: F401
        import weasyprint  # noqa: F401
    except (ImportError, OSError):  # OSError: WeasyPrint without the Pango library
        raise UsageError(PDF_EXTRA) from None


def _render(copy: object, fmt: str) -> bytes:
    from sopgit.publish.export import Copy, render_html, render_pdf

    assert isinstance(copy, Copy)
    if fmt == "pdf":
        return render_pdf(copy)
    return render_html(copy).encode("utf-8")


def _write(target: Path, data: bytes) -> None:
    """Write whole or not at all: a temporary file beside the target, then a rename."""
    from sopgit.errors import UsageError

    temporary = target.with_name(f".{target.name}.tmp")
    try:
        temporary.write_bytes(data)
        temporary.replace(target)
    except OSError as err:
        temporary.unlink(missing_ok=True)
        raise UsageError(f"cannot write it: {err.strerror}", target) from None


def _export_all(ctx: click.Context, fmt: str, output: str | None) -> None:
    from sopgit.core import progress
    from sopgit.errors import UsageError
    from sopgit.publish.export import (
        BinderEntry,
        binder_index,
        effective_ids,
        file_name,
        gather,
        read_released,
        tag_objects,
    )
    from sopgit.repo.snapshot import load_snapshot

    if fmt == "pdf":
        _need_pdf()
    lib = library(ctx)
    snapshot = load_snapshot(lib)
    folder = path_arg(ctx, output) if output else lib.root / "controlled-copies"
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is a file; give a folder with --output")
    ids = effective_ids(snapshot)
    if not ids:
        raise UsageError("no SOP is released and effective; nothing to export")
    folder.mkdir(parents=True, exist_ok=True)
    objects = tag_objects(snapshot)  # every tag's object id, and every released file,
    files = read_released(  # each read in one git process whatever the number of SOPs
        snapshot, [(snapshot.sops[i], snapshot.version(i).releases[0][1].target) for i in ids]
    )
    entries = []
    for count, sop_id in enumerate(ids, 1):
        copy = gather(snapshot, sop_id, None, objects=objects, files=files)
        name = file_name(copy, fmt)
        _write(folder / name, _render(copy, fmt))
        entries.append(BinderEntry(copy, name))
        progress.report("exporting", count, f"of {len(ids)} SOPs")
    progress.done()
    _write(folder / "index.html", binder_index(entries, lib.config.name, today()).encode("utf-8"))
    echo(f"wrote {len(entries)} controlled copies and index.html to {folder}")


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
    from sopgit.errors import PolicyError
    from sopgit.publish.export import read_copy, verify_copy
    from sopgit.repo.snapshot import load_snapshot

    path = file if file.is_absolute() else ctx.obj["cwd"] / file
    if not path.is_file():
        raise click.BadParameter(f"{file}: no such file", param_hint="FILE")
    claimed = read_copy(path)
    snapshot = load_snapshot(library(ctx))
    if claimed.binding.sop_id.upper() not in snapshot.sops:
        raise PolicyError(
            f"{file}: a copy of {claimed.binding.sop_id}, which is not in this library"
        )
    verdict = verify_copy(snapshot, claimed, expect)
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
    from sopgit.core.redline import redline, render_html, render_markdown, render_text
    from sopgit.repo.snapshot import load_snapshot

    snapshot = load_snapshot(library(ctx))
    sop = snapshot.sop(sop_id)
    version = snapshot.version(sop.sop_id)
    old, new = default_pair(version, old, new)
    before, before_label = text_of(snapshot, sop, version, old)
    after, after_label = text_of(snapshot, sop, version, new)
    line = redline(before, after, before_label, after_label)
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


def default_pair(version: SopVersion, old: str | None, new: str | None) -> tuple[str, str]:
    """FROM and TO, defaulting to the previous and the current release."""
    from sopgit.errors import UsageError

    if old is not None and new is None:
        return old, "current"
    if old is not None and new is not None:
        return old, new
    if len(version.releases) >= 2:
        return str(version.releases[1][0]), str(version.releases[0][0])
    if version.releases and version.pending:
        return str(version.releases[0][0]), "pending"
    raise UsageError(
        f"{version.sop_id} has {len(version.releases)} released version(s) and nothing "
        "pending; give FROM and TO"
    )


def text_of(snapshot: Snapshot, sop: Sop, version: SopVersion, wanted: str) -> tuple[str, str]:
    """The text of version WANTED (released: read at its tag; pending: the work tree)."""
    from sopgit.publish.export import blob_at, choose_version

    chosen = choose_version(version, wanted)
    if chosen is None:
        data = (snapshot.lib.root / sop.path).read_bytes()
        return data.decode("utf-8", "replace"), f"{sop.sop_id} pending (not approved)"
    number, tag = chosen
    _path, data = blob_at(snapshot, sop, tag.target)
    return data.decode("utf-8", "replace"), f"{sop.sop_id} v{number}"
