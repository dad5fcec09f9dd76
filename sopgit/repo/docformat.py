"""A library's own document format: where ids, keys, sections and history live in an SOP file.

The defaults are the seed template of DESIGN.md. An adopted library states its own
format in `[format]` of sopgit.toml: the frontmatter keys it uses (or a metadata table
in the body), ids from a key or the file name, its section names, and a hand-typed
history table under a heading of its own, with its own columns, row order and dates.
No I/O: texts and the format are passed in, never read; it sits in repo/ because it
parses and rewrites the SOP file format (YAML frontmatter) through document.py.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import PurePosixPath
from typing import Any

import semver

from sopgit.core.formats import (
    HEADING_NUMBER,
    HISTORY_FIELDS,
    LETTER_REVISION,
    RULE_ROW,
    TABLE_ROW,
    VERSION_STYLES,
    WRAPPED,
    Format,
    loose_version,
    table_cell,
)
from sopgit.core.versioning import DEFAULT_ID_PATTERN
from sopgit.errors import DocumentError
from sopgit.repo.document import Document, parse_document
from sopgit.repo.textio import ending, neighbour_ending, split_lines

# --- ids ------------------------------------------------------------------------------


@cache
def id_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(f"^(?:{pattern})$")


@cache
def _filename_regex(fmt_pattern: str, id_pattern: str) -> re.Pattern[str]:
    if fmt_pattern:
        return re.compile(fmt_pattern)
    # The seed's ids end at '-' or '.'; other libraries also use '_', '+' or a space.
    after = "[-/.]" if id_pattern == DEFAULT_ID_PATTERN else "[-_.+ /]"
    return re.compile(f"^(?P<id>{id_pattern})(?={after}|$)")


def id_in_filename(name: str, fmt: Format) -> str | None:
    """The id a file name claims under FMT (the seed: `ENG-001-...md`)."""
    match = _filename_regex(fmt.filename_pattern, fmt.id_pattern).search(name)
    return match.group("id") if match else None


def is_id(value: object, fmt: Format) -> bool:
    return isinstance(value, str) and id_regex(fmt.id_pattern).match(value) is not None


def sop_id_of(path: str, doc: Document | None, fmt: Format) -> str | None:
    """The SOP's id: its id key when that holds an id (unless ids live in file names),
    else the id its file name claims."""
    if fmt.id_source == "key" and doc is not None and fmt.key("id"):
        claimed = doc.meta.get(fmt.key("id"))
        if is_id(claimed, fmt):
            return str(claimed)
    return id_in_filename(PurePosixPath(path).name, fmt)


# --- reading --------------------------------------------------------------------------


def read_document(text: str, path: str, fmt: Format) -> Document:
    """Parse an SOP under FMT: frontmatter, and the metadata table when FMT says so."""
    if fmt.metadata == "frontmatter" and not fmt.version_keys:
        return parse_document(text, path)
    lines = split_lines(text)
    has_frontmatter = bool(lines) and lines[0].lstrip("\ufeff").rstrip("\r\n") == "---"
    doc = parse_document(text, path) if has_frontmatter else Document(path, text, {}, {}, 1)
    meta, meta_lines = dict(doc.meta), dict(doc.meta_lines)
    # A frontmatter library reads the body's metadata table only for its version rows.
    wanted = None if fmt.metadata == "table" else set(fmt.all_version_keys())
    for label, (value, line) in metadata_table(lines, doc.body_line - 1).items():
        if label not in meta and (wanted is None or label in wanted):
            meta[label] = value
            meta_lines[label] = line
    return Document(path, text, meta, meta_lines, doc.body_line)


def metadata_table(lines: list[str], start: int) -> dict[str, tuple[str, int]]:
    """Label -> (value, 1-based line) of the first two-column table from START on,
    before the second-level heading that follows it. `| Field | Value |` headers count
    as a header; any other first row is a row of data."""
    found: dict[str, tuple[str, int]] = {}
    index = start
    while index < len(lines) and not TABLE_ROW.match(lines[index]):
        if lines[index].startswith("## "):
            return found
        index += 1
    rows: list[tuple[int, list[str]]] = []
    while index < len(lines) and TABLE_ROW.match(lines[index]):
        if not RULE_ROW.match(lines[index]):
            rows.append((index, split_row(lines[index])))
        index += 1
    if rows and len(rows[0][1]) == 2:
        first, second = (unwrap(c).lower() for c in rows[0][1])
        if first in ("field", "key", "item", "property", "attribute", "") or second in (
            "value",
            "values",
        ):
            rows = rows[1:]  # a header row: | Field | Value |, | Metadata | Value |
        for number, cells in rows:
            if len(cells) == 2 and cells[0]:
                label = unwrap(cells[0]).rstrip(":").strip()
                found.setdefault(label, (unwrap(cells[1]), number + 1))
    return found


def unwrap(cell: str) -> str:
    """A cell's text without its inline-code, bold or italic wrapping: ``v1`` -> v1."""
    text = cell.strip()
    while True:
        match = WRAPPED.match(text)
        if not match or not match.group("inner").strip():
            return text
        text = match.group("inner").strip()


