"""Approvals and the approval policy (pure): sign-offs in, roles filled and missing out.

A sign-off comes from a git trailer (`Approved-by:` / `Reviewed-by:` on a pending
commit or on the merge that brought it in), from an approval commit that `sopgit
approve` made (an empty commit with a `Sop-Id:` trailer), or from a GitHub pull
request review. The policy decides what each counts for:

- a signer holds the roles `[approval.roles]` lists them under (an email, a GitHub
  login, an `@org/team` they are a member of, or `*`: anyone);
- an author of a pending change of the SOP never counts for it;
- `Reviewed-by` records a review and fills no role;
- each required role needs its own signer (four eyes: one person approving twice does
  not fill both peer and manager);
- with `[approval] require_signed`, only GitHub reviews and approval commits with a good
  signature by the approver count.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace

from sopgit.commits import parse_message, pull_request_number
from sopgit.config import Config
from sopgit.history import Change, History, SopVersion
from sopgit.model import Commit

APPROVED = "approved"
REVIEWED = "reviewed"
APPROVED_BY = "Approved-by"
REVIEWED_BY = "Reviewed-by"
SOP_ID_TRAILER = "Sop-Id"
# `Name <email> (role) 2026-03-02T10:14:00Z`; every part but the signer is optional.
SIGNOFF = re.compile(
    r"^(?P<who>.*?)\s*(?:\((?P<role>[^()]*)\))?\s*(?P<time>\d{4}-\d{2}-\d{2}T[\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?\s*$"
)
EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
NOREPLY = re.compile(r"^(?:\d+\+)?(?P<login>[A-Za-z0-9-]+)@users\.noreply\.github\.com$", re.I)


@dataclass(frozen=True)
class Signer:
    name: str = ""
    email: str = ""
    login: str = ""  # a GitHub login, without "@"

    @property
    def label(self) -> str:
        """How a trailer names the signer: `Name <email>`, `email` or `@login`."""
        if self.name and self.email:
            return f"{self.name} <{self.email}>"
        return self.email or (f"@{self.login}" if self.login else self.name)

    @property
    def short(self) -> str:
        """How the Revision History names the signer: the name, else email or @login."""
        return self.name or self.email or (f"@{self.login}" if self.login else "")

    @property
    def key(self) -> str:
        """One person, whichever source named them (best effort: email, login, name)."""
        return (self.email or (f"@{self.login}" if self.login else self.name)).lower()


@dataclass(frozen=True)
class Approval:
    signer: Signer
    role: str | None  # the role it counts for; for a sign-off not yet judged, the one named
    meaning: str  # "approved" | "reviewed"
    time: str  # ISO 8601 UTC, e.g. 2026-03-02T10:14:00Z
    source: str  # "trailer" | "github" | "signed-commit"
    pull_request: int | None = None
    commit: str | None = None  # the commit that carries it (trailer or approval commit)
    note: str = ""  # e.g. why an approval commit's signature does not count

    def trailer(self) -> str:
        """The tag trailer: `Approved-by: Lee Chen <lee@acme.example> (manager) TIME`."""
        key = APPROVED_BY if self.meaning == APPROVED else REVIEWED_BY
        role = f" ({self.role})" if self.role else ""
        return f"{key}: {self.signer.label}{role} {self.time}"

    def column(self) -> str:
        """The Revision History's Approved-by cell entry: `Lee Chen (manager)`."""
        return f"{self.signer.short} ({self.role})" if self.role else self.signer.short

    def where(self) -> str:
        """Where the sign-off was found, for people."""
        pr = f" of pull request #{self.pull_request}" if self.pull_request else ""
        if self.source == "github":
            return f"GitHub review{pr}"
        commit = f" {self.commit[:10]}" if self.commit else ""
        if self.source == "signed-commit":
            return f"signed approval commit{commit}"
        return f"trailer on commit{commit}{pr}"

    def as_dict(self) -> dict[str, object]:
        return {
            "signer": self.signer.label,
            "name": self.signer.name or None,
            "email": self.signer.email or None,
            "login": self.signer.login or None,
            "role": self.role,
            "meaning": self.meaning,
            "time": self.time,
            "source": self.source,
            "pull_request": self.pull_request,
            "commit": self.commit,
        }


