"""`sopgit init --adopt`: read an existing SOP repository, propose the sopgit.toml that
fits it, report what does not fit, and optionally tag a baseline.

The inspection is pure (file texts and tag names in, a proposal out); reading the
files, writing sopgit.toml and creating the baseline tags happen at the edge, in
`adopt_library`. No SOP file is ever written here.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from sopgit.core.formats import (
    FIELDS,
    HEADING_NUMBER,
    HISTORY_FIELDS,
    SEED_FORMAT,
    STATUSES,
    VERSION_STYLES,
    Format,
    HistoryFormat,
    loose_version,
)
from sopgit.core.settings import Config, Department
from sopgit.core.versioning import DEFAULT_ID_PATTERN, tag_name, tag_pattern
from sopgit.errors import DocumentError, PolicyError, RepoError
from sopgit.repo.config import CONFIG_FILE, DEPT_CODE, load_config, parse_config
from sopgit.repo.docformat import (
    find_history_table,
    id_regex,
    is_letter_revision,
    legacy_rows,
    metadata_table,
    parse_date,
    read_document,
    unwrap,
)
from sopgit.repo.document import Document, marker, parse_document
from sopgit.repo.lint import LibraryFacts, check_text, duplicate_map
from sopgit.repo.textio import read_text, split_lines, write_checked

# Markdown files that are never SOPs, wherever they are.
NOT_SOPS = {
    "readme.md",
    "changelog.md",
    "sops.md",
    "contributing.md",
    "license.md",
    "code_of_conduct.md",
    "security.md",
    "pull_request_template.md",
}
NOT_SOP_FOLDERS = {"templates", "node_modules", "_site", "site", "docs/_build"}
# An id opening a file name: CSC-PR-013-..., GDI-SOP0003_..., ENG-001-..., sop-hr-004-...
NAME_ID = re.compile(
    r"^(?P<id>[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*\d|[a-z]+(?:-[a-z0-9]+)*-\d+)(?=[-_.+ ]|$)"
)
# An id as a key holds it: QMS-PR-013, LAB-SOP0012, sop-hr-004
VALUE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*\d$")
# sopgit's fields -> what the library's keys (or metadata-table labels) are called.
KEY_NAMES: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern, re.IGNORECASE)
    for name, pattern in {
        "id": r"^(?:(?:template )?sop[ _-]?id|id|doc(?:ument)?[ _-]?(?:id|no\.?|number)|"
        r"(?:template )?sop[ _-]?(?:no\.?|number)|doc[ _-]?id)$",
        "title": r"^(?:title|name|(?:document|sop)[ _-]?title)$",
        "description": r"^(?:description|summary|purpose)$",
        "last_updated": r"^(?:last[ _-]?updated|lastUpdated|updated|last[ _-]?modified|modified|"
        r"date|effective[ _-]?date|revision[ _-]?date)$",
        "version": r"^(?:version|[a-z]+[ _-]?version|template sop version|revision|rev|"
        r"(?:sop|doc|document) revision|version[ _-]?no\.?)$",
        "owner": r"^(?:(?:doc|document|process|sop)?[ _-]?owner)$",
        "tags": r"^(?:tags|keywords)$",
        "status": r"^(?:(?:document[ _-]?)?status|state)$",
        "last_reviewed": r"^(?:last[ _-]?reviewed|last[ _-]?review(?:[ _-]?date)?|"
        r"reviewed(?:[ _-]?on)?|review[ _-]?date)$",
        "next_review": r"^(?:next[ _-]?review(?:[ _-]?date)?|review[ _-]?due|"
        r"next[ _-]?review[ _-]?due)$",
    }.items()
}
COLUMN_NAMES: dict[str, re.Pattern[str]] = {
    "approved_by": re.compile(r"approv", re.IGNORECASE),
    "version": re.compile(r"^(?:version|ver\.?|rev\.?|revision|issue|v)$|version", re.IGNORECASE),
    "date": re.compile(r"date", re.IGNORECASE),
    "description": re.compile(r"descr|change|summary|detail|reason|comment", re.IGNORECASE),
    "author": re.compile(r"author|by$|editor|prepared|made|name", re.IGNORECASE),
}
HISTORY_HEADING = re.compile(r"history|revision|change ?log|amendment", re.IGNORECASE)
# Status words libraries use, by the sopgit status they mean.
STATUS_WORDS = {
    "draft": "draft",
    "in review": "draft",
    "in-review": "draft",
    "under review": "draft",
    "review": "draft",
    "proposed": "draft",
    "pending": "draft",
    "effective": "effective",
    "active": "effective",
    "approved": "effective",
    "released": "effective",
    "current": "effective",
    "published": "effective",
    "issued": "effective",
    "final": "effective",
    "retired": "retired",
    "obsolete": "retired",
    "superseded": "retired",
    "archived": "retired",
    "deprecated": "retired",
    "withdrawn": "retired",
    "inactive": "retired",
}
DATE_FORMATS = ("%Y-%m-%d", "%Y.%m.%d", "%Y/%m/%d", "%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%d %B %Y")
# Check rules about a library's layout: adopting never moves or renames files, so a rule
# that the files do not follow today is switched off rather than reported.
LAYOUT_RULES = ("id-filename", "folder", "unknown-department", "title-heading", "section-order")


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    severity: str  # "error": adoption stops, nothing is written; "note": for the record
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}: " if self.path else ""
        return f"{where}{self.severity}: {self.message}"


@dataclass(frozen=True)
class Proposal:
    text: str  # the proposed sopgit.toml
    config: Config
    sops: Mapping[str, str]  # path -> id, of the files it identified
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]


@dataclass
class _Seen:
    path: str
    text: str
    doc: Document | None
    frontmatter: dict[str, Any] = field(default_factory=dict)
    table: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)


# --- inspecting (pure) ----------------------------------------------------------------


def candidate_paths(paths: Iterable[str]) -> list[str]:
    """The Markdown files that could be SOPs: not in hidden or tool folders, not the
    usual repository documents."""
    found = []
    for path in paths:
        parts = PurePosixPath(path).parts
        if not path.endswith(".md") or parts[-1].lower() in NOT_SOPS:
            continue
        if any(p.startswith(".") for p in parts[:-1]) or any(p in NOT_SOP_FOLDERS for p in parts):
            continue
        found.append(path)
    return sorted(found)


def inspect(
    texts: Mapping[str, str],
    tag_names: Iterable[str],
    name: str = "SOP Library",
    branch: str = "main",
) -> Proposal:
    """The sopgit.toml that fits the Markdown files TEXTS (path -> text, paths relative to
    the repository) and what does not fit."""
    findings: list[Finding] = []
    candidates = set(candidate_paths(texts))
    seen = [_read(path, text) for path, text in sorted(texts.items()) if path in candidates]
    metadata = _metadata_kind(seen)
    keys = _keys(seen, metadata)
    by_key = {s.path: _key_id(s, keys.get("id", "")) for s in seen}
    by_name = [p for p in (_name_id(s.path) for s in seen) if p]
    keyed = sum(bool(v) for v in by_key.values())
    id_source = "key" if keyed and keyed >= len(by_name) else "filename"
    if id_source == "filename":
        keys["id"] = ""
    identified = {}
    for s in seen:
        found = (by_key[s.path] if id_source == "key" else None) or _name_id(s.path)
        if found:
            identified[s.path] = found
    for s in seen:
        if s.path not in identified:
            findings.append(
                Finding(
                    s.path,
                    1,
                    "note",
                    "no SOP id in its name or metadata; left out of the library "
                    "(listed under [format] exclude)",
                )
            )
    sops = [s for s in seen if s.path in identified]
    if not sops:
        findings.append(
            Finding(
                "",
                0,
                "error",
                f"no document carries an id (looked at {len(seen)} Markdown file(s)); sopgit "
                "needs one per SOP: a key like 'id: QMS-001' in the frontmatter, a row like "
                "'| Document ID | QMS-001 |' in a metadata table, or a file name starting "
                "with it (QMS-001-title.md); add ids to the SOPs, then adopt again",
            )
        )
        return Proposal("", Config(name=name), {}, tuple(findings))
    versions = _version_keys(sops)
    keys["version"] = versions[0] if versions else ""
    id_pattern = generalise([identified[s.path] for s in sops])
    root = _common_folder([s.path for s in sops])
    fmt_values: dict[str, Any] = {"metadata": metadata, "id_source": id_source}
    if id_pattern != DEFAULT_ID_PATTERN:
        fmt_values["id_pattern"] = id_pattern
    fmt_values["keys"] = {f: keys.get(f, "") for f in FIELDS}
    fmt_values["version_keys"] = tuple(versions[1:])
    statuses, status_notes = _statuses(sops, keys.get("status", ""))
    fmt_values["statuses"] = statuses
    findings += status_notes
    fmt_values["required_keys"] = tuple(
        f for f in FIELDS if keys.get(f) and all(keys[f] in _meta(s) for s in sops)
    )
    fmt_values["date_format"] = _date_format(
        [_meta(s).get(keys["last_updated"]) for s in sops if keys.get("last_updated")]
    )
    fmt_values["legacy"] = True
    fmt_values.update(_sections(sops))
    heading = str(fmt_values.pop("history_heading", ""))
    fmt_values["history"] = _history(sops, heading)
    fmt_values["exclude"] = _excludes(texts, identified, root)
    fmt = Format(**fmt_values)
    fmt = replace(fmt, version_style=_version_style(sops, fmt))
    findings += _unsure(sops, fmt, heading, versions)
    config = Config(name=name, root=root, format=fmt, release_branch=branch)
    departments = _departments(identified, root)
    if departments:
        config = replace(config, departments=departments)
    findings += _problems(sops, identified, fmt)
    findings += _tag_notes(tag_names, config)
    disable = _failing_layout_rules(sops, identified, config)
    config = replace(config, check_disable=disable)
    text = render_toml(config, list(fmt.exclude))
    parsed = parse_config(tomllib.loads(text))  # the proposal reads back as it is meant
    assert parsed.format == config.format, "the proposed sopgit.toml must read back the same"
    return Proposal(text, config, identified, tuple(findings))


def _excludes(
    texts: Mapping[str, str], identified: Mapping[str, str], root: str
) -> tuple[str, ...]:
    """Globs (under ROOT) for the Markdown files there that are not SOPs: the usual
    repository documents by name, the others by path."""
    found = []
    if root == ".":
        found += ["CHANGELOG.md", "SOPS.md", "README.md"]  # what sopgit writes, the usual
    for path in sorted(texts):
        if path in identified or not (root == "." or path.startswith(f"{root}/")):
            continue
        relative = path if root == "." else path[len(root) + 1 :]
        name = PurePosixPath(path).name
        parts = PurePosixPath(relative).parts
        if any(p.startswith(".") for p in parts[:-1]):
            continue  # hidden folders never hold SOPs
        found.append(name if name.lower() in NOT_SOPS else relative)
    return tuple(dict.fromkeys(found))


def _read(path: str, text: str) -> _Seen:
    lines = split_lines(text)
    seen = _Seen(path, text, None)
    body = 0
    if lines and lines[0].lstrip("\ufeff").rstrip("\r\n") == "---":
        try:
            doc = parse_document(text, path)
        except DocumentError:
            return seen
        seen.frontmatter = dict(doc.meta)
        seen.lines = dict(doc.meta_lines)
        body = doc.body_line - 1
    for label, (value, line) in metadata_table(lines, body).items():
        seen.table[label] = value
        seen.lines.setdefault(label, line)
    return seen


def _metadata_kind(seen: list[_Seen]) -> str:
    with_table = sum(
        1
        for s in seen
        if any(KEY_NAMES["version"].match(k) or KEY_NAMES["id"].match(k) for k in s.table)
    )
    with_frontmatter = sum(1 for s in seen if s.frontmatter)
    return "table" if with_table > with_frontmatter else "frontmatter"


def _meta(s: _Seen) -> dict[str, Any]:
    return {**s.table, **s.frontmatter}


def _keys(seen: list[_Seen], metadata: str) -> dict[str, str]:
    """sopgit field -> the key (or table label) most files use for it."""
    counts: Counter[str] = Counter()
    for s in seen:
        counts.update(list(s.frontmatter if metadata == "frontmatter" else _meta(s)))
    chosen: dict[str, str] = {}
    for name in FIELDS:
        matches = [k for k, _ in counts.most_common() if KEY_NAMES[name].match(k)]
        matches = [k for k in matches if k not in chosen.values()]
        if matches:
            chosen[name] = matches[0]
    return chosen


def _key_id(s: _Seen, key: str) -> str | None:
    value = _meta(s).get(key) if key else None
    if isinstance(value, str) and VALUE_ID.match(value.strip()):
        return value.strip()
    return None


def _name_id(path: str) -> str | None:
    match = NAME_ID.match(PurePosixPath(path).name)
    return match.group("id") if match else None


def generalise(ids: list[str]) -> str:
    """A regular expression every one of IDS matches, as tight as their shapes allow:
    CSC-PR-013 and CSC-PR-002 give `CSC-PR-\\d{3}`. Ids of the seed's shape keep the
    seed's pattern."""
    if not ids or all(id_regex(DEFAULT_ID_PATTERN).match(i) for i in ids):
        return DEFAULT_ID_PATTERN
    shapes: dict[tuple[str, ...], list[list[str]]] = {}
    for sop_id in ids:
        tokens = re.findall(r"[A-Z]+|[a-z]+|\d+|[^A-Za-z\d]+", sop_id)
        kinds = tuple(
            ("L" if t.isupper() else "l") if t.isalpha() else "D" if t.isdigit() else t
            for t in tokens
        )
        shapes.setdefault(kinds, []).append(tokens)
    parts = []
    for kinds, members in shapes.items():
        regex = ""
        for position, kind in enumerate(kinds):
            column = {m[position] for m in members}
            lengths = {len(t) for t in column}
            if kind in ("L", "l"):
                letters = "[A-Z]" if kind == "L" else "[a-z]"
                if len(column) == 1:
                    regex += _escape(next(iter(column)))
                else:
                    regex += f"{letters}{{{min(lengths)},{max(lengths)}}}"
            elif kind == "D":
                regex += rf"\d{{{lengths.pop()}}}" if len(lengths) == 1 else r"\d+"
            else:
                regex += _escape(kind)
        parts.append(regex)
    return parts[0] if len(parts) == 1 else "|".join(f"(?:{p})" for p in parts)


