"""Review rounds: gather each SOP's sign-offs (git history, signatures, GitHub), judge
them with the policy, report a pull request's round, record an offline approval.

The edge around sopgit.core.approvals: git and GitHub are read here, in a number of git
processes that does not depend on the number of SOPs (the snapshot's scan, one
signature check for all approval commits, one rev-list for a round).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sopgit.core.approvals import (
    APPROVED_BY,
    REVIEWED_BY,
    SOP_ID_TRAILER,
    Approval,
    Contents,
    Facts,
    Outcome,
    Review,
    Signature,
    Signer,
    approval_commits,
    approved_commits,
    authors_of,
    file_names,
    holds,
    pending_approval_commits,
    review_signoffs,
    signoffs_of,
    sop_outcome,
    team_entries,
    utc_from_epoch,
)
from sopgit.core.history import History, SopVersion
from sopgit.errors import UsageError
from sopgit.github.client import (
    GitHubClient,
    RequestCapReached,
    event_pull_request,
    from_environment,
)
from sopgit.repo.git import GitRepo
from sopgit.repo.snapshot import Snapshot
from sopgit.repo.workspace import Library

MARKER = "<!-- sopgit:review-round -->"


def github_client(lib: Library, token: str | None = None) -> GitHubClient | None:
    """A GitHub client when a token is at hand and the library is on GitHub."""
    if not (token or os.environ.get("GITHUB_TOKEN")):
        return None  # no token, no GitHub: not even the remote is looked up
    remote = None
    if not os.environ.get("GITHUB_REPOSITORY"):
        remote = lib.repo.remote_url(lib.config.remote)
    return from_environment(os.environ, token, remote, lib.config.github_max_requests)


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
    """The policy's verdict on each of SOP_IDS with pending changes.

    Each sign-off is bound to the content it approved: the SOP's file at the approved
    commit is compared, by blob id, with the file at HEAD (the commit being released).
    """
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
    github = None
    if client is not None:
        github = GitHubFacts(client, history, team_entries(config))
        facts = github.gather(versions, round_pr, round_commits)
    signoffs = {
        sop_id: signoffs_of(
            version, history, approvals[sop_id], signatures, facts.get(sop_id, Facts())
        )
        for sop_id, version in versions.items()
    }
    contents = read_contents(
        snapshot, {i: approved_commits(found) for i, found in signoffs.items()}, github
    )
    return {
        sop_id: sop_outcome(
            config,
            version,
            sop_tags(snapshot, sop_id),
            signoffs[sop_id],
            contents[sop_id],
            facts.get(sop_id, Facts()),
        )
        for sop_id, version in versions.items()
    }


def read_contents(
    snapshot: Snapshot, wanted: Mapping[str, Iterable[str]], github: GitHubFacts | None = None
) -> dict[str, Contents]:
    """Each SOP's file by blob id at HEAD and at the commits in WANTED[sop_id].

    One `git cat-file --batch-check` for all SOPs and commits: each commit is asked for
    every name the file had (renames followed back), the current name first. A commit
    this clone lacks (a squash-merged pull request's head) is described by GitHub, when
    a client is at hand, with one request per commit.
    """
    head = snapshot.head
    paths = {sop_id: snapshot.sops[sop_id].path for sop_id in wanted}
    names = file_names(snapshot.history.commits, paths.values())
    commits = sorted({c for found in wanted.values() for c in found})
    lines = [*commits, *(f"{head}:{path}" for path in paths.values())]
    for sop_id, found in wanted.items():
        lines += [f"{c}:{n}" for c in sorted(found) for n in names[paths[sop_id]]]
    blobs = object_ids(snapshot.lib.repo, lines) if head else {}
    absent = {c for c in commits if blobs.get(c) is None}
    described: dict[str, dict[str, str]] = {}
    if github is not None:
        described = github.trees(sorted(absent))
    result = {}
    for sop_id, found in wanted.items():
        sop_names = names[paths[sop_id]]
        result[sop_id] = Contents(
            released=blobs.get(f"{head}:{paths[sop_id]}"),
            at={c: _blob_at(c, sop_names, blobs, described) for c in found},
            absent=frozenset(c for c in found if c in absent and c not in described),
        )
    return result


def _blob_at(
    commit: str,
    names: list[str],
    blobs: Mapping[str, str],
    described: Mapping[str, Mapping[str, str]],
) -> str | None:
    """The SOP's blob at COMMIT: under the first of its NAMES that is there."""
    if commit in described:
        tree = described[commit]
        return next((tree[n] for n in names if n in tree), None)
    return next((b for n in names if (b := blobs.get(f"{commit}:{n}"))), None)


def object_ids(repo: GitRepo, names: list[str]) -> dict[str, str]:
    """`<rev>` or `<rev>:<path>` -> object id, for those that exist: one git process.

    A name holding a line break cannot be asked (git reads one name a line): unknown.
    """
    asked = [name for name in names if "\n" not in name and "\r" not in name]
    if not asked:
        return {}
    out = repo.run(
        "cat-file", "--batch-check=%(objectname)", input="".join(f"{n}\n" for n in asked)
    )
    found = {}
    for name, line in zip(asked, out.split("\n"), strict=False):  # one answer a line, in order
        answer = line.strip()  # an object id, or `NAME missing` (or `ambiguous`)
        if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", answer):
            found[name] = answer
    return found


def unattributed_warning(verdicts: Mapping[str, Outcome], client: GitHubClient | None) -> str:
    """The warning line when GitHub's request cap left commits unattributed ("" if not)."""
    commits = sorted({c for v in verdicts.values() for c in v.unattributed})
    if not commits:
        return ""
    cap = client.max_requests if client is not None else None
    shown = ", ".join(c[:10] for c in commits[:10]) + (", ..." if len(commits) > 10 else "")
    return (
        f"warning: GitHub request cap reached ([github] max_requests = {cap}); "
        f"{len(commits)} commit(s) not attributed to a pull request: {shown}"
    )


@dataclass
class GitHubFacts:
    """Pull requests, reviews, commit authors and team memberships, each asked once.

    Pull requests come from merge and squash subjects first; GitHub is asked about a
    commit only when no subject names its pull request, and about each pull request
    once. Past the client's request cap nothing more is asked: the commits left without
    a pull request (or whose pull request could not be read) are unattributed.
    """

    client: GitHubClient
    history: History
    teams: list[str]
    _pulls: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    _reviews: dict[int, list[Review]] = field(default_factory=dict)
    _logins: dict[int, set[str]] = field(default_factory=dict)
    _members: dict[tuple[str, str], bool] = field(default_factory=dict)
    capped: bool = False

    def gather(
        self,
        versions: Mapping[str, SopVersion],
        round_pr: int | None,
        round_commits: frozenset[str],
    ) -> dict[str, Facts]:
        named: dict[str, dict[str, int]] = {}  # sop -> commit -> pull request from a subject
        asked: dict[str, dict[str, str]] = {}  # sop -> commit -> the commit to ask about
        for sop_id, version in versions.items():
            for change in version.pending:
                sha = change.commit.sha
                if sha in round_commits and round_pr is not None:
                    named.setdefault(sop_id, {})[sha] = round_pr
                elif change.pull_request is not None:
                    named.setdefault(sop_id, {})[sha] = change.pull_request
                elif sha not in round_commits:
                    # A rebase merge names no pull request: ask GitHub, about the commit
                    # that reached the release branch (the merge, if one brought it).
                    anchor = self.history.ancestry.merge_that_brought(sha)
                    asked.setdefault(sop_id, {})[sha] = anchor or sha
        for number in sorted({n for found in named.values() for n in found.values()}):
            self._read_pull(number)
        for anchor in dict.fromkeys(a for found in asked.values() for a in found.values()):
            for number, _ in self.pulls_of(anchor) or []:
                self._read_pull(number)
        found = {}
        for sop_id in versions:
            numbers: set[int] = set()
            logins: set[str] = set()
            unattributed: list[str] = []
            for sha, number in named.get(sop_id, {}).items():
                if self._read_pull(number):
                    numbers.add(number)
                else:
                    unattributed.append(sha)
            for sha, anchor in asked.get(sop_id, {}).items():
                pulls = self._pulls.get(anchor)
                if pulls is None or not all(self._read_pull(n) for n, _ in pulls):
                    unattributed.append(sha)
                    continue
                for number, opener in pulls:
                    numbers.add(number)
                    logins.add(opener)
            reviews: list[Review] = []
            for number in sorted(numbers):
                reviews += self._reviews[number]
                logins |= self._logins[number]
            found[sop_id] = Facts(
                reviews=tuple(reviews),
                author_logins=frozenset(logins),
                teams=self._teams_for(reviews, logins),
                pull_requests=tuple(sorted(numbers)),
                unattributed=tuple(unattributed),
            )
        return found

    def pulls_of(self, sha: str) -> list[tuple[int, str]] | None:
        """The merged (or open) pull requests of SHA; None past the request cap."""
        if sha not in self._pulls:
            try:
                pulls = self.client.pulls_for_commit(sha)
            except RequestCapReached:
                self.capped = True
                return None
            self._pulls[sha] = [
                (int(p["number"]), str((p.get("user") or {}).get("login") or ""))
                for p in pulls
                if isinstance(p.get("number"), int)
                and (p.get("merged_at") or p.get("state") == "open")
            ]
        return self._pulls[sha]

    def _read_pull(self, number: int) -> bool:
        """Read pull request NUMBER's reviews and commit authors, once; False past the cap."""
        try:
            if number not in self._reviews:
                self._reviews[number] = self.client.reviews(number)
            if number not in self._logins:
                self._logins[number] = self.client.pull_commit_logins(number)
        except RequestCapReached:
            self.capped = True
            return False
        return True

    def trees(self, commits: Iterable[str]) -> dict[str, dict[str, str]]:
        """Path -> blob of the reviewed COMMITS this clone lacks, as GitHub describes them."""
        found = {}
        for commit in commits:
            try:
                tree = self.client.tree_blobs(commit)
            except RequestCapReached:
                self.capped = True
                break
            if tree is not None:
                found[commit] = tree
        return found

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
                    try:
                        self._members[key] = self.client.is_team_member(team, login)
                    except RequestCapReached:  # not known to be a member: fills no role
                        self.capped = True
                        continue
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
    github_requests: int | None = None  # how many GitHub API requests it took

    @property
    def unattributed(self) -> list[str]:
        """Pending commits whose pull request is unknown: GitHub's request cap was reached."""
        return sorted({c for item in self.items for c in item.outcome.unattributed})

    def as_dict(self) -> dict[str, object]:
        return {
            "branch": self.branch,
            "base": self.base,
            "head": self.head,
            "pull_request": self.pull_request,
            "ready": all(i.outcome.satisfied for i in self.items),
            "github_requests": self.github_requests,
            "unattributed": self.unattributed,
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
        pulls = GitHubFacts(client, snapshot.history, []).pulls_of(snapshot.head) or []
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
    requests = client.requests if client is not None else None
    return RoundReport(snapshot.branch, base, snapshot.head, pull_request, tuple(items), requests)


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
            kept = " (an earlier version; counted: stale = keep)" if approval.stale else ""
            lines.append(
                f"  {verb:8} {approval.signer.label}{role}, {approval.time}, "
                f"{approval.where()}{kept}"
            )
        for approval, why in outcome.stale:
            if not approval.stale:
                where = f"{approval.where(bound=False)}, {approval.time}"
                lines.append(f"  stale    {approval.signer.label} {why}: {where}")
        for approval, why in outcome.ignored:
            lines.append(f"  ignored  {approval.signer.label}: {why}")
        if outcome.unattributed:
            shas = ", ".join(c[:10] for c in outcome.unattributed)
            lines.append(f"  unknown  no pull request known for {shas} (GitHub request cap)")
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
        for approval, why in outcome.stale:
            where = f"{_md(why)}, {approval.where(bound=False)}"
            if approval.stale:
                lines.append(f"- Counted under `stale = keep`: {_who(approval)} {where}")
            else:
                lines.append(f"- Stale, not counted: {_who(approval)} {where}")
        for approval, why in outcome.ignored:
            lines.append(f"- Not counted: {_who(approval)}: {_md(why)}")
        if outcome.unattributed:
            shas = ", ".join(_code(c[:10]) for c in outcome.unattributed)
            lines.append(f"- No pull request known (GitHub request cap) for {shas}")
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
