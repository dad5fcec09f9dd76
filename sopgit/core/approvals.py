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
  signature by the approver count;
- a sign-off approves a content, not a pull request: a GitHub review the commit it was
  given on (its `commit_id`), a trailer or an approval commit the tree it sits on. It
  counts for an SOP only when the SOP's file is the same blob there as at the commit
  being released; otherwise it "approved an earlier version" and fills no role (unless
  `[approval] stale = "keep"`, GitHub's behaviour, which the tag then records).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace

from sopgit.core.commits import parse_message, pull_request_number
from sopgit.core.history import Change, History, SopVersion
from sopgit.core.model import Commit
from sopgit.core.settings import Config

APPROVED = "approved"
REVIEWED = "reviewed"
APPROVED_BY = "Approved-by"
REVIEWED_BY = "Reviewed-by"
SOP_ID_TRAILER = "Sop-Id"
STALE_PREFIX = "Stale-"  # `Stale-Approved-by:` in a tag: a sign-off of an earlier version
STALE_POLICY_TRAILER = "Approval-Stale"
UNATTRIBUTED_TRAILER = "Unattributed-Commit"
VOID, KEEP = "void", "keep"
EARLIER = "earlier version"  # the note a kept stale approval carries in its trailer
SHORT = 10  # hex digits of a commit id shown to people and written in trailers
# `Name <email> (role; commit abc1234567) 2026-03-02T10:14:00Z`; every part but the
# signer is optional. Tags before approvals were bound say only `(role)`.
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
    # The commit whose content it approved: a review's commit_id, the carrying commit of
    # a trailer or approval commit. None: unknown (GitHub lost the commit, an old tag).
    approved: str | None = None
    stale: str = ""  # why it approved other text than the one released, when it still counts

    def trailer(self, prefix: str = "") -> str:
        """The tag trailer: `Approved-by: Lee Chen <lee@acme.example> (manager; commit
        abc1234567) TIME`; PREFIX `Stale-` for a sign-off that approved an earlier text."""
        key = APPROVED_BY if self.meaning == APPROVED else REVIEWED_BY
        parts = [self.role] if self.role else []
        parts += [f"commit {self.approved[:SHORT]}"] if self.approved else []
        parts += [EARLIER] if self.stale else []
        notes = f" ({'; '.join(parts)})" if parts else ""
        return f"{prefix}{key}: {self.signer.label}{notes} {self.time}"

    def column(self) -> str:
        """The Revision History's Approved-by cell entry: `Lee Chen (manager)`."""
        return f"{self.signer.short} ({self.role})" if self.role else self.signer.short

    def where(self, bound: bool = True) -> str:
        """Where the sign-off was found, for people; BOUND: with the commit it approved."""
        pr = f" of pull request #{self.pull_request}" if self.pull_request else ""
        if self.source == "github":
            on = f" on commit {self.approved[:SHORT]}" if self.approved and bound else ""
            return f"GitHub review{pr}{on}"
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
            "approved_commit": self.approved,
            "earlier_version": bool(self.stale),
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
    # Sign-offs of another text than the one released, and why; under `stale = "keep"`
    # they count all the same (and are among APPROVALS too).
    stale: tuple[tuple[Approval, str], ...] = ()
    stale_policy: str = VOID
    # Pending commits whose pull request could not be asked (GitHub request cap).
    unattributed: tuple[str, ...] = ()

    @property
    def satisfied(self) -> bool:
        return not self.missing and not (self.required and self.unattributed)

    def filled(self) -> dict[str, list[Approval]]:
        """Role -> the approvals that hold it."""
        roles: dict[str, list[Approval]] = {}
        for approval in self.approvals:
            if approval.meaning == APPROVED and approval.role:
                roles.setdefault(approval.role, []).append(approval)
        return roles

    def refusal(self) -> str | None:
        """Why a release of this SOP is refused (one clause), or None when it may go."""
        if self.satisfied:
            return None
        clauses = []
        if self.missing:
            clauses.append(f"{self.sop_id} lacks approval as {', '.join(self.missing)}")
        if self.required and self.unattributed:
            count = len(self.unattributed)
            clauses.append(
                f"{self.sop_id} has {count} commit(s) not attributed to a pull request "
                f"({', '.join(c[:SHORT] for c in self.unattributed[:3])}"
                f"{', ...' if count > 3 else ''}; the GitHub request cap was reached)"
            )
        voided = [f"{a.signer.label} {why}" for a, why in self.stale if not a.stale]
        stale = f" [not counted: {'; '.join(voided)}]" if voided else ""
        return ", and ".join(clauses) + stale

    def tag_trailers(self) -> list[str]:
        """The approval trailers of the release tag: what counted, what was stale, how."""
        lines = [f"Approval-Required: {', '.join(self.required)}"] if self.required else []
        lines += [approval.trailer() for approval in self.approvals]
        lines += [a.trailer(STALE_PREFIX) for a, _ in self.stale if not a.stale]
        lines += [f"{STALE_POLICY_TRAILER}: {KEEP}"] if self.stale_policy == KEEP else []
        lines += [f"{UNATTRIBUTED_TRAILER}: {sha}" for sha in self.unattributed]
        return lines

    def tag_summary(self) -> str:
        """Who signed in what role, when and where, for people: the tag's Approvals part."""
        text = "".join(
            f"- {a.role or a.meaning}: {a.signer.label}, {a.meaning} {a.time}, {a.where()}"
            f"{' (an earlier version; counted under stale = keep)' if a.stale else ''}\n"
            for a in self.approvals
        )
        return text + "".join(
            f"- not counted: {a.signer.label} {why}, {a.where(bound=False)}, {a.time}\n"
            for a, why in self.stale
            if not a.stale
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "required": list(self.required),
            "missing": list(self.missing),
            "approvals": [a.as_dict() for a in self.approvals],
            "ignored": [{**a.as_dict(), "reason": why} for a, why in self.ignored],
            "stale": [
                {**a.as_dict(), "reason": why, "counted": bool(a.stale)} for a, why in self.stale
            ],
            "stale_policy": self.stale_policy,
            "unattributed": list(self.unattributed),
            "pull_requests": list(self.pull_requests),
        }


@dataclass(frozen=True)
class Contents:
    """An SOP's file by content (blob ids): at the commit being released, and at each
    commit a sign-off approved (None there: the file did not exist). Commits this
    repository does not have (and GitHub could not describe) are ABSENT."""

    released: str | None
    at: Mapping[str, str | None] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()


def bind(
    signoffs: Iterable[Approval], contents: Contents, policy: str = VOID
) -> tuple[list[Approval], list[tuple[Approval, str]]]:
    """Split SIGNOFFS into those that approved the text being released and the stale ones
    (with why). Under POLICY `keep`, stale ones are also returned to count, marked."""
    current: list[Approval] = []
    stale: list[tuple[Approval, str]] = []
    for signoff in signoffs:
        why = _staleness(signoff.approved, contents)
        if not why:
            current.append(signoff)
            continue
        if policy == KEEP:
            signoff = replace(signoff, stale=why)
            current.append(signoff)
        stale.append((signoff, why))
    return current, stale


def _staleness(commit: str | None, contents: Contents) -> str:
    """Why a sign-off of COMMIT does not approve the released text ("" when it does)."""
    if commit is None:
        return "approved a commit GitHub no longer knows"
    if commit in contents.absent:
        return (
            f"approved commit {commit[:SHORT]}, which this repository does not have "
            "(fetch it, or give sopgit a GitHub token)"
        )
    if contents.released is not None and contents.at.get(commit) == contents.released:
        return ""
    return f"approved an earlier version (commit {commit[:SHORT]})"


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
    *,
    stale: Iterable[tuple[Approval, str]] = (),
    stale_policy: str = VOID,
    unattributed: Iterable[str] = (),
) -> Outcome:
    """Judge SIGNOFFS under POLICY: which roles they fill, which are missing, and why not.

    STALE are the sign-offs `bind` found of another text (reported apart; under
    `keep` they are among SIGNOFFS too, marked)."""
    ignored: list[tuple[Approval, str]] = []
    reported: list[tuple[Approval, str]] = []
    for signoff, why in stale:
        if not authors.include(signoff.signer):
            reported.append((signoff, why))
        elif not signoff.stale:  # voided, so not among SIGNOFFS: an author's all the same
            ignored.append((signoff, "an author of the change cannot sign for it"))
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
        stale=tuple(sorted(reported, key=lambda pair: (pair[0].time, pair[0].signer.key))),
        stale_policy=stale_policy,
        unattributed=tuple(unattributed),
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
    role, approved, earlier = _notes(match.group("role") or "")
    when = iso_utc(match.group("time")) if match.group("time") else None
    return Approval(
        signer=parse_signer(match.group("who")),
        role=role,
        meaning=meaning,
        time=when or utc_from_epoch(default_time),
        source=source,
        pull_request=pull_request,
        commit=commit,
        approved=approved,
        stale=f"approved an earlier version (commit {approved})" if earlier and approved else "",
    )


