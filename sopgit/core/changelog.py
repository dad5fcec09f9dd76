"""The changelog model (pure): release tags and pending changes in, a render context out.

A release is one release commit and the tags on it. Everything about a released
version is read back from its tag message alone (see release._tag_plan), so the
changelog is the same on every clone; the Unreleased part comes from the pending
changes that the history scan found.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import semver

from sopgit.core.commits import parse_message, pull_request_number
from sopgit.core.history import SopVersion, row_from_tag
from sopgit.core.model import Tag

# `- subject (sha10, author)`, one per change, under a `Changes:` line of the tag message.
CHANGE_LINE = re.compile(r"^- (?P<subject>.*) \((?P<sha>[0-9a-f]{7,40}), (?P<author>.*)\)$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# GitHub remotes: https://[user@]github.com/o/r(.git), git@github.com:o/r(.git), ssh://...
GITHUB_REMOTE = re.compile(
    r"^(?:(?:https?|ssh|git)://(?:[^@/]+@)?github\.com(?::\d+)?/|[\w.-]+@github\.com:)"
    r"(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)/(?P<repo>[\w.-]+?)(?:\.git)?/?$"
)


@dataclass(frozen=True)
class ChangeRecord:
    subject: str
    commit: str  # as recorded: 10 hex digits in a tag message, the full sha when pending
    author: str
    pull_request: int | None


@dataclass(frozen=True)
class SopEntry:
    """One SOP's version in a release, or its pending changes in Unreleased."""

    sop_id: str
    title: str
    version: str  # the released version; for Unreleased, the one a release would cut
    previous: str | None
    bump: str
    description: str
    changes: tuple[ChangeRecord, ...]
    pull_requests: tuple[int, ...]  # behind this version, whether or not a change names it
    approved_by: str
    tag: str | None


@dataclass(frozen=True)
class Release:
    date: str
    commit: str  # the release commit the tags point at
    time: int  # the latest tagger time: orders releases of the same day
    entries: tuple[SopEntry, ...]  # by id

    @property
    def tags(self) -> list[str]:
        return [e.tag for e in self.entries if e.tag]


@dataclass(frozen=True)
class Changelog:
    releases: tuple[Release, ...]  # newest first
    unreleased: tuple[SopEntry, ...]  # by id


# --- from records -------------------------------------------------------------------


def released_entry(
    sop_id: str,
    version: semver.Version,
    tag: Tag,
    previous: semver.Version | None,
    title: str = "",
) -> tuple[str, SopEntry]:
    """(release date, entry) read from one release tag; PREVIOUS is the next lower release."""
    row = row_from_tag(version, tag)
    message = parse_message(tag.message)
    bump = (message.trailer_values("Bump") or [_bump_between(previous, version)])[0]
    recorded_previous = next(iter(message.trailer_values("Previous-Version")), None)
    changes = _attribute_pull_requests(_change_lines(tag.message), row.pull_requests)
    entry = SopEntry(
        sop_id=sop_id,
        title=_tag_title(message.body, str(version)) or title or sop_id,
        version=str(version),
        previous=recorded_previous or (str(previous) if previous else None),
        bump=bump,
        description=row.description,
        changes=changes,
        pull_requests=row.pull_requests,
        approved_by=row.approved_by,
        tag=tag.name,
    )
    return row.date, entry


def pending_entry(title: str, version: SopVersion) -> SopEntry | None:
    """The Unreleased entry of an SOP: what its next release would hold."""
    if not version.pending or version.next is None:
        return None
    changes = tuple(
        ChangeRecord(c.commit.subject, c.commit.sha, c.commit.author_name, c.pull_request)
        for c in reversed(version.pending)  # oldest first, as the tag will list them
    )
    deciding = [c for c in reversed(version.pending) if c.bump == version.bump]
    return SopEntry(
        sop_id=version.sop_id,
        title=title or version.sop_id,
        version=str(version.next),
        previous=str(version.current) if version.current else None,
        bump=str(version.bump),
        description=(deciding or list(reversed(version.pending)))[0].message.description,
        changes=changes,
        pull_requests=tuple(version.pull_requests),
        approved_by="",
        tag=None,
    )


def build_changelog(
    released: Mapping[str, list[tuple[semver.Version, Tag]]],
    pending: Iterable[SopEntry],
    titles: Mapping[str, str] = {},
) -> Changelog:
    """RELEASED: each SOP's release tags, highest first (history.release_tags)."""
    groups: dict[str, list[tuple[str, int, SopEntry]]] = {}
    for sop_id, versions in released.items():
        for index, (version, tag) in enumerate(versions):
            previous = versions[index + 1][0] if index + 1 < len(versions) else None
            date, entry = released_entry(sop_id, version, tag, previous, titles.get(sop_id, ""))
            groups.setdefault(tag.target, []).append((date, tag.time, entry))
    releases = [
        Release(
            date=max(date for date, _, _ in items),
            commit=commit,
            time=max(time for _, time, _ in items),
            entries=tuple(sorted((e for _, _, e in items), key=lambda e: e.sop_id)),
        )
        for commit, items in groups.items()
    ]
    releases.sort(key=lambda r: (r.date, r.time, r.commit), reverse=True)
    return Changelog(tuple(releases), tuple(sorted(pending, key=lambda e: e.sop_id)))


