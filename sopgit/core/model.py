"""Plain records of git history: what the pure core computes from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

# Commits and their changes are tuples: a large history is a hundred thousand of each,
# made as git prints them and again from the cache, and a tuple is made five times as
# fast as a frozen dataclass (and kept in the cache as a plain tuple).


class FileChange(NamedTuple):
    status: str  # A, M, D, R (renamed), C (copied), T (type changed)
    path: str
    old_path: str | None = None  # for R and C


class Commit(NamedTuple):
    sha: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    author_time: int  # seconds since the epoch
    commit_time: int
    message: str
    changes: tuple[FileChange, ...] = ()  # against its parent (a root: against nothing)
    tree: str = ""
    # A merge's changes against each of its parents, in the parents' order (git log -m).
    parent_changes: tuple[tuple[FileChange, ...], ...] = ()

    def changes_against(self, index: int) -> tuple[FileChange, ...]:
        """What this commit changed relative to its parent number INDEX."""
        if len(self.parents) > 1:
            return self.parent_changes[index] if index < len(self.parent_changes) else ()
        return self.changes

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0].strip()


@dataclass(frozen=True)
class Tag:
    name: str
    target: str  # the commit the tag points at
    annotated: bool
    tagger_name: str = ""
    tagger_email: str = ""
    time: int = 0  # tagger time; for a lightweight tag, 0
    message: str = ""
    signed: bool = False  # carries a gpg or ssh signature (not yet verified)
