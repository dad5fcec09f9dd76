"""An SOP file: parse frontmatter and headings; update it surgically.

sopgit owns three things in a file it did not write: the `version` and
`lastUpdated` lines of the frontmatter (and `status` on a first release) and the
managed regions between `<!-- sopgit:NAME:start -->` / `<!-- sopgit:NAME:end -->`.
Every other byte belongs to the author, so updates rewrite single lines in place
instead of re-serialising the YAML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import yaml
import yaml.composer
import yaml.constructor

from sopgit.errors import DocumentError
from sopgit.repo.textio import ending, neighbour_ending, split_lines

FENCE = "---"
HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
CODE_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
REVISION_HISTORY = "revision-history"


# --- frontmatter YAML: untrusted, so parsed defensively --------------------------------

MAX_FRONTMATTER = 64 * 1024  # bytes of YAML; an SOP's metadata is a few hundred
MAX_DEPTH = 32  # nesting of lists and mappings


class YamlRefused(yaml.YAMLError):
    """Frontmatter sopgit will not read: an anchor or alias, too deep, a duplicate key."""

    def __init__(self, problem: str, mark: yaml.Mark | None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class _StrictConstruction(yaml.constructor.SafeConstructor):
    """Safe construction that refuses a key given twice (YAML would keep the last one,
    a release would rewrite the first) and keeps an impossible date as text, for check
    to report, instead of failing."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[object, yaml.Node] = {}
            for key_node, _ in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else id(key_node)
                if key in seen:
                    first = seen[key].start_mark.line + 2
                    raise YamlRefused(
                        f"has the key '{key}' twice (first on line {first}); keep one",
                        key_node.start_mark,
                    )
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError):
            return self.construct_scalar(node)  # not a real date: check says so


_StrictConstruction.add_constructor(  # type: ignore[type-var]
    "tag:yaml.org,2002:timestamp", _StrictConstruction.construct_yaml_timestamp
)


