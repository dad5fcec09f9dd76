"""A library's document format as plain data (pure): its keys, sections, history table,
version style and statuses, with the defaults of the seed template (DESIGN.md).

sopgit.repo.docformat reads and writes documents in such a format; sopgit.repo.config reads it
from `[format]` of sopgit.toml. Nothing here reads files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import semver

from sopgit.core.versioning import DEFAULT_ID_PATTERN

SEED_SECTIONS = (
    "Purpose",
    "Scope",
    "Responsibilities",
    "Procedure",
    "References",
    "Definitions",
    "Revision History",
)
# sopgit's own names for the fields it reads, in the seed template's key order.
FIELDS = (
    "title",
    "id",
    "description",
    "last_updated",
    "version",
    "owner",
    "tags",
    "status",
    "last_reviewed",
    "next_review",
)
# The fields the seed template requires (the review dates are an adopted library's own).
SEED_REQUIRED = FIELDS[:8]
SEED_KEYS: Mapping[str, str] = {
    "title": "title",
    "id": "sop_id",
    "description": "description",
    "last_updated": "lastUpdated",
    "version": "version",
    "owner": "owner",
    "tags": "tags",
    "status": "status",
    "last_reviewed": "",
    "next_review": "",
}
# sopgit's statuses; an adopted library maps its own words onto them ([format.statuses]).
STATUSES = ("draft", "effective", "retired")
# How versions are written: semver, two-part, major-only, each with or without a "v".
VERSION_STYLES = (
    "{major}.{minor}.{patch}",
    "{major}.{minor}",
    "{major}",
    "v{major}.{minor}.{patch}",
    "v{major}.{minor}",
    "v{major}",
)
HISTORY_FIELDS = ("version", "date", "description", "author", "approved_by")
SEED_COLUMNS: Mapping[str, str] = {
    "version": "Version",
    "date": "Date",
    "description": "Description",
    "author": "Author",
    "approved_by": "Approved by",
}
ORDERS = ("oldest-first", "newest-first")
METADATA = ("frontmatter", "table")
ID_SOURCES = ("key", "filename")
# A version as people type it: 2.1.2, 1.0, v3, Rev. 2.1
LOOSE_VERSION = re.compile(
    r"^(?:v|ver\.?|version|rev\.?|revision)?\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$"
)
# A letter revision: C, Rev C, AB
LETTER_REVISION = re.compile(r"^(?:rev\.?\s*|revision\s*)?[A-Z]{1,2}$", re.IGNORECASE)
# A cell's wrapping, read through: ``v1``, `v1`, **v1**, *v1*, __v1__, _v1_
WRAPPED = re.compile(r"^(?P<open>`+|\*\*|__|\*|_)(?P<inner>.*?)(?P=open)$")
# A heading's own numbering: "1. ", "8.2 ", "IV. "
HEADING_NUMBER = re.compile(r"^(?:\d+(?:\.\d+)*\.?|[IVXLC]+\.)\s+")
TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
RULE_ROW = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")


@dataclass(frozen=True)
class HistoryFormat:
    heading: str = "Revision History"
    markers: bool = True  # the table sits between sopgit's markers (else: under the heading)
    order: str = "oldest-first"
    date_format: str = "%Y-%m-%d"
    columns: Mapping[str, str] = field(default_factory=lambda: dict(SEED_COLUMNS))

    def column(self, name: str) -> str:
        return self.columns.get(name, "")


@dataclass(frozen=True)
class Format:
    files: tuple[str, ...] = ("**/*.md",)  # globs under the library root
    exclude: tuple[str, ...] = ()
    metadata: str = "frontmatter"
    id_source: str = "key"
    id_pattern: str = DEFAULT_ID_PATTERN
    filename_pattern: str = ""  # a regex with a group `id`; "" = id_pattern opening the name
    keys: Mapping[str, str] = field(default_factory=lambda: dict(SEED_KEYS))
    # More keys (or metadata-table labels) a version is written under: other document
    # types' own (template_version, policy_version), or a body row beside the
    # frontmatter. A file's version is the highest it states; a release sets them all.
    version_keys: tuple[str, ...] = ()
    version_style: str = VERSION_STYLES[0]
    statuses: Mapping[str, str] = field(default_factory=dict)  # the library's word -> status
    required_keys: tuple[str, ...] = SEED_REQUIRED
    date_format: str = "%Y-%m-%d"
    legacy: bool = False  # versions and history typed before sopgit count
    sections: tuple[str, ...] = SEED_SECTIONS
    ordered_sections: bool = True
    steps_section: str = "Procedure"  # its `### N. Step` headings are numbered; "" = none
    history: HistoryFormat = field(default_factory=HistoryFormat)

    def key(self, name: str) -> str:
        """The library's key (or metadata-table label) for sopgit's field NAME; "" if none."""
        return self.keys.get(name, "")

    def all_version_keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(k for k in (self.key("version"), *self.version_keys) if k))

    def status_of(self, raw: object) -> object:
        """The library's status word as sopgit's status (draft, effective, retired)."""
        if isinstance(raw, str) and self.statuses:
            return self.statuses.get(raw.strip().lower(), raw)
        return raw

    def status_word(self, status: str) -> str:
        """The library's own word for sopgit's STATUS (the first one mapped to it)."""
        return next((w for w, s in self.statuses.items() if s == status), status)


SEED_FORMAT = Format()


def loose_version(raw: object) -> semver.Version | None:
    """A version as people type it, made semver: `1.0` -> 1.0.0, `v2` -> 2.0.0."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    try:
        return semver.Version.parse(text)
    except ValueError:
        pass
    match = LOOSE_VERSION.match(text.lower())
    if not match:
        return None
    major, minor, patch = (int(part or 0) for part in match.groups())
    return semver.Version(major, minor, patch)


def style_bump(bump: str, style: str) -> str:
    """A bump as the library's version style can show it: a patch is a minor change to
    a two-part version, and every change is a major one to a major-only version."""
    if bump not in ("patch", "minor"):
        return bump
    if "{minor}" not in style:
        return "major"
    if "{patch}" not in style:
        return "minor"
    return bump


def table_cell(value: str) -> str:
    """Text made safe for one Markdown table cell: no pipe or newline breaks the row."""
    return " ".join(value.replace("\\", "\\\\").replace("|", "\\|").split())
