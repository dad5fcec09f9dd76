"""Controlled copies and redlines as typed functions: `sopgit export` (one SOP, or every
effective SOP with a binder index), `sopgit verify` and `sopgit diff`.

Plain arguments in, a result out; nothing here prints or exits. ROOT is the folder the
command runs in (-C): the library is the git work tree that holds it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sopgit.core.history import SopVersion
    from sopgit.core.redline import Redline
    from sopgit.publish.export import Copy, Verdict
    from sopgit.repo.snapshot import Snapshot, Sop


def need_pdf() -> None:
    """Refuse PDF output, with the way to get it, when the pdf extra is not installed."""
    from sopgit.errors import UsageError
    from sopgit.publish.export import PDF_EXTRA

    try:
        import pypdf  # noqa: F401
        import weasyprint  # noqa: F401
    except (ImportError, OSError):  # OSError: WeasyPrint without the Pango library
        raise UsageError(PDF_EXTRA) from None


def render_copy(copy: Copy, fmt: str) -> bytes:
    """COPY as an HTML page or a PDF document (FMT "html" or "pdf")."""
    from sopgit.publish.export import render_html, render_pdf

    if fmt == "pdf":
        return render_pdf(copy)
    return render_html(copy).encode("utf-8")


def write_whole(target: Path, data: bytes) -> None:
    """Write whole or not at all: a temporary file beside the target, then a rename."""
    from sopgit.errors import UsageError

    temporary = target.with_name(f".{target.name}.tmp")
    try:
        temporary.write_bytes(data)
        temporary.replace(target)
    except OSError as err:
        temporary.unlink(missing_ok=True)
        raise UsageError(f"cannot write it: {err.strerror}", target) from None


@dataclass(frozen=True)
class ExportedCopy:
    """A controlled copy written to PATH."""

    path: Path
    sop_id: str
    version: str  # "1.1.0", or "pending"
    status: str  # what the copy says it is (effective, superseded, draft, ...)


def export_copy(
    root: Path,
    sop_id: str,
    *,
    version: str | None = None,
    fmt: str = "html",
    output: Path | None = None,
    use_cache: bool = True,
) -> ExportedCopy:
    """Write a controlled copy of VERSION of SOP_ID (default: the current one; "pending"
    for the text not released yet) as FMT to OUTPUT: a file, or a folder to put it in
    (default: ROOT), named ID-vV.FMT unless OUTPUT names the file."""
    from sopgit.errors import UsageError
    from sopgit.publish.export import file_name, gather
    from sopgit.repo.snapshot import load_snapshot
    from sopgit.repo.workspace import open_sop_library

    if fmt == "pdf":
        need_pdf()
    snapshot = load_snapshot(open_sop_library(root, use_cache=use_cache))
    copy = gather(snapshot, sop_id, version)
    target = output if output is not None else root / file_name(copy, fmt)
    if target.is_dir():
        target = target / file_name(copy, fmt)
    if not target.parent.is_dir():
        raise UsageError(f"no such folder {target.parent}; create it first")
    write_whole(target, render_copy(copy, fmt))
    return ExportedCopy(target, copy.binding.sop_id, copy.binding.version, copy.status)


@dataclass(frozen=True)
class ExportedBinder:
    """Controlled copies of every effective SOP and their index.html, in FOLDER."""

    folder: Path
    files: tuple[str, ...]  # the copies' file names, in the index's order


def export_all(
    root: Path,
    day: dt.date,
    *,
    fmt: str = "html",
    folder: Path | None = None,
    use_cache: bool = True,
) -> ExportedBinder:
    """Write a controlled copy of the current version of every effective SOP to FOLDER
    (default: controlled-copies/ in the library), and index.html listing them as of
    DAY. Progress goes to sopgit.core.progress."""
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
    from sopgit.repo.workspace import open_sop_library

    if fmt == "pdf":
        need_pdf()
    lib = open_sop_library(root, use_cache=use_cache)
    snapshot = load_snapshot(lib)
    folder = folder if folder is not None else lib.root / "controlled-copies"
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
        write_whole(folder / name, render_copy(copy, fmt))
        entries.append(BinderEntry(copy, name))
        progress.report("exporting", count, f"of {len(ids)} SOPs")
    progress.done()
    index = binder_index(entries, lib.config.name, day)
    write_whole(folder / "index.html", index.encode("utf-8"))
    return ExportedBinder(folder, tuple(e.file for e in entries))


def verify_copy_file(
    root: Path,
    path: Path,
    expect: str | None = None,
    *,
    name: str | Path | None = None,
    use_cache: bool = True,
) -> Verdict:
    """Check the controlled copy at PATH against git: its content, tag, commit and the
    released file's hash, and with EXPECT that it is of that version ("current": the
    effective one). A copy of an SOP this library does not hold is a PolicyError naming
    the file as NAME (default: PATH)."""
    from sopgit.errors import PolicyError
    from sopgit.publish.export import read_copy, verify_copy
    from sopgit.repo.snapshot import load_snapshot
    from sopgit.repo.workspace import open_sop_library

    claimed = read_copy(path)
    snapshot = load_snapshot(open_sop_library(root, use_cache=use_cache))
    if claimed.binding.sop_id.upper() not in snapshot.sops:
        raise PolicyError(
            f"a copy of {claimed.binding.sop_id}, which is not in this library",
            path if name is None else name,
        )
    return verify_copy(snapshot, claimed, expect)


def diff_versions(
    snapshot: Snapshot, sop_id: str, old: str | None = None, new: str | None = None
) -> Redline:
    """The redline of SOP_ID from version OLD to NEW (released versions, "current", or
    "pending" for the work tree's text); by default the previous and the current one."""
    from sopgit.core.redline import redline

    sop = snapshot.sop(sop_id)
    version = snapshot.version(sop.sop_id)
    old, new = default_pair(version, old, new)
    before, before_label = text_of(snapshot, sop, version, old)
    after, after_label = text_of(snapshot, sop, version, new)
    return redline(before, after, before_label, after_label)


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
