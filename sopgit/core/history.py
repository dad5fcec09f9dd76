"""From plain records (commits, tags, SOP paths) to versions and revision histories (pure)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import semver

from sopgit.core.attribution import OutOfOrder, Walk, Walker, walk
from sopgit.core.commits import Message, bump_for, is_release, parse_message, pull_request_number
from sopgit.core.formats import loose_version, style_bump, table_cell
from sopgit.core.model import Commit, Tag
from sopgit.core.settings import Config
from sopgit.core.versioning import (
    DEFAULT_ID_PATTERN,
    draft_version,
    largest_bump,
    next_version,
    parse_version,
    tag_pattern,
)

TABLE_HEADER = "| Version | Date | Description | Author | Approved by |"
TABLE_RULE = "|---------|------|-------------|--------|-------------|"


class Ancestry:
    """Answers "is commit C an ancestor of commit T?" over the history scanned from HEAD.

    Along HEAD's first-parent chain M_0..M_n, every commit gets the index of the first
    M_i it is an ancestor of. For T on that chain, C is an ancestor of T exactly when
    its index is at most T's, which makes the common case O(1). Other targets fall back
    to a walk, done once per target. OUTSIDE holds the parents of commits that are not
    reachable from HEAD (tags on other branches), so their ancestry can be found too.
    """

    def __init__(
        self,
        commits: Iterable[Commit],
        head: str | None,
        outside: Mapping[str, tuple[str, ...]] = {},
    ) -> None:
        self.parents = {c.sha: c.parents for c in commits}
        self.outside = outside
        chain: list[str] = []
        sha = head
        while sha is not None and sha in self.parents:
            chain.append(sha)
            sha = self.parents[sha][0] if self.parents[sha] else None
        chain.reverse()
        self.mainline = chain
        self.position: dict[str, int] = {}
        for index, tip in enumerate(chain):
            stack = [tip]
            while stack:
                current = stack.pop()
                if current in self.position:
                    continue
                self.position[current] = index
                stack.extend(p for p in self.parents.get(current, ()) if p not in self.position)
        self._walked: dict[str, set[str]] = {}

    @classmethod
    def of_reach(
        cls,
        commits: Iterable[Commit],
        reach: MainlineReach,
        outside: Mapping[str, tuple[str, ...]] = {},
    ) -> Ancestry:
        """The ancestry REACH found as the commits came (the same as Ancestry(COMMITS, HEAD))."""
        ancestry = cls([], None, outside)
        ancestry.parents = reach.parents
        ancestry.mainline = reach.mainline[::-1]
        ancestry.position = reach.position
        return ancestry

    def reachable(self, sha: str) -> bool:
        """Is SHA reachable from HEAD?"""
        return sha in self.position

    def is_ancestor(self, commit: str, target: str) -> bool:
        """Is COMMIT reachable from TARGET (a commit is its own ancestor)?"""
        if commit == target:
            return True
        position = self.position.get(target)
        if position is not None and self.mainline[position] == target:
            return self.position.get(commit, len(self.mainline)) <= position
        return commit in self._ancestors(target)

    def _ancestors(self, target: str) -> set[str]:
        if target not in self._walked:
            seen: set[str] = set()
            stack = [target]
            while stack:
                current = stack.pop()
                if current in seen:
                    continue
                seen.add(current)
                parents = self.parents.get(current) or self.outside.get(current, ())
                stack.extend(p for p in parents if p not in seen)
            self._walked[target] = seen
        return self._walked[target]

    def not_reached(self, commits: list[Commit], target: str | None) -> list[Commit]:
        """The COMMITS that TARGET does not reach (all of them when TARGET is None)."""
        if target is None:
            return commits
        position = self.position.get(target)
        if position is not None and self.mainline[position] == target:
            positions, beyond = self.position, len(self.mainline)  # as is_ancestor, inline
            return [c for c in commits if positions.get(c.sha, beyond) > position]
        return [c for c in commits if not self.is_ancestor(c.sha, target)]

    def merge_that_brought(self, commit: str) -> str | None:
        """The mainline commit whose merge brought COMMIT in (None if COMMIT is mainline)."""
        position = self.position.get(commit)
        if position is None or self.mainline[position] == commit:
            return None
        return self.mainline[position]


class MainlineReach:
    """Ancestry's positions found one commit at a time, each after all its children
    (HEAD first, as sopgit.core.attribution.Walker is fed). A commit on HEAD's
    first-parent chain is at its own place on it; any other, at the place of the oldest
    mainline commit among those of its children. Places count back from HEAD (-1, -2,
    ...), since the chain's length is known only at the end: as indexes into the chain
    (oldest first) and in their order, they are what Ancestry's positions are."""

    def __init__(self, head: str) -> None:
        self.mainline: list[str] = []  # HEAD first
        self.position: dict[str, int] = {}
        self.parents: dict[str, tuple[str, ...]] = {}
        self._next: str | None = head
        self._handed: dict[str, int] = {}

    def visit(self, commit: Commit) -> None:
        sha = commit.sha
        if sha == self._next:
            self.mainline.append(sha)
            place = -len(self.mainline)
            self._next = commit.parents[0] if commit.parents else None
            self._handed.pop(sha, None)
        else:
            place = self._handed.pop(sha)
        self.position[sha] = place
        self.parents[sha] = commit.parents
        handed = self._handed
        for parent in commit.parents:
            if handed.get(parent, 0) > place:
                handed[parent] = place


