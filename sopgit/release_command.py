"""`sopgit release` as one typed function: plain arguments in, a result out.

Lock, snapshot, approvals, plan, preflight, then the dry run's plan or the release
itself, then the push. Nothing here prints, exits or knows about click: failures are
SopgitErrors (sopgit.errors) that the CLI maps to exit codes, and what a person should
hear while it runs (a warning) goes to the listener.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sopgit.release import ReleasePlan


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


NOTHING_TO_RELEASE = "nothing to release: no SOP has changes since its last release"


def run_release(
    root: Path,
    options: ReleaseOptions,
    *,
    use_cache: bool = True,
    listener: ReleaseListener | None = None,
) -> ReleaseResult:
    """Cut the versions OPTIONS asks for in the library at ROOT; see `sopgit release`."""
    from sopgit.errors import PolicyError, UsageError
    from sopgit.release import apply_release, plan_release, preflight, push_release, release_lock
    from sopgit.rounds import github_client, outcomes, unattributed_warning
    from sopgit.snapshot import load_snapshot
    from sopgit.workspace import open_sop_library

    listener = listener or QuietListener()
    lib = open_sop_library(root, use_cache=use_cache)
    with release_lock(lib.repo):
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
        commit = apply_release(snapshot, plan, sign=options.sign)
    listener.released(plan, commit)
    if options.push:
        push_release(snapshot, plan)
    return ReleaseResult(
        plan, snapshot.branch, lib.config.remote, False, commit=commit, pushed=options.push
    )
