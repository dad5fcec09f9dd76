"""One row per SOP: version, state, what is pending, when review falls due (pure)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sopgit.core.view import LibraryView


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
    rows = []
    for sop in snapshot.sops.values():
        version = snapshot.version(sop.sop_id)
        retired = sop.meta("status") == "retired"
        review_due = None if retired else snapshot.review_due(sop.sop_id)
        if retired:
            state = "retired"
        elif version.effective is None:
            state = "draft"
        elif version.pending:
            state = "changed"
        else:
            state = "effective"
        rows.append(
            StatusRow(
                id=sop.sop_id,
                title=sop.meta("title", sop.sop_id),
                path=sop.path,
                version=str(version.effective) if version.effective else None,
                shown_version=version.shown(snapshot.on_release_branch),
                next_version=str(version.next) if version.next else None,
                bump=version.bump,
                pending=len(version.pending),
                state=state,
                last_updated=sop.meta("lastUpdated"),
                review_due=review_due,
            )
        )
    return rows