def walk_in_order(
    commits: list[Commit], head: str | None, paths: Mapping[str, str]
) -> tuple[Walk, MainlineReach] | None:
    """The walk and the ancestry of COMMITS taken in their own order, in one pass: kept
    newest first, they are children first whenever commit times do not run backwards.
    None when they are not (a commit before a child of it, or one HEAD does not reach):
    then the graph decides the order (walk(), Ancestry())."""
    if head is None:
        return None
    walker, reach = Walker(head, paths), MainlineReach(head)
    try:
        for commit in commits:
            walker.visit(commit)
            reach.visit(commit)
        return walker.finish(commits, in_turn=True), reach
    except OutOfOrder:
        return None


@dataclass(frozen=True)
class Change:
    """A pending commit of one SOP, understood."""

    commit: Commit
    message: Message
    bump: str
    pull_request: int | None


@dataclass(frozen=True)
class SopVersion:
    sop_id: str
    current: semver.Version | None  # the highest released version
    releases: tuple[tuple[semver.Version, Tag], ...]  # its release tags, highest first
    pending: tuple[Change, ...]  # newest first
    bump: str | None  # the largest bump pending; None when nothing is
    next: semver.Version | None  # what a release would cut; None when nothing is pending
    # Before the first release tag of an adopted SOP: the version typed by hand (the
    # history table's or the version key's), which its first release continues from.
    legacy: semver.Version | None = None
    legacy_rows: tuple[HistoryRow, ...] = ()  # the hand-typed history, oldest first

    @property
    def effective(self) -> semver.Version | None:
        """The version in force: the latest release, else the one typed by hand."""
        return self.current if self.current is not None else self.legacy

    @property
    def authors(self) -> list[str]:
        """Authors of the pending changes, oldest first, each once."""
        names: list[str] = []
        for change in reversed(self.pending):
            if change.commit.author_name not in names:
                names.append(change.commit.author_name)
        return names

    @property
    def pull_requests(self) -> list[int]:
        return sorted({c.pull_request for c in self.pending if c.pull_request is not None})

    def shown(self, on_release_branch: bool) -> str | None:
        """The version to show: the next one as `-draft.N` off the release branch."""
        if self.next is not None and not on_release_branch:
            return str(draft_version(self.next, len(self.pending)))
        return str(self.effective) if self.effective is not None else None


@dataclass(frozen=True)
class Legacy:
    """What an adopted SOP's file says of its past: the version key, the history rows."""

    stated: semver.Version | None  # the version key, made semver
    rows: tuple[HistoryRow, ...]  # the hand-typed history table, oldest first
    # The commit that last changed the version the file states: the first release
    # describes only the commits after it (None: not known, every commit counts).
    since: str | None = None


def release_tags(
    tags: Iterable[Tag], tag_format: str, id_pattern: str = DEFAULT_ID_PATTERN
) -> dict[str, list[tuple[semver.Version, Tag]]]:
    """Each SOP's release tags, highest version first; prereleases are not releases."""
    pattern = tag_pattern(tag_format, id_pattern)
    found: dict[str, list[tuple[semver.Version, Tag]]] = {}
    for tag in tags:
        match = pattern.match(tag.name)
        version = parse_version(match.group("version")) if match else None
        # Only annotated tags are releases: a lightweight tag carries no record of
        # who released what, and would date the release 1970.
        if match and version is not None and not version.prerelease and tag.annotated:
            found.setdefault(match.group("id"), []).append((version, tag))
    for versions in found.values():
        versions.sort(key=lambda pair: pair[0], reverse=True)
    return found


