"""Cut versions: plan a release (pure), then apply it atomically (all or nothing)."""

from __future__ import annotations

import datetime as dt
import difflib
import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from sopgit.core.approvals import APPROVED, Outcome
from sopgit.core.commits import RELEASE_TRAILER
from sopgit.core.history import HistoryRow, SopVersion, history_rows, table_lines
from sopgit.core.versioning import tag_name
from sopgit.errors import PolicyError, RepoError, UsageError
from sopgit.repo.docformat import update_sop
from sopgit.repo.git import GitRepo
from sopgit.repo.snapshot import Snapshot, Sop
from sopgit.repo.textio import encode
from sopgit.repo.transaction import (
    CommitWrite,
    FileWrite,
    TagWrite,
    Transaction,
    recover_locked,
    repo_lock,
    step,
)
from sopgit.repo.workspace import Library

RETIRE_TRAILER = "Sopgit-Retire"


@dataclass(frozen=True)
class FileUpdate:
    path: str
    before: str
    after: str

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                f"a/{self.path}",
                f"b/{self.path}",
            )
        )


@dataclass(frozen=True)
class TagPlan:
    name: str
    sop_id: str
    version: str
    previous: str | None
    bump: str
    message: str


@dataclass(frozen=True)
class ReleasePlan:
    updates: tuple[FileUpdate, ...]
    tags: tuple[TagPlan, ...]
    commit_message: str
    date: str


def plan_release(
    snapshot: Snapshot,
    ids: list[str],
    *,
    force_bump: str | None = None,
    message: str | None = None,
    date: dt.date,
    approvals: Mapping[str, Outcome] | None = None,
    allow_unapproved: str | None = None,
) -> ReleasePlan:
    """What releasing IDS (default: every SOP with pending changes) would write.

    APPROVALS is each SOP's verdict of the approval policy (sopgit.github.rounds gathers it
    from git, signatures and GitHub); without it, the git history's trailers alone are
    judged. A required role missing refuses the release, unless ALLOW_UNAPPROVED gives
    the reason to go ahead, which the tag records.
    """
    if ids:
        chosen = [snapshot.sop(sop_id) for sop_id in ids]
        for sop in chosen:
            if not snapshot.version(sop.sop_id).pending:
                raise UsageError(
                    f"{sop.sop_id} has no changes since its last release; nothing to cut"
                )
    else:
        chosen = [s for s in snapshot.sops.values() if snapshot.version(s.sop_id).pending]
    if not chosen:
        raise UsageError("no SOP has changes since its last release; nothing to cut")
    config = snapshot.lib.config
    verdicts = dict(approvals or {})
    unjudged = [sop.sop_id for sop in chosen if sop.sop_id not in verdicts]
    if unjudged:
        from sopgit.github.rounds import outcomes  # git's history alone: trailers, approval commits

        verdicts.update(outcomes(snapshot, unjudged))
    _enforce([verdicts[s.sop_id] for s in chosen], allow_unapproved)
    updates, tags = [], []
    for sop in chosen:
        if sop.doc is None:
            raise UsageError(f"{sop.path} does not parse; run 'sopgit check' and fix it first")
        version = snapshot.version(sop.sop_id, force_bump)
        assert version.next is not None, "a version with pending changes has a next one"
        verdict = verdicts[sop.sop_id]
        name = tag_name(config.tag_format, sop.sop_id, str(version.next))
        row = _new_row(sop, version, message, date, name, verdict)
        rows = [*history_rows(version), row]
        after = update_sop(
            sop.doc,
            config.format,
            version=str(version.next),
            last_updated=date,
            status="effective" if sop.meta("status") == "draft" else None,
            revision_table=table_lines(rows),
            released=[_row_values(r) for r in rows if r.source == "tag"],
        )
        updates.append(FileUpdate(sop.path, sop.text, after))
        tags.append(_tag_plan(sop, version, row, verdict, allow_unapproved))
    names = ", ".join(f"{t.sop_id} v{t.version}" for t in tags)
    if len(tags) > 3:  # keep the subject line short; the trailers name every one
        names = f"{len(tags)} SOPs"
    trailers = "\n".join(f"{RELEASE_TRAILER}: {t.sop_id} v{t.version}" for t in tags)
    return ReleasePlan(
        updates=tuple(updates),
        tags=tuple(tags),
        commit_message=f"release: {names}\n\n{trailers}\n",
        date=date.isoformat(),
    )


