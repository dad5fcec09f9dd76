"""`status` rows kept between runs in `.git/sopgit/status-v2.bin`.

The rows are kept under a key made of everything they are computed from:

- sopgit's version and cache format, and the configuration it runs with;
- the commit HEAD names and the branch checked out;
- every tag (name, target, tagger, message) as `git for-each-ref` lists it now;
- every SOP file's path and bytes, as read now from the work tree.

A run with the same key reads the rows and starts no `git log` and no read of a tag's
contents. Any difference is another key, and the rows are computed again:

- incrementally (sopgit.core.status_increment) when the kept HEAD is an ancestor of HEAD
  (or HEAD itself), on the same branch and configuration, with no tag moved or deleted:
  only `git log HEAD --not OLD` is read, and only the SOPs the new commits, new tags,
  new reviews or edited files touch are computed again, from their own files and tags;
- in full otherwise, or whenever the increment cannot be proven to give the answer a
  full computation gives (see sopgit.core.status_increment.plan).

Either way the rows are computed from exactly the files, tags, HEAD and branch their
key is made of (the texts read for the key, the tags of the same listing as their ids),
so what is kept under a key is what a run without any cache answers for that state. A
damaged file (checksum) or one of another sopgit version or configuration is ignored
and replaced. Today's date is not part of the key: whether a review is due is decided
after reading.
"""

from __future__ import annotations

import hashlib
import marshal
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sopgit.core.status import StatusRow, undated_rows
from sopgit.repo.history_cache import cache_key, read_kept, write_kept
from sopgit.repo.library import SopFile, sop_files
from sopgit.repo.textio import encode, read_text
from sopgit.repo.workspace import Library

if TYPE_CHECKING:
    from sopgit.core.status_increment import Kept
    from sopgit.repo.history_cache import CachedScan
    from sopgit.repo.snapshot import Snapshot, Sop

FILE_NAME = "status-v2.bin"  # the key and the rows
STATE_FILE_NAME = "status-state-v2.bin"  # the rows and what the next run starts from
TAGS = "refs/tags/"


@dataclass(frozen=True)
class LibraryStatus:
    rows: list[StatusRow]  # as on any day (see sopgit.core.status.dated)
    branch: str | None
    on_release_branch: bool


@dataclass(frozen=True)
class _Inputs:
    head: str
    branch: str | None
    tag_ids: list[tuple[str, str]]  # (ref name, object id) of every tag
    files: list[SopFile]
    texts: dict[str, str]  # path -> text
    digests: dict[str, bytes]  # path -> sha256 of its bytes


def library_status(lib: Library) -> LibraryStatus:
    """The status rows of LIB, from the kept rows when nothing they depend on changed,
    else from the kept rows and what changed since, else computed in full."""
    from sopgit.repo.snapshot import start_scan

    repo = lib.repo
    head = repo.head_commit()
    scan = None
    folder = repo.private_dir()
    if head is not None and not any((folder / n).is_file() for n in (FILE_NAME, STATE_FILE_NAME)):
        scan = start_scan(lib, head)  # nothing kept: git log runs while the files are read
    files = sop_files(lib.root, lib.config)
    texts = {f.path: read_text(lib.root / f.path) for f in files}
    if not lib.use_cache or head is None or repo.is_shallow_fast():
        return _full(lib, head, files, texts, scan).status
    digests = {path: hashlib.sha256(encode(text)).digest() for path, text in texts.items()}
    inputs = _Inputs(head, repo.current_branch(), repo.tag_ids(), files, texts, digests)
    base = _base_key(lib)
    on_release = inputs.branch == lib.config.release_branch
    key = _key(base, inputs)
    stored = _read_parts(folder / FILE_NAME, base)
    if stored and len(stored) == 2 and stored[0] == key:
        kept_rows = _rows(stored[1])
        if kept_rows is not None:
            return LibraryStatus(kept_rows, inputs.branch, on_release)
    stored = _read_parts(folder / STATE_FILE_NAME, base)
    if stored and len(stored) == 2:
        advanced = _advance(lib, inputs, _rows(stored[0]), stored[1])
        if advanced is not None:
            _keep(folder, base, key, *advanced)
            return LibraryStatus(advanced[0], inputs.branch, on_release)
    full = _full(lib, head, files, texts, scan)
    if full.tag_ids is not None and full.snapshot is not None:
        # kept under exactly what they were computed from
        inputs = _Inputs(head, full.snapshot.branch, full.tag_ids, files, texts, digests)
        state = _state(lib, full.snapshot, inputs)
        _keep(folder, base, _key(base, inputs), full.status.rows, state)
    return full.status


def _keep(folder: Path, base: str, key: str, rows: list[StatusRow], state: dict[str, Any]) -> None:
    """The rows under KEY, for a run in the same state; the rows and STATE, for a run
    after something changed (written first: the rows alone are read more often)."""
    plain = marshal.dumps([r.as_tuple() for r in rows])
    write_kept(folder / STATE_FILE_NAME, base, [plain, marshal.dumps(state)])
    write_kept(folder / FILE_NAME, base, [key, plain])