@dataclass(frozen=True)
class Review:
    """A pull request review as GitHub reports it (REST `pulls/{n}/reviews`)."""

    login: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING
    submitted_at: str | None
    pull_request: int
    commit_id: str | None = None


@dataclass(frozen=True)
class Signature:
    """git's verdict on a commit's signature: `%G?` (G good) and `%GS` (the signer)."""

    status: str
    signer: str = ""

    @property
    def good(self) -> bool:
        return self.status == "G"


@dataclass(frozen=True)
class Policy:
    required: tuple[str, ...]
    roles: Mapping[str, tuple[str, ...]]
    require_signed: bool = False


@dataclass(frozen=True)
class Authors:
    """Who wrote the pending changes, by every handle known for them."""

    emails: frozenset[str] = frozenset()
    logins: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()

    def include(self, signer: Signer) -> bool:
        return (
            (bool(signer.email) and signer.email.lower() in self.emails)
            or (bool(signer.login) and signer.login.lower() in self.logins)
            or (bool(signer.name) and signer.name.casefold() in self.names)
        )


@dataclass(frozen=True)
class Outcome:
    """What the policy made of an SOP's sign-offs."""

    sop_id: str
    required: tuple[str, ...]
    approvals: tuple[Approval, ...]  # counted: approvals with their role, then reviews
    missing: tuple[str, ...]  # required roles no approval fills
    ignored: tuple[tuple[Approval, str], ...] = ()  # sign-offs that count for nothing, and why
    pull_requests: tuple[int, ...] = ()

    @property
    def satisfied(self) -> bool:
        return not self.missing

    def filled(self) -> dict[str, list[Approval]]:
        """Role -> the approvals that hold it."""
        roles: dict[str, list[Approval]] = {}
        for approval in self.approvals:
            if approval.meaning == APPROVED and approval.role:
                roles.setdefault(approval.role, []).append(approval)
        return roles

    def as_dict(self) -> dict[str, object]:
        return {
            "required": list(self.required),
            "missing": list(self.missing),
            "approvals": [a.as_dict() for a in self.approvals],
            "ignored": [{**a.as_dict(), "reason": why} for a, why in self.ignored],
            "pull_requests": list(self.pull_requests),
        }


# --- the policy -------------------------------------------------------------------


def policy_for(config: Config, sop_id: str, tags: Iterable[str] = ()) -> Policy:
    """The roles SOP_ID needs: `required`, then its department's, then its tags'."""
    dept = sop_id.rsplit("-", 1)[0]
    groups = [config.approval_required, config.approval_departments.get(dept, ())]
    groups += [config.approval_tags.get(tag, ()) for tag in tags]
    required = tuple(dict.fromkeys(role for group in groups for role in group))
    return Policy(required, config.approval_roles, config.approval_require_signed)


def holds(signer: Signer, entries: Iterable[str], teams: Mapping[str, frozenset[str]] = {}) -> bool:
    """Does SIGNER match one of a role's ENTRIES (email, login, @org/team, `*`)?"""
    for entry in entries:
        wanted = entry.strip().lower()
        if wanted == "*":
            return True
        if wanted.startswith("@") and "/" in wanted:
            if signer.login and signer.login.lower() in teams.get(wanted, frozenset()):
                return True
        elif EMAIL.match(wanted):
            if signer.email and signer.email.lower() == wanted:
                return True
        elif signer.login and signer.login.lower() == wanted.lstrip("@"):
            return True
    return False


def authors_of(changes: Iterable[Change], logins: Iterable[str] = ()) -> Authors:
    """The authors of CHANGES (with their Co-authored-by) plus known GitHub LOGINS."""
    emails: set[str] = set()
    names: set[str] = set()
    found = {login.lower() for login in logins}
    people = []
    for change in changes:
        people.append(Signer(change.commit.author_name, change.commit.author_email))
        people += [parse_signer(v) for v in change.message.trailer_values("Co-authored-by")]
    for person in people:
        if person.email:
            emails.add(person.email.lower())
            match = NOREPLY.match(person.email)
            if match:  # a GitHub noreply address names the login
                found.add(match.group("login").lower())
        if person.name:
            names.add(person.name.casefold())
        if person.login:
            found.add(person.login.lower())
    return Authors(frozenset(emails), frozenset(found), frozenset(names))


