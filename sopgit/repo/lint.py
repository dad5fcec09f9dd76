"""Check rules: SOP texts and the library in, diagnostics out (no I/O: the files are read
by the caller; in repo/ because the rules parse the SOP file format)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import semver

from sopgit.core.formats import SEED_FORMAT, SEED_SECTIONS, Format, loose_version
from sopgit.core.lifecycle import MAX_INTERVAL_DAYS, valid_interval
from sopgit.core.settings import Config
from sopgit.core.versioning import DEFAULT_ID_PATTERN, UNRELEASED, parse_version
from sopgit.errors import DocumentError
from sopgit.repo.docformat import (
    id_in_filename,
    id_regex,
    is_letter_revision,
    legacy_rows,
    parse_date,
    read_document,
    sop_id_of,
)
from sopgit.repo.document import (
    REVISION_HISTORY,
    Document,
    Heading,
    marker,
)
from sopgit.repo.library import is_under

STATUSES = ("draft", "effective", "retired")
TABLE_HEADER = ("Version", "Date", "Description", "Author", "Approved by")
STEP = re.compile(r"^(\d+)\.\s+\S")
PLACEHOLDER = re.compile(r"\{\{|\{%|\$\{")
LINK = re.compile(r"(?<!!)\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//|#)")

# Every rule id with what it checks; README and `check --list-rules` show this table.


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
        doc = read_document(text, path, config.format)
    except DocumentError as err:
        return [Diagnostic(path, err.line or 1, "frontmatter", err.message)]
    return check_document(doc, facts)


def check_document(doc: Document, facts: LibraryFacts) -> list[Diagnostic]:
    """The diagnostics of one SOP file that parsed (check_text, for a parsed DOC)."""
    config, fmt = facts.config, facts.config.format
    found = _check_frontmatter(doc, facts)
    found += _check_sections(doc, fmt)
    found += _check_managed_table(doc, fmt) if fmt.history.markers else _check_history(doc, fmt)
    found += _check_links(doc, facts)
    found = [d for d in found if d.rule not in config.check_disable]
    return sorted(found, key=lambda d: (d.line, d.rule))


def identify(path: str, text: str, fmt: Format) -> tuple[str | None, dict[str, Any]]:
    """(the SOP's id, its metadata) for the library-wide rules."""
    try:
        doc = read_document(text, path, fmt)
    except DocumentError:
        return sop_id_of(path, None, fmt) if fmt.id_source == "filename" else None, {}
    if fmt.id_source == "key" and fmt.key("id"):
        claimed = doc.meta.get(fmt.key("id"))
        return (claimed if isinstance(claimed, str) else None), doc.meta
    return sop_id_of(path, doc, fmt), doc.meta


def _check_frontmatter(doc: Document, facts: LibraryFacts) -> list[Diagnostic]:
    meta, path, out = doc.meta, doc.path, []
    fmt = facts.config.format
    key = fmt.key

    def add(key: str, rule: str, message: str) -> None:
        out.append(Diagnostic(path, doc.line_of(key), rule, message))

    for name in fmt.required_keys:
        if key(name) and key(name) not in meta:
            if fmt.metadata == "table" and doc.body_line == 1:
                add(
                    key(name),
                    "required-key",
                    f"the metadata table has no '{key(name)}' row; add it",
                )
            else:
                where = "frontmatter has no" if fmt.metadata == "frontmatter" else "no"
                add(
                    key(name),
                    "required-key",
                    f"{where} '{key(name)}'; add it (see the SOP template)",
                )
    for name in ("title", "description", "owner"):
        k = key(name)
        if k and k in meta and not (isinstance(meta[k], str) and meta[k].strip()):
            add(k, "key-type", f"'{k}' must be a non-empty text")
    date_key = key("last_updated")
    if date_key and date_key in meta and not _is_date(meta[date_key], fmt.date_format):
        add(date_key, "key-type", f"'{date_key}' must be a date written {_date_shape(fmt)}")
    if "reviewIntervalDays" in meta and not valid_interval(meta["reviewIntervalDays"]):
        add(
            "reviewIntervalDays",
            "key-type",
            f"'reviewIntervalDays' must be a number of days from 1 to {MAX_INTERVAL_DAYS}",
        )
    tags_key = key("tags")
    tags = meta.get(tags_key) if tags_key else None
    if (
        tags_key
        and tags_key in meta
        and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags))
    ):
        add(
            tags_key,
            "key-type",
            f"'{tags_key}' must be a list of words, e.g. ['sop', 'engineering']",
        )
    status_key = key("status")
    status = meta.get(status_key) if status_key else None
    if status_key and status_key in meta and fmt.status_of(status) not in STATUSES:
        words = [*STATUSES, *fmt.statuses] if fmt.statuses else list(STATUSES)
        add(
            status_key,
            "status",
            f"'{status_key}' must be one of {', '.join(words)}, not '{status}'",
        )
    out += _check_version(doc, facts.released, fmt)
    out += _check_identity(doc, facts)
    title = meta.get(key("title")) if key("title") else None
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