@dataclass
class History:
    """Everything the version commands derive, computed once per command."""

    config: Config
    commits: list[Commit]
    tags: list[Tag]
    ancestry: Ancestry
    touched: dict[str, list[Commit]]
    tags_by_sop: dict[str, list[tuple[semver.Version, Tag]]] = field(default_factory=dict)
    by_sha: dict[str, Commit] = field(default_factory=dict)
    legacy: Mapping[str, Legacy] = field(default_factory=dict)
    separable: bool = True  # no two SOPs' names ever met (see sopgit.attribution.Walk)
    _versions: dict[tuple[str, str | None], SopVersion] = field(default_factory=dict, repr=False)

    @classmethod
    def build(
        cls,
        config: Config,
        commits: list[Commit],
        tags: list[Tag],
        paths: Mapping[str, str],
        head: str | None,
        outside: Mapping[str, tuple[str, ...]] = {},
        legacy: Mapping[str, Legacy] = {},
        walked: tuple[Walk, MainlineReach] | None = None,
        tags_by_sop: dict[str, list[tuple[semver.Version, Tag]]] | None = None,
    ) -> History:
        """WALKED: the walk and the ancestry of exactly COMMITS, HEAD and PATHS, found
        as the commits were read (else they are found here); TAGS_BY_SOP: release_tags()
        of TAGS, if found already."""
        walked = walked or walk_in_order(commits, head, paths)
        found = walk(commits, head, paths) if walked is None else walked[0]
        ancestry = (
            Ancestry(commits, head, outside)
            if walked is None
            else Ancestry.of_reach(commits, walked[1], outside)
        )
        return cls(
            config=config,
            commits=commits,
            tags=tags,
            ancestry=ancestry,
            touched=found.touched,
            tags_by_sop=(
                release_tags(tags, config.tag_format, config.format.id_pattern)
                if tags_by_sop is None
                else tags_by_sop
            ),
            by_sha={c.sha: c for c in commits},
            legacy=legacy,
            separable=found.separable,
        )

    def version(self, sop_id: str, force: str | None = None) -> SopVersion:
        """SOP_ID's current version and what is pending; FORCE overrides the bump.

        Computed once per SOP and bump: status, release and the approvals ask often.
        """
        key = (sop_id, force)
        if key not in self._versions:
            self._versions[key] = self._version(sop_id, force)
        return self._versions[key]

    def _version(self, sop_id: str, force: str | None) -> SopVersion:
        released = self.tags_by_sop.get(sop_id, [])
        latest = released[0][1].target if released else None
        legacy = self.legacy.get(sop_id)
        if latest is None and legacy is not None and legacy.since in self.by_sha:
            latest = legacy.since  # the file's own last stated version
        touched = self.touched.get(sop_id, [])
        pending = [self._change(c) for c in self.ancestry.not_reached(touched, latest)]
        return sop_version(self.config, sop_id, released, pending, force, self.legacy.get(sop_id))

    def _change(self, commit: Commit) -> Change:
        merge = self.ancestry.merge_that_brought(commit.sha)
        return change_of(commit, self.config, self.by_sha[merge].subject if merge else None)


def change_of(commit: Commit, config: Config, merge_subject: str | None = None) -> Change:
    """COMMIT understood: its message, the bump it asks for, its pull request if known."""
    message = parse_message(commit.message)
    number = pull_request_number(commit.subject)
    if number is None and merge_subject is not None:
        number = pull_request_number(merge_subject)
    return Change(commit, message, bump_for(message, dict(config.bump)), number)


def sop_version(
    config: Config,
    sop_id: str,
    released: list[tuple[semver.Version, Tag]],
    changes: list[Change],
    force: str | None = None,
    legacy: Legacy | None = None,
) -> SopVersion:
    """The version record from the releases and the changes since the latest one.

    LEGACY is what an adopted SOP's file says of versions before sopgit: until its
    first release tag, the highest of them is where the next version continues from.
    """
    current = released[0][0] if released else None
    tagged = {version for version, tag in released if not is_baseline(tag)}
    hand_rows = tuple(
        r for r in (legacy.rows if legacy else ()) if loose_version(r.version) not in tagged
    )
    base = None
    if current is None and legacy is not None:
        typed = [v for v in (loose_version(r.version) for r in legacy.rows) if v is not None]
        base = max([*typed, *([legacy.stated] if legacy.stated else [])], default=None)
    pending = [c for c in changes if not is_release(c.message)]
    bump = largest_bump(c.bump for c in pending)
    if bump and current is None and base is None:
        bump = "initial"  # the first release is the initial version, whatever was asked
    elif bump and force:
        bump = force
    if bump and bump != "initial":
        bump = style_bump(bump, config.format.version_style)  # 2.3 -> 2.4, v1 -> v2
    return SopVersion(
        sop_id=sop_id,
        current=current,
        releases=tuple(released),
        pending=tuple(pending),
        bump=bump,
        next=next_version(current or base, bump, config.initial_version) if bump else None,
        legacy=base,
        legacy_rows=hand_rows,
    )


