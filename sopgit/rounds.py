"""Review rounds: gather each SOP's sign-offs (git history, signatures, GitHub), judge
them with the policy, report a pull request's round, record an offline approval.

The edge around sopgit.approvals: git and GitHub are read here, in a number of git
processes that does not depend on the number of SOPs (the snapshot's scan, one
signature check for all approval commits, one rev-list for a round).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sopgit.approvals import (
    APPROVED_BY,
    REVIEWED_BY,
    SOP_ID_TRAILER,
    Approval,
    Facts,
    Outcome,
    Review,
    Signature,
    Signer,
    approval_commits,
    authors_of,
    holds,
    pending_approval_commits,
    review_signoffs,
    sop_outcome,
    team_entries,
    utc_from_epoch,
)
from sopgit.errors import UsageError
from sopgit.github import GitHubClient, event_pull_request, from_environment
from sopgit.history import History, SopVersion
from sopgit.snapshot import Snapshot
from sopgit.workspace import Library

MARKER = "<!-- sopgit:review-round -->"


def github_client(lib: Library, token: str | None = None) -> GitHubClient | None:
    """A GitHub client when a token is at hand and the library is on GitHub."""
    if not (token or os.environ.get("GITHUB_TOKEN")):
        return None  # no token, no GitHub: not even the remote is looked up
    remote = None
    if not os.environ.get("GITHUB_REPOSITORY"):
        remote = lib.repo.remote_url(lib.config.remote)
    return from_environment(os.environ, token, remote)


def sop_tags(snapshot: Snapshot, sop_id: str) -> list[str]:
    sop = snapshot.sops.get(sop_id)
    tags = sop.raw("tags") if sop else None
    return [str(t) for t in tags] if isinstance(tags, list) else []


def outcomes(
    snapshot: Snapshot,
    sop_ids: Iterable[str],
    client: GitHubClient | None = None,
    *,
    round_pr: int | None = None,
    round_commits: frozenset[str] = frozenset(),
) -> dict[str, Outcome]:
    """The policy's verdict on each of SOP_IDS with pending changes."""
    history, config = snapshot.history, snapshot.lib.config
    versions = {i: v for i in sop_ids if (v := snapshot.version(i)).pending}
    candidates = approval_commits(history)
    approvals = {
        i: pending_approval_commits(v, history, candidates.get(i, [])) for i, v in versions.items()
    }
    shas = {c.sha for commits in approvals.values() for c in commits}
    signatures = {
        sha: Signature(status, signer)
        for sha, (status, signer) in snapshot.lib.repo.signatures(shas).items()
    }
    facts: dict[str, Facts] = {}
    if client is not None:
        facts = GitHubFacts(client, history, team_entries(config)).gather(
            versions, round_pr, round_commits
        )
    return {
        sop_id: sop_outcome(
            config,
            version,
            history,
            sop_tags(snapshot, sop_id),
            approvals[sop_id],
            signatures,
            facts.get(sop_id, Facts()),
        )
        for sop_id, version in versions.items()
    }