def _date_shape(fmt: Format) -> str:
    if fmt.date_format == "%Y-%m-%d":
        return "YYYY-MM-DD"
    return f"like {dt.date(2024, 10, 31).strftime(fmt.date_format)} ({fmt.date_format})"


def _is_date(value: object, date_format: str = "%Y-%m-%d") -> bool:
    if date_format != "%Y-%m-%d":
        return parse_date(value, date_format) is not None
    if isinstance(value, dt.date):
        return True
    if isinstance(value, str):
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return False
        return re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) is not None
    return False


def _check_version(doc: Document, released: Mapping[str, str], fmt: Format) -> list[Diagnostic]:
    key = fmt.key("version")
    if not key or key not in doc.meta:
        return []
    if fmt.legacy:
        return _check_legacy_version(doc, released, fmt)
    line = doc.line_of(key)
    version = doc.meta[key]
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
    sop_id = sop_id_of(doc.path, doc, fmt)
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


def _check_legacy_version(
    doc: Document, released: Mapping[str, str], fmt: Format
) -> list[Diagnostic]:
    """An adopted library: before the first release tag any version typed by hand goes
    (1.0 is 1.0.0, a letter revision is a label); after it, the latest tag's."""
    key = fmt.key("version")
    line, raw = doc.line_of(key), doc.meta[key]
    number = loose_version(raw)
    sop_id = sop_id_of(doc.path, doc, fmt)
    latest = released.get(sop_id) if sop_id else None
    if number is None and not is_letter_revision(raw):
        return [
            Diagnostic(
                doc.path,
                line,
                "key-type",
                f"'{key}' is '{raw}', which is not a version; write a version like 2.1.2 "
                "(or a letter revision like C)",
            )
        ]
    if (
        latest is not None
        and str(number) != latest
        and not _behind_typed_history(doc, fmt, number, latest)
    ):
        return [
            Diagnostic(
                doc.path,
                line,
                "version",
                f"'{key}' is {raw} but the latest release of {sop_id} is {latest}; "
                f"set it back to {latest}: only 'sopgit release' changes it",
            )
        ]
    return []


def _behind_typed_history(doc: Document, fmt: Format, stated: object, latest: str) -> bool:
    """Is the version key behind the file's own hand-typed history, which states LATEST
    (GDI's `v1` above a history at v1.0.3)? Then the latest tag is the history's
    version, taken by a baseline, and the key's lag is the file's own, not a defect."""
    if fmt.history.markers or not isinstance(stated, semver.Version):
        return False
    rows, _problems = legacy_rows(doc, fmt)
    typed = {r.semver for r in rows if r.semver is not None}
    newest = max(typed, default=None)
    return newest is not None and str(newest) == latest and stated < newest


