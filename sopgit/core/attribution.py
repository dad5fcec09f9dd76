"""Which commits changed which SOP, from the commit graph alone (pure).

An SOP is its id. The files that carry it are found walking back from HEAD through
the commit graph, one parent link at a time, using the changes git found between the
commit and that parent (renames detected per parent, as `git diff-tree -M` does):

- at HEAD, an SOP's file is the one the library holds now;
- across a rename, its file in the parent is the file it was renamed from;
- a file that is deleted and later added again at the same path is the same SOP, so
  its history before the deletion still counts;
- where branches meet again, the names found along every child count.

A commit (not a merge) changed an SOP when its changes against its parent add,
modify, rename or delete one of the SOP's files (at that commit). A merge brings in the
commits of its parents and is not itself a change. The answer depends on parent links
and diffs only: never on commit dates or the order git prints commits in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sopgit.core.model import Commit, FileChange

Names = Mapping[str, str]  # path -> SOP id, at one commit


def attribute(
    commits: Sequence[Commit], head: str | None, paths: Mapping[str, str]
) -> dict[str, list[Commit]]:
    """Each SOP id of PATHS (current path -> id) -> the commits that changed it.

    COMMITS may hold more than what HEAD reaches (those are ignored) and may lack the
    ancestors of some (a scan that stopped at a boundary): names are followed as far as
    the commits go. Each list keeps the order of COMMITS.
    """
    return walk(commits, head, paths).touched


@dataclass
class Walk:
    """What one walk back from HEAD found."""

    touched: dict[str, list[Commit]]  # SOP id -> the commits that changed it
    # The names handed to each parent that COMMITS lack (where the walk stopped), united
    # as they would be had the walk gone on: a walk from there continues from these.
    handed: dict[str, Names] = field(default_factory=dict)
    # No two SOPs ever claimed one path (a merge of names that disagree, or a rename onto
    # a path another SOP holds). Then each SOP's names, and so its commits, depend on
    # its own files alone: leaving an SOP out changes no other SOP's answer.
    separable: bool = True


# What a child changed against its parent number INDEX, given that parent's tree when
# it is known (None: not yet); None when it cannot be told yet.
Resolve = Callable[[Commit, int, str | None], tuple[FileChange, ...] | None]


def known_changes(child: Commit, index: int, parent_tree: str | None) -> tuple[FileChange, ...]:
    """A scan's commits, each merge already with its changes against every parent."""
    return child.changes_against(index)


class OutOfOrder(Exception):
    """A commit came before a child of it, or its changes could not be told in time."""


# Names handed to a parent, or (the child's names, the child, which parent) to be
# settled once the parent's tree is known.
Hand = Names | tuple[Names, Commit, int]


class Walker:
    """The walk back from HEAD, one commit at a time, each after every child of it that
    HEAD reaches: walk() feeds them in such an order; a scan can feed them as git prints
    them, which is such an order whenever commit dates do not run backwards (a commit that
    comes before a child of it raises OutOfOrder, and the caller walks again)."""

    def __init__(
        self,
        head: str,
        paths: Names,
        changes: Resolve = known_changes,
        on_hit: Callable[[Commit, set[str]], object] | None = None,
    ) -> None:
        """ON_HIT is told each commit found to change SOPs, and which."""
        self.found = Walk({sop_id: [] for sop_id in paths.values()})
        self._changes = changes
        self._on_hit = on_hit
        self._handed: dict[str, list[Hand]] = {head: [dict(paths)]}
        self._hits: list[tuple[Commit, set[str]]] = []  # in the order visited

    def visit(self, commit: Commit) -> None:
        found = self.found
        handed = self._handed.pop(commit.sha, None)
        if handed is None:
            raise OutOfOrder(commit.sha)  # no child of it came before it
        names = _union([self._settle(hand, commit.tree) for hand in handed], found)
        if len(commit.parents) <= 1:
            owners = _owners(commit.changes, names)
            if owners:
                self._hits.append((commit, owners))
                if self._on_hit is not None:
                    self._on_hit(commit, owners)
        for index, parent in enumerate(commit.parents):
            changes = self._changes(commit, index, None)
            hand: Hand = (
                (names, commit, index) if changes is None else _before(names, changes, found)
            )
            self._handed.setdefault(parent, []).append(hand)

    def finish(self, commits: Iterable[Commit], in_turn: bool = False) -> Walk:
        """The walk's findings, each SOP's commits in the order of COMMITS (all that were
        visited; IN_TURN: in the order they were visited). OutOfOrder: a commit was
        visited before a child of it."""
        touched = self.found.touched
        found: Iterable[tuple[Commit, set[str]]] = self._hits
        if not in_turn:
            hits = {commit.sha: owners for commit, owners in self._hits}
            found = ((c, hits[c.sha]) for c in commits if c.sha in hits)
        for commit, owners in found:
            for sop_id in sorted(owners) if len(owners) > 1 else owners:
                touched[sop_id].append(commit)
        # Names still handed on are for commits outside COMMITS, unless one was visited
        # before a child of it handed it names.
        if self._handed and not {c.sha for c in commits}.isdisjoint(self._handed):
            raise OutOfOrder("a commit came before a child of it")
        self.found.handed = {
            sha: _union([self._settle(hand, None) for hand in hands], self.found)
            for sha, hands in self._handed.items()
        }
        return self.found

    def _settle(self, hand: Hand, tree: str | None) -> Names:
        if not isinstance(hand, tuple):
            return hand
        names, child, index = hand
        changes = self._changes(child, index, tree)
        if changes is None:
            raise OutOfOrder(child.sha)
        return _before(names, changes, self.found)