def evaluate(
    sop_id: str,
    policy: Policy,
    signoffs: Iterable[Approval],
    authors: Authors,
    teams: Mapping[str, frozenset[str]] = {},
    pull_requests: Iterable[int] = (),
) -> Outcome:
    """Judge SIGNOFFS under POLICY: which roles they fill, which are missing, and why not."""
    ignored: list[tuple[Approval, str]] = []
    reviews: dict[str, Approval] = {}
    # signer key -> role -> earliest approval; the roles each signer may fill
    offers: dict[str, dict[str, Approval]] = {}
    for signoff in sorted(signoffs, key=lambda a: (a.time, a.signer.key)):
        if authors.include(signoff.signer):
            ignored.append((signoff, "an author of the change cannot sign for it"))
            continue
        if signoff.meaning == REVIEWED:
            reviews.setdefault(signoff.signer.key, replace(signoff, role=None))
            continue
        if policy.require_signed and signoff.source == "trailer":
            why = signoff.note or "a plain trailer; require_signed counts signed approvals only"
            ignored.append((signoff, why))
            continue
        roles, why = _roles_offered(signoff, policy, teams)
        if not roles:
            ignored.append((signoff, why))
            continue
        mine = offers.setdefault(signoff.signer.key, {})
        for role in roles:
            mine.setdefault(role, replace(signoff, role=role))
    open_roles = {role for role, entries in policy.roles.items() if "*" in entries}
    matched = _match(policy.required, {k: list(v) for k, v in offers.items()}, open_roles)
    counted: list[Approval] = []
    for key, offered in offers.items():
        if key in matched:
            counted.append(offered[matched[key]])
            continue
        # Not needed for a required role (or its role is taken): record it under the
        # role it named, or the first it holds; required roles come first.
        order = [r for r in policy.required if r in offered] + [r for r in offered]
        counted.append(offered[order[0]])
    rank = {role: i for i, role in enumerate([*policy.required, *policy.roles])}
    counted.sort(key=lambda a: (rank.get(a.role or "", len(rank)), a.time, a.signer.key))
    filled = set(matched.values())
    return Outcome(
        sop_id=sop_id,
        required=policy.required,
        approvals=(*counted, *sorted(reviews.values(), key=lambda a: (a.time, a.signer.key))),
        missing=tuple(role for role in policy.required if role not in filled),
        ignored=tuple(ignored),
        pull_requests=tuple(sorted(set(pull_requests))),
    )


def _roles_offered(
    signoff: Approval, policy: Policy, teams: Mapping[str, frozenset[str]]
) -> tuple[list[str], str]:
    """The roles SIGNOFF may fill, or none and why."""
    if signoff.role:
        if signoff.role not in policy.roles:
            return [], f"names the role '{signoff.role}', which [approval.roles] does not define"
        if not holds(signoff.signer, policy.roles[signoff.role], teams):
            return [], f"not listed for the role '{signoff.role}' in [approval.roles]"
        return [signoff.role], ""
    held = [role for role, entries in policy.roles.items() if holds(signoff.signer, entries, teams)]
    return held, "holds no role in [approval.roles]"