@dataclass
class GitHubFacts:
    """Pull requests, reviews, commit authors and team memberships, each asked once."""

    client: GitHubClient
    history: History
    teams: list[str]
    _pulls: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    _reviews: dict[int, list[Review]] = field(default_factory=dict)
    _logins: dict[int, set[str]] = field(default_factory=dict)
    _members: dict[tuple[str, str], bool] = field(default_factory=dict)

    def gather(
        self,
        versions: Mapping[str, SopVersion],
        round_pr: int | None,
        round_commits: frozenset[str],
    ) -> dict[str, Facts]:
        found = {}
        for sop_id, version in versions.items():
            numbers: set[int] = set()
            logins: set[str] = set()
            for change in version.pending:
                if change.commit.sha in round_commits and round_pr is not None:
                    numbers.add(round_pr)
                elif change.pull_request is not None:
                    numbers.add(change.pull_request)
                elif change.commit.sha not in round_commits:
                    # A rebase merge names no pull request: ask GitHub, about the commit
                    # that reached the release branch (the merge, if one brought it).
                    anchor = self.history.ancestry.merge_that_brought(change.commit.sha)
                    for number, opener in self.pulls_of(anchor or change.commit.sha):
                        numbers.add(number)
                        logins.add(opener)
            reviews: list[Review] = []
            for number in sorted(numbers):
                reviews += self._reviews_of(number)
                logins |= self._logins_of(number)
            found[sop_id] = Facts(
                reviews=tuple(reviews),
                author_logins=frozenset(logins),
                teams=self._teams_for(reviews, logins),
                pull_requests=tuple(sorted(numbers)),
            )
        return found

    def pulls_of(self, sha: str) -> list[tuple[int, str]]:
        if sha not in self._pulls:
            self._pulls[sha] = [
                (int(p["number"]), str((p.get("user") or {}).get("login") or ""))
                for p in self.client.pulls_for_commit(sha)
                if isinstance(p.get("number"), int)
                and (p.get("merged_at") or p.get("state") == "open")
            ]
        return self._pulls[sha]

    def _reviews_of(self, number: int) -> list[Review]:
        if number not in self._reviews:
            self._reviews[number] = self.client.reviews(number)
        return self._reviews[number]

    def _logins_of(self, number: int) -> set[str]:
        if number not in self._logins:
            self._logins[number] = self.client.pull_commit_logins(number)
        return self._logins[number]

    def _teams_for(self, reviews: list[Review], authors: set[str]) -> dict[str, frozenset[str]]:
        """Team -> the approving reviewers known to be active members of it."""
        approvers = {
            a.signer.login
            for a in review_signoffs(reviews)
            if a.signer.login.lower() not in {x.lower() for x in authors}
        }
        teams: dict[str, frozenset[str]] = {}
        for team in self.teams:
            members = set()
            for login in sorted(approvers):
                key = (team, login.lower())
                if key not in self._members:
                    self._members[key] = self.client.is_team_member(team, login)
                if self._members[key]:
                    members.add(login.lower())
            teams[team] = frozenset(members)
        return teams


# --- the review round report ------------------------------------------------------


@dataclass(frozen=True)
class RoundItem:
    sop_id: str
    title: str
    path: str
    current: str | None
    next: str | None
    shown: str | None
    bump: str | None
    reasons: tuple[str, ...]
    outcome: Outcome

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.sop_id,
            "title": self.title,
            "path": self.path,
            "version": self.current,
            "next_version": self.next,
            "shown_version": self.shown,
            "bump": self.bump,
            "reasons": list(self.reasons),
            "approved": {
                role: [a.signer.label for a in found]
                for role, found in self.outcome.filled().items()
            },
            **self.outcome.as_dict(),
        }


@dataclass(frozen=True)
class RoundReport:
    branch: str | None
    base: str
    head: str | None
    pull_request: int | None
    items: tuple[RoundItem, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "branch": self.branch,
            "base": self.base,
            "head": self.head,
            "pull_request": self.pull_request,
            "ready": all(i.outcome.satisfied for i in self.items),
            "sops": [item.as_dict() for item in self.items],
        }


