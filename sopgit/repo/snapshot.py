"""One read of a library: its SOP files, history and tags, for the version commands.

Git is read in a fixed number of processes whatever the library's size: one history
scan, one tag listing, and one rev-list when a latest tag is not reachable from HEAD.
"""

from __future__ import annotations

import datetime as dt
import gc
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sopgit.core.attribution import OutOfOrder, Resolve, Walker
from sopgit.core.commits import parse_message
from sopgit.core.formats import SEED_FORMAT, Format
from sopgit.core.history import (
    History,
    HistoryRow,
    Legacy,
    MainlineReach,
    SopVersion,
    release_tags,
)
from sopgit.core.lifecycle import REVIEW_TRAILER, Event, events
from sopgit.core.model import Commit, Tag
from sopgit.core.versioning import current_versions
from sopgit.errors import DocumentError, UsageError
from sopgit.repo.docformat import (
    LegacyRow,
    legacy_rows,
    parse_date,
    read_document,
    sop_id_of,
    stated_version,
)
from sopgit.repo.document import Document
from sopgit.repo.library import SopFile, sop_files
from sopgit.repo.lint import LibraryFacts, check_document, duplicate_map
from sopgit.repo.textio import read_text
from sopgit.repo.workspace import Library

if TYPE_CHECKING:
    from sopgit.repo.history_cache import CachedScan

# The seed's frontmatter keys, which the commands ask for, -> sopgit's field names.
SEED_NAMES = {
    "title": "title",
    "sop_id": "id",
    "description": "description",
    "lastUpdated": "last_updated",
    "version": "version",
    "owner": "owner",
    "tags": "tags",
    "status": "status",
}


@dataclass(frozen=True)
class Sop:
    sop_id: str
    path: str
    text: str
    doc: Document | None  # None when the file does not parse (check says why)
    fmt: Format = SEED_FORMAT

    def raw(self, key: str) -> Any:
        """The value of KEY (a seed key name) under the library's own key name."""
        if self.doc is None:
            return None
        name = SEED_NAMES.get(key)
        if name == "title" and not self.fmt.key("title"):  # the title is the first heading
            return first_heading(self.doc, self.sop_id)
        value = self.doc.meta.get(self.fmt.key(name) if name else key)
        return self.fmt.status_of(value) if name == "status" else value

    def stated_date(self, name: str) -> str | None:
        """The date the library's key for sopgit's field NAME holds (ISO), or None."""
        key = self.fmt.key(name)
        if self.doc is None or not key:
            return None
        day = parse_date(self.doc.meta.get(key), self.fmt.date_format)
        if day is None:
            raw = self.doc.meta.get(key)
            day = parse_date(raw, "%Y-%m-%d") if raw is not None else None
        return day.isoformat() if day else None

    def meta(self, key: str, default: str = "") -> str:
        value = self.raw(key)
        if key == "lastUpdated" and value is not None:
            day = parse_date(value, self.fmt.date_format)
            value = day if day is not None else value
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
    errors: dict[str, str] | None = None  # id -> check's first error (load_snapshot CHECK)

    @property
    def on_release_branch(self) -> bool:
        return self.branch == self.lib.config.release_branch

    def version(self, sop_id: str, force: str | None = None) -> SopVersion:
        return self.history.version(sop_id, force)

    def reviews(self, sop_id: str) -> list[Event]:
        """Recorded periodic reviews of SOP_ID, newest first."""
        return self._reviews_by_sop.get(sop_id, [])

    @cached_property
    def all_reviews(self) -> list[Event]:
        """Every recorded periodic review, newest first."""
        return events(self.history.commits, REVIEW_TRAILER)

    @cached_property
    def _reviews_by_sop(self) -> dict[str, list[Event]]:
        found: dict[str, list[Event]] = {}
        for event in self.all_reviews:
            found.setdefault(event.sop_id, []).append(event)
        return found

    def review_due(self, sop_id: str) -> str | None:
        """When SOP_ID's next periodic review falls due (None until it is released)."""
        from sopgit.core.status import review_due

        return review_due(
            self.sops[sop_id],
            self.version(sop_id),
            self.reviews(sop_id),
            self.lib.config.review_interval_days,
        )

    def sop(self, sop_id: str) -> Sop:
        """The SOP of SOP_ID, as written or in any case (sop-hr-004, SOP-HR-004)."""
        key = known_id(sop_id, self.sops)
        if key is None:
            raise UsageError(
                f"no SOP with id {sop_id.upper()} in this library; see 'sopgit status'"
            )
        return self.sops[key]