def is_baseline(tag: Tag) -> bool:
    """A baseline tag records the version a file stated when its library was adopted."""
    if "baseline" not in tag.message:  # most tags: no need to parse the message
        return False
    return "baseline" in parse_message(tag.message).trailer_values("Bump")


# --- revision history rows --------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    version: str
    date: str
    description: str
    author: str
    approved_by: str
    pull_requests: tuple[int, ...]
    tag: str
    # "tag": read from a release tag; "hand": typed in the file's history table before
    # sopgit; "baseline": a baseline tag of a version no hand-typed row records
    source: str = "tag"
    text: str = ""  # a hand-typed row as it stands in the file

    def as_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "date": self.date,
            "description": self.description,
            "author": self.author,
            "approved_by": self.approved_by,
            "pull_requests": list(self.pull_requests),
            "tag": self.tag,
            "source": self.source,
            "recorded_by_hand": self.source == "hand",
        }


def row_from_tag(version: semver.Version, tag: Tag) -> HistoryRow:
    """A revision-history row, read back from the release tag's message alone."""
    message = parse_message(tag.message)
    date = (message.trailer_values("Release-Date") or [_utc_date(tag.time)])[0]
    return HistoryRow(
        version=str(version),
        date=date,
        description=_tag_description(message, str(version)),
        author=", ".join(_name(v) for v in message.trailer_values("Author")) or tag.tagger_name,
        approved_by=", ".join(_approver(v) for v in message.trailer_values("Approved-by")),
        pull_requests=tuple(
            int(n) for v in message.trailer_values("Pull-Request") for n in re.findall(r"\d+", v)
        ),
        tag=tag.name,
        source="baseline" if "baseline" in message.trailer_values("Bump") else "tag",
    )


def _tag_description(message: Message, version: str) -> str:
    """The description paragraph `Title vX.Y.Z: what changed.`, else the subject."""
    first = message.body.split("\n\n", 1)[0].strip()
    match = re.match(rf"^.*? v{re.escape(version)}: (?P<text>.+)$", first, re.DOTALL)
    if match:
        text = " ".join(match.group("text").split())
        return text[:-1] if text.endswith(".") else text  # the writer always adds one
    return first or message.subject


def _name(trailer: str) -> str:
    """`Ana Ruiz <ana@acme.example>` -> `Ana Ruiz`."""
    return " ".join(re.sub(r"<[^>]*>", "", trailer).split())


def _approver(trailer: str) -> str:
    """`Lee Chen <lee@acme.example> (manager; commit abc1234567) 2026-03-02T10:14:00Z`
    -> `Lee Chen (manager)`: the approved commit stays in the tag."""
    text = re.sub(r"\s+\d{4}-\d{2}-\d{2}T\S*$", "", trailer)
    text = re.sub(r"\s*\((?:commit [0-9a-f]+)(?:;[^()]*)?\)|;[^()]*(?=\))", "", text)
    return _name(text)


def _utc_date(timestamp: int) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).date().isoformat()


def history_rows(version: SopVersion) -> list[HistoryRow]:
    """Every released version of an SOP, oldest first: the rows typed by hand before
    sopgit (adopted libraries), then one per release tag. A baseline tag of a version a
    hand-typed row already records adds no row."""
    typed = {loose_version(r.version) for r in version.legacy_rows}
    tagged = [row_from_tag(number, tag) for number, tag in reversed(version.releases)]
    return [
        *version.legacy_rows,
        *(r for r in tagged if not (r.source == "baseline" and loose_version(r.version) in typed)),
    ]


def table_lines(rows: Iterable[HistoryRow]) -> list[str]:
    """The managed Markdown table, header included."""
    lines = [TABLE_HEADER, TABLE_RULE]
    for row in rows:
        cells = (row.version, row.date, row.description, row.author, row.approved_by)
        lines.append("| " + " | ".join(table_cell(c) for c in cells) + " |")
    return lines