def _match(
    required: Sequence[str], offers: Mapping[str, list[str]], open_roles: Set[str] = frozenset()
) -> dict[str, str]:
    """Fill as many REQUIRED roles as possible, each by a different signer.

    A bipartite matching by augmenting paths: a few roles and signers, so the simple
    algorithm is plenty. Signers come in the order they signed, so the earliest wins ties.
    """
    holder: dict[str, str] = {}  # role -> signer key
    # Try the scarcest role first: a manager who may also sign as peer (`*`) is then
    # recorded as the manager, which not anyone could be.
    offered = {role: sum(role in roles for roles in offers.values()) for role in required}

    def scarcity(role: str) -> tuple[bool, int]:
        return role in open_roles, offered.get(role, 0)

    def assign(key: str, seen: set[str]) -> bool:
        for role in sorted(offers[key], key=scarcity):
            if role not in required or role in seen:
                continue
            seen.add(role)
            if role not in holder or assign(holder[role], seen):
                holder[role] = key
                return True
        return False

    for key in offers:
        assign(key, set())
    return {key: role for role, key in holder.items()}


# --- sign-offs from records -----------------------------------------------------------


def parse_signer(text: str) -> Signer:
    """`Lee Chen <lee@acme.example>`, `lee@acme.example` or `@lee-chen` as a Signer."""
    text = " ".join(text.split())
    match = re.match(r"^(?P<name>[^<]*?)\s*<(?P<email>[^<>]*)>$", text)
    if match:
        return Signer(match.group("name"), match.group("email").strip())
    if EMAIL.match(text):
        return Signer(email=text)
    if re.match(r"^@[A-Za-z0-9][A-Za-z0-9-]*$", text):
        return Signer(login=text[1:])
    return Signer(name=text)


def parse_signoff(
    key: str,
    value: str,
    *,
    default_time: int,
    source: str = "trailer",
    commit: str | None = None,
    pull_request: int | None = None,
) -> Approval | None:
    """An `Approved-by:` or `Reviewed-by:` trailer value as a sign-off (None if empty)."""
    meaning = APPROVED if key.lower() == APPROVED_BY.lower() else REVIEWED
    match = SIGNOFF.match(" ".join(value.split()))
    if not match or not match.group("who"):
        return None
    role = (match.group("role") or "").strip() or None
    when = iso_utc(match.group("time")) if match.group("time") else None
    return Approval(
        signer=parse_signer(match.group("who")),
        role=role,
        meaning=meaning,
        time=when or utc_from_epoch(default_time),
        source=source,
        pull_request=pull_request,
        commit=commit,
    )


