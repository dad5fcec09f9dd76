"""One read of a library: its SOP files, history and tags, for the version commands.

Git is read in a fixed number of processes whatever the library's size: one history
scan, one tag listing, and one rev-list when a latest tag is not reachable from HEAD.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property

from sopgit.document import Document, parse_document
from sopgit.errors import DocumentError, UsageError
from sopgit.history import History, SopVersion, history_rows, release_tags
from sopgit.library import SOP_ID, SopFile, sop_files
from sopgit.lifecycle import REVIEW_TRAILER, Event, events, interval_for, next_review
from sopgit.workspace import Library


@dataclass(frozen=True)
class Sop:
    sop_id: str
    path: str
    text: str
    doc: Document | None  # None when the file does not parse (check says why)

    def meta(self, key: str, default: str = "") -> str:
        value = self.doc.meta.get(key) if self.doc else None
        if isinstance(value, dt.date):
            return value.isoformat()
        return str(value) if value is not None else default


@dataclass
class Snapshot:
    lib: Library
    sops: dict[str, Sop]  # by id, sorted
    history: History
    branch: str | None
    head: str | None

    @property
    def on_release_branch(self) -> bool:
        return self.branch == self.lib.config.release_branch

    def version(self, sop_id: str, force: str | None = None) -> SopVersion:
        return self.history.version(sop_id, force)

    def reviews(self, sop_id: str) -> list[Event]:
        """Recorded periodic reviews of SOP_ID, newest first."""
        return [e for e in self._reviews if e.sop_id == sop_id]

    @cached_property
    def _reviews(self) -> list[Event]:
        return events(self.history.commits, REVIEW_TRAILER)

    def review_due(self, sop_id: str) -> str | None:
        """When SOP_ID's next periodic review falls due (None until it is released)."""
        rows = history_rows(self.version(sop_id))
        if not rows:
            return None
        sop = self.sops[sop_id]
        interval = interval_for(
            sop.doc.meta if sop.doc else {}, self.lib.config.review_interval_days
        )
        return next_review(rows[-1].date, self.reviews(sop_id), interval)

    def sop(self, sop_id: str) -> Sop:
        key = sop_id.upper()
        if key not in self.sops:
            raise UsageError(f"no SOP with id {key} in this library; see 'sopgit status'")
        return self.sops[key]


def read_sops(lib: Library, files: list[SopFile] | None = None) -> dict[str, Sop]:
    """SOP files (default: all) by id: the frontmatter's sop_id, else the id in the name."""
    found: dict[str, Sop] = {}
    for file in sop_files(lib.root, lib.config) if files is None else files:
        text = (lib.root / file.path).read_text(encoding="utf-8", errors="replace")
        try:
            doc: Document | None = parse_document(text, file.path)
        except DocumentError:
            doc = None
        claimed = doc.meta.get("sop_id") if doc else None
        sop_id = (
            claimed if isinstance(claimed, str) and SOP_ID.match(claimed) else file.id_from_name
        )
        if sop_id and sop_id not in found:
            found[sop_id] = Sop(sop_id, file.path, text, doc)
    return dict(sorted(found.items()))


def load_snapshot(lib: Library) -> Snapshot:
    repo = lib.repo
    scan = repo.scan_history() if repo.has_commits() else None
    tags = repo.tags()
    sops = read_sops(lib)  # while git log runs
    commits = scan.result() if scan else []
    head = commits[0].sha if commits else None
    history = History.build(
        lib.config, commits, tags, {s.path: s.sop_id for s in sops.values()}, head
    )
    latest = [versions[0][1].target for versions in history.tags_by_sop.values()]
    unreachable = [t for t in latest if not history.ancestry.reachable(t)]
    if unreachable:
        history.ancestry.outside = repo.parents_outside(unreachable)
    return Snapshot(lib, sops, history, repo.current_branch(), head)


def load_one(lib: Library, sop_id: str) -> tuple[Sop, SopVersion]:
    """One SOP and its version, reading only its own tags and the history since them.

    Commits reachable from its latest tag are never pending, so the scan covers only
    `LATEST..HEAD`: a recently released SOP costs a fraction of a full scan.
    """
    wanted = sop_id.upper()
    named = [f for f in sop_files(lib.root, lib.config) if f.id_from_name == wanted]
    sops = read_sops(lib, named)
    if wanted not in sops:  # the id is not in the file name: look inside every file
        sops = read_sops(lib)
    if wanted not in sops:
        raise UsageError(f"no SOP with id {wanted} in this library; see 'sopgit status'")
    sop = sops[wanted]
    pattern = lib.config.tag_format.replace("{id}", wanted).replace("{version}", "*")
    tags = lib.repo.tags(pattern)
    released = release_tags(tags, lib.config.tag_format).get(wanted, [])
    since = f"{released[0][1].target}..HEAD" if released else "HEAD"
    commits = lib.repo.scan_history(since).result() if lib.repo.has_commits() else []
    head = commits[0].sha if commits else None
    history = History.build(lib.config, commits, tags, {sop.path: wanted}, head)
    return sop, history.version(wanted)
