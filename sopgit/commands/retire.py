"""Retire an SOP: mark it withdrawn in one commit, then release that as its final version.

The file and its history stay; `status: retired` (and `supersededBy:`) say it is
obsolete, and the final tag records the reason. Both steps or neither: the two commits
and the tag are made in one git ref transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sopgit.commands.release_plan import (
    RETIRE_TRAILER,
    ReleasePlan,
    add_release,
    plan_release,
    preflight,
    transaction,
)
from sopgit.errors import RepoError, UsageError
from sopgit.repo.document import set_frontmatter_value
from sopgit.repo.snapshot import Snapshot, load_snapshot
from sopgit.repo.textio import encode
from sopgit.repo.transaction import CommitWrite, FileWrite
from sopgit.repo.workspace import Library


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
    """Commit the retirement and, unless RELEASE is off, cut the final version: both
    commits and the tag in one ref transaction (see sopgit.repo.transaction), or nothing."""
    snapshot = load_snapshot(lib)
    retirement = prepare(snapshot, sop_id, reason, successor)
    repo, sop = lib.repo, snapshot.sops[retirement.sop_id]
    if repo.is_dirty():
        raise RepoError("has uncommitted changes; commit or stash them before retiring", lib.root)
    original = snapshot.head
    assert original is not None, "a released SOP has history"
    if snapshot.branch is None:
        raise RepoError("HEAD is detached; check out the release branch first", lib.root)
    plan = None
    with transaction(repo, snapshot.branch, original) as txn:
        marked = txn.commit(
            CommitWrite((FileWrite(sop.path, encode(retirement.text)),), retirement.message),
            sign=repo.signing_wanted()[0],
        )
        if release:
            after = load_snapshot(lib, head=marked, overlay={sop.path: retirement.text})
            plan = plan_release(
                after, [retirement.sop_id], date=date, allow_unapproved=allow_unapproved
            )
            preflight(after, plan, allow_branch)
            add_release(txn, plan)
        txn.apply()
    txn.post_commit()
    return Retirement(retirement.sop_id, retirement.message, retirement.text, plan)


def run_retire(
    lib: Library,
    sop_id: str,
    reason: str,
    *,
    successor: str | None = None,
    date: dt.date,
    release: bool = True,
    allow_branch: bool = False,
    allow_unapproved: str | None = None,
    dry_run: bool = False,
) -> Retirement:
    """`sopgit retire`: under the release lock, retire (see `retire`); a DRY_RUN only
    checks the request and computes the retirement commit (its PLAN is None)."""
    from sopgit.commands.release_plan import release_lock

    if dry_run:
        return prepare(load_snapshot(lib), sop_id, reason, successor)
    with release_lock(lib.repo):
        return retire(
            lib,
            sop_id,
            reason,
            successor=successor,
            date=date,
            release=release,
            allow_branch=allow_branch,
            allow_unapproved=allow_unapproved,
        )