def _row_values(row: HistoryRow) -> dict[str, str]:
    """A release's row by field name, for a history table in the library's own columns."""
    return {
        "version": row.version,
        "date": row.date,
        "description": row.description,
        "author": row.author,
        "approved_by": row.approved_by,
    }


def _enforce(verdicts: list[Outcome], allow_unapproved: str | None) -> None:
    """Refuse, naming each SOP and role, when an approval the policy requires is missing."""
    short = [why for v in verdicts if (why := v.refusal())]
    if not short or allow_unapproved:
        return
    what = "; ".join(short)
    raise PolicyError(
        f"release refused: {what}. Approve in the pull request or with "
        "'sopgit approve ID --role ROLE', or pass --allow-unapproved --reason TEXT"
    )


def _new_row(
    sop: Sop,
    version: SopVersion,
    message: str | None,
    date: dt.date,
    tag: str,
    verdict: Outcome | None = None,
) -> HistoryRow:
    verdict = verdict or Outcome(sop.sop_id, (), (), ())
    retirement = retirement_of(version)
    if message:
        description = " ".join(message.split())
    elif retirement is not None:
        description = f"Retired: {retirement[0]}"
    elif version.effective is None:
        description = "Initial version"
    else:
        # The oldest change that asked for the bump being cut says best what changed.
        deciding = [c for c in reversed(version.pending) if c.bump == version.bump]
        description = (deciding or list(reversed(version.pending)))[0].message.description
    return HistoryRow(
        version=str(version.next),
        date=date.isoformat(),
        description=description,
        author=", ".join(version.authors),
        approved_by=", ".join(a.column() for a in verdict.approvals if a.meaning == APPROVED),
        pull_requests=tuple(sorted({*version.pull_requests, *verdict.pull_requests})),
        tag=tag,
    )


def _tag_plan(
    sop: Sop,
    version: SopVersion,
    row: HistoryRow,
    verdict: Outcome | None = None,
    allow_unapproved: str | None = None,
) -> TagPlan:
    verdict = verdict or Outcome(sop.sop_id, (), (), ())
    bump = str(version.bump)
    changes = "\n".join(
        f"- {c.commit.subject} ({c.commit.sha[:10]}, {c.commit.author_name})"
        for c in reversed(version.pending)
    )
    authors: dict[str, str] = {}
    for change in reversed(version.pending):
        authors.setdefault(change.commit.author_name, change.commit.author_email)
    trailers = [
        f"Sop-Id: {sop.sop_id}",
        f"Sop-Version: {row.version}",
        *([f"Previous-Version: {version.effective}"] if version.effective else []),
        f"Bump: {bump}",
        f"Release-Date: {row.date}",
        *(f"Author: {name} <{email}>" for name, email in authors.items()),
        *(f"Pull-Request: #{number}" for number in row.pull_requests),
        *verdict.tag_trailers(),
    ]
    retirement = retirement_of(version)
    if retirement is not None:
        trailers.append(f"Retired: {retirement[0]}")
        trailers += [f"Superseded-By: {retirement[1]}"] if retirement[1] else []
    if not verdict.satisfied and allow_unapproved:
        trailers.append(f"Allow-Unapproved: {' '.join(allow_unapproved.split())}")
        trailers += [f"Missing-Approval: {role}" for role in verdict.missing]
    # Who signed in what role, when and where: readable, beside the machine trailers.
    approvals = verdict.tag_summary()
    title = sop.meta("title", sop.sop_id)
    message = (
        f"{sop.sop_id} v{row.version}\n\n"
        f"{title} v{row.version}: {row.description}.\n\n"  # the reader drops this "."
        f"Changes:\n{changes}\n\n"
        + (f"Approvals:\n{approvals}\n" if approvals else "")
        + "\n".join(trailers)
        + "\n"
    )
    return TagPlan(
        row.tag, sop.sop_id, row.version, str(version.effective or "") or None, bump, message
    )