def _check_identity(doc: Document, facts: LibraryFacts) -> list[Diagnostic]:
    config = facts.config
    fmt = config.format
    path = doc.path
    name = PurePosixPath(path).name
    out: list[Diagnostic] = []
    if fmt.id_source == "key" and fmt.key("id"):
        sop_id = doc.meta.get(fmt.key("id"))
        if not isinstance(sop_id, str):
            if fmt.key("id") not in doc.meta:
                return []
            return [
                Diagnostic(
                    path,
                    doc.line_of(fmt.key("id")),
                    "key-type",
                    f"'{fmt.key('id')}' must be a text id like ENG-001, not {sop_id!r}; "
                    "quote it or fix it",
                )
            ]
        line = doc.line_of(fmt.key("id"))
        match = id_regex(fmt.id_pattern).match(sop_id)
        if not match:
            example = "ENG-001" if fmt.id_pattern == DEFAULT_ID_PATTERN else f"/{fmt.id_pattern}/"
            return [
                Diagnostic(
                    path,
                    line,
                    "id-format",
                    f"'{sop_id}' is not an id like {example}; fix {fmt.key('id')}",
                )
            ]
        if not name.startswith(f"{sop_id}-") and name != f"{sop_id}.md":
            out.append(
                Diagnostic(
                    path,
                    line,
                    "id-filename",
                    f"file name should start with '{sop_id}-'; rename it",
                )
            )
    else:
        line = 1
        found = id_in_filename(name, fmt)
        if found is None:
            return [
                Diagnostic(
                    path,
                    line,
                    "id-format",
                    f"the file name does not start with an id (/{fmt.id_pattern}/); rename it",
                )
            ]
        sop_id = found
        match = id_regex(fmt.id_pattern).match(sop_id)
    code = None  # the department part: the seed's DEPT, or a pattern's (?P<dept>...) group
    if fmt.id_pattern == DEFAULT_ID_PATTERN:
        code = sop_id.rsplit("-", 1)[0]
    elif match and "dept" in match.re.groupindex:
        code = match.group("dept")
    dept = config.departments.get(code) if code else None
    if code is None:
        pass  # ids without a department part: no department rules
    elif dept is None:
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


def _check_sections(doc: Document, fmt: Format = SEED_FORMAT) -> list[Diagnostic]:
    path, out = doc.path, []
    wanted = fmt.sections
    sections = [h for h in doc.headings if h.level == 2]
    titles = [h.title.strip() for h in sections]
    present = [t for t in titles if t in wanted]
    for name in wanted:
        if name not in titles:
            out.append(
                Diagnostic(
                    path,
                    _where_missing(name, sections, doc, wanted),
                    "missing-section",
                    f"section '## {name}' is missing; add it",
                )
            )
    expected = [name for name in wanted if name in present]
    seen: list[str] = []
    for heading in sections if fmt.ordered_sections else []:
        name = heading.title.strip()
        if name not in wanted or name in seen:
            continue
        seen.append(name)
        if seen != expected[: len(seen)]:
            out.append(
                Diagnostic(
                    path,
                    heading.line,
                    "section-order",
                    f"'## {name}' is out of order; sections go {', '.join(wanted)}",
                )
            )
            break
    if fmt.steps_section:
        out += _check_steps(doc, sections, fmt.steps_section)
    return out


def _where_missing(
    name: str, sections: list[Heading], doc: Document, wanted: tuple[str, ...] = SEED_SECTIONS
) -> int:
    """The line after which section NAME should have come."""
    index = wanted.index(name)
    before = [h for h in sections if h.title.strip() in wanted[:index]]
    return before[-1].line if before else doc.body_line


def _check_steps(
    doc: Document, sections: list[Heading], section: str = "Procedure"
) -> list[Diagnostic]:
    procedure = next((h for h in sections if h.title.strip() == section), None)
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


def _check_history(doc: Document, fmt: Format) -> list[Diagnostic]:
    """A hand-typed history table under the library's heading: every row reads."""
    _rows, problems = legacy_rows(doc, fmt)
    return [Diagnostic(doc.path, line, "history-table", message) for line, message in problems]


def _check_managed_table(doc: Document, fmt: Format = SEED_FORMAT) -> list[Diagnostic]:
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
    heading = fmt.history.heading
    history = next((h for h in doc.headings if h.level == 2 and h.title == heading), None)
    if history is not None and starts[0] + 1 < history.line:
        out.append(
            Diagnostic(
                doc.path,
                starts[0] + 1,
                "markers",
                f"the managed table markers belong under '## {heading}'; move them there",
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
            if EXTERNAL.match(target) or PLACEHOLDER.search(target):
                continue  # a template's placeholder ({{cr.url}}) is filled in when it is used
            relative = target.split("#", 1)[0].split("?", 1)[0]
            resolved = _normalise(folder / relative)
            if resolved is None or not facts.exists(resolved):
                out.append(
                    Diagnostic(
                        doc.path, number, "broken-link", f"link target '{target}' does not exist"
                    )
                )
            elif resolved in facts.retired and _status(doc, facts.config.format) != "retired":
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


def _status(doc: Document, fmt: Format) -> object:
    return fmt.status_of(doc.meta.get(fmt.key("status"))) if fmt.key("status") else None


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
