"""Check rules: SOP texts and the library in, diagnostics out (pure)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from sopgit.config import Config
from sopgit.document import (
    REVISION_HISTORY,
    Document,
    Heading,
    marker,
    parse_document,
)
from sopgit.errors import DocumentError
from sopgit.library import SOP_ID, is_under
from sopgit.versioning import UNRELEASED, parse_version

SECTIONS = (
    "Purpose",
    "Scope",
    "Responsibilities",
    "Procedure",
    "References",
    "Definitions",
    "Revision History",
)
REQUIRED_KEYS = (
    "title",
    "sop_id",
    "description",
    "lastUpdated",
    "version",
    "owner",
    "tags",
    "status",
)
STATUSES = ("draft", "effective", "retired")
TABLE_HEADER = ("Version", "Date", "Description", "Author", "Approved by")
STEP = re.compile(r"^(\d+)\.\s+\S")
LINK = re.compile(r"(?<!!)\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//|#)")

# Every rule id with what it checks; README and `check --list-rules` show this table.
RULES: dict[str, str] = {
    "frontmatter": "the file starts with a closed YAML frontmatter block that parses",
    "required-key": "every frontmatter key of the template is present",
    "key-type": "keys have the right type: dates YYYY-MM-DD, version semver, tags a list",
    "status": "status is draft, effective or retired",
    "id-format": "sop_id is DEPT-NNN",
    "unknown-department": "the id's prefix is a department in sopgit.toml",
    "id-filename": "the file name starts with the sop_id",
    "folder": "the file sits in its department's folder under the root",
    "duplicate-id": "no two SOP files share an id",
    "outside-root": "SOP files live under the library root",
    "title-heading": "the first heading repeats the title (warning)",
    "missing-section": "the seven sections are present",
    "section-order": "the sections are in the template's order",
    "step-numbering": "procedure steps are '### N. Step', numbered 1, 2, 3...",
    "markers": "the managed revision-history markers are present once, in order",
    "history-table": "the revision-history table has the managed columns",
    "broken-link": "relative links point at files that exist",
    "version": "the version is 0.0.0 until released, then the latest tag's version",
    "retired-link": "active SOPs do not link to retired ones",
    "review-overdue": "with --fail-on-overdue: no released SOP is past its periodic review",
}


@dataclass(frozen=True)
class Diagnostic:
    path: str
    line: int
    rule: str
    message: str
    severity: str = "error"

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
        }


@dataclass(frozen=True)
class LibraryFacts:
    """What the file rules need to know about the rest of the library."""

    config: Config
    exists: Callable[[str], bool]  # does this root-relative path exist (link targets)
    id_paths: Mapping[str, tuple[str, ...]]  # sop_id -> every SOP path that claims it
    released: Mapping[str, str]  # sop_id -> latest released version
    retired: Mapping[str, str] = field(default_factory=dict)  # retired SOP path -> its id


def check_text(path: str, text: str, facts: LibraryFacts) -> list[Diagnostic]:
    """All diagnostics for one SOP file."""
    config = facts.config
    if not is_under(path, config.root):
        return [
            Diagnostic(
                path, 1, "outside-root", f"SOP files belong under '{config.root}/'; move it there"
            )
        ]
    try:
        doc = parse_document(text, path)
    except DocumentError as err:
        return [Diagnostic(path, err.line or 1, "frontmatter", err.message)]
    found = _check_frontmatter(doc, facts)
    found += _check_sections(doc)
    found += _check_managed_table(doc)
    found += _check_links(doc, facts)
    return sorted(found, key=lambda d: (d.line, d.rule))


def meta_of(text: str) -> dict[str, Any]:
    """The frontmatter of a text, or {} if it does not parse."""
    try:
        return parse_document(text).meta
    except DocumentError:
        return {}


def _check_frontmatter(doc: Document, facts: LibraryFacts) -> list[Diagnostic]:
    meta, path, out = doc.meta, doc.path, []

    def add(key: str, rule: str, message: str) -> None:
        out.append(Diagnostic(path, doc.line_of(key), rule, message))

    for key in REQUIRED_KEYS:
        if key not in meta:
            add(key, "required-key", f"frontmatter has no '{key}'; add it (see the SOP template)")
    for key in ("title", "description", "owner"):
        if key in meta and not (isinstance(meta[key], str) and meta[key].strip()):
            add(key, "key-type", f"'{key}' must be a non-empty text")
    if "lastUpdated" in meta and not _is_date(meta["lastUpdated"]):
        add("lastUpdated", "key-type", "'lastUpdated' must be a date written YYYY-MM-DD")
    tags = meta.get("tags")
    if "tags" in meta and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        add("tags", "key-type", "'tags' must be a list of words, e.g. ['sop', 'engineering']")
    status = meta.get("status")
    if "status" in meta and status not in STATUSES:
        add("status", "status", f"'status' must be one of {', '.join(STATUSES)}, not '{status}'")
    out += _check_version(doc, facts.released)
    out += _check_identity(doc, facts)
    title = meta.get("title")
    first = next((h for h in doc.headings if h.level == 1), None)
    if isinstance(title, str) and (first is None or first.title.strip() != title.strip()):
        out.append(
            Diagnostic(
                path,
                first.line if first else doc.body_line,
                "title-heading",
                f"the first heading should be '# {title}', the SOP's title",
                "warning",
            )
        )
    return out


def _is_date(value: object) -> bool:
    if isinstance(value, dt.date):
        return True
    if isinstance(value, str):
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return False
        return re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) is not None
    return False


def _check_version(doc: Document, released: Mapping[str, str]) -> list[Diagnostic]:
    if "version" not in doc.meta:
        return []
    line = doc.line_of("version")
    version = doc.meta["version"]
    if not isinstance(version, str) or parse_version(version) is None:
        shown = f"'{version}'" if isinstance(version, str) else f"{version!r} (not text)"
        return [
            Diagnostic(
                doc.path,
                line,
                "key-type",
                f"'version' must be a semantic version like 1.0.0, not {shown}",
            )
        ]
    sop_id = doc.meta.get("sop_id")
    latest = released.get(sop_id) if isinstance(sop_id, str) else None
    if latest is None and version != UNRELEASED:
        return [
            Diagnostic(
                doc.path,
                line,
                "version",
                f"'version' is {version} but {sop_id} has no release tag; "
                f"set it to {UNRELEASED} and let 'sopgit release' set it",
            )
        ]
    if latest is not None and version != latest:
        return [
            Diagnostic(
                doc.path,
                line,
                "version",
                f"'version' is {version} but the latest release of {sop_id} is {latest}; "
                f"set it back to {latest}: only 'sopgit release' changes it",
            )
        ]
    return []


def _check_identity(doc: Document, facts: LibraryFacts) -> list[Diagnostic]:
    sop_id = doc.meta.get("sop_id")
    if not isinstance(sop_id, str):
        return []
    path, line, config = doc.path, doc.line_of("sop_id"), facts.config
    match = SOP_ID.match(sop_id)
    if not match:
        return [
            Diagnostic(path, line, "id-format", f"'{sop_id}' is not an id like ENG-001; fix sop_id")
        ]
    out: list[Diagnostic] = []
    name = PurePosixPath(path).name
    if not name.startswith(f"{sop_id}-") and name != f"{sop_id}.md":
        out.append(
            Diagnostic(
                path, line, "id-filename", f"file name should start with '{sop_id}-'; rename it"
            )
        )
    code = match.group("dept")
    dept = config.departments.get(code)
    if dept is None:
        out.append(
            Diagnostic(
                path,
                line,
                "unknown-department",
                f"department '{code}' is not in sopgit.toml; "
                f"use one of {', '.join(config.departments)} or add [departments.{code}]",
            )
        )
    else:
        folder = f"{config.root}/{dept.folder}"
        if PurePosixPath(path).parent != PurePosixPath(folder):
            out.append(
                Diagnostic(path, line, "folder", f"{sop_id} belongs in '{folder}/'; move it there")
            )
    others = [p for p in facts.id_paths.get(sop_id, ()) if p != path]
    if others:
        out.append(
            Diagnostic(
                path,
                line,
                "duplicate-id",
                f"{sop_id} is also the id of {', '.join(others)}; give one of them a new id",
            )
        )
    return out


def _check_sections(doc: Document) -> list[Diagnostic]:
    path, out = doc.path, []
    sections = [h for h in doc.headings if h.level == 2]
    titles = [h.title.strip() for h in sections]
    present = [t for t in titles if t in SECTIONS]
    for name in SECTIONS:
        if name not in titles:
            out.append(
                Diagnostic(
                    path,
                    _where_missing(name, sections, doc),
                    "missing-section",
                    f"section '## {name}' is missing; add it",
                )
            )
    expected = [name for name in SECTIONS if name in present]
    seen: list[str] = []
    for heading in sections:
        name = heading.title.strip()
        if name not in SECTIONS or name in seen:
            continue
        seen.append(name)
        if seen != expected[: len(seen)]:
            out.append(
                Diagnostic(
                    path,
                    heading.line,
                    "section-order",
                    f"'## {name}' is out of order; sections go {', '.join(SECTIONS)}",
                )
            )
            break
    out += _check_steps(doc, sections)
    return out


def _where_missing(name: str, sections: list[Heading], doc: Document) -> int:
    """The line after which section NAME should have come."""
    index = SECTIONS.index(name)
    before = [h for h in sections if h.title.strip() in SECTIONS[:index]]
    return before[-1].line if before else doc.body_line


def _check_steps(doc: Document, sections: list[Heading]) -> list[Diagnostic]:
    procedure = next((h for h in sections if h.title.strip() == "Procedure"), None)
    if procedure is None:
        return []
    end = next((h.line for h in sections if h.line > procedure.line), 10**9)
    steps = [h for h in doc.headings if h.level == 3 and procedure.line < h.line < end]
    if not steps:
        return [
            Diagnostic(
                doc.path,
                procedure.line,
                "step-numbering",
                "the procedure has no steps; add '### 1. First step'",
            )
        ]
    for expected, step in enumerate(steps, 1):
        match = STEP.match(step.title)
        if not match or int(match.group(1)) != expected:
            return [
                Diagnostic(
                    doc.path,
                    step.line,
                    "step-numbering",
                    f"step should read '### {expected}. ...' (steps are numbered 1, 2, 3...)",
                )
            ]
    return []


def _check_managed_table(doc: Document) -> list[Diagnostic]:
    lines = doc.lines
    stripped = [line.strip() for line in lines]
    start, end = marker(REVISION_HISTORY), marker(REVISION_HISTORY, end=True)
    starts = [i for i, line in enumerate(stripped) if line == start]
    ends = [i for i, line in enumerate(stripped) if line == end]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        line = (starts or ends or [len(lines) - 1])[0] + 1
        return [
            Diagnostic(
                doc.path,
                line,
                "markers",
                f"the Revision History needs one '{start}' line and, after it, one '{end}' line",
            )
        ]
    out = []
    history = next(
        (h for h in doc.headings if h.level == 2 and h.title == "Revision History"), None
    )
    if history is not None and starts[0] + 1 < history.line:
        out.append(
            Diagnostic(
                doc.path,
                starts[0] + 1,
                "markers",
                "the managed table markers belong under '## Revision History'; move them there",
            )
        )
    region = stripped[starts[0] + 1 : ends[0]]
    header = tuple(cell.strip() for cell in region[0].strip("|").split("|")) if region else ()
    if header != TABLE_HEADER:
        out.append(
            Diagnostic(
                doc.path,
                starts[0] + 2,
                "history-table",
                "the managed table must start with '| " + " | ".join(TABLE_HEADER) + " |'",
            )
        )
    return out


def _check_links(doc: Document, facts: LibraryFacts) -> list[Diagnostic]:
    out = []
    folder = PurePosixPath(doc.path).parent
    in_code = False
    for number, line in enumerate(doc.lines, 1):
        if number < doc.body_line:
            continue
        if line.lstrip().startswith(("```", "~~~")):
            in_code = not in_code
            continue
        if in_code:
            continue
        for match in LINK.finditer(re.sub(r"`[^`]*`", "", line)):
            target = match.group(1)
            if EXTERNAL.match(target):
                continue
            relative = target.split("#", 1)[0].split("?", 1)[0]
            resolved = _normalise(folder / relative)
            if resolved is None or not facts.exists(resolved):
                out.append(
                    Diagnostic(
                        doc.path, number, "broken-link", f"link target '{target}' does not exist"
                    )
                )
            elif resolved in facts.retired and doc.meta.get("status") != "retired":
                retired = facts.retired[resolved]
                out.append(
                    Diagnostic(
                        doc.path,
                        number,
                        "retired-link",
                        f"links to {retired}, which is retired; link to what superseded it",
                    )
                )
    return out


def _normalise(path: PurePosixPath) -> str | None:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts)


def duplicate_map(ids: Iterable[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    """sop_id -> every path claiming it, from (path, sop_id) pairs."""
    found: dict[str, list[str]] = {}
    for path, sop_id in ids:
        found.setdefault(sop_id, []).append(path)
    return {sop_id: tuple(paths) for sop_id, paths in found.items()}