def heading_name(title: str) -> str:
    """A heading as a section name: without its numbering, wrapping and case."""
    return HEADING_NUMBER.sub("", unwrap(title.strip())).strip().lower()


def split_row(line: str) -> list[str]:
    """The cells of a Markdown table row, stripped; `\\|` does not split."""
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", body)]


def value(doc: Document | None, fmt: Format, name: str) -> Any:
    """The raw value of sopgit's field NAME in DOC, or None."""
    key = fmt.key(name)
    if doc is None or not key:
        return None
    return doc.meta.get(key)


def parse_date(raw: object, date_format: str) -> dt.date | None:
    """A date written in DATE_FORMAT (a YAML date counts as one)."""
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if not isinstance(raw, str):
        return None
    try:
        return dt.datetime.strptime(raw.strip(), date_format).date()
    except ValueError:
        return None


def is_letter_revision(raw: object) -> bool:
    return isinstance(raw, str) and LETTER_REVISION.match(raw.strip()) is not None


# --- the history table ----------------------------------------------------------------


@dataclass(frozen=True)
class TableRow:
    index: int  # 0-based line index in the file
    line: str  # as typed, without its line ending
    cells: tuple[str, ...]


@dataclass(frozen=True)
class HistoryTable:
    heading: int | None  # 0-based line index of the heading, None when there is none
    header: int | None  # 0-based line index of the header row; None: no table yet
    columns: tuple[str, ...]
    rows: tuple[TableRow, ...]
    end: int  # 0-based index of the first line after the table (or after the heading)


@dataclass(frozen=True)
class LegacyRow:
    """One row of a hand-typed history table, understood."""

    line: int  # 1-based
    text: str  # the row as typed
    version: str  # the version cell as typed
    semver: semver.Version | None  # the version made semver, None for a letter revision
    date: str  # ISO, or "" when the table has no date column
    description: str
    author: str
    approved_by: str


def find_history_table(doc: Document, fmt: Format) -> HistoryTable | None:
    """The history table under FMT's heading (not the sopgit-marked kind), or None when
    the file has no such heading."""
    lines = [line.rstrip("\r\n") for line in split_lines(doc.text)]
    wanted = heading_name(fmt.history.heading)
    heading = next((h for h in doc.headings if heading_name(h.title) == wanted), None)
    if heading is None:
        return None
    start = heading.line  # index of the line after the heading
    stop = next(
        (h.line - 1 for h in doc.headings if h.line > heading.line and h.level <= heading.level),
        len(lines),
    )
    index = start
    while index < stop and not TABLE_ROW.match(lines[index]):
        index += 1
    if index >= stop:
        return HistoryTable(heading.line - 1, None, (), (), start)
    header = index
    columns = tuple(split_row(lines[index]))
    index += 1
    rows = []
    while index < stop and TABLE_ROW.match(lines[index]):
        if not RULE_ROW.match(lines[index]):
            rows.append(TableRow(index, lines[index], tuple(split_row(lines[index]))))
        index += 1
    return HistoryTable(heading.line - 1, header, columns, tuple(rows), index)