def _departments(identified: Mapping[str, str], root: str) -> dict[str, Department]:
    """A department per id prefix (QMS of QMS-014), in the folder its files share; a
    prefix that is not a department code gives none (the defaults stay)."""
    groups: dict[str, list[str]] = {}
    for path, sop_id in identified.items():
        groups.setdefault(sop_id.rsplit("-", 1)[0], []).append(path)
    if not groups or any("-" not in i for i in identified.values()):
        return {}
    if not all(DEPT_CODE.match(code) for code in groups):
        return {}
    found: dict[str, Department] = {}
    for code, paths in sorted(groups.items()):
        folder = _common_folder([p if root == "." else p[len(root) + 1 :] for p in paths])
        if folder in {d.folder for d in found.values()}:
            folder = code.lower()  # shared with another: the folder rule will not hold
        found[code] = Department(code, code, folder)
    return found


def _common_folder(paths: list[str]) -> str:
    if not paths:
        return "."
    folders = [PurePosixPath(p).parent.parts for p in paths]
    common: list[str] = []
    for parts in zip(*folders, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return "/".join(common) or "."


def _date_format(values: list[object]) -> str:
    present = [v for v in values if v is not None]
    for candidate in DATE_FORMATS:
        if present and all(parse_date(v, candidate) for v in present):
            return candidate
    return "%Y-%m-%d"


def _docs(sops: list[_Seen]) -> list[Document]:
    docs = []
    for s in sops:
        try:
            docs.append(read_document(s.text, s.path, replace(SEED_FORMAT, metadata="table")))
        except DocumentError:
            continue
    return docs


def _sections(sops: list[_Seen]) -> dict[str, Any]:
    """The second-level sections every file has, whether their order holds, which one
    holds numbered steps, and the history table's heading."""
    docs = _docs(sops)
    titles = [[h.title.strip() for h in d.headings if h.level == 2] for d in docs]
    if not titles:
        return {"sections": (), "steps_section": ""}
    common = [t for t in dict.fromkeys(titles[0]) if all(t in other for other in titles)]
    ordered = all([t for t in other if t in common] == common for other in titles)
    steps = ""
    for section in common:
        if all(_numbered_steps(d, section) for d in docs):
            steps = section
            break
    headings: Counter[str] = Counter()
    for d in docs:  # at any level, numbered or not: "### 1. Document History"
        names = {
            _heading_text(h.title)
            for h in d.headings
            if h.level > 1 and HISTORY_HEADING.search(h.title)
        }
        headings.update(names)
    return {
        "sections": tuple(common),
        "ordered_sections": ordered,
        "steps_section": steps,
        "history_heading": headings.most_common(1)[0][0] if headings else "",
    }


def _heading_text(title: str) -> str:
    """A heading's words as typed, without its numbering: "1. Document History"."""
    return HEADING_NUMBER.sub("", unwrap(title.strip())).strip()


def _version_keys(sops: list[_Seen]) -> list[str]:
    """The keys (and metadata-table labels) the files write a version under, the most
    used first: sop_version, template_version, a body row "SOP Revision"."""
    counts: Counter[str] = Counter()
    in_frontmatter: set[str] = set()
    for s in sops:
        for key, raw in _meta(s).items():
            if not KEY_NAMES["version"].match(key) or raw is None or raw == "":
                continue
            if loose_version(raw) is not None or is_letter_revision(raw):
                counts[key] += 1
                if key in s.frontmatter:
                    in_frontmatter.add(key)
    # the frontmatter's keys first (the metadata a frontmatter library keeps), then by use
    ranked = sorted(counts, key=lambda k: (k not in in_frontmatter, -counts[k]))
    return ranked


def _statuses(sops: list[_Seen], key: str) -> tuple[dict[str, str], list[Finding]]:
    """The library's status words mapped onto draft / effective / retired, the most
    used first (a release writes the first word of a status)."""
    words: Counter[str] = Counter()
    where: dict[str, _Seen] = {}
    typed: set[str] = set()
    for s in sops:
        raw = _meta(s).get(key) if key else None
        if isinstance(raw, str) and raw.strip():
            word = raw.strip().lower()
            words[word] += 1
            where.setdefault(word, s)
            typed.add(raw.strip())
    if all(w in STATUSES for w in typed):  # sopgit's own words, as sopgit writes them
        return {}, []
    mapping = {w: STATUS_WORDS[w] for w, _ in words.most_common() if w in STATUS_WORDS}
    notes = [
        Finding(
            where[w].path,
            where[w].lines.get(key, 1),
            "unsure",
            f"status '{w}' is not a word adopt knows; map it under [format.statuses] "
            '(e.g. "' + w + '" = "effective")',
        )
        for w in words
        if w not in STATUS_WORDS
    ]
    return mapping, notes


def _version_style(sops: list[_Seen], fmt: Format) -> str:
    """How the library writes versions: the most used number of parts (history rows
    and version keys), with a "v" when most versions have one."""
    typed: list[str] = []
    for s in sops:
        meta = _meta(s)
        typed += [str(meta[k]) for k in fmt.all_version_keys() if k in meta]
        try:
            doc = read_document(s.text, s.path, fmt)
        except DocumentError:
            continue
        if not fmt.history.markers:
            typed += [r.version for r in legacy_rows(doc, fmt)[0]]
    shapes: Counter[tuple[bool, int]] = Counter()
    for raw in typed:
        text = unwrap(raw).strip()
        match = re.fullmatch(r"([vV]?)(\d+(?:\.\d+){0,2})", text)
        if match:
            shapes[(bool(match.group(1)), match.group(2).count(".") + 1)] += 1
    if not shapes:
        return VERSION_STYLES[0]
    prefix = sum(n for (v, _), n in shapes.items() if v) * 2 > sum(shapes.values())
    parts = Counter[int]()
    for (_, count), n in shapes.items():
        parts[count] += n
    best = max(parts, key=lambda c: (parts[c], c))
    style = ".".join(("{major}", "{minor}", "{patch}")[:best])
    return ("v" if prefix else "") + style


def _unsure(sops: list[_Seen], fmt: Format, heading: str, versions: list[str]) -> list[Finding]:
    """What the proposal decided by a majority, for the record."""
    found = []
    if heading:
        probe = replace(fmt, history=replace(fmt.history, heading=heading))
        without = []
        for doc in _docs(sops):
            if find_history_table(doc, probe) is None:
                without.append(doc.path)
        if without:
            shown = ", ".join(without[:3]) + (" ..." if len(without) > 3 else "")
            found.append(
                Finding(
                    "",
                    0,
                    "unsure",
                    f"the history heading '{heading}' is in {len(sops) - len(without)} of "
                    f"{len(sops)} SOP files; not in {shown} (their first release adds it)",
                )
            )
    if len(versions) > 1:
        found.append(
            Finding(
                "",
                0,
                "unsure",
                f"versions are written under {', '.join(repr(v) for v in versions)}; "
                "each file's highest counts, and a release updates every one it has",
            )
        )
    return found


def _numbered_steps(doc: Document, section: str) -> bool:
    sections = [h for h in doc.headings if h.level == 2]
    start = next((h for h in sections if h.title.strip() == section), None)
    if start is None:
        return False
    end = next((h.line for h in sections if h.line > start.line), 10**9)
    steps = [h for h in doc.headings if h.level == 3 and start.line < h.line < end]
    if any(HISTORY_HEADING.search(h.title) for h in steps):
        return False  # numbered sections of the whole document, not steps
    return bool(steps) and all(re.match(rf"^{n}\.\s+\S", h.title) for n, h in enumerate(steps, 1))


def _history(sops: list[_Seen], heading: str) -> HistoryFormat:
    """The history table's heading, columns, row order and date format."""
    if any(marker("revision-history") in s.text for s in sops):
        return HistoryFormat(heading=heading or "Revision History")
    if not heading:
        return HistoryFormat(markers=False)
    probe = replace(SEED_FORMAT, metadata="table", history=HistoryFormat(heading=heading))
    headers: Counter[tuple[str, ...]] = Counter()
    tables = []
    for doc in _docs(sops):
        table = find_history_table(doc, probe)
        if table is not None and table.header is not None:
            headers[table.columns] += 1
            tables.append(table)
    if not headers:
        return HistoryFormat(heading=heading, markers=False)
    columns_in_use = headers.most_common(1)[0][0]
    columns: dict[str, str] = {f: "" for f in HISTORY_FIELDS}
    for column in columns_in_use:
        for name, pattern in COLUMN_NAMES.items():
            if not columns[name] and pattern.search(column):
                columns[name] = column
                break
    position = {c: i for i, c in enumerate(columns_in_use)}
    newest_first = oldest_first = 0
    dates: list[str] = []
    for table in tables:
        if table.columns != columns_in_use:
            continue
        versions = []
        for row in table.rows:
            if len(row.cells) != len(columns_in_use):
                continue
            if columns["version"]:
                versions.append(loose_version(unwrap(row.cells[position[columns["version"]]])))
            if columns["date"]:
                dates.append(unwrap(row.cells[position[columns["date"]]]))
        numbers = [v for v in versions if v is not None]
        if len(numbers) > 1:
            newest_first += numbers == sorted(numbers, reverse=True)
            oldest_first += numbers == sorted(numbers)
    return HistoryFormat(
        heading=heading,
        markers=False,
        order="newest-first" if newest_first > oldest_first else "oldest-first",
        date_format=_best_date_format(dates),
        columns=columns,
    )


def _best_date_format(values: list[str]) -> str:
    """The format most of VALUES are written in (a malformed row does not decide it)."""
    scores = {f: sum(parse_date(v, f) is not None for v in values) for f in DATE_FORMATS}
    best = max(DATE_FORMATS, key=lambda f: (scores[f], -DATE_FORMATS.index(f)))
    return best if scores[best] else "%Y-%m-%d"


def _problems(sops: list[_Seen], identified: Mapping[str, str], fmt: Format) -> list[Finding]:
    """What stops adoption (duplicate ids, unreadable history rows, versions that are not
    versions) and what it keeps as it is (letter revisions)."""
    found: list[Finding] = []
    by_id = duplicate_map((path, sop_id) for path, sop_id in identified.items())
    for s in sops:
        sop_id = identified[s.path]
        others = [p for p in by_id.get(sop_id, ()) if p != s.path]
        id_line = s.lines.get(fmt.key("id"), 1) if fmt.id_source == "key" else 1
        if others:
            found.append(
                Finding(
                    s.path,
                    id_line,
                    "error",
                    f"{sop_id} is also the id of {', '.join(others)}; "
                    "give one of them a new id, then adopt again",
                )
            )
        try:
            doc = read_document(s.text, s.path, fmt)
        except DocumentError as err:
            found.append(Finding(s.path, err.line or 1, "error", err.message))
            continue
        key = fmt.key("version")
        raw = doc.meta.get(key) if key else None
        line = doc.line_of(key) if key else 1
        if raw is not None and loose_version(raw) is None:
            if is_letter_revision(raw):
                found.append(
                    Finding(
                        s.path,
                        line,
                        "note",
                        f"revision {raw} is kept as a legacy label; the first release will be "
                        "[versioning] initial_version (1.0.0)",
                    )
                )
            else:
                found.append(
                    Finding(
                        s.path,
                        line,
                        "error",
                        f"'{key}' is '{raw}', which is not a version; write a version like "
                        "2.1.2 (or a letter revision like C), then adopt again",
                    )
                )
        if not fmt.history.markers:
            rows, problems = legacy_rows(doc, fmt)
            found += [Finding(s.path, n, "error", m) for n, m in problems]
            typed = [r.semver for r in rows if r.semver is not None]
            stated = loose_version(raw) if raw is not None else None
            if typed and stated is not None and max(typed) != stated:
                found.append(
                    Finding(
                        s.path,
                        line,
                        "note",
                        f"'{key}' says {raw} but the history table's latest version is "
                        f"{max(typed)}; the first release continues from {max([*typed, stated])}",
                    )
                )
    return found


def _tag_notes(tag_names: Iterable[str], config: Config) -> list[Finding]:
    pattern = tag_pattern(config.tag_format, config.format.id_pattern)
    other = sorted(t for t in tag_names if not pattern.match(t))
    if not other:
        return []
    shown = ", ".join(other[:5]) + (f" and {len(other) - 5} more" if len(other) > 5 else "")
    return [
        Finding(
            "",
            0,
            "note",
            f"tags {shown} are not per-SOP release tags ({config.tag_format}); left alone",
        )
    ]


def _failing_layout_rules(
    sops: list[_Seen], identified: Mapping[str, str], config: Config
) -> tuple[str, ...]:
    facts = LibraryFacts(
        config=config,
        exists=lambda _relative: True,
        id_paths=duplicate_map(identified.items()),
        released={},
    )
    failing = {
        d.rule for s in sops for d in check_text(s.path, s.text, facts) if d.rule in LAYOUT_RULES
    }
    return tuple(r for r in LAYOUT_RULES if r in failing)


# --- the proposed sopgit.toml ---------------------------------------------------------


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    text = str(value)
    if "'" not in text and "\n" not in text and ("\\" in text or '"' in text):
        return f"'{text}'"  # a literal string: regexes read as written
    from sopgit.repo.templates import toml_string

    return toml_string(text)


def toml_key(name: str) -> str:
    """NAME as a TOML key: bare when it can be, else quoted ("in review")."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else toml_value(name)


def render_toml(config: Config, left_out: list[str]) -> str:
    """The proposed sopgit.toml, commented: what each value was read from."""
    fmt, history = config.format, config.format.history
    lines = [
        "# sopgit.toml proposed by `sopgit init --adopt` from the files and history found",
        "# here. Every [format] key is described in the README of sopgit",
        '# ("Adopting an existing library"); keys not shown keep their defaults.',
        "",
        "[library]",
        f"name = {toml_value(config.name)}",
        f"root = {toml_value(config.root)}                 # the folder holding the SOPs",
        f"release_branch = {toml_value(config.release_branch)}   # the default branch: "
        "releases are cut there",
        "",
    ]
    derived = config.departments != Config().departments  # else the defaults apply
    for dept in config.departments.values() if derived else ():
        lines += [
            f"[departments.{dept.code}]   # the id prefix of its SOPs",
            f"name = {toml_value(dept.name)}",
            f"folder = {toml_value(dept.folder)}",
            "",
        ]
    lines += [
        "[versioning]",
        f"tag_format = {toml_value(config.tag_format)}   # one annotated tag per released version",
        f"initial_version = {toml_value(config.initial_version)}   # "
        "first release of an SOP with no version of its own",
        "",
        "[format]",
        f"metadata = {toml_value(fmt.metadata)}   # "
        + (
            "YAML frontmatter"
            if fmt.metadata == "frontmatter"
            else "a two-column table in the body"
        ),
        f"id_source = {toml_value(fmt.id_source)}   # "
        + ("the id key, else the file name" if fmt.id_source == "key" else "the file name"),
    ]
    if fmt.id_pattern != DEFAULT_ID_PATTERN:
        lines.append(f"id_pattern = {toml_value(fmt.id_pattern)}   # what an id looks like")
    lines += [
        f"files = {toml_value(list(fmt.files))}",
        f"exclude = {toml_value(list(fmt.exclude))}"
        + ("   # Markdown files without an SOP id" if left_out else ""),
        f"required_keys = {toml_value(list(fmt.required_keys))}   # every file has them",
        f"date_format = {toml_value(fmt.date_format)}",
        "legacy = true   # versions and history typed before sopgit count; releases continue them",
        f"sections = {toml_value(list(fmt.sections))}",
        f"ordered_sections = {toml_value(fmt.ordered_sections)}",
        f"steps_section = {toml_value(fmt.steps_section)}"
        + ("   # no section with numbered '### 1.' steps" if not fmt.steps_section else ""),
        f"version_style = {toml_value(fmt.version_style)}   # how the files write versions",
    ]
    if fmt.version_keys:
        lines.append(
            f"version_keys = {toml_value(list(fmt.version_keys))}   # also versions; a "
            "release updates each a file has"
        )
    lines += [
        "",
        "[format.keys]   # sopgit's field = the library's key; \"\" when the files have none",
    ]
    lines += [f"{name} = {toml_value(fmt.key(name))}" for name in FIELDS]
    if fmt.statuses:
        lines += ["", "[format.statuses]   # the library's status words = sopgit's status"]
        lines += [f"{toml_key(w)} = {toml_value(s)}" for w, s in fmt.statuses.items()]
    lines += [
        "",
        "[format.history]",
        f"heading = {toml_value(history.heading)}",
        f"markers = {toml_value(history.markers)}"
        + ("   # the table under the heading is the history" if not history.markers else ""),
        f"order = {toml_value(history.order)}",
        f"date_format = {toml_value(history.date_format)}",
        "",
        "[format.history.columns]   # sopgit's field = the table's column; \"\" when it has none",
    ]
    lines += [f"{name} = {toml_value(history.column(name))}" for name in HISTORY_FIELDS]
    lines += [
        "",
        "[check]",
        f"disable = {toml_value(list(config.check_disable))}"
        + ("   # layout rules these files do not follow" if config.check_disable else ""),
    ]
    return "\n".join(lines) + "\n"


# --- the edge: read, write, tag -------------------------------------------------------


@dataclass(frozen=True)
class BaselineTag:
    name: str
    sop_id: str
    version: str
    message: str


@dataclass(frozen=True)
class AdoptReport:
    proposal: Proposal
    config_written: bool  # False: --dry-run, errors, or a sopgit.toml exists
    config_exists: bool
    baseline: tuple[BaselineTag, ...]
    findings: tuple[Finding, ...]


def read_repository(root: Path) -> dict[str, str]:
    """The Markdown files of the work tree outside hidden folders, path -> text."""
    found = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        base = Path(folder).relative_to(root)
        for name in sorted(files):
            if name.endswith(".md") and not (Path(folder) / name).is_symlink():
                path = (base / name).as_posix().removeprefix("./")
                found[path] = read_text(root / path)
    return found


def adopt_library(
    root: Path, *, baseline: bool = False, dry_run: bool = False, today: dt.date | None = None
) -> AdoptReport:
    """Propose (and, unless DRY_RUN, write) the sopgit.toml of the repository at ROOT;
    with BASELINE, tag every SOP's stated version on the current commit."""
    from sopgit.repo.git import GitRepo
    from sopgit.repo.snapshot import load_snapshot
    from sopgit.repo.workspace import Library

    repo = GitRepo.open(root)
    root = repo.root
    texts = read_repository(root)
    tags = repo.tag_names()
    from sopgit.commands.scaffold import default_branch

    name = root.name.replace("-", " ").replace("_", " ").title()
    proposal = inspect(texts, tags, name=name, branch=default_branch(root) or "main")
    if proposal.errors:
        return AdoptReport(proposal, False, (root / CONFIG_FILE).exists(), (), proposal.findings)
    exists = (root / CONFIG_FILE).exists()
    config = load_config(root) if exists else replace(proposal.config, path=root / CONFIG_FILE)
    plan: tuple[BaselineTag, ...] = ()
    findings = list(proposal.findings)
    if baseline:
        if not repo.has_commits():
            raise RepoError("has no commits yet; commit the SOPs before tagging a baseline", root)
        if repo.is_dirty():
            raise RepoError(
                "has uncommitted changes; commit them first, so the baseline tags the files "
                "as they stand",
                root,
            )
        snapshot = load_snapshot(Library(root, config, repo))
        plan, notes = baseline_tags(snapshot, today or dt.date.today())
        findings += notes
    if dry_run:
        return AdoptReport(proposal, False, exists, plan, tuple(findings))
    written = False
    if not exists:
        write_checked(root, root / CONFIG_FILE, proposal.text)
        written = True
    created: list[str] = []
    try:
        head = repo.head() if plan else ""
        for tag in plan:
            repo.run("tag", "-a", "--cleanup=verbatim", "-m", tag.message, "--", tag.name, head)
            created.append(tag.name)
    except BaseException:
        if created:
            repo.run("tag", "-d", *created)
        if written:
            (root / CONFIG_FILE).unlink()
        raise
    return AdoptReport(proposal, written, exists, plan, tuple(findings))


def baseline_tags(snapshot: Any, today: dt.date) -> tuple[tuple[BaselineTag, ...], list[Finding]]:
    """A baseline tag per SOP that states a version and has no release tag yet."""
    from sopgit.core.history import history_rows

    config = snapshot.lib.config
    existing = set(snapshot.lib.repo.tag_names())
    plan, notes = [], []
    for sop in snapshot.sops.values():
        version = snapshot.version(sop.sop_id)
        if version.current is not None:
            continue  # released (or baselined) already
        if version.legacy is None:
            notes.append(
                Finding(
                    sop.path,
                    1,
                    "note",
                    f"{sop.sop_id} states no version; no baseline, its first release will be "
                    f"{config.initial_version}",
                )
            )
            continue
        name = tag_name(config.tag_format, sop.sop_id, str(version.legacy))
        if name in existing:
            raise PolicyError(f"tag {name} already exists; no baseline was tagged")
        rows = history_rows(version)
        dated = [r.date for r in rows if r.date]
        date = max(dated) if dated else (sop.meta("lastUpdated") or today.isoformat())
        title = sop.meta("title", sop.sop_id)
        message = (
            f"{sop.sop_id} v{version.legacy}\n\n"
            f"{title} v{version.legacy}: Baseline: the version the file stated when "
            "sopgit adopted the library.\n\n"
            f"Sop-Id: {sop.sop_id}\n"
            f"Sop-Version: {version.legacy}\n"
            "Bump: baseline\n"
            "Baseline: true\n"
            f"Release-Date: {date}\n"
        )
        plan.append(BaselineTag(name, sop.sop_id, str(version.legacy), message))
    return tuple(plan), notes


def _escape(text: str) -> str:
    """TEXT as a regex literal, keeping '-' readable (it is literal outside [...])."""
    return re.escape(text).replace("\\-", "-")