def known_id(sop_id: str, ids: Iterable[str]) -> str | None:
    """The id among IDS that SOP_ID names: as written, else ignoring case."""
    ids = list(ids)
    if sop_id in ids:
        return sop_id
    folded = [i for i in ids if i.casefold() == sop_id.casefold()]
    return folded[0] if len(folded) == 1 else None


def first_heading(doc: Document, sop_id: str) -> str | None:
    """The title a file without a title key carries: its first heading, less a leading
    id ("SOP-003: Document Control" -> "Document Control")."""
    heading = next((h for h in doc.headings if h.level == 1), None)
    if heading is None:
        return None
    text = heading.title.strip()
    for separator in (":", " - ", " – ", " — "):
        head, found, rest = text.partition(separator)
        if found and head.strip().casefold() == sop_id.casefold() and rest.strip():
            return rest.strip()
    return text


def read_sops(
    lib: Library, files: list[SopFile] | None = None, overlay: Mapping[str, str] | None = None
) -> dict[str, Sop]:
    """SOP files (default: all) by id: the id key's, else the id in the file name.
    OVERLAY gives the text of some paths instead of the work tree's."""
    found: dict[str, Sop] = {}
    fmt = lib.config.format
    for file in sop_files(lib.root, lib.config) if files is None else files:
        if overlay is not None and file.path in overlay:
            text = overlay[file.path]
        else:
            text = read_text(lib.root / file.path)
        try:
            doc: Document | None = read_document(text, file.path, fmt)
        except DocumentError:
            doc = None
        sop_id = sop_id_of(file.path, doc, fmt)
        if sop_id and sop_id not in found:
            found[sop_id] = Sop(sop_id, file.path, text, doc, fmt)
    return dict(sorted(found.items()))


def legacy_of(sops: Iterable[Sop], fmt: Format) -> dict[str, Legacy]:
    """What adopted SOP files say of their versions before sopgit (`[format] legacy`):
    the version key and the rows of the hand-typed history table that read."""
    if not fmt.legacy:
        return {}
    found = {}
    for sop in sops:
        if sop.doc is None:
            continue
        typed: list[LegacyRow] = []
        if not fmt.history.markers:
            typed, _problems = legacy_rows(sop.doc, fmt)  # check reports the problems
        if fmt.history.order == "newest-first":
            typed.reverse()
        rows = tuple(
            HistoryRow(
                version=r.version,
                date=r.date,
                description=r.description,
                author=r.author,
                approved_by=r.approved_by,
                pull_requests=(),
                tag="",
                source="hand",
                text=r.text,
            )
            for r in typed
        )
        found[sop.sop_id] = Legacy(stated_version(sop.doc, fmt), rows)
    return found


def with_stated_since(
    lib: Library, legacy: dict[str, Legacy], sops: Iterable[Sop], rev: str = "HEAD"
) -> None:
    """Fill in, for each adopted SOP that states a version, the commit that last
    changed a line holding its version key (one `git log -G` for the whole library)."""
    fmt = lib.config.format
    keys = fmt.all_version_keys()
    paths = {s.path: s.sop_id for s in sops if s.sop_id in legacy and legacy[s.sop_id].stated}
    if not keys or not paths or not lib.repo.has_commits():
        return
    names = "|".join(re.escape(k).replace("\\ ", " ") for k in keys)
    pattern = (
        rf"^[[:space:]]*({names})[[:space:]]*:|"
        rf"^[[:space:]]*\|[[:space:]]*[*_`]*({names})[*_`]*:?[[:space:]]*\|"
    )
    out = lib.repo.run(
        "log", "-E", f"-G{pattern}", "--format=%x00%H", "--name-only", rev, "--", *sorted(paths)
    )
    for block in out.split("\0")[1:]:
        sha, *changed = block.split()
        for path in changed:
            sop_id = paths.pop(path, None)
            if sop_id is not None:
                legacy[sop_id] = replace(legacy[sop_id], since=sha)


