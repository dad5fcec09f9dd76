"""The evidence trail of one SOP, for an auditor (pure): every version with who wrote,
approved and released it, when, through which pull requests, its signature, and the
reviews and training acknowledgements that followed."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import semver

from sopgit.core.approvals import (
    APPROVED_BY,
    REVIEWED_BY,
    STALE_POLICY_TRAILER,
    STALE_PREFIX,
    VOID,
    parse_signoff,
)
from sopgit.core.commits import parse_message
from sopgit.core.history import history_rows, row_from_tag
from sopgit.core.lifecycle import Event
from sopgit.core.model import Tag
from sopgit.core.view import LibraryView


@dataclass(frozen=True)
class AuditVersion:
    version: str
    tag: str
    date: str
    description: str
    bump: str
    previous: str | None
    authors: tuple[str, ...]
    released_by: str
    released_at: str  # the tag's time, ISO 8601 UTC
    release_commit: str
    pull_requests: tuple[int, ...]
    approvals: tuple[dict[str, Any], ...]  # each names the commit it approved
    stale_approvals: tuple[dict[str, Any], ...]  # of an earlier text, with the reason
    stale_policy: str  # "void", or "keep" when stale approvals counted
    approvals_required: str
    unapproved_reason: str | None
    missing_approvals: tuple[str, ...]
    retired: str | None
    superseded_by: str | None
    changes: tuple[str, ...]
    signature: str  # verified, not verified or unsigned


def audit_version(version: semver.Version, tag: Tag, signature: str) -> AuditVersion:
    message = parse_message(tag.message)
    row = row_from_tag(version, tag)

    def first(key: str) -> str | None:
        values = message.trailer_values(key)
        return values[0] if values else None

    approvals, stale = [], []
    for key in (APPROVED_BY, REVIEWED_BY, STALE_PREFIX + APPROVED_BY, STALE_PREFIX + REVIEWED_BY):
        for value in message.trailer_values(key):
            signoff = parse_signoff(
                key.removeprefix(STALE_PREFIX), value, default_time=tag.time, source="tag"
            )
            if signoff is None:
                continue
            found = signoff.as_dict() | {"source": "tag trailer"}
            commit = f" (commit {signoff.approved})" if signoff.approved else ""
            if key.startswith(STALE_PREFIX):
                stale.append(
                    found | {"reason": f"approved an earlier version{commit}; not counted"}
                )
                continue
            approvals.append(found)
            if signoff.stale:
                why = f"approved an earlier version{commit}; counted under stale = keep"
                stale.append(found | {"reason": why})
    return AuditVersion(
        version=str(version),
        tag=tag.name,
        date=row.date,
        description=row.description,
        bump=first("Bump") or "",
        previous=first("Previous-Version"),
        authors=tuple(message.trailer_values("Author")),
        released_by=f"{tag.tagger_name} <{tag.tagger_email}>",
        released_at=_utc(tag.time),
        release_commit=tag.target,
        pull_requests=row.pull_requests,
        approvals=tuple(approvals),
        stale_approvals=tuple(stale),
        stale_policy=first(STALE_POLICY_TRAILER) or VOID,
        approvals_required=first("Approval-Required") or "none",
        unapproved_reason=first("Allow-Unapproved"),
        missing_approvals=tuple(message.trailer_values("Missing-Approval")),
        retired=first("Retired"),
        superseded_by=first("Superseded-By"),
        changes=tuple(re.findall(r"^- (.+)$", _section(message.body, "Changes:"), re.M)),
        signature=signature,
    )


def _section(body: str, heading: str) -> str:
    for paragraph in body.split("\n\n"):
        if paragraph.startswith(heading):
            return paragraph
    return ""


def _utc(timestamp: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_audit(
    snapshot: LibraryView,
    sop_id: str,
    acks: Iterable[Event],
    verify: Callable[[Tag], str],
    only: str | None = None,
) -> dict[str, Any]:
    """The whole trail of SOP_ID (or of version ONLY) as plain data, oldest version first."""
    sop = snapshot.sop(sop_id)
    version = snapshot.version(sop.sop_id)
    releases = list(reversed(version.releases))
    if only is not None:
        releases = [(v, t) for v, t in releases if str(v) == only]
    versions = [audit_version(v, t, verify(t)) for v, t in releases]
    wanted = {v.version for v in versions}
    return {
        "id": sop.sop_id,
        "title": sop.meta("title", sop.sop_id),
        "path": sop.path,
        "status": sop.meta("status"),
        "owner": sop.meta("owner"),
        "current_version": str(version.current) if version.current else None,
        "review_due": snapshot.review_due(sop.sop_id),
        "versions": [v.__dict__ for v in versions],
        "reviews": [
            e.as_dict() for e in snapshot.reviews(sop.sop_id) if only is None or e.version in wanted
        ],
        "acknowledgements": [
            e.as_dict()
            for e in acks
            if e.sop_id == sop.sop_id and (only is None or e.version in wanted)
        ],
        "pending": [
            {"commit": c.commit.sha, "subject": c.commit.subject, "author": c.commit.author_name}
            for c in version.pending
        ]
        if only is None
        else [],
        "table": [row.as_dict() for row in history_rows(version)],
    }