def review_round(
    snapshot: Snapshot,
    base: str | None = None,
    pull_request: int | None = None,
    client: GitHubClient | None = None,
) -> RoundReport:
    """What the current branch (a pull request's round) changes, and who has approved."""
    lib = snapshot.lib
    base = base or os.environ.get("GITHUB_BASE_REF") or lib.config.release_branch
    base_sha = lib.repo.resolve(base, f"{lib.config.remote}/{base}")
    if base_sha is None:
        raise UsageError(
            f"no branch '{base}' here (nor {lib.config.remote}/{base}); give --base, and "
            "fetch the whole history (actions/checkout with fetch-depth: 0)"
        )
    on_base = snapshot.head == base_sha  # the release branch itself: all that is pending
    round_commits = frozenset(lib.repo.commits_between(base_sha)) if snapshot.head else frozenset()
    if pull_request is None:
        pull_request = event_pull_request(os.environ)
    if pull_request is None and client is not None and snapshot.head:
        # The branch's one open pull request, if GitHub knows the commit.
        pulls = GitHubFacts(client, snapshot.history, []).pulls_of(snapshot.head)
        pull_request = pulls[0][0] if len(pulls) == 1 else None
    candidates = approval_commits(snapshot.history)
    ids = []
    for sop_id in snapshot.sops:
        version = snapshot.version(sop_id)
        touched = any(c.commit.sha in round_commits for c in version.pending)
        approved_here = any(c.sha in round_commits for c in candidates.get(sop_id, []))
        if version.pending and (touched or approved_here or on_base):
            ids.append(sop_id)
    verdicts = outcomes(snapshot, ids, client, round_pr=pull_request, round_commits=round_commits)
    items = []
    for sop_id in ids:
        version, sop = snapshot.version(sop_id), snapshot.sops[sop_id]
        items.append(
            RoundItem(
                sop_id=sop_id,
                title=sop.meta("title", sop_id),
                path=sop.path,
                current=str(version.current) if version.current else None,
                next=str(version.next) if version.next else None,
                shown=version.shown(snapshot.on_release_branch),
                bump=version.bump,
                reasons=_reasons(version),
                outcome=verdicts[sop_id],
            )
        )
    return RoundReport(snapshot.branch, base, snapshot.head, pull_request, tuple(items))


def _reasons(version: SopVersion) -> tuple[str, ...]:
    """The commits that decide the bump, oldest first."""
    if version.current is None:
        return ("the first release of the SOP",)
    return tuple(
        f"{c.commit.subject} ({c.commit.sha[:10]})"
        for c in reversed(version.pending)
        if c.bump == version.bump
    )


def report_text(report: RoundReport) -> str:
    where = (
        f"pull request #{report.pull_request}"
        if report.pull_request
        else (f"branch {report.branch or 'HEAD'}")
    )
    since = "since the last releases" if report.branch == report.base else f"against {report.base}"
    if not report.items:
        return f"{where}: no SOP changes {since}"
    lines = [f"{where} {since}: {len(report.items)} SOP(s) change"]
    for item in report.items:
        lines += ["", f"{item.sop_id} {item.title} ({item.path})"]
        lines.append(f"  version  {item.current or '-'} -> {item.next} ({item.bump})")
        lines += [f"  because  {reason}" for reason in item.reasons]
        outcome = item.outcome
        lines.append(f"  requires {', '.join(outcome.required) or 'no approval'}")
        for approval in outcome.approvals:
            verb = approval.meaning
            role = f" as {approval.role}" if approval.role else ""
            lines.append(
                f"  {verb:8} {approval.signer.label}{role}, {approval.time}, {approval.where()}"
            )
        for approval, why in outcome.ignored:
            lines.append(f"  ignored  {approval.signer.label}: {why}")
        lines.append(f"  missing  {', '.join(outcome.missing) or 'nothing'}")
    return "\n".join(lines)


def report_markdown(report: RoundReport) -> str:
    """The pull request comment (and job summary); MARKER lets it be updated in place."""
    lines = [MARKER, "### SOP review round", ""]
    if not report.items:
        lines.append(f"No SOP changes against `{report.base}`.")
        return "\n".join(lines) + "\n"
    ready = all(i.outcome.satisfied for i in report.items)
    lines += [
        "Ready to release: every required approval is in."
        if ready
        else "Not ready to release: approvals are missing.",
        "",
        "| SOP | Version | Bump | Approved | Missing |",
        "|---|---|---|---|---|",
    ]
    for item in report.items:
        approved = ", ".join(
            f"{role}: {', '.join(_who(a) for a in found)}"
            for role, found in item.outcome.filled().items()
        )
        missing = ", ".join(f"**{role}**" for role in item.outcome.missing)
        lines.append(
            f"| {item.sop_id} {_md(item.title)} | {item.current or '–'} → {item.next} "
            f"| {item.bump} | {approved or '–'} | {missing or '–'} |"
        )
    for item in report.items:
        outcome = item.outcome
        lines += ["", f"#### {item.sop_id} {_md(item.title)}", ""]
        lines.append(f"- File: {_code(item.path)}")
        lines += [f"- Why {item.bump}: {_code(reason)}" for reason in item.reasons]
        lines.append(f"- Required roles: {', '.join(outcome.required) or 'none'}")
        for approval in outcome.approvals:
            role = f" as **{approval.role}**" if approval.role else ""
            lines.append(
                f"- {approval.meaning.capitalize()}{role} by {_who(approval)}, "
                f"{approval.time}, {approval.where()}"
            )
        for approval, why in outcome.ignored:
            lines.append(f"- Not counted: {_who(approval)}: {_md(why)}")
        if outcome.missing:
            lines.append(f"- Missing: {', '.join(f'**{r}**' for r in outcome.missing)}")
    head = f" at `{report.head[:10]}`" if report.head else ""
    lines += ["", f"<sub>Updated by sopgit{head}.</sub>"]
    return "\n".join(lines) + "\n"