def walk(commits: Sequence[Commit], head: str | None, paths: Mapping[str, str]) -> Walk:
    """attribute(), with the names handed past the boundary and whether SOPs stayed apart."""
    by_sha = {c.sha: c for c in commits}
    if head is None or head not in by_sha:
        return Walk({sop_id: [] for sop_id in paths.values()})
    walker = Walker(head, paths)
    children = _child_counts(by_sha, head)
    ready = [head]
    while ready:
        commit = by_sha[ready.pop()]
        walker.visit(commit)
        for parent in commit.parents:
            if parent in by_sha:
                children[parent] -= 1
                if children[parent] == 0:
                    ready.append(parent)
    return walker.finish(commits)


def _child_counts(by_sha: Mapping[str, Commit], head: str) -> dict[str, int]:
    """For every commit HEAD reaches (within BY_SHA), how many of its children it does."""
    counts = {head: 0}
    stack = [head]
    while stack:
        for parent in by_sha[stack.pop()].parents:
            if parent not in by_sha:
                continue
            if parent not in counts:
                counts[parent] = 0
                stack.append(parent)
            counts[parent] += 1
    return counts


def _owners(changes: Iterable[FileChange], names: Names) -> set[str]:
    """The SOPs whose files CHANGES touch, NAMES being their files at the commit."""
    owners = set()
    before: Names | None = None
    for change in changes:
        owner = names.get(change.path)
        if owner is None and change.status == "R" and change.old_path is not None:
            before = before if before is not None else _before(names, changes)
            owner = before.get(change.old_path)  # renamed away from one of its names
        if owner is not None:
            owners.add(owner)
    return owners


def _before(names: Names, changes: Iterable[FileChange], walk: Walk | None = None) -> Names:
    """NAMES (at a commit) as they were in the parent CHANGES are against.

    Only renames change them; the same mapping is handed on when none applies, so
    long stretches of history share one. A rename onto a path another SOP holds there
    marks WALK as not separable.
    """
    renames = [
        (c.old_path, c.path)
        for c in changes
        if c.status == "R" and c.old_path is not None and c.path in names
    ]
    if not renames:
        return names
    earlier = dict(names)
    moved = [(old, earlier.pop(new)) for old, new in renames]
    if walk is not None and walk.separable:
        claims: dict[str, str] = {}
        for old, sop_id in moved:
            if claims.setdefault(old, earlier.get(old, sop_id)) != sop_id:
                walk.separable = False
    earlier.update(moved)
    return earlier


def _union(found: list[Names], walk: Walk) -> Names:
    """The names along every child; where two disagree on a path, the smaller id (and
    WALK is not separable)."""
    first = found[0]
    if all(other is first or other == first for other in found[1:]):
        return first
    merged: dict[str, str] = {}
    for names in found:
        for path, sop_id in names.items():
            if path not in merged:
                merged[path] = sop_id
            elif sop_id != merged[path]:
                walk.separable = False
                merged[path] = min(sop_id, merged[path])
    return merged