def _notes(text: str) -> tuple[str | None, str | None, bool]:
    """`manager; commit abc1234567; earlier version` -> (role, commit, earlier)."""
    role = commit = None
    earlier = False
    for part in (p.strip() for p in text.split(";")):
        found = re.fullmatch(r"commit ([0-9a-fA-F]{4,40})", part)
        if found:
            commit = found.group(1).lower()
        elif part == EARLIER:
            earlier = True
        elif part and role is None:
            role = part
    return role, commit, earlier


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
            if signoff is not None:  # bound to the tree it sits on, whatever it says
                found.append(replace(signoff, pull_request=number, approved=commit.sha, stale=""))
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
    """The approval commits made for VERSION's pending changes: pending like them
    (reachable from HEAD, not from the latest tag). Each approves the tree it sits on:
    one made before a later change of the SOP is stale (see `bind`)."""
    latest = version.releases[0][1].target if version.releases else None
    found = []
    for commit in candidates:
        if not history.ancestry.reachable(commit.sha):
            continue
        if latest and history.ancestry.is_ancestor(commit.sha, latest):
            continue
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
            approved=_object_id(review.commit_id),
        )
        for review in standing.values()
        if review is not None
    ]


def _object_id(text: str | None) -> str | None:
    """A full commit id (sha1 or sha256), else None: never a ref or an option."""
    value = (text or "").strip().lower()
    return value if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", value) else None