def start_scan(lib: Library, head: str) -> CachedScan:
    """The history scan HEAD needs, from the cache where it can (see sopgit.repo.history_cache)."""
    from sopgit.repo.config import CONFIG_FILE
    from sopgit.repo.history_cache import CachedScan, cache_key

    try:
        config = (lib.root / CONFIG_FILE).read_bytes()
    except OSError:
        config = b""
    return CachedScan(lib.repo, head, cache_key(config), enabled=lib.use_cache)


class GraphWalk:
    """Attribution and ancestry found while git log still prints the commits (see
    sopgit.core.attribution.Walker): most of the work after the scan is done by then.
    CHANGES tells what a commit read so far changed against each parent.

    Meanwhile the messages of the commits that will likely be pending are parsed too
    (parse_message keeps what it parsed): those that change an SOP after its latest
    release was tagged (RELEASED: its time, by SOP id). Whatever is pending is still
    decided from the graph alone; this only has the parsing done while git runs.
    """

    def __init__(
        self,
        head: str,
        paths: Mapping[str, str],
        changes: Resolve,
        released: Mapping[str, int] = {},
    ) -> None:
        self.walker = Walker(head, paths, changes, self._parse_if_pending)
        self.reach = MainlineReach(head)
        self._released = released

    def visit(self, commit: Commit) -> None:
        self.walker.visit(commit)
        self.reach.visit(commit)

    def _parse_if_pending(self, commit: Commit, owners: set[str]) -> None:
        if any(commit.commit_time >= self._released.get(o, -1) for o in owners):
            parse_message(commit.message)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a library is read, its findings frozen after.

    A large history is a million objects, none of them garbage, that the collector
    would otherwise walk again and again as they are made (a fifth of a cold `status`).
    What was read lives until the command ends, so it is frozen: never walked again.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def load_snapshot(
    lib: Library,
    head: str | None = None,
    overlay: Mapping[str, str] | None = None,
    *,
    check: bool = False,
    files: list[SopFile] | None = None,
    tags: list[Tag] | None = None,
    scan: CachedScan | None = None,
) -> Snapshot:
    """The library at HEAD; or at commit HEAD (not checked out: made, no ref moved yet)
    whose files differ from the work tree's by OVERLAY (path -> text). With CHECK, each
    SOP's first check error too, found while git log runs (release refuses those).
    FILES and TAGS, when given, are the SOP files and tags already read; SCAN, the
    history scan of HEAD already started."""
    with collector_paused():
        return _load_snapshot(lib, head, overlay, check, files, tags, scan)


def _load_snapshot(
    lib: Library,
    head: str | None,
    overlay: Mapping[str, str] | None,
    check: bool,
    files: list[SopFile] | None,
    tags: list[Tag] | None,
    scan: CachedScan | None,
) -> Snapshot:
    repo = lib.repo
    head = head or repo.head_commit()
    if scan is None and head:
        scan = start_scan(lib, head)
    tags = repo.tags() if tags is None else tags
    sops = read_sops(lib, files, overlay=overlay)  # while git log runs
    paths = {s.path: s.sop_id for s in sops.values()}
    released = release_tags(tags, lib.config.tag_format, lib.config.format.id_pattern)
    latest = {sop_id: versions[0][1] for sop_id, versions in released.items()}
    times = {sop_id: tag.time for sop_id, tag in latest.items()}
    follower = GraphWalk(head, paths, scan.changes_so_far, times) if scan and head else None
    if follower is not None and scan is not None and not scan.follow(follower):
        follower = None
    for tag in latest.values():  # read for each version and review date: parsed meanwhile
        parse_message(tag.message)
    errors = None
    if check:
        errors = sop_errors(lib, sops, [t.name for t in tags])  # git log still runs
    commits = scan.result() if scan else []
    walked = None
    if follower is not None and scan is not None and scan.followed():
        try:
            walked = (follower.walker.finish(commits, scan.as_read), follower.reach)
        except OutOfOrder:  # git printed a commit before a child of it: walk again
            walked = None
    legacy = legacy_of(sops.values(), lib.config.format)
    with_stated_since(lib, legacy, sops.values(), head or "HEAD")
    history = History.build(
        lib.config,
        commits,
        tags,
        paths,
        head,
        legacy=legacy,
        walked=walked,
        tags_by_sop=released,
    )
    targets = [versions[0][1].target for versions in history.tags_by_sop.values()]
    unreachable = [t for t in targets if not history.ancestry.reachable(t)]
    if unreachable:
        history.ancestry.outside = repo.parents_outside(unreachable)
    return Snapshot(lib, sops, history, repo.current_branch(), head, errors)


