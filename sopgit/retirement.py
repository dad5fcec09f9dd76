"""Retire an SOP: mark it withdrawn in one commit, then release that as its final version.

The file and its history stay; `status: retired` (and `supersededBy:`) say it is
obsolete, and the final tag records the reason. Both steps or neither: if the release
fails, the retirement commit is undone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sopgit.document import set_frontmatter_value
from sopgit.errors import RepoError, UsageError
from sopgit.release import RETIRE_TRAILER, ReleasePlan, apply_release, plan_release, preflight
from sopgit.snapshot import Snapshot, load_snapshot
from sopgit.swap import FileSwap
from sopgit.workspace import Library


@dataclass(frozen=True)
class Retirement:
    sop_id: str
    message: str  # of the retirement commit
    text: str  # the file after
    plan: ReleasePlan | None  # None with release=False or when dry-running


def retirement_message(sop_id: str, title: str, reason: str, successor: str | None) -> str:
    reason = " ".join(reason.split())
    successor_note = f"; use {successor} instead" if successor else ""
    return (
        f"feat({sop_id})!: retire {title}\n\n{reason}\n\n"
        f"BREAKING CHANGE: {sop_id} is withdrawn; staff must stop following it{successor_note}.\n"
        f"{RETIRE_TRAILER}: {sop_id}\nRetire-Reason: {reason}\n"
        + (f"Superseded-By: {successor}\n" if successor else "")
    )


def prepare(snapshot: Snapshot, sop_id: str, reason: str, successor: str | None) -> Retirement:
    """Check the request and compute the retirement commit (pure but for the snapshot)."""
    if not reason.strip():
        raise UsageError("give the reason for retiring it with --reason TEXT")
    sop = snapshot.sop(sop_id)
    if sop.doc is None:
        raise UsageError(f"{sop.path} does not parse; run 'sopgit check' and fix it first")
    if sop.meta("status") == "retired":
        raise UsageError(f"{sop.sop_id} is retired already")
    if snapshot.version(sop.sop_id).current is None:
        raise UsageError(
            f"{sop.sop_id} was never released; delete its draft instead of retiring it"
        )
    if successor is not None:
        successor = snapshot.sop(successor).sop_id
        if successor == sop.sop_id:
            raise UsageError(f"{sop.sop_id} cannot be superseded by itself")
        if snapshot.sops[successor].meta("status") == "retired":
            raise UsageError(f"{successor} is retired; it cannot supersede {sop.sop_id}")
    text = set_frontmatter_value(sop.text, "status", "retired", sop.path)
    if successor is not None:
        text = set_frontmatter_value(text, "supersededBy", successor, sop.path)
    message = retirement_message(sop.sop_id, sop.meta("title", sop.sop_id), reason, successor)
    return Retirement(sop.sop_id, message, text, None)


def retire(
    lib: Library,
    sop_id: str,
    reason: str,
    *,
    successor: str | None = None,
    date: dt.date,
    release: bool = True,
    allow_branch: bool = False,
    allow_unapproved: str | None = None,
) -> Retirement:
    """Commit the retirement and, unless RELEASE is off, cut the final version."""
    snapshot = load_snapshot(lib)
    retirement = prepare(snapshot, sop_id, reason, successor)
    repo, sop = lib.repo, snapshot.sops[retirement.sop_id]
    if repo.is_dirty():
        raise RepoError("has uncommitted changes; commit or stash them before retiring", lib.root)
    original = snapshot.head
    assert original is not None, "a released SOP has history"
    files = FileSwap()
    try:
        files.replace(lib.root / sop.path, retirement.text)
        repo.commit_paths([sop.path], retirement.message)
        if not release:
            files.keep()
            return retirement
        after = load_snapshot(lib)
        plan = plan_release(
            after, [retirement.sop_id], date=date, allow_unapproved=allow_unapproved
        )
        preflight(after, plan, allow_branch)
        apply_release(after, plan)
    except BaseException:
        files.undo()
        if repo.head() != original:
            repo.run("update-ref", "-m", "sopgit: roll back a failed retirement", "HEAD", original)
        repo.run("reset", "--quiet", original, "--", sop.path)
        raise
    files.keep()
    return Retirement(retirement.sop_id, retirement.message, retirement.text, plan)