@dataclass(frozen=True)
class Facts:
    """What is known of an SOP's round beyond its git history (GitHub, signatures)."""

    reviews: tuple[Review, ...] = ()
    author_logins: frozenset[str] = frozenset()
    teams: Mapping[str, frozenset[str]] = field(default_factory=dict)
    pull_requests: tuple[int, ...] = ()
    unattributed: tuple[str, ...] = ()  # pending commits GitHub was not asked about (cap)


def signoffs_of(
    version: SopVersion,
    history: History,
    approval_commits: Iterable[Commit] = (),
    signatures: Mapping[str, Signature] = {},
    facts: Facts = Facts(),
) -> list[Approval]:
    """Every sign-off of VERSION's pending changes, from every source, not yet judged."""
    signoffs = trailer_signoffs(version, history)
    signoffs += approval_commit_signoffs(approval_commits, signatures)
    signoffs += review_signoffs(facts.reviews)
    return signoffs


def sop_outcome(
    config: Config,
    version: SopVersion,
    tags: Iterable[str],
    signoffs: Iterable[Approval],
    contents: Contents,
    facts: Facts = Facts(),
) -> Outcome:
    """The approvals of VERSION's pending changes that approved the text CONTENTS says is
    released, the stale ones, and the roles still missing."""
    current, stale = bind(signoffs, contents, config.approval_stale)
    return evaluate(
        version.sop_id,
        policy_for(config, version.sop_id, tags),
        current,
        authors_of(version.pending, facts.author_logins),
        facts.teams,
        [*version.pull_requests, *facts.pull_requests],
        stale=stale,
        stale_policy=config.approval_stale,
        unattributed=facts.unattributed,
    )


def approved_commits(signoffs: Iterable[Approval]) -> set[str]:
    """The commits SIGNOFFS approved, whose content binding must read."""
    return {s.approved for s in signoffs if s.approved}


def file_names(commits: Iterable[Commit], paths: Iterable[str]) -> dict[str, list[str]]:
    """Every name each of PATHS had, following renames back: the current one first."""
    renamed_from: dict[str, list[str]] = {}
    for commit in commits:
        for change in commit.changes:
            if change.status == "R" and change.old_path is not None:
                renamed_from.setdefault(change.path, []).append(change.old_path)
    found = {}
    for path in paths:
        names: list[str] = []
        stack = [path]
        while stack:
            name = stack.pop(0)
            if name not in names:
                names.append(name)
                stack.extend(renamed_from.get(name, ()))
        found[path] = names
    return found


def team_entries(config: Config) -> list[str]:
    """Every `@org/team` named in [approval.roles], lower case."""
    entries = {
        entry.strip().lower()
        for signers in config.approval_roles.values()
        for entry in signers
        if entry.strip().startswith("@") and "/" in entry
    }
    return sorted(entries)