def legacy_rows(doc: Document, fmt: Format) -> tuple[list[LegacyRow], list[tuple[int, str]]]:
    """The rows of the hand-typed history table, and (line, problem) for rows that do not
    read. Rows come back in the table's order."""
    table = find_history_table(doc, fmt)
    if table is None or table.header is None:
        return [], []
    problems: list[tuple[int, str]] = []
    where = {name.lower(): i for i, name in enumerate(table.columns)}
    index_of = {
        f: where.get(fmt.history.column(f).lower()) for f in HISTORY_FIELDS if fmt.history.column(f)
    }
    if index_of.get("version") is None:
        shown = " | ".join(table.columns)
        want = fmt.history.column("version") or "version"
        return [], [(table.header + 1, f"the history table has no '{want}' column ({shown})")]
    found = []
    for row in table.rows:
        if not any(row.cells):
            continue
        if len(row.cells) != len(table.columns):
            problems.append(
                (
                    row.index + 1,
                    f"history row has {len(row.cells)} cells, the header {len(table.columns)}; "
                    "give every row one cell per column",
                )
            )
            continue

        def cell(name: str, row: TableRow = row) -> str:
            position = index_of.get(name)
            return row.cells[position] if position is not None else ""

        version_text = unwrap(cell("version"))
        number = loose_version(version_text)
        if number is None and not is_letter_revision(version_text):
            problems.append(
                (
                    row.index + 1,
                    f"history row version '{version_text}' is not a version like 2.1.2 "
                    "or a letter revision like C; correct the row",
                )
            )
            continue
        iso = ""
        if index_of.get("date") is not None:
            day = parse_date(unwrap(cell("date")), fmt.history.date_format)
            if day is None:
                example = dt.date(2024, 10, 31).strftime(fmt.history.date_format)
                problems.append(
                    (
                        row.index + 1,
                        f"history row date '{cell('date')}' is not a date like {example} "
                        f"({fmt.history.date_format}); correct the row",
                    )
                )
                continue
            iso = day.isoformat()
        found.append(
            LegacyRow(
                line=row.index + 1,
                text=row.line,
                version=version_text,
                semver=number,
                date=iso,
                description=cell("description"),
                author=cell("author"),
                approved_by=cell("approved_by"),
            )
        )
    return found, problems


def stated_version(doc: Document | None, fmt: Format) -> semver.Version | None:
    """The version the file states, made semver (None: none, or a letter): the highest
    of its version keys, when it writes its version in more than one place."""
    if doc is None:
        return None
    found = [loose_version(doc.meta.get(k)) for k in fmt.all_version_keys() if k in doc.meta]
    numbers = [v for v in found if v is not None and v != semver.Version(0, 0, 0)]
    return max(numbers, default=None)


def version_places(doc: Document, fmt: Format) -> list[str]:
    """The version keys DOC writes its version under (in the library's key order)."""
    return [k for k in fmt.all_version_keys() if k in doc.meta]


def format_version(version: semver.Version | str, style: str) -> str:
    """VERSION written in the library's STYLE: 2.4.0 as 2.4 or v2.4; a version the
    style cannot show in full (2.4.1 under a two-part style) is shown in full."""
    if style == VERSION_STYLES[0] and isinstance(version, str):
        return version  # semver as given, written as given
    number = loose_version(version) if isinstance(version, str) else version
    if number is None:
        return str(version)
    if style.count("{") < 3 and number.patch or style.count("{") < 2 and number.minor:
        style = style.split("{")[0] + "{major}.{minor}.{patch}"
    return style.format(major=number.major, minor=number.minor, patch=number.patch)


# --- writing --------------------------------------------------------------------------


