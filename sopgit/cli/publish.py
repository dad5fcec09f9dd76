"""Commands of publication: changelog, index, build.

Registered on the main group by sopgit.cli.main; like it, imports only click at load.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sopgit.cli.support import (
    complete_sop_id,
    echo,
    echo_json,
    format_option,
    library,
    path_arg,
    since_option,
    today,
)

if TYPE_CHECKING:
    from sopgit.repo.workspace import Library


def register(group: click.Group) -> None:
    """Add this module's commands to GROUP."""
    for command in (changelog, index, build):
        group.add_command(command)


def _target(
    ctx: click.Context, lib: Library, output: str | None, default: str, fmt: str
) -> Path | None:
    """Where to write: None for stdout (`-`, or json without --output)."""
    if output == "-" or (output is None and fmt == "json"):
        return None
    return path_arg(ctx, output) if output else lib.root / default


def _emit(
    lib: Library, text: str, target: Path | None, dry_run: bool, fmt: str = "markdown"
) -> None:
    from sopgit.publish.files import write_if_changed

    if target is None:
        (echo_json if fmt == "json" else echo)(text, nl=False)
        return
    try:
        label = target.resolve().relative_to(lib.root).as_posix()
    except ValueError:
        label = str(target)
    result = write_if_changed(lib.root, target, text, dry_run=dry_run, label=label)
    if dry_run and result.diff:
        echo(result.diff, nl=False)
    verb = {"created": "create", "updated": "update"}.get(result.state)
    if result.state == "unchanged":
        echo(f"unchanged {label}")
    elif dry_run:
        echo(f"would {verb} {label}", err=True)
    else:
        echo(f"{result.state} {label}")


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


@click.command()
@format_option("markdown", "json", default="markdown")
@click.option(
    "--output",
    "-o",
    metavar="FILE",
    help="Where to write (default: CHANGELOG.md in the library; json: stdout); - for stdout.",
)
@click.option("--since", metavar="TAG|DATE", help="Only releases after this tag, or from DATE on.")
@click.option(
    "--id", "sop_id", metavar="ID", help="Only this SOP's versions.", shell_complete=complete_sop_id
)
@click.option("--dry-run", is_flag=True, help="Print the diff; write nothing.")
@click.pass_context
def changelog(
    ctx: click.Context,
    fmt: str,
    output: str | None,
    since: str | None,
    sop_id: str | None,
    dry_run: bool,
) -> None:
    """Write the library's changelog: every release, newest first, and what is unreleased."""
    from sopgit.publish.files import (
        CHANGELOG_FILE,
        changelog_data,
        check_sop_id,
        merge_changelog,
        render_markdown,
    )
    from sopgit.repo.snapshot import load_snapshot

    since = since_option(since)
    lib = library(ctx)
    wanted = check_sop_id(sop_id, lib.config.format.id_pattern) if sop_id else None
    data = changelog_data(load_snapshot(lib), since=since, sop_id=wanted)
    text = _json(data) if fmt == "json" else render_markdown("changelog.md.j2", data, lib.root)
    target = _target(ctx, lib, output, CHANGELOG_FILE, fmt)
    if fmt == "markdown" and target is not None and target.is_file():  # a changelog kept by hand
        from sopgit.repo.textio import read_text

        text = merge_changelog(read_text(target), text)  # its bytes as they are
    _emit(lib, text, target, dry_run, fmt)


@click.command()
@format_option("markdown", "json", default="markdown")
@click.option(
    "--output",
    "-o",
    metavar="FILE",
    help="Where to write (default: SOPS.md in the library; json: stdout); - for stdout.",
)
@click.option("--dry-run", is_flag=True, help="Print the diff; write nothing.")
@click.pass_context
def index(ctx: click.Context, fmt: str, output: str | None, dry_run: bool) -> None:
    """Write the library index: per department, a table of its procedures."""
    from sopgit.publish.files import INDEX_FILE, index_data, render_markdown
    from sopgit.repo.snapshot import load_snapshot

    lib = library(ctx)
    target = _target(ctx, lib, output, INDEX_FILE, fmt)
    data = index_data(load_snapshot(lib), target)
    text = _json(data) if fmt == "json" else render_markdown("index.md.j2", data, lib.root)
    _emit(lib, text, target, dry_run, fmt)


@click.command()
@click.option(
    "--output", "-o", metavar="DIR", help="Where the site goes (default: _site in the library)."
)
@click.option("--dry-run", is_flag=True, help="List the pages; write nothing.")
@click.pass_context
def build(ctx: click.Context, output: str | None, dry_run: bool) -> None:
    """Build the static HTML site: the procedures, each SOP's page, the changelog."""
    from sopgit.publish.site import SITE_DIR, build_site
    from sopgit.repo.snapshot import load_snapshot

    started = time.monotonic()
    lib = library(ctx)
    target = path_arg(ctx, output) if output else lib.root / SITE_DIR
    report = build_site(load_snapshot(lib), target, today(), dry_run=dry_run)
    if dry_run:
        for name in report.pages:
            echo(f"would write {target / name}")
        return
    pages = sum(1 for name in report.pages if name.endswith(".html"))
    echo(
        f"built {pages} pages in {target} ({time.monotonic() - started:.1f}s); "
        f"open {target / 'index.html'}",
        err=True,
    )
