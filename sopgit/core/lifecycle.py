"""After publication: periodic reviews and training acknowledgements (pure).

Both are kept in git as commits that change no file, so the evidence is as durable as
the SOPs. A review is an empty commit on the library's branch (trailer
`Sopgit-Review:`); an acknowledgement is a commit on the ref `refs/sopgit/acks`
(trailer `Sopgit-Ack:`), apart from the SOP history.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import semver

from sopgit.core.commits import parse_message
from sopgit.core.model import Commit

REVIEW_TRAILER = "Sopgit-Review"
ACK_TRAILER = "Sopgit-Ack"
ACKS_REF = "refs/sopgit/acks"
# `ENG-001 v1.2.0` in a Sopgit-Review / Sopgit-Ack trailer.
SUBJECT = re.compile(r"^(?P<id>[A-Z][A-Z0-9]{1,9}-\d{3,})(?: v(?P<version>\S+))?$")


@dataclass(frozen=True)
class Event:
    """A recorded review or acknowledgement of one SOP version by one person."""

    sop_id: str
    version: str | None
    name: str
    email: str
    date: str  # YYYY-MM-DD
    commit: str
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.sop_id,
            "version": self.version,
            "name": self.name,
            "email": self.email,
            "date": self.date,
            "commit": self.commit,
            "note": self.note,
        }


def events(commits: Iterable[Commit], trailer: str) -> list[Event]:
    """Every event recorded with TRAILER, newest first (the order of COMMITS)."""
    found = []
    for commit in commits:
        if f"{trailer}:" not in commit.message:  # cheap test before parsing
            continue
        message = parse_message(commit.message)
        for value in message.trailer_values(trailer):
            match = SUBJECT.match(value.strip())
            if match:
                found.append(
                    Event(
                        sop_id=match.group("id"),
                        version=match.group("version"),
                        name=commit.author_name,
                        email=commit.author_email,
                        date=(message.trailer_values("Date") or [_date(commit.author_time)])[0],
                        commit=commit.sha,
                        note=message.body,
                    )
                )
    return found


def _date(timestamp: int) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).date().isoformat()


def event_message(trailer: str, sop_id: str, version: str, date: dt.date, note: str) -> str:
    """The commit message that records an event."""
    verb = {REVIEW_TRAILER: "review", ACK_TRAILER: "acknowledge"}[trailer]
    body = f"\n\n{' '.join(note.split())}" if note.strip() else ""
    return (
        f"chore({sop_id}): {verb} v{version}{body}\n\n"
        f"{trailer}: {sop_id} v{version}\nDate: {date.isoformat()}\n"
    )


# --- periodic review ----------------------------------------------------------------


def next_review(
    last_release: str | None, reviews: Iterable[Event], interval_days: int
) -> str | None:
    """Due INTERVAL_DAYS after the later of the last release and the last review."""
    dates = [d for d in [last_release, *(r.date for r in reviews)] if d]
    if not dates:
        return None
    try:
        return (dt.date.fromisoformat(max(dates)) + dt.timedelta(days=interval_days)).isoformat()
    except (ValueError, OverflowError):  # a hand-typed date no calendar has
        return None


MAX_INTERVAL_DAYS = 36_500  # as sopgit.repo.config allows for the library's interval


def valid_interval(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_INTERVAL_DAYS


def interval_for(meta: Mapping[str, object], default: int) -> int:
    """The SOP's own `reviewIntervalDays`, else the library's."""
    value = meta.get("reviewIntervalDays")
    valid = valid_interval(value)
    return value if valid else default  # type: ignore[return-value]


# --- training -----------------------------------------------------------------------


def needs_version(current: semver.Version) -> semver.Version:
    """The oldest version whose acknowledgement still counts: the current major's x.0.0.

    A major version is the bump that means the procedure changed, so staff must
    acknowledge it again; minor and patch versions keep earlier acknowledgements valid.
    """
    return semver.Version(current.major, 0, 0)


@dataclass(frozen=True)
class TrainingRow:
    sop_id: str
    title: str
    version: str
    acknowledged: tuple[Event, ...]  # the latest valid acknowledgement per person
    missing: tuple[str, ...]  # audience members who must (re)acknowledge

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.sop_id,
            "title": self.title,
            "version": self.version,
            "acknowledged": [e.as_dict() for e in self.acknowledged],
            "missing": list(self.missing),
        }


def training_row(
    sop_id: str,
    title: str,
    current: semver.Version,
    acks: Iterable[Event],
    audience: Iterable[str],
) -> TrainingRow:
    """Who acknowledged SOP_ID's current major version, and who has not: everyone in
    AUDIENCE, and everyone who acknowledged an earlier major version of it (they were
    trained on a procedure that has since changed), audience configured or not."""
    floor = needs_version(current)
    valid: dict[str, Event] = {}
    earlier: set[str] = set()
    for ack in acks:  # newest first: keep each person's latest valid acknowledgement
        version = _version(ack.version)
        if ack.sop_id != sop_id or version is None:
            continue
        if floor <= version <= current:
            valid.setdefault(ack.email.lower(), ack)
        elif version < floor:
            earlier.add(ack.email.lower())
    people = {p.lower() for p in audience} | earlier
    missing = sorted(p for p in people if p not in valid)
    return TrainingRow(sop_id, title, str(current), tuple(valid.values()), tuple(missing))


@dataclass(frozen=True)
class Catchup:
    """What a person must read to catch up: the redline from what they last acknowledged."""

    email: str
    acknowledged: str  # the version they last acknowledged
    current: str
    command: str  # `sopgit diff ID OLD NEW`
    page: str = ""  # the site's page of that redline, when the site has one

    def as_dict(self) -> dict[str, object]:
        return {
            "email": self.email,
            "acknowledged_version": self.acknowledged,
            "version": self.current,
            "diff_command": self.command,
            **({"diff_page": self.page} if self.page else {}),
        }


def catchups(
    sop_id: str,
    current: semver.Version,
    acks: Iterable[Event],
    previous: semver.Version | None = None,
    page: str = "",
) -> list[Catchup]:
    """Each person whose latest acknowledgement of SOP_ID is of an older version, with
    the redline command from that version to CURRENT (ACKS newest first); PAGE is the
    site's redline of CURRENT against PREVIOUS, named for whoever acknowledged PREVIOUS."""
    latest: dict[str, Event] = {}
    for ack in acks:
        if ack.sop_id == sop_id and _version(ack.version) is not None:
            latest.setdefault(ack.email.lower(), ack)
    found = []
    for email, ack in sorted(latest.items()):
        version = _version(ack.version)
        if version is not None and version < current:
            command = f"sopgit diff {sop_id} {version} {current}"
            shown = page if previous is not None and version == previous else ""
            found.append(Catchup(email, str(version), str(current), command, shown))
    return found


def _version(text: str | None) -> semver.Version | None:
    try:
        return semver.Version.parse(text) if text else None
    except ValueError:
        return None
