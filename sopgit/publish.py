"""Publication at the edge: read the library once, build the changelog and index
contexts from the pure models, render them, and write files only when they change."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sopgit.catalog import IndexItem, index_context
from sopgit.changelog import (
    Changelog,
    SelectionError,
    build_changelog,
    changelog_context,
    github_base,
    pending_entry,
    select,
)
from sopgit.docformat import id_regex
from sopgit.errors import RepoError, UsageError
from sopgit.history import SopVersion
from sopgit.render import render
from sopgit.snapshot import Snapshot
from sopgit.textio import read_text, safe_target, write_checked
from sopgit.versioning import DEFAULT_ID_PATTERN
from sopgit.workspace import Library

CHANGELOG_FILE = "CHANGELOG.md"
INDEX_FILE = "SOPS.md"


# Characters that could start Markdown or HTML syntax inside a line of text.
def repository_url(lib: Library) -> str | None:
    """The GitHub page of the configured remote, for pull-request links; None otherwise."""
    try:
        url = lib.repo.run("config", "--get", f"remote.{lib.config.remote}.url").strip()
    except RepoError:  # no such remote
        return None
    return github_base(url)


def all_versions(snapshot: Snapshot) -> dict[str, SopVersion]:
    """Each SOP's version, derived once for a command that needs them all several times."""
    return {sop_id: snapshot.version(sop_id) for sop_id in snapshot.sops}


def library_changelog(
    snapshot: Snapshot, versions: Mapping[str, SopVersion] | None = None
) -> Changelog:
    versions = versions if versions is not None else all_versions(snapshot)
    titles = {s.sop_id: s.meta("title", s.sop_id) for s in snapshot.sops.values()}
    pending = [
        entry
        for sop_id, version in versions.items()
        if (entry := pending_entry(titles[sop_id], version))
    ]
    return build_changelog(snapshot.history.tags_by_sop, pending, titles)


def changelog_data(
    snapshot: Snapshot, *, since: str | None = None, sop_id: str | None = None
) -> dict[str, Any]:
    changelog = library_changelog(snapshot)
    if sop_id:
        sop_id = sop_id.upper()
        if sop_id not in snapshot.sops and sop_id not in snapshot.history.tags_by_sop:
            raise UsageError(f"no SOP with id {sop_id} in this library; see 'sopgit status'")
    try:
        chosen = select(changelog, since=since, sop_id=sop_id)
    except SelectionError as err:
        raise UsageError(f"{err}; give a release tag such as ENG-001/v1.0.0 or a date") from None
    return changelog_context(chosen, snapshot.lib.config.name, repository_url(snapshot.lib))


def index_items(
    snapshot: Snapshot, versions: Mapping[str, SopVersion] | None = None
) -> list[IndexItem]:
    versions = versions if versions is not None else all_versions(snapshot)
    items = []
    for sop in snapshot.sops.values():
        version = versions[sop.sop_id]
        tags = sop.raw("tags")
        items.append(
            IndexItem(
                sop_id=sop.sop_id,
                title=sop.meta("title", sop.sop_id),
                description=sop.meta("description"),
                path=sop.path,
                version=str(version.current) if version.current else None,
                last_updated=sop.meta("lastUpdated"),
                status=sop.meta("status", "draft"),
                owner=sop.meta("owner"),
                tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
            )
        )
    return items


def index_data(snapshot: Snapshot, output: Path | None) -> dict[str, Any]:
    """OUTPUT: where SOPS.md goes (links are relative to it); None for stdout."""
    root = snapshot.lib.root
    folder = ""
    if output is not None:
        try:
            folder = output.resolve().parent.relative_to(root).as_posix()
        except ValueError:  # outside the library: link from the root
            folder = ""
    config = snapshot.lib.config
    return index_context(
        config.name,
        config.departments.values(),
        index_items(snapshot),
        folder if folder != "." else "",
    )


def render_markdown(name: str, context: dict[str, Any], library_root: Path) -> str:
    """A Markdown template rendered, ending in exactly one newline."""
    return render(name, context, library_root).rstrip("\n") + "\n"


# --- writing --------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteResult:
    path: Path
    state: str  # created, updated, unchanged
    diff: str


def write_if_changed(
    root: Path, path: Path, text: str, *, dry_run: bool, label: str
) -> WriteResult:
    """Write TEXT to PATH unless it already holds it (an unchanged file keeps its mtime).

    PATH may not lie in ROOT's .git nor be reached through a symbolic link in ROOT."""
    path = safe_target(root, path)
    before = read_text(path) if path.is_file() else None
    if path.exists() and not path.is_file():
        raise UsageError("exists and is not a file; give another --output", path)
    if before == text:
        return WriteResult(path, "unchanged", "")
    diff = "".join(
        difflib.unified_diff(
            (before or "").splitlines(keepends=True),
            text.splitlines(keepends=True),
            f"a/{label}" if before is not None else "/dev/null",
            f"b/{label}",
        )
    )
    if not dry_run:
        write_checked(root, path, text)
    return WriteResult(path, "created" if before is None else "updated", diff)


def check_sop_id(value: str, id_pattern: str = DEFAULT_ID_PATTERN) -> str:
    if not id_regex(id_pattern).match(value.upper()):
        example = "ENG-001" if id_pattern == DEFAULT_ID_PATTERN else f"/{id_pattern}/"
        raise UsageError(f"--id {value}: not an SOP id like {example}")
    return value.upper()