def iso_utc(text: str) -> str | None:
    """An ISO 8601 time as UTC `YYYY-MM-DDTHH:MM:SSZ`; None if it does not parse."""
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_from_epoch(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def trailer_signoffs(version: SopVersion, history: History) -> list[Approval]:
    """`Approved-by` / `Reviewed-by` on the pending commits and the merges that brought them."""
    carriers: dict[str, tuple[Commit, int | None]] = {}
    for change in version.pending:
        carriers.setdefault(change.commit.sha, (change.commit, change.pull_request))
        merge = history.ancestry.merge_that_brought(change.commit.sha)
        if merge is not None and merge in history.by_sha:
            commit = history.by_sha[merge]
            carriers.setdefault(merge, (commit, pull_request_number(commit.subject)))
    found = []
    for commit, number in carriers.values():
        found += _signoffs_in(commit, "trailer", number)
    return found


def _signoffs_in(commit: Commit, source: str, number: int | None) -> list[Approval]:
    if APPROVED_BY.lower() not in commit.message.lower() and "reviewed-by" not in (
        commit.message.lower()
    ):
        return []  # most commits carry none: skip the parse
    found = []
    for key, value in parse_message(commit.message).trailers:
        if key.lower() in (APPROVED_BY.lower(), REVIEWED_BY.lower()):
            signoff = parse_signoff(
                key, value, default_time=commit.commit_time, source=source, commit=commit.sha
            )
            if signoff is not None:
                found.append(replace(signoff, pull_request=number))
    return found


def approval_commits(history: History) -> dict[str, list[Commit]]:
    """Commits carrying a `Sop-Id:` trailer (made by `sopgit approve`), by SOP id."""
    found: dict[str, list[Commit]] = {}
    for commit in history.commits:
        if "sop-id:" not in commit.message.lower():
            continue
        for sop_id in parse_message(commit.message).trailer_values(SOP_ID_TRAILER):
            found.setdefault(sop_id.strip().upper(), []).append(commit)
    return found


def pending_approval_commits(
    version: SopVersion, history: History, candidates: Iterable[Commit]
) -> list[Commit]:
    """The approval commits that approve VERSION's pending changes.

    Pending like the changes (reachable from HEAD, not from the latest tag), and made
    after every pending change: an approval does not cover a change made after it.
    """
    latest = version.releases[0][1].target if version.releases else None
    found = []
    for commit in candidates:
        if not history.ancestry.reachable(commit.sha):
            continue
        if latest and history.ancestry.is_ancestor(commit.sha, latest):
            continue
        if all(history.ancestry.is_ancestor(c.commit.sha, commit.sha) for c in version.pending):
            found.append(commit)
    return found


def approval_commit_signoffs(
    commits: Iterable[Commit], signatures: Mapping[str, Signature]
) -> list[Approval]:
    """Sign-offs of approval commits: `signed-commit` when git verified the approver's key."""
    found = []
    for commit in commits:
        for signoff in _signoffs_in(commit, "trailer", None):
            signature = signatures.get(commit.sha, Signature("N"))
            by_approver = _signed_by(signature, signoff.signer)
            if signature.good and by_approver:
                found.append(replace(signoff, source="signed-commit"))
            elif signature.good:
                note = f"signed by {signature.signer}, not by the approver"
                found.append(replace(signoff, note=note))
            else:
                status = signature.status
                note = f"approval commit {commit.sha[:10]} has no good signature ({status})"
                found.append(replace(signoff, note=note))
    return found


def _signed_by(signature: Signature, signer: Signer) -> bool:
    # ssh: %GS is the principal of allowed_signers (an email); gpg: the key's user id.
    principal = signature.signer.lower()
    return bool(signer.email) and signer.email.lower() in principal


def review_signoffs(reviews: Iterable[Review]) -> list[Approval]:
    """Each reviewer's standing approval: their latest verdict counts.

    APPROVED sets it; CHANGES_REQUESTED and DISMISSED clear it; a comment (or a pending
    draft) changes nothing. Reviews come in GitHub's order, oldest first.
    """
    standing: dict[tuple[int, str], Review | None] = {}
    for review in reviews:
        state = review.state.upper()
        key = (review.pull_request, review.login.lower())
        if state == "APPROVED":
            standing[key] = review
        elif state in ("CHANGES_REQUESTED", "DISMISSED"):
            standing[key] = None
    return [
        Approval(
            signer=Signer(login=review.login),
            role=None,
            meaning=APPROVED,
            time=iso_utc(review.submitted_at or "") or "",
            source="github",
            pull_request=review.pull_request,
        )
        for review in standing.values()
        if review is not None
    ]


@dataclass(frozen=True)
class Facts:
    """What is known of an SOP's round beyond its git history (GitHub, signatures)."""

    reviews: tuple[Review, ...] = ()
    author_logins: frozenset[str] = frozenset()
    teams: Mapping[str, frozenset[str]] = field(default_factory=dict)
    pull_requests: tuple[int, ...] = ()


def sop_outcome(
    config: Config,
    version: SopVersion,
    history: History,
    tags: Iterable[str],
    approval_commits: Iterable[Commit] = (),
    signatures: Mapping[str, Signature] = {},
    facts: Facts = Facts(),
) -> Outcome:
    """The approvals of VERSION's pending changes and the roles still missing."""
    signoffs = trailer_signoffs(version, history)
    signoffs += approval_commit_signoffs(approval_commits, signatures)
    signoffs += review_signoffs(facts.reviews)
    numbers = [*version.pull_requests, *facts.pull_requests]
    return evaluate(
        version.sop_id,
        policy_for(config, version.sop_id, tags),
        signoffs,
        authors_of(version.pending, facts.author_logins),
        facts.teams,
        numbers,
    )


def team_entries(config: Config) -> list[str]:
    """Every `@org/team` named in [approval.roles], lower case."""
    entries = {
        entry.strip().lower()
        for signers in config.approval_roles.values()
        for entry in signers
        if entry.strip().startswith("@") and "/" in entry
    }
    return sorted(entries)