def retirement_of(version: SopVersion) -> tuple[str, str | None] | None:
    """(reason, superseded-by id) when a pending change retires the SOP."""
    for change in version.pending:
        if change.message.trailer_values(RETIRE_TRAILER):
            reason = (change.message.trailer_values("Retire-Reason") or ["withdrawn"])[0]
            successor = next(iter(change.message.trailer_values("Superseded-By")), None)
            return reason, successor
    return None


def bump_option(major: bool, minor: bool, patch: bool) -> str | None:
    chosen = [name for name, on in (("major", major), ("minor", minor), ("patch", patch)) if on]
    if len(chosen) > 1:
        raise UsageError("give at most one of --major, --minor, --patch")
    return chosen[0] if chosen else None


# --- applying ---------------------------------------------------------------------


def preflight(snapshot: Snapshot, plan: ReleasePlan, allow_branch: bool) -> None:
    """Refuse, before anything is written, what would make the release wrong or unsafe."""
    repo, config = snapshot.lib.repo, snapshot.lib.config
    if snapshot.head is None:
        raise RepoError("has no commits yet; commit the SOPs before releasing", repo.root)
    if snapshot.branch is None:
        raise RepoError("HEAD is detached; check out the release branch first", repo.root)
    if repo.is_shallow():
        raise RepoError(
            "is a shallow clone, so versions cannot be derived; run 'git fetch --unshallow'",
            repo.root,
        )
    if snapshot.branch != config.release_branch and not allow_branch:
        raise UsageError(
            f"releases are cut on '{config.release_branch}', not '{snapshot.branch}'; "
            "switch branch or pass --allow-branch"
        )
    if repo.is_dirty():
        raise RepoError("has uncommitted changes; commit or stash them before releasing", repo.root)
    existing = set(repo.tag_names())
    for tag in plan.tags:
        if tag.name in existing:
            raise RepoError(f"tag {tag.name} already exists; nothing was released", repo.root)
    refuse_check_errors(snapshot, plan)


@contextmanager
def release_lock(repo: GitRepo) -> Iterator[None]:
    """One release at a time per repository (.git/sopgit/lock, see sopgit.repo.transaction);
    a release a killed sopgit left unfinished is finished or undone first."""
    with repo_lock(repo) as lock:
        recover_locked(repo, lock)
        step("locked")
        yield


def apply_release(snapshot: Snapshot, plan: ReleasePlan, *, sign: bool = False) -> str:
    """Make the release commit and one annotated tag per SOP, all or nothing.

    The objects are written first; then ONE ref transaction moves the branch from the
    snapshot's HEAD and creates every tag; then the work tree and index follow (see
    sopgit.repo.transaction for the steps and what a kill leaves). Returns the commit.
    """
    assert snapshot.head is not None
    assert snapshot.branch is not None
    with transaction(snapshot.lib.repo, snapshot.branch, snapshot.head) as txn:
        made = add_release(txn, plan, sign=sign)
        txn.apply()
    txn.post_commit()
    return made


@contextmanager
def transaction(repo: GitRepo, branch: str, head: str) -> Iterator[Transaction]:
    """A Transaction on BRANCH at HEAD; a file that cannot be written (the disk is
    full) is one line naming it."""
    try:
        with Transaction(repo, branch, head) as txn:
            yield txn
    except OSError as err:
        raise RepoError(
            f"cannot write {err.filename or 'a file'} ({err.strerror}); nothing was released",
            repo.root,
        ) from None