class _CheckedLoader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    _StrictConstruction,
    yaml.resolver.Resolver,
):
    """The pure-Python parser, for YAML that may hold anchors, aliases or deep nesting:
    each is refused as it is met, so an alias bomb is never expanded."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _StrictConstruction.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise YamlRefused(
                "uses an anchor or alias (& or *); write the value out", event.start_mark
            )
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise YamlRefused(f"nests deeper than {MAX_DEPTH} levels", event.start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


_CParser: Any
try:  # libyaml, when PyYAML was built with it
    from yaml.cyaml import CParser as _CParser  # type: ignore[attr-defined,no-redef]
except ImportError:  # pragma: no cover - PyYAML without libyaml
    _CParser = None

if _CParser is not None:

    class _FastLoader(_CParser, _StrictConstruction, yaml.resolver.Resolver):  # type: ignore[misc]
        """libyaml's parser, for YAML without anchors, aliases or deep flow nesting (see
        _needs_checks); the nesting of blocks is measured on the composed nodes before
        anything is constructed."""

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            _StrictConstruction.__init__(self)
            yaml.resolver.Resolver.__init__(self)

        def get_single_data(self) -> Any:
            node = self.get_single_node()
            if node is None:
                return None
            _refuse_deep(node)
            return self.construct_document(node)

    FAST_LOADER: type | None = _FastLoader
else:  # pragma: no cover - PyYAML without libyaml
    FAST_LOADER = None


def _refuse_deep(root: yaml.Node) -> None:
    """YamlRefused when ROOT nests deeper than MAX_DEPTH (as the checked parser counts)."""
    level: list[tuple[yaml.Node, int]] = [(root, 1)]
    while level:
        node, depth = level.pop()
        if depth > MAX_DEPTH:
            raise YamlRefused(f"nests deeper than {MAX_DEPTH} levels", node.start_mark)
        if isinstance(node, yaml.SequenceNode):
            level.extend((child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                level.extend(((key, depth + 1), (value, depth + 1)))


def _needs_checks(source: str) -> bool:
    """Could SOURCE hold an anchor, an alias or deep flow nesting? (A cheap look; when in
    doubt the checked parser reads it, as it does text libyaml cannot take: bytes that
    were not UTF-8.)"""
    if "&" in source or "*" in source:
        return True
    if not source.isascii():
        try:
            source.encode("utf-8")
        except UnicodeEncodeError:
            return True
    depth = deepest = 0
    for char in source:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest > MAX_DEPTH // 2


def load_frontmatter(source: str) -> Any:
    """SOURCE (frontmatter YAML) as Python values, or YAMLError. Never expands an alias,
    never recurses without bound, never keeps one of two equal keys silently."""
    if len(source.encode("utf-8", "surrogateescape")) > MAX_FRONTMATTER:
        raise YamlRefused(f"is larger than {MAX_FRONTMATTER // 1024} KiB; shorten it", None)
    loader_class = _CheckedLoader if FAST_LOADER is None or _needs_checks(source) else FAST_LOADER
    loader = loader_class(source)
    try:
        return loader.get_single_data()
    except RecursionError:
        raise YamlRefused(f"nests deeper than {MAX_DEPTH} levels", None) from None
    finally:
        loader.dispose()


def marker(name: str, end: bool = False) -> str:
    return f"<!-- sopgit:{name}:{'end' if end else 'start'} -->"


@dataclass(frozen=True)
class Heading:
    level: int
    title: str
    line: int  # 1-based line number in the file


@dataclass(frozen=True)
class Document:
    path: str
    text: str
    meta: dict[str, Any]
    meta_lines: dict[str, int]  # top-level frontmatter key -> its 1-based line
    body_line: int  # 1-based line where the body starts

    @cached_property
    def headings(self) -> tuple[Heading, ...]:
        return tuple(_headings(split_lines(self.text), self.body_line - 1))

    @property
    def lines(self) -> list[str]:
        return [line.rstrip("\r\n") for line in split_lines(self.text)]

    def line_of(self, key: str) -> int:
        return self.meta_lines.get(key, 1)


def _frontmatter_bounds(lines: list[str], path: str) -> int:
    """Index of the closing fence line; the frontmatter is lines[1:end]."""
    if not lines or lines[0].lstrip("\ufeff").rstrip("\r\n") != FENCE:
        raise DocumentError("has no frontmatter; start the file with a '---' line", path, 1)
    for index in range(1, len(lines)):
        if lines[index].rstrip("\r\n").rstrip() in (FENCE, "..."):
            return index
    raise DocumentError("frontmatter is not closed; add a '---' line after it", path, 1)


def parse_document(text: str, path: str = "<text>") -> Document:
    lines = split_lines(text)
    end = _frontmatter_bounds(lines, path)
    source = "".join(lines[1:end])
    try:
        meta = load_frontmatter(source) if source.strip() else {}
    except YamlRefused as err:
        line = err.problem_mark.line + 2 if err.problem_mark is not None else 1
        raise DocumentError(f"frontmatter {err.problem}", path, line) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "context_mark", None) or getattr(err, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        problem = getattr(err, "problem", None) or "cannot be parsed"
        if isinstance(err, yaml.reader.ReaderError):
            problem = f"holds a character YAML does not allow (#x{err.character:x})"
            line = source.count("\n", 0, err.position) + 2
        raise DocumentError(
            f"frontmatter YAML {problem}; fix the YAML syntax", path, line
        ) from None
    if not isinstance(meta, dict):
        raise DocumentError("frontmatter must be a mapping of key: value lines", path, 2)
    return Document(
        path=path,
        text=text,
        meta=meta,
        meta_lines=_key_lines(lines, end),
        body_line=end + 2,
    )


def _key_lines(lines: list[str], end: int) -> dict[str, int]:
    found: dict[str, int] = {}
    for index in range(1, end):
        match = re.match(r"^([A-Za-z_][\w-]*)\s*:", lines[index])
        if match:
            found.setdefault(match.group(1), index + 1)
    return found


def _headings(lines: list[str], start: int) -> list[Heading]:
    headings: list[Heading] = []
    fence: str | None = None
    for index in range(start, len(lines)):
        line = lines[index].rstrip("\r\n")
        opened = CODE_FENCE.match(line)
        if opened:
            mark = opened.group(1)
            if fence is None:
                fence = mark
            elif mark[0] == fence[0] and len(mark) >= len(fence):
                fence = None
            continue
        if fence is not None:
            continue
        match = HEADING.match(line)
        if match:
            headings.append(Heading(len(match.group(1)), match.group(2), index + 1))
    return headings


# --- surgical updates -------------------------------------------------------------

_VALUE_LINE = re.compile(
    r"^(?P<key>[A-Za-z_][\w-]*)(?P<sep>[ \t]*:[ \t]*)"
    r"(?P<value>'(?:[^']|'')*'|\"(?:[^\"\\]|\\.)*\"|[^#\r\n]*?)"
    r"(?P<comment>[ \t]+#[^\r\n]*)?(?P<eol>[ \t]*\r?\n?)$"
)


_NOT_SCALAR = ("|", ">", "[", "{", "&", "*", "!")


def set_frontmatter_value(text: str, key: str, value: str, path: str = "<text>") -> str:
    """Set a top-level scalar KEY to VALUE, keeping its quoting, comment and line ending.

    A missing key is added as the last frontmatter line.
    """
    lines = split_lines(text)
    end = _frontmatter_bounds(lines, path)
    line = _key_lines(lines, end).get(key)
    if line is None:
        lines.insert(end, f"{key}: {value}{neighbour_ending(lines, end, text)}")
        return "".join(lines)
    index = line - 1
    match = _VALUE_LINE.match(lines[index])
    continued = index + 1 < end and lines[index + 1][:1] in (" ", "\t", "-")
    if not match or continued or match.group("value").startswith(_NOT_SCALAR):
        raise DocumentError(f"'{key}' must be a one-line value for sopgit to update it", path, line)
    lines[index] = (
        match.group("key")
        + match.group("sep")
        + _quote_like(match.group("value"), value)
        + (match.group("comment") or "")
        + match.group("eol")
    )
    return "".join(lines)


def _quote_like(old: str, value: str) -> str:
    if old.startswith("'"):
        return "'" + value.replace("'", "''") + "'"
    if old.startswith('"'):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def managed_region(text: str, name: str, path: str = "<text>") -> tuple[int, int]:
    """Line indexes (start marker, end marker) of the managed region NAME."""
    lines = [line.strip() for line in split_lines(text)]
    starts = [i for i, line in enumerate(lines) if line == marker(name)]
    ends = [i for i, line in enumerate(lines) if line == marker(name, end=True)]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        line = (starts or ends or [0])[0] + 1
        raise DocumentError(
            f"needs exactly one '{marker(name)}' line followed by one "
            f"'{marker(name, end=True)}' line",
            path,
            line,
        )
    return starts[0], ends[0]


def replace_managed_region(text: str, name: str, content: list[str], path: str = "<text>") -> str:
    """Replace the lines between NAME's markers with CONTENT (lines without endings).

    Each new line ends as the start marker's line does."""
    start, end = managed_region(text, name, path)
    lines = split_lines(text)
    eol = ending(lines[start])
    return "".join(lines[: start + 1] + [line + eol for line in content] + lines[end:])
