"""`sopgit release` as one typed function: plain arguments in, a result out.

Lock, snapshot, approvals, plan, preflight, then the dry run's plan or the release
itself, then the push. Nothing here prints, exits or knows about click: failures are
SopgitErrors (sopgit.errors) that the CLI maps to exit codes, and what a person should
hear while it runs (a warning) goes to the listener.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sopgit.commands.release_plan import ReleasePlan

if TYPE_CHECKING:
    from sopgit.repo.snapshot import Snapshot
    from sopgit.repo.workspace import Library


class ReleaseListener(Protocol):
    """What the release says while it runs (the CLI prints it; a library may log it)."""

    def notice(self, text: str) -> None:
        """A warning or a step worth knowing about, one line."""

    def released(self, plan: ReleasePlan, commit: str) -> None:
        """The release commit and tags exist locally (before any push)."""


class QuietListener:
    """A listener that keeps nothing."""

    def notice(self, text: str) -> None:
        pass

    def released(self, plan: ReleasePlan, commit: str) -> None:
        pass


@dataclass(frozen=True)
class ReleaseOptions:
    """The choices of one release; every field is a plain value."""

    date: dt.date
    sop_ids: tuple[str, ...] = ()
    force_bump: str | None = None  # "major" | "minor" | "patch"
    message: str | None = None
    dry_run: bool = False
    push: bool = False
    sign: bool = False
    allow_branch: bool = False
    allow_unapproved: str | None = None  # the reason, when the policy may be overridden
    github_token: str | None = None
    fail_if_empty: bool = False  # nothing pending is a refusal (exit 1), not a success


@dataclass(frozen=True)
class ReleaseResult:
    """What a release did (or, for a dry run, would do); PLAN is None when nothing was
    pending, so nothing was released."""

    plan: ReleasePlan | None
    branch: str | None
    remote: str
    dry_run: bool
    commit: str | None = None  # the release commit (None for a dry run)
    pushed: bool = False
    attempts: int = 1  # pushes tried: more than one when the remote moved on meanwhile
    pull_request: int | None = None  # --pull-request: the release pull request's number
    pull_request_url: str = ""
    opened: bool = False  # the pull request was opened now (else updated)


NOTHING_TO_RELEASE = "nothing to release: no SOP has changes since its last release"


PUSH_ATTEMPTS = 3  # a push refused because the remote moved on is tried again, up to this


def run_release(
    root: Path,
    options: ReleaseOptions,
    *,
    use_cache: bool = True,
    listener: ReleaseListener | None = None,
) -> ReleaseResult:
    """Cut the versions OPTIONS asks for in the library at ROOT; see `sopgit release`.

    With PUSH, a push refused because the remote branch moved on (another push got
    there first) takes the local release back, fetches the remote branch and its tags,
    fast-forwards to it and computes the release afresh there: at most PUSH_ATTEMPTS
    attempts in all. Nothing is ever rebased or forced.
    """
    from sopgit.commands.release_plan import apply_release, release_lock, try_push_release
    from sopgit.errors import RepoError
    from sopgit.repo.transaction import undo_release
    from sopgit.repo.workspace import open_sop_library

    listener = listener or QuietListener()
    lib = open_sop_library(root, use_cache=use_cache)
    with release_lock(lib.repo):
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            prepared = _prepare(lib, options, listener)
            if isinstance(prepared, ReleaseResult):
                return prepared
            snapshot, plan = prepared
            assert snapshot.branch is not None  # preflight refuses a detached HEAD
            assert snapshot.head is not None  # and a repository without commits
            commit = apply_release(snapshot, plan, sign=options.sign)
            result = ReleaseResult(plan, snapshot.branch, lib.config.remote, False, commit=commit)
            if not options.push:
                listener.released(plan, commit)
                return result
            try:
                pushed = try_push_release(snapshot, plan)
            except RepoError:
                listener.released(plan, commit)  # made here: say what, then how to push it
                raise
            if pushed:
                listener.released(plan, commit)
                return replace(result, pushed=True, attempts=attempt)
            undo_release(
                lib.repo,
                snapshot.branch,
                commit,
                snapshot.head,
                [u.path for u in plan.updates],
                [t.name for t in plan.tags],
            )
            where = f"{lib.config.remote}/{snapshot.branch}"
            if attempt == PUSH_ATTEMPTS:
                raise RepoError(
                    f"gave up after {PUSH_ATTEMPTS} attempts: {where} moved on before each "
                    "push; nothing was released or pushed (the last attempt was taken back "
                    "here); run the release again",
                    lib.root,
                )
            head = _catch_up(lib, snapshot.branch, snapshot.head)
            listener.notice(
                f"{where} moved on to {head[:10]} before the push; the release is taken back "
                f"here and computed again on it (attempt {attempt + 1} of {PUSH_ATTEMPTS})"
            )
            lib = open_sop_library(lib.root, use_cache=use_cache, recover=False)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _prepare(
    lib: Library, options: ReleaseOptions, listener: ReleaseListener
) -> tuple[Snapshot, ReleasePlan] | ReleaseResult:
    """Snapshot, approvals, plan and preflight; a result when nothing is to be written
    (nothing pending, or a dry run)."""
    from sopgit.commands.release_plan import plan_release, preflight
    from sopgit.errors import PolicyError, UsageError
    from sopgit.github.rounds import github_client, outcomes, unattributed_warning
    from sopgit.repo.snapshot import load_snapshot

    snapshot = load_snapshot(lib, check=True)
    if not options.sop_ids and not any(
        snapshot.version(sop_id).pending for sop_id in snapshot.sops
    ):
        if options.fail_if_empty:
            raise PolicyError(f"{NOTHING_TO_RELEASE} (--fail-if-empty)")
        return ReleaseResult(None, snapshot.branch, lib.config.remote, options.dry_run)
    wanted = [snapshot.sop(i).sop_id for i in options.sop_ids] or list(snapshot.sops)
    client = github_client(lib, options.github_token)
    approvals = outcomes(snapshot, wanted, client)
    if warning := unattributed_warning(approvals, client):
        listener.notice(f"sopgit: {warning}")
    plan = plan_release(
        snapshot,
        list(options.sop_ids),
        force_bump=options.force_bump,
        message=options.message,
        date=options.date,
        approvals=approvals,
        allow_unapproved=options.allow_unapproved,
    )
    preflight(snapshot, plan, options.allow_branch)
    if options.push and lib.config.remote not in lib.repo.remotes():
        raise UsageError(
            f"remote '{lib.config.remote}' (sopgit.toml [library] remote) is not a "
            "configured git remote; add it with 'git remote add' or fix the name"
        )
    assert snapshot.branch is not None  # preflight refuses a detached HEAD
    if options.dry_run:
        return ReleaseResult(plan, snapshot.branch, lib.config.remote, dry_run=True)
    return snapshot, plan


def _catch_up(lib: Library, branch: str, head: str) -> str:
    """Fetch BRANCH and the tags from the remote and fast-forward BRANCH (at HEAD, the
    work tree clean) to the remote's; returns the new head. Refused when BRANCH has
    commits the remote lacks: that needs a person (git pull), not a release."""
    from sopgit.commands.release_plan import fetch_release_branch
    from sopgit.errors import RepoError

    remote_head = fetch_release_branch(lib, branch)
    where = f"{lib.config.remote}/{branch}"
    try:
        lib.repo.run("merge-base", "--is-ancestor", head, remote_head)
    except RepoError:
        raise RepoError(
            f"{branch} has commits that {where} lacks, and {where} moved on; nothing was "
            f"released; bring them together (git pull) and release again",
            lib.root,
        ) from None
    lib.repo.run("merge", "--ff-only", "--quiet", "--no-stat", remote_head)
    return remote_head


def run_release_pull_request(
    root: Path,
    options: ReleaseOptions,
    *,
    use_cache: bool = True,
    listener: ReleaseListener | None = None,
) -> ReleaseResult:
    """The release as a pull request (see sopgit.commands.release_pr): the release commit on
    `sopgit/release`, pushed, and the pull request opened or updated. No tags."""
    from dataclasses import replace as changed

    from sopgit.commands.release_plan import release_lock
    from sopgit.commands.release_pr import (
        RELEASE_BRANCH,
        make_release_branch,
        pull_request_message,
        pull_request_text,
        push_release_branch,
    )
    from sopgit.errors import UsageError
    from sopgit.github.rounds import github_client
    from sopgit.repo.workspace import open_sop_library

    listener = listener or QuietListener()
    lib = open_sop_library(root, use_cache=use_cache)
    client = github_client(lib, options.github_token)
    if client is None and not options.dry_run:
        raise UsageError(
            "--pull-request needs a GitHub token (GITHUB_TOKEN or --github-token) and the "
            "repository (GITHUB_REPOSITORY, or a remote on GitHub)"
        )
    with release_lock(lib.repo):
        prepared = _prepare(lib, changed(options, push=True), listener)
        if isinstance(prepared, ReleaseResult):
            return prepared
        snapshot, plan = prepared
        assert snapshot.branch is not None  # preflight refuses a detached HEAD
        assert snapshot.head is not None  # and a repository without commits
        message = pull_request_message(
            plan,
            force_bump=options.force_bump,
            description=options.message,
            allow_unapproved=options.allow_unapproved,
        )
        commit = make_release_branch(lib, snapshot.head, message, plan)
        push_release_branch(lib)
    assert client is not None
    title, body = pull_request_text(plan, message)
    number, url, opened = client.release_pull_request(RELEASE_BRANCH, snapshot.branch, title, body)
    listener.released(plan, commit)
    return ReleaseResult(
        plan,
        RELEASE_BRANCH,
        lib.config.remote,
        False,
        commit=commit,
        pushed=True,
        pull_request=number,
        pull_request_url=url,
        opened=opened,
    )


def run_tag_merged(
    root: Path,
    *,
    push: bool = False,
    sign: bool = False,
    github_token: str | None = None,
    use_cache: bool = True,
    listener: ReleaseListener | None = None,
) -> ReleaseResult:
    """Tag the newest release commit in HEAD's history (a merged release pull request)
    as a direct release would have; nothing when it is tagged already (PLAN None)."""
    from sopgit.commands.release_plan import release_lock
    from sopgit.commands.release_pr import create_tags, find_merged_release, push_tags, recompute
    from sopgit.core.versioning import tag_name
    from sopgit.errors import PolicyError
    from sopgit.repo.workspace import open_sop_library

    listener = listener or QuietListener()
    lib = open_sop_library(root, use_cache=use_cache)
    remote = lib.config.remote
    with release_lock(lib.repo):
        merged = find_merged_release(lib)
        if merged is None or not merged.versions:
            return ReleaseResult(None, None, remote, False)
        names = [tag_name(lib.config.tag_format, i, v) for i, v in merged.versions]
        existing = {t.name: t.target for t in lib.repo.tags()}
        elsewhere = [n for n in names if n in existing and existing[n] != merged.commit]
        if elsewhere:
            raise PolicyError(
                f"tag {elsewhere[0]} already exists on another commit than the release "
                f"commit {merged.commit[:10]}; nothing was tagged"
            )
        if all(n in existing for n in names):
            if push:
                push_tags(lib, names)  # a push that failed before: idempotent otherwise
            return ReleaseResult(None, None, remote, False, commit=merged.commit, pushed=push)
        if not merged.base:
            raise PolicyError(
                f"release commit {merged.commit[:10]} has no tags and does not say how it "
                "was computed (no Sopgit-Release-Date); nothing was tagged"
            )
        plan = recompute(lib, merged, github_token)
        plan = replace(plan, tags=tuple(t for t in plan.tags if t.name not in existing))
        create_tags(lib, merged.commit, plan, sign=sign)
    listener.released(plan, merged.commit)
    if push:
        push_tags(lib, names)
    return ReleaseResult(plan, None, remote, False, commit=merged.commit, pushed=push)
