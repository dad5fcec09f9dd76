"""The lifecycle after publication as typed functions: periodic reviews (`sopgit review`),
acknowledgements (`sopgit ack`), the training report (`sopgit training`) and the audit
trail (`sopgit audit`).

Each takes plain arguments (an opened library or snapshot, ids, the day) and returns a
result object; nothing here prints or exits. Failures are SopgitErrors.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sopgit.core.lifecycle import ACK_TRAILER, ACKS_REF, REVIEW_TRAILER, Catchup, events

if TYPE_CHECKING:
    import semver

    from sopgit.core.lifecycle import Event, TrainingRow
    from sopgit.core.model import Tag
    from sopgit.repo.git import Identity
    from sopgit.repo.snapshot import Snapshot
    from sopgit.repo.workspace import Library


@dataclass(frozen=True)
class DueReview:
    """A released, active SOP whose periodic review is due within the window or overdue."""

    sop_id: str
    title: str
    path: str
    version: str
    last_review: str | None  # YYYY-MM-DD of the latest recorded review
    review_due: str  # YYYY-MM-DD
    days_left: int  # negative: overdue by that many days

    @property
    def overdue(self) -> bool:
        return self.days_left < 0

    def as_dict(self) -> dict[str, Any]:
        """The row of `sopgit review --format json` (schemas/review.schema.json)."""
        return {
            "id": self.sop_id,
            "title": self.title,
            "path": self.path,
            "version": self.version,
            "last_review": self.last_review,
            "review_due": self.review_due,
            "days_left": self.days_left,
            "overdue": self.overdue,
        }


def due_reviews(snapshot: Snapshot, within: int, day: dt.date) -> list[DueReview]:
    """Released, active SOPs due within WITHIN days of DAY or overdue, the oldest due first."""
    rows = []
    for sop in snapshot.sops.values():
        due = snapshot.review_due(sop.sop_id)
        if due is None or sop.meta("status") == "retired":
            continue
        days = (dt.date.fromisoformat(due) - day).days
        if days <= within:
            last = snapshot.reviews(sop.sop_id)
            rows.append(
                DueReview(
                    sop_id=sop.sop_id,
                    title=sop.meta("title", sop.sop_id),
                    path=sop.path,
                    version=str(snapshot.version(sop.sop_id).current),
                    last_review=last[0].date if last else None,
                    review_due=due,
                    days_left=days,
                )
            )
    return sorted(rows, key=lambda r: (r.review_due, r.sop_id))


@dataclass(frozen=True)
class RecordedReview:
    """A periodic review recorded as an empty commit (or, for a dry run, its message)."""

    sop_id: str
    version: str
    message: str
    commit: str | None  # None for a dry run
    interval_days: int  # until the next review is due


def record_review(
    snapshot: Snapshot,
    sop_id: str,
    note: str,
    day: dt.date,
    *,
    sign: bool = False,
    dry_run: bool = False,
) -> RecordedReview:
    """Record that SOP_ID's current version was reviewed on DAY and needs no change: an
    empty commit carrying the review trailer (signed with SIGN or git's commit.gpgsign)."""
    from sopgit.core.lifecycle import event_message
    from sopgit.errors import RepoError, UsageError

    sop = snapshot.sop(sop_id)
    version = snapshot.version(sop.sop_id)
    if version.current is None:
        raise UsageError(f"{sop.sop_id} is not released yet; there is no version to review")
    if sop.meta("status") == "retired":
        raise UsageError(f"{sop.sop_id} is retired; retired SOPs are not reviewed")
    repo = snapshot.lib.repo
    if repo.run("diff", "--cached", "--name-only").strip():
        raise RepoError("has staged changes; commit or unstage them first", repo.root)
    current = str(version.current)
    message = event_message(REVIEW_TRAILER, sop.sop_id, current, day, note)
    interval = snapshot.lib.config.review_interval_days
    if dry_run:
        return RecordedReview(sop.sop_id, current, message, None, interval)
    commit = repo.commit_empty(message, sign=sign or repo.signing_configured("commit"))
    return RecordedReview(sop.sop_id, current, message, commit, interval)


@dataclass(frozen=True)
class Acknowledgement:
    """One person's acknowledgement of one SOP version, on the acknowledgements ref."""

    sop_id: str
    version: str
    name: str  # the git user who acknowledges
    email: str
    message: str  # the record's commit message ("" when acknowledged already)
    already: str | None  # YYYY-MM-DD of an earlier acknowledgement of this version
    recorded: bool  # appended to REF now (False: acknowledged already, or a dry run)
    catchups: tuple[Catchup, ...]  # the redlines since the version this person last read
    ref: str = ACKS_REF
    remote: str = "origin"  # where push_acknowledgements shares REF


def acknowledge(
    lib: Library,
    sop_id: str,
    day: dt.date,
    *,
    version: str | None = None,
    sign: bool = False,
    dry_run: bool = False,
) -> Acknowledgement:
    """Record that the git user read and understood VERSION of SOP_ID (default: the
    current one) on DAY: a commit on refs/sopgit/acks, not on any branch. Nothing is
    recorded when this person acknowledged that version already, or for a dry run."""
    from sopgit.core.lifecycle import event_message
    from sopgit.errors import RepoError, UsageError
    from sopgit.repo.snapshot import load_one

    sop, current = load_one(lib, sop_id)
    released = {str(v) for v, _ in current.releases}
    wanted = version or (str(current.current) if current.current else None)
    if wanted is None:
        raise UsageError(f"{sop.sop_id} is not released yet; there is no version to acknowledge")
    if wanted not in released:
        known = ", ".join(sorted(released)) or "none"
        raise UsageError(f"{sop.sop_id} has no version {wanted}; released versions: {known}")
    me = lib.repo.identity()
    if me is None:
        raise RepoError("has no git user; set user.name and user.email first", lib.root)
    acks = events(lib.repo.ref_log(ACKS_REF), ACK_TRAILER)
    mine = [
        e
        for e in acks
        if e.sop_id == sop.sop_id and e.version == wanted and e.email.lower() == me.email.lower()
    ]
    behind = tuple(_what_changed(lib, current.releases, sop.sop_id, wanted, acks, me.email))
    found = Acknowledgement(
        sop.sop_id,
        wanted,
        me.name,
        me.email,
        "",
        mine[0].date if mine else None,
        False,
        behind,
        remote=lib.config.remote,
    )
    if mine:
        return found
    message = event_message(ACK_TRAILER, sop.sop_id, wanted, day, "")
    if not dry_run:
        lib.repo.append_to_ref(ACKS_REF, message, sign or lib.repo.signing_configured("commit"))
    return replace(found, message=message, recorded=not dry_run)


def push_acknowledgements(lib: Library) -> str:
    """Push refs/sopgit/acks to the library's remote; returns the remote's name."""
    remote = lib.config.remote
    lib.repo.run("push", "--quiet", "--", remote, f"{ACKS_REF}:{ACKS_REF}")
    return remote


def _what_changed(
    lib: Library,
    releases: tuple[tuple[semver.Version, Tag], ...],
    sop_id: str,
    wanted: str,
    acks: list[Event],
    email: str,
) -> list[Catchup]:
    """The redline from the version EMAIL last acknowledged to WANTED, if older."""
    import semver

    from sopgit.core.lifecycle import catchups
    from sopgit.publish.site import SITE_DIR, changes_page_name

    target = semver.Version.parse(wanted)
    older = [v for v, _ in releases if v < target]
    page = f"{SITE_DIR}/{changes_page_name(sop_id, wanted)}"
    return [
        c
        for c in catchups(sop_id, target, acks, max(older, default=None), page)
        if c.email == email.lower()
    ]


@dataclass(frozen=True)
class TrainingReport:
    """Per released, active SOP: who acknowledged its current version and who must."""

    rows: tuple[TrainingRow, ...]
    changes: dict[str, tuple[Catchup, ...]]  # per SOP id: who must read which redline
    me: Identity | None  # the git user of this clone, if any

    def mine(self) -> list[Catchup]:
        """The redlines the git user of this clone has not acknowledged yet."""
        me = self.me
        if me is None:
            return []
        return [c for r in self.rows for c in self.changes[r.sop_id] if c.email == me.email.lower()]


def training_report(lib: Library, sop_ids: tuple[str, ...] = ()) -> TrainingReport:
    """The training rows of SOP_IDS (default: every SOP), with the catch-ups they need."""
    from sopgit.core.lifecycle import catchups, training_row
    from sopgit.publish.site import SITE_DIR, changes_page_name
    from sopgit.repo.snapshot import load_snapshot

    snapshot = load_snapshot(lib)
    acks = events(lib.repo.ref_log(ACKS_REF), ACK_TRAILER)
    wanted = [snapshot.sop(i) for i in sop_ids] if sop_ids else list(snapshot.sops.values())
    rows = []
    behind = {}
    for sop in wanted:
        current = snapshot.version(sop.sop_id).current
        if current is None or sop.meta("status") == "retired":
            continue
        audience = lib.config.audience_for(sop.sop_id)
        rows.append(training_row(sop.sop_id, sop.meta("title"), current, acks, audience))
        releases = snapshot.version(sop.sop_id).releases
        previous = releases[1][0] if len(releases) > 1 else None
        page = f"{SITE_DIR}/{changes_page_name(sop.sop_id, str(current))}"
        behind[sop.sop_id] = tuple(catchups(sop.sop_id, current, acks, previous, page))
    return TrainingReport(tuple(rows), behind, lib.repo.identity())


@dataclass(frozen=True)
class AuditTrail:
    """The evidence trail of one SOP as plain data (sopgit.core.audit's model), which
    `sopgit audit` prints as JSON or renders with the audit template."""

    sop_id: str
    data: dict[str, Any]


def audit_trail(lib: Library, sop_id: str, only: str | None = None) -> AuditTrail:
    """The evidence trail of SOP_ID (only version ONLY when given): versions, approvals
    with each signed tag verified, reviews and training (sopgit.core.audit's model)."""
    from sopgit.core.audit import build_audit
    from sopgit.errors import UsageError
    from sopgit.repo.snapshot import load_snapshot

    snapshot = load_snapshot(lib)
    sop = snapshot.sop(sop_id)
    released = {str(v) for v, _ in snapshot.version(sop.sop_id).releases}
    if only is not None and only not in released:
        known = ", ".join(sorted(released)) or "none"
        raise UsageError(f"{sop.sop_id} has no version {only}; released versions: {known}")

    def verify(tag: Tag) -> str:  # one git process per signed version of this one SOP
        if not tag.signed:
            return "unsigned"
        return "verified" if lib.repo.verify_tag(tag.name) else "not verified"

    acks = events(lib.repo.ref_log(ACKS_REF), ACK_TRAILER)
    return AuditTrail(sop.sop_id, build_audit(snapshot, sop.sop_id, acks, verify, only))