def row_cells(columns: tuple[str, ...], values: Mapping[str, str], fmt: Format) -> str:
    """A table row in the library's own columns: VALUES by sopgit field name."""
    by_column = {
        fmt.history.column(f).lower(): v for f, v in values.items() if fmt.history.column(f)
    }
    cells = [table_cell(by_column.get(column.lower(), "")) for column in columns]
    return "| " + " | ".join(cells) + " |"


def format_date(iso: str, date_format: str) -> str:
    try:
        return dt.date.fromisoformat(iso).strftime(date_format)
    except ValueError:
        return iso


def rewrite_history(
    doc: Document, fmt: Format, released: list[Mapping[str, str]], path: str
) -> str:
    """The text with the heading's history table holding RELEASED (sopgit's rows, oldest
    first, by field name; dates ISO): a row of a version already in the table is
    rewritten in place, a new one is added at the library's end of the table; rows
    typed by hand stay byte for byte."""
    lines = split_lines(doc.text)
    table = find_history_table(doc, fmt)
    default_columns = tuple(fmt.history.column(f) for f in HISTORY_FIELDS if fmt.history.column(f))
    dated = [
        {
            **r,
            "date": format_date(r.get("date", ""), fmt.history.date_format),
            "version": format_version(r.get("version", ""), fmt.version_style),
        }
        for r in released
    ]
    if table is None or table.header is None:
        columns = default_columns
        block = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
        new = [row_cells(columns, r, fmt) for r in dated]
        block += new if fmt.history.order == "oldest-first" else list(reversed(new))
        if table is None:  # a new section at the end, in the last lines' endings
            eol = neighbour_ending(lines, len(lines), doc.text)
            tail = "" if not lines or ending(lines[-1]) else eol
            return (
                doc.text
                + tail
                + eol
                + f"## {fmt.history.heading}{eol}{eol}"
                + eol.join(block)
                + eol
            )
        assert table.heading is not None, "a table found under its heading"
        at = table.heading + 1
        eol = neighbour_ending(lines, at, doc.text)
        return "".join(lines[:at] + [eol] + [b + eol for b in block] + lines[at:])
    columns = table.columns
    version_column = [c.lower() for c in columns].index(fmt.history.column("version").lower())
    existing = {
        loose_version(unwrap(row.cells[version_column]))
        if len(row.cells) > version_column
        else None: row
        for row in table.rows
    }
    dated = [_wrapped_like(table, values, fmt) for values in dated]
    replaced: dict[int, str] = {}
    added: list[str] = []
    for values in dated:
        row = existing.get(loose_version(unwrap(values["version"])))
        text = row_cells(columns, values, fmt)
        if row is not None:
            if row.line.strip() != text:
                replaced[row.index] = text + ending(lines[row.index])
        else:
            added.append(text)
    for index, text in replaced.items():
        lines[index] = text
    if not added:
        return "".join(lines)
    if fmt.history.order == "newest-first":
        at = table.header + 1
        while at < len(lines) and RULE_ROW.match(lines[at].rstrip("\r\n")):
            at += 1
        block = list(reversed(added))
    else:
        at = table.end
        block = added
    eol = neighbour_ending(lines, at, doc.text)
    if at > 0 and not ending(lines[at - 1]):  # the table is the file's unterminated end
        lines[at - 1] += eol
    return "".join(lines[:at] + [b + eol for b in block] + lines[at:])


def _wrapped_like(table: HistoryTable, values: Mapping[str, str], fmt: Format) -> dict[str, str]:
    """VALUES with each cell wrapped as the table's typed rows wrap it (``v1.0.3``)."""
    lower = [c.lower() for c in table.columns]
    found = dict(values)
    for name in ("version", "date"):
        column = fmt.history.column(name).lower()
        if column not in lower or not found.get(name):
            continue
        at = lower.index(column)
        cells = [r.cells[at].strip() for r in table.rows if len(r.cells) > at and r.cells[at]]
        wraps = [WRAPPED.match(c) for c in cells]
        if cells and all(wraps):
            token = wraps[0].group("open") if wraps[0] else ""
            found[name] = f"{token}{found[name]}{token}"
    return found