def _who(approval: Approval) -> str:
    # A code span: a login in a comment would otherwise notify that person on every edit.
    return _code(approval.signer.label)


def _code(text: str) -> str:
    text = " ".join(text.split())
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md(text: str) -> str:
    """Untrusted text (titles, reasons) as plain Markdown: no markup, links or mentions."""
    text = " ".join(text.split())
    for char in "\\`*_[]<>|#!~":
        text = text.replace(char, f"\\{char}")
    return text.replace("@", "@\u200b")


# --- offline approvals ----------------------------------------------------------------


@dataclass(frozen=True)
class ApprovalCommit:
    sop_id: str
    role: str | None
    meaning: str
    signer: Signer
    message: str
    commit: str | None  # None on a dry run


def approve(
    snapshot: Snapshot,
    sop_id: str,
    role: str | None,
    *,
    reviewed: bool = False,
    sign: bool = False,
    dry_run: bool = False,
) -> ApprovalCommit:
    """Record the git user's approval (or review) of SOP_ID's pending changes as a commit."""
    lib = snapshot.lib
    repo, config = lib.repo, lib.config
    sop = snapshot.sop(sop_id)
    version = snapshot.version(sop.sop_id)
    if not version.pending:
        raise UsageError(f"{sop.sop_id} has no changes since its last release; nothing to approve")
    if role is None and not reviewed:
        raise UsageError("say which role you approve as: --role ROLE (or --reviewed)")
    if role is not None and role not in config.approval_roles:
        known = ", ".join(config.approval_roles)
        raise UsageError(f"unknown role '{role}'; [approval.roles] defines {known}")
    ident = repo.author_ident()
    if ident is None:
        raise UsageError("git does not know who you are; set user.name and user.email")
    person, when = ident
    signer = Signer(person.name, person.email)
    if authors_of(version.pending).include(signer):
        raise UsageError(
            f"{signer.label} is an author of a pending change of {sop.sop_id} "
            "and cannot approve it; ask someone else"
        )
    if role is not None and not holds(signer, config.approval_roles[role]):
        raise UsageError(
            f"{signer.email} is not listed for the role '{role}' in [approval.roles] "
            "(teams cannot be checked offline: list the email there)"
        )
    if repo.staged_paths():
        raise UsageError("the index has staged changes; commit or unstage them first")
    key = REVIEWED_BY if reviewed else APPROVED_BY
    suffix = f" ({role})" if role else ""
    verb = "review" if reviewed else "approve"
    subject = f"chore({sop.sop_id}): {verb} v{version.next}" + (f" as {role}" if role else "")
    message = (
        f"{subject}\n\n"
        f"{key}: {signer.label}{suffix} {utc_from_epoch(when)}\n"
        f"{SOP_ID_TRAILER}: {sop.sop_id}\n"
    )
    commit = None
    if not dry_run:
        args = ["commit", "--quiet", "--allow-empty", "--cleanup=verbatim", "-m", message]
        repo.run(*args, *(["-S"] if sign else []))
        commit = repo.head()
    meaning = "reviewed" if reviewed else "approved"
    return ApprovalCommit(sop.sop_id, role, meaning, signer, message, commit)