def _read_parts(path: Path, base: str) -> list[Any] | None:
    """The parts _keep wrote in PATH under BASE, each unmarshalled (None: not kept, or
    damaged). Each part is kept marshalled as one bytes value: read whole, it is
    unmarshalled ten times as fast as object by object from the file."""
    stored = read_kept(path, base)
    if stored is None:
        return None
    try:
        return [marshal.loads(p) if isinstance(p, bytes) else p for p in stored]
    except (ValueError, EOFError, TypeError):
        return None


@dataclass(frozen=True)
class _Full:
    status: LibraryStatus
    snapshot: Snapshot | None
    tag_ids: list[tuple[str, str]] | None


def _full(
    lib: Library,
    head: str | None,
    files: list[SopFile],
    texts: dict[str, str],
    scan: CachedScan | None = None,
) -> _Full:
    """The rows computed from the whole history (itself cached, see sopgit.repo.history_cache);
    SCAN: its scan, if started already."""
    from sopgit.repo.snapshot import collector_paused, load_snapshot

    tags, tag_ids = lib.repo.tags_and_ids()
    snapshot = load_snapshot(lib, head, overlay=texts, files=files, tags=tags, scan=scan)
    with collector_paused():
        rows = undated_rows(snapshot)
    return _Full(
        LibraryStatus(rows, snapshot.branch, snapshot.on_release_branch), snapshot, tag_ids
    )


def _base_key(lib: Library) -> str:
    """What any kept rows depend on besides the repository's state: sopgit's version,
    the cache format and the configuration."""
    digest = hashlib.sha256()
    for part in (cache_key(repr(lib.config).encode("utf-8", "surrogateescape")), FILE_NAME):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()


def _key(base: str, inputs: _Inputs) -> str:
    digest = hashlib.sha256()
    for part in (
        base,
        inputs.head,
        inputs.branch if inputs.branch is not None else "\1detached",
        repr(inputs.tag_ids),
    ):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    for file in inputs.files:
        digest.update(encode(repr(file)) + b"\0")
        digest.update(inputs.digests[file.path])
    return digest.hexdigest()


def _rows(kept: object) -> list[StatusRow] | None:
    """The rows write_kept stored, or None if KEPT is not a list of them."""
    if not isinstance(kept, list):
        return None
    try:
        return [StatusRow(*fields) for fields in kept]
    except TypeError:
        return None


# --- what is kept for the next run to start from ----------------------------------------


def _state(lib: Library, snapshot: Snapshot, inputs: _Inputs) -> dict[str, Any]:
    """What a later run needs to bring the rows of SNAPSHOT up to date (plain values)."""
    from sopgit.core.status_increment import paths_named

    history = snapshot.history
    latest: dict[str, str] = {}
    pending: dict[str, list[str]] = {}  # id -> the bump of each pending commit
    for sop_id in snapshot.sops:
        version = snapshot.version(sop_id)
        if version.releases:
            latest[sop_id] = version.releases[0][1].target
        if version.pending:
            pending[sop_id] = [c.bump for c in version.pending]
    reviews: dict[str, list[tuple[Any, ...]]] = {}
    for event in snapshot.all_reviews:
        reviews.setdefault(event.sop_id, []).append(astuple(event))
    by_path = {f.path: f for f in inputs.files}
    return {
        "head": inputs.head,
        "branch": inputs.branch,
        "tags": inputs.tag_ids,
        "files": {
            s.path: (repr(by_path[s.path]), inputs.digests[s.path], s.sop_id)
            for s in snapshot.sops.values()
        },
        "pending": pending,
        "latest": latest,
        "reviews": reviews,
        "seen": sorted(paths_named(history.commits)),
        "separable": history.separable,
        # An adopted library's hand-typed versions are read with a `git log -G` of the
        # whole library, and a release tag off HEAD's history needs the graph beyond it.
        "incremental": not lib.config.format.legacy
        and all(history.ancestry.reachable(target) for target in latest.values()),
        "from": None,  # computed in full
    }


def _advance(
    lib: Library, inputs: _Inputs, kept_rows: list[StatusRow] | None, state: object
) -> tuple[list[StatusRow], dict[str, Any]] | None:
    """The rows at INPUTS from the rows KEPT_ROWS and STATE of an earlier run, or None
    when they must be computed in full (see sopgit.core.status_increment)."""
    if kept_rows is None or not isinstance(state, dict):
        return None
    try:
        if not state["incremental"] or state["branch"] != inputs.branch:
            return None
        kept_tags = dict(state["tags"])
        kept_files: dict[str, tuple[str, bytes, str]] = state["files"]
        kept = _kept(state, kept_rows)
    except (KeyError, TypeError, ValueError):
        return None
    return _advance_from(lib, inputs, kept, kept_tags, kept_files)