def add_release(txn: Transaction, plan: ReleasePlan, *, sign: bool = False) -> str:
    """Add PLAN's commit and tags to TXN (objects only); returns the commit."""
    sign_commit, sign_tags = txn.repo.signing_wanted()
    change = CommitWrite(
        tuple(FileWrite(u.path, _encoded(u.after)) for u in plan.updates), plan.commit_message
    )
    made = txn.commit(change, sign=sign_commit)
    txn.tag([TagWrite(t.name, t.message) for t in plan.tags], sign=sign or sign_tags)
    step("tags")
    return made


def _encoded(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else encode(text)  # the author's bytes


def refuse_check_errors(snapshot: Snapshot, plan: ReleasePlan) -> None:
    """Refuse (exit 1) to release an SOP that `sopgit check` finds errors in, naming
    each such SOP with its first error."""
    from sopgit.repo.snapshot import sop_errors

    errors = snapshot.errors
    if errors is None:
        names = [t.name for t in snapshot.history.tags]
        errors = sop_errors(snapshot.lib, snapshot.sops, names, [t.sop_id for t in plan.tags])
    found = [errors[t.sop_id] for t in plan.tags if t.sop_id in errors]
    if found:
        raise PolicyError(
            "release refused, 'sopgit check' finds errors: "
            + "; ".join(found)
            + "; fix them and commit, then release"
        )


def push_release(snapshot: Snapshot, plan: ReleasePlan) -> None:
    """Push the release branch and exactly the new tags, atomically."""
    if not try_push_release(snapshot, plan):
        raise _push_failed(snapshot, plan, "the remote has moved on")


# What git's --porcelain push says of a ref refused because the remote moved on: the
# branch has commits this clone lacks, or a tag of the same name was pushed meanwhile.
MOVED_ON = ("non-fast-forward", "fetch first", "already exists")


def try_push_release(snapshot: Snapshot, plan: ReleasePlan) -> bool:
    """Push the release branch and exactly the new tags, atomically: True when pushed,
    False when refused because the remote moved on (another push got there first).
    Any other failure is a RepoError that says how to push by hand."""
    lib = snapshot.lib
    refs = [f"refs/heads/{snapshot.branch}"] + [f"refs/tags/{t.name}" for t in plan.tags]
    done = subprocess.run(
        ["git", "push", "--atomic", "--porcelain", "--", lib.config.remote, *refs],
        cwd=lib.repo.root,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        env={**os.environ, **lib.repo.env},
    )
    if done.returncode == 0:
        return True
    if any(reason in why for why in _refused(done.stdout) for reason in MOVED_ON):
        return False
    said = " ".join(done.stderr.split()) or f"exit {done.returncode}"
    raise _push_failed(snapshot, plan, said)


def _refused(porcelain: str) -> list[str]:
    """The reasons of the refs `git push --porcelain` did not push ("!" lines)."""
    return [line.split("\t")[-1] for line in porcelain.splitlines() if line.startswith("!\t")]


def _push_failed(snapshot: Snapshot, plan: ReleasePlan, said: str) -> RepoError:
    lib = snapshot.lib
    refs = [f"refs/heads/{snapshot.branch}"] + [f"refs/tags/{t.name}" for t in plan.tags]
    return RepoError(
        f"the release is made here but the push failed (git push failed: {said}); "
        f"push it with: git push --atomic {lib.config.remote} {' '.join(refs)}",
        lib.root,
    )


def fetch_release_branch(lib: Library, branch: str) -> str:
    """Fetch BRANCH and the tags from the remote; returns the remote branch's commit.

    The tags are fetched without force: a local tag that differs from the remote's of
    the same name is an error, never overwritten."""
    remote = lib.config.remote
    tracking = f"refs/remotes/{remote}/{branch}"
    lib.repo.run(
        "fetch",
        "--quiet",
        "--no-tags",
        "--",
        remote,
        f"+refs/heads/{branch}:{tracking}",
        "refs/tags/*:refs/tags/*",
    )
    return lib.repo.run("rev-parse", "--verify", "--end-of-options", tracking).strip()
