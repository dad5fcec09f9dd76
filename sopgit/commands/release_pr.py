"""Releases on a protected branch: the release as a pull request, tagged once merged.

`release --pull-request` makes the release commit on sopgit's own branch
`sopgit/release` (based on the release branch's head, replaced on every run), pushes it
and opens or updates the pull request. No tag yet. Once a person merges it (merge
commit, squash or rebase), `release --tag-merged` finds the release commit on the
release branch and makes the tags a direct release would have made: the release is
computed again on the commit it was based on, and tagged only when that gives the
very bytes that were merged.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from sopgit.commands.release_plan import ReleasePlan
from sopgit.errors import PolicyError, RepoError
from sopgit.repo.workspace import Library

RELEASE_BRANCH = "sopgit/release"
DATE_TRAILER = "Sopgit-Release-Date"
BUMP_TRAILER = "Sopgit-Bump"
DESCRIPTION_TRAILER = "Sopgit-Description"
UNAPPROVED_TRAILER = "Sopgit-Allow-Unapproved"
RELEASE_LINE = re.compile(r"^Sopgit-Release: (?P<id>\S+) v(?P<version>\S+)\s*$", re.M)


def _line(key: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(key)}: (?P<value>.+?)\s*$", re.M)


def pull_request_message(
    plan: ReleasePlan,
    *,
    force_bump: str | None,
    description: str | None,
    allow_unapproved: str | None,
) -> str:
    """The release commit's message, with what is needed to compute it again after the
    merge: the date, and the bump, description and override when they were given."""
    extra = [f"{DATE_TRAILER}: {plan.date}"]
    if force_bump:
        extra.append(f"{BUMP_TRAILER}: {force_bump}")
    if description:
        extra.append(f"{DESCRIPTION_TRAILER}: {' '.join(description.split())}")
    if allow_unapproved:
        extra.append(f"{UNAPPROVED_TRAILER}: {' '.join(allow_unapproved.split())}")
    return plan.commit_message.rstrip("\n") + "\n" + "\n".join(extra) + "\n"


def pull_request_text(plan: ReleasePlan, message: str) -> tuple[str, str]:
    """(title, body) of the release pull request. The body ends with the commit's
    trailers, so a squash merge that keeps the pull request's body keeps them."""
    title = message.splitlines()[0]
    rows = "\n".join(
        f"| {t.sop_id} | {t.previous or '-'} | {t.version} | {t.bump} | `{t.name}` |"
        for t in plan.tags
    )
    trailers = message.split("\n\n", 1)[1].strip()
    body = (
        "Merging this pull request releases these SOP versions; the tags are made "
        "after the merge (`sopgit release --tag-merged`).\n\n"
        "| SOP | From | To | Bump | Tag |\n| --- | --- | --- | --- | --- |\n"
        f"{rows}\n\n"
        "sopgit replaces this branch on every run; do not push to it.\n\n"
        f"{trailers}\n"
    )
    return title, body


def make_release_branch(lib: Library, head: str, message: str, plan: ReleasePlan) -> str:
    """The release commit on top of HEAD, on refs/heads/sopgit/release (replaced); the
    release branch, the work tree and the tags are left alone. Returns the commit."""
    from sopgit.commands.release_plan import _encoded, transaction
    from sopgit.repo.transaction import CommitWrite, FileWrite

    with transaction(lib.repo, RELEASE_BRANCH, head) as txn:
        sign_commit, _ = lib.repo.signing_wanted()
        change = CommitWrite(
            tuple(FileWrite(u.path, _encoded(u.after)) for u in plan.updates), message
        )
        made = txn.commit(change, sign=sign_commit)
    lib.repo.run(
        "update-ref", "-m", "sopgit: release pull request", f"refs/heads/{RELEASE_BRANCH}", made
    )
    return made


def push_release_branch(lib: Library) -> None:
    ref = f"refs/heads/{RELEASE_BRANCH}"
    try:
        lib.repo.run("push", "--quiet", "--", lib.config.remote, f"+{ref}:{ref}")
    except RepoError as err:
        raise RepoError(
            f"the release commit is on {RELEASE_BRANCH} here but the push failed "
            f"({err.message}); check the remote and the token's contents: write",
            lib.root,
        ) from None


# --- after the merge ----------------------------------------------------------------


@dataclass(frozen=True)
class MergedRelease:
    commit: str  # the release commit as merged (a merge commit's second parent)
    base: str  # the commit the release was computed on (its first parent)
    versions: tuple[tuple[str, str], ...]  # (SOP id, version) from its trailers
    date: dt.date
    force_bump: str | None
    description: str | None
    allow_unapproved: str | None