def _kept(state: dict[str, Any], rows: list[StatusRow]) -> Kept:
    from sopgit.core.lifecycle import Event
    from sopgit.core.status_increment import Kept

    return Kept(
        head=state["head"],
        rows={r.id: r for r in rows},
        paths={path: entry[2] for path, entry in state["files"].items()},
        pending=state["pending"],
        latest=state["latest"],
        reviews={i: [Event(*e) for e in found] for i, found in state["reviews"].items()},
        seen=frozenset(state["seen"]),
        separable=bool(state["separable"]),
    )


def _advance_from(
    lib: Library,
    inputs: _Inputs,
    kept: Kept,
    kept_tags: dict[str, str],
    kept_files: dict[str, tuple[str, bytes, str]],
) -> tuple[list[StatusRow], dict[str, Any]] | None:
    from sopgit.core.status_increment import advance, plan
    from sopgit.core.versioning import tag_pattern
    from sopgit.errors import RepoError
    from sopgit.repo.history_cache import newest_first

    config, repo = lib.config, lib.repo
    now = dict(inputs.tag_ids)
    if any(now.get(ref) != oid for ref, oid in kept_tags.items()):
        return None  # a tag moved or deleted
    pattern = tag_pattern(config.tag_format, config.format.id_pattern)
    tagged = set()
    for ref in now:
        match = pattern.match(ref.removeprefix(TAGS)) if ref not in kept_tags else None
        if match:
            tagged.add(match.group("id"))
    # Each file's SOP id: the kept one for a file as it was, else read from the file.
    parsed: dict[str, Sop] = {}
    paths: dict[str, str] = {}  # the first file of each id (as sopgit.repo.snapshot.read_sops)
    changed: set[str] = set()
    taken: set[str] = set()
    for file in inputs.files:
        entry = kept_files.get(file.path)
        same = entry is not None and entry[:2] == (repr(file), inputs.digests[file.path])
        if same and entry is not None:
            sop_id: str | None = entry[2]
        else:
            sop = _read(lib, file, inputs.texts)
            sop_id = sop.sop_id if sop is not None else None
            if sop is not None:
                parsed[file.path] = sop
        if sop_id is not None and sop_id not in taken:
            taken.add(sop_id)
            paths[file.path] = sop_id
            if not same:
                changed.add(sop_id)
    new = []
    if inputs.head != kept.head:
        try:
            new = newest_first(repo.scan_history(inputs.head, f"^{kept.head}").result())
        except RepoError:
            return None  # the kept HEAD is gone
    todo = plan(kept, inputs.head, new, paths, changed, tagged)
    if todo is None:
        return None
    by_path = {f.path: f for f in inputs.files}
    sops = {}
    for path, sop_id in paths.items():
        if sop_id in todo.redo:
            sop = parsed.get(path) or _read(lib, by_path[path], inputs.texts)
            if sop is None or sop.sop_id != sop_id:
                return None
            sops[sop_id] = sop
    refs = []
    for ref in now:
        match = pattern.match(ref.removeprefix(TAGS))
        if match and match.group("id") in todo.redo:
            refs.append(ref)
    tags, ids = repo.tags_and_ids(*refs) if refs else ([], [])
    if sorted(ids) != sorted((ref, now[ref]) for ref in refs):
        return None  # the tags changed while they were read
    on_release = inputs.branch == config.release_branch
    result = advance(kept, todo, inputs.head, paths, config, on_release, sops, tags)
    if result is None:
        return None
    state = {
        "head": inputs.head,
        "branch": inputs.branch,
        "tags": inputs.tag_ids,
        "files": {
            path: (repr(by_path[path]), inputs.digests[path], sop_id)
            for path, sop_id in paths.items()
        },
        "pending": {i: list(p) for i, p in result.kept.pending.items()},
        "latest": dict(result.kept.latest),
        "reviews": {i: [astuple(e) for e in found] for i, found in result.kept.reviews.items()},
        "seen": sorted(result.kept.seen),
        "separable": result.kept.separable,
        "incremental": True,
        "from": kept.head,  # brought up to date from the rows kept for that HEAD
    }
    return result.rows, state


def _read(lib: Library, file: SopFile, texts: dict[str, str]) -> Sop | None:
    """FILE's SOP, parsed from its text as read for the key (None: it names no id)."""
    from sopgit.repo.snapshot import read_sops

    found = read_sops(lib, [file], overlay=texts)
    return next(iter(found.values()), None)


def advanced_from(lib: Library) -> str | None:
    """The HEAD whose kept rows the last kept ones were brought up to date from; None
    when they were computed in full (or none are kept)."""
    stored = _read_parts(lib.repo.private_dir() / STATE_FILE_NAME, _base_key(lib))
    if not stored or len(stored) != 2 or not isinstance(stored[1], dict):
        return None
    found = stored[1].get("from")
    return found if isinstance(found, str) else None