def load_one(lib: Library, sop_id: str) -> tuple[Sop, SopVersion]:
    """One SOP and its version, reading only its own tags and the history since them.

    Commits reachable from its latest tag are never pending, so the scan covers only
    `LATEST..HEAD`: a recently released SOP costs a fraction of a full scan.
    """
    files = sop_files(lib.root, lib.config)
    named = [f for f in files if f.id_from_name and known_id(sop_id, [f.id_from_name])]
    sops = read_sops(lib, named)
    if known_id(sop_id, sops) is None:  # the id is not in the file name: look inside every file
        sops = read_sops(lib)
    found = known_id(sop_id, sops)
    if found is None:
        raise UsageError(f"no SOP with id {sop_id.upper()} in this library; see 'sopgit status'")
    wanted = found
    sop = sops[wanted]
    pattern = lib.config.tag_format.replace("{id}", wanted).replace("{version}", "*")
    tags = lib.repo.tags(pattern)
    released = release_tags(tags, lib.config.tag_format, lib.config.format.id_pattern)
    latest = released.get(wanted, [])
    head = lib.repo.head_commit()
    # Nothing its latest tag reaches is pending, and a file's names at the commits after
    # the tag follow from those commits alone (merges list their changes per parent).
    since = [head, f"^{latest[0][1].target}"] if latest and head else [head or "HEAD"]
    commits = lib.repo.scan_history(*since).result() if head else []
    legacy = legacy_of([sop], lib.config.format)
    if not latest:
        with_stated_since(lib, legacy, [sop])
    history = History.build(lib.config, commits, tags, {sop.path: wanted}, head, legacy=legacy)
    return sop, history.version(wanted)


def sop_errors(
    lib: Library,
    sops: Mapping[str, Sop],
    tag_names: Iterable[str],
    only: Iterable[str] | None = None,
) -> dict[str, str]:
    """SOP id -> the first error `check` finds in it, for the SOPs that parsed (release
    refuses those), or just those ONLY names. The library-wide facts come from SOPS and
    TAG_NAMES, read once."""
    config, fmt = lib.config, lib.config.format
    status_key = fmt.key("status")
    facts = LibraryFacts(
        config=config,
        exists=lambda relative: (lib.root / relative).exists(),
        id_paths=duplicate_map((s.path, s.sop_id) for s in sops.values()),
        retired={
            s.path: s.sop_id
            for s in sops.values()
            if status_key and s.doc is not None and s.doc.meta.get(status_key) == "retired"
        },
        released={
            sop_id: str(version)
            for sop_id, version in current_versions(
                tag_names, config.tag_format, fmt.id_pattern
            ).items()
        },
    )
    found = {}
    for sop in sops.values() if only is None else [sops[i] for i in only]:
        if sop.doc is None:
            continue
        errors = [d for d in check_document(sop.doc, facts) if d.severity == "error"]
        if errors:
            found[sop.sop_id] = f"{sop.path}:{errors[0].line}: {errors[0].message}"
    return found