def set_table_value(text: str, label: str, new: str, path: str, line: int) -> str:
    """Set the value cell of the metadata-table row at LINE (labelled LABEL); the cell
    keeps its width when the new value fits, so an aligned table stays aligned."""
    lines = split_lines(text)
    body = lines[line - 1].rstrip("\r\n")
    ending = lines[line - 1][len(body) :]
    match = re.match(r"^(\s*\|[^|]*\|)([^|]*)(\|\s*)$", body)
    if not match:
        raise DocumentError(
            f"the '{label}' row must read '| {label} | value |' for sopgit to update it", path, line
        )
    opening, inner, closing = match.groups()
    wrap = WRAPPED.match(inner.strip())
    if wrap and wrap.group("inner").strip():
        token = wrap.group("open")
        new = f"{token}{new}{token}"  # keep the cell's own wrapping: ``v1`` -> ``v2``
    lead = len(inner) - len(inner.lstrip(" ")) if inner.strip() else 1
    cell = " " * max(lead, 1) + f"{new} "
    if len(cell) < len(inner):
        cell = cell.ljust(len(inner))
    lines[line - 1] = opening + cell + closing + ending
    return "".join(lines)


def update_sop(
    doc: Document,
    fmt: Format,
    *,
    version: str | None = None,
    last_updated: dt.date | None = None,
    status: str | None = None,
    revision_table: list[str] | None = None,
    released: list[Mapping[str, str]] | None = None,
) -> str:
    """What a release writes, in the library's own format, and nothing else: the version,
    date (and status) keys, then the history table (the managed region between the
    markers, or the table under the history heading with RELEASED rows)."""
    from sopgit.repo.document import REVISION_HISTORY, replace_managed_region, set_frontmatter_value

    path, text = doc.path, doc.text
    styled = format_version(version, fmt.version_style) if version is not None else None
    changes = [(key, styled) for key in version_places(doc, fmt) or [fmt.key("version")] if key]
    changes += [
        (fmt.key("last_updated"), last_updated.strftime(fmt.date_format) if last_updated else None),
        (fmt.key("status"), fmt.status_word(status) if status is not None else None),
    ]
    for key, new in changes:
        if new is None or not key:
            continue
        current = read_document(text, path, fmt)
        line = current.meta_lines.get(key)
        if line is not None and line >= current.body_line:
            text = set_table_value(text, key, new, path, line)
        elif line is not None or current.body_line > 1:  # in (or added to) the frontmatter
            text = set_frontmatter_value(text, key, new, path)
        # no frontmatter and no such row: the library does not keep this key here
    if fmt.history.markers:
        if revision_table is not None:
            text = replace_managed_region(text, REVISION_HISTORY, revision_table, path)
    elif released is not None:
        text = rewrite_history(read_document(text, path, fmt), fmt, released, path)
    return text


def history_table_lines(rows: Iterable[Any], fmt: Format, doc: Document | None = None) -> list[str]:
    """ROWS (history rows, oldest first) as the library's own table: the columns of
    DOC's table (else the configured ones), its row order and dates; rows typed by hand
    as they were typed."""
    table = find_history_table(doc, fmt) if doc is not None else None
    columns = tuple(fmt.history.column(f) for f in HISTORY_FIELDS if fmt.history.column(f))
    if table is not None and table.header is not None:
        columns = table.columns
    body = []
    for row in rows:
        if row.source == "hand" and row.text:
            body.append(row.text)
        elif row.source == "tag":
            values = {f: getattr(row, f) for f in HISTORY_FIELDS}
            values["date"] = format_date(row.date, fmt.history.date_format)
            body.append(row_cells(columns, values, fmt))
    if fmt.history.order == "newest-first":
        body.reverse()
    rule = "|" + "|".join("---" for _ in columns) + "|"
    return ["| " + " | ".join(columns) + " |", rule, *body]
