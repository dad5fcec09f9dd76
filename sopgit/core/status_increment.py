"""status's rows after new commits, from the rows kept for an earlier HEAD (pure).

A full computation walks the whole history. When the HEAD the kept rows were computed
for (OLD) is the only commit outside the new ones that they lead to, the history below
OLD is walked exactly as before, provided the names the walk hands to OLD are the ones
the earlier walk started from. So each SOP's commits are the kept ones plus what the
new commits add, and only the SOPs that something touched are computed again:

- the SOPs the new commits change (renames and deletes included; merges bring in
  whatever of their side branches is new);
- the SOPs whose file (its path or bytes) changed, and SOPs new to the library;
- the SOPs that gained a release tag, or a recorded review in a new commit.

Anything else is a reason to compute the rows in full (plan() answers None): a new
commit whose parent is an older commit than OLD (a branch forked earlier, merged
now), HEAD not a descendant of OLD, names at OLD that differ from the kept ones (a
rename whose file carries another id, a path that held another SOP), an SOP leaving
the library when two SOPs' names ever met, a new latest release tag that is not on a
new commit reaching OLD. Tags moved or deleted, another branch, another configuration
or an adopted library's hand-typed versions are refused by the caller before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sopgit.core.attribution import Names, Walk, walk
from sopgit.core.commits import parse_message
from sopgit.core.history import Change, change_of, release_tags, sop_version
from sopgit.core.lifecycle import REVIEW_TRAILER, Event, events
from sopgit.core.model import Commit, Tag
from sopgit.core.settings import Config
from sopgit.core.status import StatusRow, review_due, status_row
from sopgit.core.view import DatedSop


@dataclass(frozen=True)
class Kept:
    """What status keeps, beside its rows, of the state they were computed for."""

    head: str  # the commit HEAD named
    rows: Mapping[str, StatusRow]  # by SOP id
    paths: Names  # path -> SOP id: the SOP files the walk started from
    # id -> the bump each of its pending commits asks for (all a row reads of them)
    pending: Mapping[str, Sequence[str]]
    latest: Mapping[str, str]  # id -> the commit its latest release tag names
    reviews: Mapping[str, Sequence[Event]]  # id -> recorded reviews (any id)
    seen: frozenset[str]  # every path a change HEAD reaches names
    separable: bool  # no two SOPs' names ever met (see sopgit.core.attribution.Walk)


@dataclass(frozen=True)
class Plan:
    """What the new commits change, and which SOPs must be computed again."""

    new: list[Commit]  # the new commits
    found: Walk  # the walk over them from HEAD
    redo: frozenset[str]  # the SOPs computed again
    reviews: dict[str, list[Event]]  # id -> recorded reviews, the new ones first


def plan(
    kept: Kept,
    head: str,
    new: Sequence[Commit],
    paths: Names,
    changed: Iterable[str],
    tagged: Iterable[str],
) -> Plan | None:
    """How to bring KEPT to HEAD, whose commits since KEPT.head are NEW and whose SOP
    files are PATHS; CHANGED are the SOPs whose file changed, TAGGED those with a new
    tag. None when the rows must be computed in full."""
    shas = {c.sha for c in new}
    boundary = {p for c in new for p in c.parents if p not in shas}
    if not new:
        if head != kept.head:
            return None  # HEAD went back or elsewhere
        names_at_old: Names = paths
        found = Walk({sop_id: [] for sop_id in paths.values()})
    else:
        if boundary != {kept.head} or head not in shas:
            return None  # a branch forked before OLD, or OLD not an ancestor of HEAD
        found = walk(new, head, paths)
        if kept.head not in found.handed:
            return None
        names_at_old = found.handed[kept.head]
    if not _same_history(kept, names_at_old, set(paths.values())):
        return None
    added = events(new, REVIEW_TRAILER)
    reviews = {sop_id: list(found_) for sop_id, found_ in kept.reviews.items()}
    for event in reversed(added):
        reviews.setdefault(event.sop_id, []).insert(0, event)
    hit = {sop_id for sop_id, commits in found.touched.items() if commits}
    redo = (
        hit
        | set(changed)
        | set(tagged)
        | {e.sop_id for e in added}
        | {sop_id for sop_id in paths.values() if sop_id not in kept.rows}
    ) & set(paths.values())
    return Plan(list(new), found, frozenset(redo), reviews)


def _same_history(kept: Kept, names: Names, ids: set[str]) -> bool:
    """Does a walk on from OLD with NAMES give every SOP of IDS the commits below OLD
    that the kept walk gave it (none for an SOP new to the library)?"""
    before = _by_id(kept.paths)
    now = _by_id(names)
    for sop_id in ids:
        mine = now.get(sop_id, set())
        if mine == before.get(sop_id, set()):
            continue
        if sop_id in before or mine & kept.seen:
            return False  # its names below OLD are not the ones the kept walk followed
    gone = set(before) - ids
    # An SOP's names leave the walk: others keep theirs only if no two names ever met.
    return not gone or kept.separable


def _by_id(names: Names) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path, sop_id in names.items():
        found.setdefault(sop_id, set()).add(path)
    return found


@dataclass(frozen=True)
class Result:
    rows: list[StatusRow]  # sorted by id
    kept: Kept  # for the next run


def advance(
    kept: Kept,
    todo: Plan,
    head: str,
    paths: Names,
    config: Config,
    on_release_branch: bool,
    sops: Mapping[str, DatedSop],
    tags: Sequence[Tag],
) -> Result | None:
    """The rows at HEAD: the kept ones, and the SOPs of TODO.redo computed again from
    their files SOPS and their TAGS (every tag of theirs). None when a new latest
    release of one of them cannot be placed without the whole graph."""
    shas = {c.sha: c for c in todo.new}
    released = release_tags(tags, config.tag_format, config.format.id_pattern)
    rows = dict(kept.rows)
    pending = dict(kept.pending)
    latest = dict(kept.latest)
    ancestors: dict[str, set[str]] = {}
    for sop_id in sorted(todo.redo):
        mine = released.get(sop_id, [])
        target = mine[0][1].target if mine else None
        hits = todo.found.touched.get(sop_id, [])
        earlier = list(kept.pending.get(sop_id, ())) if sop_id in kept.rows else []
        if target == kept.latest.get(sop_id):
            # The same latest release (or none): no new commit is reachable from it.
            changes = [*(change_of(c, config) for c in hits), *_kept_changes(earlier)]
        elif target in shas:
            reached = ancestors.get(target)
            if reached is None:
                reached = ancestors[target] = _ancestors(shas, target)
            if kept.head not in reached:
                return None  # released on a side branch: the older commits need the graph
            changes = [change_of(c, config) for c in hits if c.sha not in reached]
        else:
            return None  # a latest release on a commit older than OLD, or not reached
        version = sop_version(config, sop_id, mine, changes)
        sop = sops[sop_id]
        due = review_due(sop, version, todo.reviews.get(sop_id, []), config.review_interval_days)
        rows[sop_id] = status_row(sop, version, due, on_release_branch)
        pending[sop_id] = [c.bump for c in version.pending]
        if target is not None:
            latest[sop_id] = target
    ids = sorted(set(paths.values()))
    seen = kept.seen | paths_named(todo.new)
    return Result(
        [rows[sop_id] for sop_id in ids],
        Kept(
            head=head,
            rows={sop_id: rows[sop_id] for sop_id in ids},
            paths=dict(paths),
            pending={sop_id: pending[sop_id] for sop_id in ids if pending.get(sop_id)},
            latest={sop_id: latest[sop_id] for sop_id in ids if sop_id in latest},
            reviews=todo.reviews,
            seen=seen,
            separable=kept.separable and todo.found.separable,
        ),
    )


def paths_named(commits: Iterable[Commit]) -> frozenset[str]:
    """Every path a change of COMMITS names (against any parent, before and after a
    rename)."""
    seen: set[str] = set()
    for commit in commits:
        for changes in (commit.changes, *commit.parent_changes):
            for change in changes:
                seen.add(change.path)
                if change.old_path is not None:
                    seen.add(change.old_path)
    return frozenset(seen)


def _kept_changes(bumps: Iterable[str]) -> list[Change]:
    """The kept pending commits, as a status row reads them: one change each, asking
    for its bump (their ids, authors and messages are not kept; none is a release
    commit, those were left out when they were kept)."""
    return [Change(_KEPT, _NO_MESSAGE, bump, None) for bump in bumps]


_KEPT = Commit("", (), "", "", 0, 0, "")
_NO_MESSAGE = parse_message("")


def _ancestors(by_sha: Mapping[str, Commit], start: str) -> set[str]:
    """START and what it reaches, through BY_SHA and one step past it."""
    seen = {start}
    stack = [start]
    while stack:
        for parent in by_sha[stack.pop()].parents:
            if parent not in seen:
                seen.add(parent)
                if parent in by_sha:
                    stack.append(parent)
    return seen