def find_merged_release(lib: Library) -> MergedRelease | None:
    """The newest commit in HEAD's history that a release made (its Sopgit-Release
    trailers: a direct release, or a release pull request merged by a merge commit,
    a rebase, or a squash that kept the message or the pull request's body)."""
    listing = lib.repo.run(
        "log",
        "-n1",
        "--extended-regexp",
        "--grep=^Sopgit-Release: ",
        "--format=%H%x00%P%x00%B",
        "HEAD",
    )
    if "\0" not in listing:
        return None
    sha, parents, message = listing.split("\0", 2)
    versions = tuple((m["id"], m["version"]) for m in RELEASE_LINE.finditer(message))
    found = {key: _value(message, key) for key in (DATE_TRAILER, BUMP_TRAILER)}
    when = found[DATE_TRAILER]
    try:
        date = dt.date.fromisoformat(when) if when else None
    except ValueError:
        date = None
    if date is None or not parents.split():
        return MergedRelease(sha, "", versions, dt.date.min, None, None, None)
    return MergedRelease(
        sha,
        parents.split()[0],
        versions,
        date,
        found[BUMP_TRAILER],
        _value(message, DESCRIPTION_TRAILER),
        _value(message, UNAPPROVED_TRAILER),
    )


def _value(message: str, key: str) -> str | None:
    match = _line(key).search(message)
    return match.group("value") if match else None


def recompute(lib: Library, merged: MergedRelease, token: str | None) -> ReleasePlan:
    """The release computed again on MERGED's base, in a scratch work tree; refused
    unless its files are, byte for byte, the files of the merged commit."""
    from sopgit.commands.release_plan import plan_release
    from sopgit.github.rounds import github_client, outcomes
    from sopgit.repo.snapshot import load_snapshot
    from sopgit.repo.textio import encode
    from sopgit.repo.workspace import open_library

    scratch = lib.repo.sopgit_dir / "merged"
    shutil.rmtree(scratch, ignore_errors=True)
    lib.repo.run("worktree", "prune")
    lib.repo.run("worktree", "add", "--detach", "--quiet", "--", str(scratch), merged.base)
    try:
        there = open_library(scratch, use_cache=False)
        snapshot = load_snapshot(there)
        ids = [sop_id for sop_id, _ in merged.versions]
        approvals = outcomes(snapshot, ids, github_client(lib, token))
        plan = plan_release(
            snapshot,
            ids,
            force_bump=merged.force_bump,
            message=merged.description,
            date=merged.date,
            approvals=approvals,
            allow_unapproved=merged.allow_unapproved,
        )
    finally:
        lib.repo.run("worktree", "remove", "--force", "--", str(scratch))
    planned = tuple((t.sop_id, t.version) for t in plan.tags)
    if sorted(planned) != sorted(merged.versions):
        raise _mismatch(lib, merged, "other versions")
    for update in plan.updates:
        merged_bytes = subprocess.run(
            ["git", "cat-file", "blob", f"{merged.commit}:{update.path}"],
            cwd=lib.root,
            capture_output=True,
            env={**os.environ, **lib.repo.env},
        ).stdout
        if merged_bytes != encode(update.after):
            raise _mismatch(lib, merged, f"other bytes in {update.path}")
    return plan


def _mismatch(lib: Library, merged: MergedRelease, what: str) -> PolicyError:
    return PolicyError(
        f"release commit {merged.commit[:10]} is not what releasing its parent "
        f"{merged.base[:10]} gives now ({what}); nothing was tagged; release the SOPs "
        f"again (sopgit release --pull-request)"
    )


def create_tags(lib: Library, commit: str, plan: ReleasePlan, *, sign: bool) -> None:
    """PLAN's annotated tags on COMMIT, created in one ref transaction."""
    from sopgit.commands.release_plan import transaction
    from sopgit.repo.git import ref_create
    from sopgit.repo.transaction import TagWrite

    branch = lib.repo.run("symbolic-ref", "--short", "-q", "HEAD").strip() or RELEASE_BRANCH
    with transaction(lib.repo, branch, commit) as txn:
        _, sign_tags = lib.repo.signing_wanted()
        txn.tag([TagWrite(t.name, t.message) for t in plan.tags], sign=sign or sign_tags)
        commands = [ref_create(ref, obj) for ref, obj in txn.tags.items()]
    lib.repo.update_refs("sopgit: tag a merged release", commands)


def push_tags(lib: Library, names: list[str]) -> None:
    refs = [f"refs/tags/{name}" for name in names]
    try:
        lib.repo.run("push", "--atomic", "--quiet", "--", lib.config.remote, *refs)
    except RepoError as err:
        raise RepoError(
            f"the tags are made here but the push failed ({err.message}); push them with: "
            f"git push --atomic {lib.config.remote} {' '.join(refs)}",
            lib.root,
        ) from None