def _change_lines(message: str) -> list[ChangeRecord]:
    lines = message.replace("\r\n", "\n").split("\n")
    if "Changes:" not in lines:
        return []
    found = []
    for line in lines[lines.index("Changes:") + 1 :]:
        match = CHANGE_LINE.match(line)
        if not match:
            break
        subject = match.group("subject")
        found.append(
            ChangeRecord(
                subject, match.group("sha"), match.group("author"), pull_request_number(subject)
            )
        )
    return found


def _attribute_pull_requests(
    changes: list[ChangeRecord], numbers: tuple[int, ...]
) -> tuple[ChangeRecord, ...]:
    """A squash subject names its pull request; when exactly one pull request and one
    change are left without, the tag tells us they belong together."""
    named = {c.pull_request for c in changes}
    left = [n for n in numbers if n not in named]
    without = [i for i, c in enumerate(changes) if c.pull_request is None]
    if len(left) == 1 and len(without) == 1:
        changes[without[0]] = replace(changes[without[0]], pull_request=left[0])
    return tuple(changes)


def _tag_title(body: str, version: str) -> str:
    first = body.split("\n\n", 1)[0].strip()
    match = re.match(rf"^(?P<title>.*?) v{re.escape(version)}: ", first, re.DOTALL)
    return " ".join(match.group("title").split()) if match else ""


def _bump_between(previous: semver.Version | None, version: semver.Version) -> str:
    if previous is None:
        return "initial"
    if version.major != previous.major:
        return "major"
    return "minor" if version.minor != previous.minor else "patch"


# --- selecting ----------------------------------------------------------------------


class SelectionError(ValueError):
    """--since or --id names nothing in the changelog."""


def select(
    changelog: Changelog, *, since: str | None = None, sop_id: str | None = None
) -> Changelog:
    """Releases after SINCE (a tag, exclusive, or a date YYYY-MM-DD, inclusive), and only
    SOP_ID's entries when given. Unreleased changes are always after SINCE."""
    releases = list(changelog.releases)
    if since:
        if ISO_DATE.match(since):
            releases = [r for r in releases if r.date >= since]
        else:
            position = next((i for i, r in enumerate(releases) if since in r.tags), None)
            if position is None:
                raise SelectionError(f"--since {since}: no release tag of that name")
            releases = releases[:position]
    unreleased = list(changelog.unreleased)
    if sop_id:
        releases = [
            replace(r, entries=tuple(e for e in r.entries if e.sop_id == sop_id)) for r in releases
        ]
        releases = [r for r in releases if r.entries]
        unreleased = [e for e in unreleased if e.sop_id == sop_id]
    return Changelog(tuple(releases), tuple(unreleased))


# --- the render context -------------------------------------------------------------


def github_base(remote_url: str | None) -> str | None:
    """https://github.com/OWNER/REPO for a GitHub remote URL (credentials dropped)."""
    match = GITHUB_REMOTE.match((remote_url or "").strip())
    if not match:
        return None
    return f"https://github.com/{match.group('owner')}/{match.group('repo')}"


def changelog_context(
    changelog: Changelog, library: str, repository_url: str | None
) -> dict[str, Any]:
    """Plain data for the template and for --format json (a stable schema)."""

    def link(number: int) -> dict[str, Any]:
        url = f"{repository_url}/pull/{number}" if repository_url else None
        return {"number": number, "url": url}

    def entry(e: SopEntry) -> dict[str, Any]:
        in_changes = {c.pull_request for c in e.changes}
        return {
            "id": e.sop_id,
            "title": e.title,
            "version": e.version,
            "previous_version": e.previous,
            "bump": e.bump,
            "description": e.description,
            "tag": e.tag,
            "approved_by": e.approved_by,
            "pull_requests": [link(n) for n in e.pull_requests],
            # the ones no change line shows, so a reader sees each once
            "other_pull_requests": [link(n) for n in e.pull_requests if n not in in_changes],
            "changes": [
                {
                    "subject": c.subject,
                    "commit": c.commit,
                    "short_commit": c.commit[:10],
                    "author": c.author,
                    "pull_request": link(c.pull_request) if c.pull_request else None,
                }
                for c in e.changes
            ],
        }

    return {
        "library": library,
        "repository_url": repository_url,
        "unreleased": [entry(e) for e in changelog.unreleased],
        "releases": [
            {
                "date": r.date,
                "commit": r.commit,
                "tags": r.tags,
                "sops": [entry(e) for e in r.entries],
            }
            for r in changelog.releases
        ],
    }
