"""`sopgit check`: gather the files and library facts, run the rules."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sopgit.core.settings import Config
from sopgit.core.versioning import current_versions
from sopgit.errors import UsageError
from sopgit.repo.library import is_sop_path, linked_sops, relative_to_root, sop_files
from sopgit.repo.lint import (
    Diagnostic,
    LibraryFacts,
    check_text,
    duplicate_map,
    identify,
)
from sopgit.repo.textio import link_on_path, read_text
from sopgit.repo.workspace import Library

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class CheckResult:
    files: tuple[str, ...]
    diagnostics: tuple[Diagnostic, ...]

    @property
    def errors(self) -> int:
        return sum(d.severity == "error" for d in self.diagnostics)

    @property
    def warnings(self) -> int:
        return sum(d.severity == "warning" for d in self.diagnostics)


def check_library(
    lib: Library,
    paths: Iterable[Path] = (),
    *,
    staged: bool = False,
    overdue_on: dt.date | None = None,
) -> CheckResult:
    """Check PATHS (default: every SOP file); the library-wide rules see all files.

    With STAGED, the texts are read from the index, as a pre-commit hook must. With
    OVERDUE_ON, SOPs whose periodic review is overdue on that day are errors too.
    """
    root, config = lib.root, lib.config
    library_texts = {f.path: read_text(root / f.path) for f in sop_files(root, config)}
    linked: list[str] = []
    if staged:  # the paths come from the index; the work tree may lack them
        targets = [relative_to_root(root, p) or str(p) for p in paths]
        library_texts.update(lib.repo.staged_text(targets))
    elif paths:
        targets = _targets(root, list(paths), config)
        linked = [t for t in targets if link_on_path(root, root / t)]
        targets = [t for t in targets if t not in linked]
    else:
        targets = sorted(library_texts)
        linked = linked_sops(root, config)
    texts = {p: library_texts[p] if p in library_texts else _read(root, p) for p in targets}
    fmt = config.format
    known = {path: identify(path, text, fmt) for path, text in {**library_texts, **texts}.items()}
    ids = ((path, sop_id) for path, (sop_id, _meta) in known.items())
    status_key = fmt.key("status")
    retired = {
        p: str(sop_id or p)
        for p, (sop_id, meta) in known.items()
        if status_key and fmt.status_of(meta.get(status_key)) == "retired"
    }
    facts = LibraryFacts(
        config=config,
        exists=lambda relative: (root / relative).exists(),
        id_paths=duplicate_map((path, i) for path, i in ids if isinstance(i, str)),
        retired=retired,
        released={
            sop_id: str(version)
            for sop_id, version in current_versions(
                lib.repo.tag_names(), config.tag_format, fmt.id_pattern
            ).items()
        },
    )
    diagnostics = [
        Diagnostic(
            path,
            1,
            "symlink",
            "is a symbolic link; sopgit reads no SOP through a link: commit the file itself",
        )
        for path in linked
    ]
    diagnostics += [d for path in targets for d in check_text(path, texts[path], facts)]
    if overdue_on is not None:
        diagnostics += overdue_reviews(lib, set(targets), overdue_on)
    return CheckResult(tuple(sorted([*targets, *linked])), tuple(diagnostics))


def overdue_reviews(lib: Library, paths: set[str], today: dt.date) -> list[Diagnostic]:
    """An error for each SOP among PATHS whose periodic review is overdue on TODAY."""
    from sopgit.repo.snapshot import load_snapshot

    snapshot = load_snapshot(lib)
    found = []
    for sop in snapshot.sops.values():
        due = snapshot.review_due(sop.sop_id)
        if (
            sop.path in paths
            and due
            and due < today.isoformat()
            and sop.meta("status") != "retired"
        ):
            line = sop.doc.line_of("lastUpdated") if sop.doc else 1
            message = (
                f"the periodic review of {sop.sop_id} was due on {due}; review it and run "
                f"'sopgit review {sop.sop_id} --done', or release a revision"
            )
            found.append(Diagnostic(sop.path, line, "review-overdue", message))
    return found


def _targets(root: Path, paths: list[Path], config: Config) -> list[str]:
    """Markdown files named on the command line (folders expand), relative to ROOT."""
    found: list[str] = []
    for path in paths:
        if not path.exists():
            raise UsageError("does not exist; give an SOP file or folder", path)
        files = sorted(path.rglob("*.md")) if path.is_dir() else [path]
        if path.is_dir():  # a folder holds the SOPs the library's globs name
            files = [f for f in files if _is_sop(root, f, config)]
        for file in files:
            unresolved = os.path.relpath(os.path.abspath(file), root)
            if not unresolved.startswith("..") and link_on_path(root, root / unresolved):
                relative: str | None = Path(unresolved).as_posix()  # check reports the link
            else:
                relative = relative_to_root(root, file)
            if relative is None:
                raise UsageError(f"lies outside the library at {root}", file)
            if relative not in found:
                found.append(relative)
    return found


def _is_sop(root: Path, file: Path, config: Config) -> bool:
    relative = relative_to_root(root, file)
    base = (root / config.root).resolve()
    try:
        under = file.resolve().relative_to(base).as_posix()
    except ValueError:
        return relative is not None  # outside the root: the outside-root rule says so
    return is_sop_path(under, config.format.files, config.format.exclude)


def _read(root: Path, relative: str) -> str:
    return read_text(root / relative)
