"""One row per SOP: version, state, what is pending, when review falls due (pure)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sopgit.core.history import SopVersion
    from sopgit.core.lifecycle import Event
    from sopgit.core.view import DatedSop, LibraryView, SopRecord


@dataclass(frozen=True)
class StatusRow:
    id: str
    title: str
    path: str
    version: str | None  # the latest released version, or None
    shown_version: str | None  # the version to show here: `-draft.N` off the release branch
    next_version: str | None  # None when nothing is pending
    bump: str | None
    pending: int
    state: str  # draft, effective, changed, review-due, retired
    last_updated: str
    review_due: str | None

    def as_tuple(self) -> tuple[Any, ...]:
        """The fields in order, as StatusRow(*fields) takes them back."""
        return (
            self.id,
            self.title,
            self.path,
            self.version,
            self.shown_version,
            self.next_version,
            self.bump,
            self.pending,
            self.state,
            self.last_updated,
            self.review_due,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "path": self.path,
            "version": self.version,
            "shown_version": self.shown_version,
            "next_version": self.next_version,
            "bump": self.bump,
            "pending": self.pending,
            "state": self.state,
            "last_updated": self.last_updated,
            "review_due": self.review_due,
        }


def status_rows(snapshot: LibraryView, today: dt.date) -> list[StatusRow]:
    return dated(undated_rows(snapshot), today)


def dated(rows: list[StatusRow], today: dt.date) -> list[StatusRow]:
    """ROWS with an effective SOP whose review fell due by TODAY in state review-due."""
    return [
        replace(r, state="review-due")
        if r.state == "effective" and r.review_due is not None and r.review_due <= today.isoformat()
        else r
        for r in rows
    ]


def undated_rows(snapshot: LibraryView) -> list[StatusRow]:
    """The rows as on any day: an SOP whose review may be due is still `effective`."""
    return [
        status_row(
            sop,
            snapshot.version(sop.sop_id),
            None if sop.meta("status") == "retired" else snapshot.review_due(sop.sop_id),
            snapshot.on_release_branch,
        )
        for sop in snapshot.sops.values()
    ]


def status_row(
    sop: SopRecord, version: SopVersion, review_due: str | None, on_release_branch: bool
) -> StatusRow:
    """SOP's row as on any day, from its version and when its review falls due."""
    retired = sop.meta("status") == "retired"
    if retired:
        state = "retired"
    elif version.effective is None:
        state = "draft"
    elif version.pending:
        state = "changed"
    else:
        state = "effective"
    return StatusRow(
        id=sop.sop_id,
        title=sop.meta("title", sop.sop_id),
        path=sop.path,
        version=str(version.effective) if version.effective else None,
        shown_version=version.shown(on_release_branch),
        next_version=str(version.next) if version.next else None,
        bump=version.bump,
        pending=len(version.pending),
        state=state,
        last_updated=sop.meta("lastUpdated"),
        review_due=None if retired else review_due,
    )


def review_due(
    sop: DatedSop, version: SopVersion, reviews: Sequence[Event], default_interval: int
) -> str | None:
    """When SOP's next periodic review falls due (None until it is released), from its
    VERSION, its recorded REVIEWS and its file's own review dates and interval."""
    from sopgit.core.history import history_rows, row_from_tag
    from sopgit.core.lifecycle import interval_for, next_review

    latest = row_from_tag(*version.releases[0]) if version.releases else None
    released = latest is not None and latest.source != "baseline"
    last: str | None
    if latest is not None and released:
        last = latest.date  # only the latest release matters: read just its tag
    else:
        rows = history_rows(version)  # a baseline defers to the hand-typed history
        last = rows[-1].date if rows else None
    # An adopted library's own review dates: the last review counts as one, and
    # the next review it states holds until sopgit records a review or release.
    reviewed, stated_next = sop.stated_date("last_reviewed"), sop.stated_date("next_review")
    if stated_next and not released and not reviews:
        return stated_next
    if reviewed:
        last = max(last or reviewed, reviewed)
    if last is None:
        return None
    interval = interval_for(sop.doc.meta if sop.doc else {}, default_interval)
    return next_review(last, reviews, interval)
