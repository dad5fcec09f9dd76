"""The static HTML site: one read of the library, then pages rendered with jinja2.

HTML has its own jinja2 environment with autoescape on (every title, subject and name
is untrusted text), and Markdown is rendered with markdown-it-py with raw HTML off and
only safe link schemes, so no SOP body can carry a script either. A library's own
templates/site/ comes first, then the packaged one. Every link is relative, and no page
fetches anything from the network, so the folder works from disk or any static host.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import posixpath
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import astuple, dataclass, fields, replace
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import jinja2
from markupsafe import Markup

from sopgit.core import progress
from sopgit.core.approvals import file_names
from sopgit.core.catalog import department_of, index_context, long_date
from sopgit.core.changelog import Changelog, changelog_context
from sopgit.core.history import Change, HistoryRow, SopVersion, history_rows
from sopgit.core.model import Commit, Tag
from sopgit.core.redline import redline, render_html_fragment, terminal_safe
from sopgit.core.status import StatusRow, status_rows
from sopgit.errors import DocumentError, UsageError
from sopgit.publish.files import all_versions, index_items, library_changelog, repository_url

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

from sopgit.publish.site_state import (
    SiteState,
    SopEntry,
    Store,
    code_key,
    digest,
    stat_of,
    temporary_name,
    write_atomic,
)
from sopgit.repo.docformat import read_document
from sopgit.repo.snapshot import Snapshot, Sop
from sopgit.repo.templates import library_loaders, sandboxed, template_errors
from sopgit.repo.textio import link_on_path, safe_target
from sopgit.resources import resource_dir

SITE_DIR = "_site"
MARKER = ".sopgit-site"  # marks a folder sopgit built, so a rebuild may replace it
STATES = ("effective", "changed", "draft", "review-due", "retired")
STATE_LABELS = {
    "effective": "Effective",
    "changed": "Changed",
    "draft": "Draft",
    "review-due": "Review due",
    "retired": "Retired",
}
SAFE_SCHEMES = ("http", "https", "mailto", "tel")
SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):", re.IGNORECASE)
REVISION_HISTORY = "revision history"
LABEL_WIDTH = 76  # a date label's width in the timeline's SVG units
DENSE = 10  # past this many releases the timeline shows thin marks and the labels that fit


# --- Markdown -------------------------------------------------------------------------


def safe_link(url: str) -> bool:
    """Relative links and http(s), mailto, tel; never javascript:, data:, file: or others."""
    match = SCHEME.match(url.strip())
    return match is None or match.group(1).lower() in SAFE_SCHEMES


@cache
def markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt  # only a build that renders a text needs it

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.validateLink = safe_link  # type: ignore[method-assign]
    return md


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


@dataclass(frozen=True)
class Section:
    """One heading's part of an SOP body as plain text, for the search index."""

    anchor: str  # "" for the text before the first heading
    heading: str
    text: str


@dataclass(frozen=True)
class RenderedBody:
    html: Markup
    contents: tuple[tuple[str, str], ...]  # (anchor, title) of each section
    sections: tuple[Section, ...] = ()


def render_body(
    body: str, title: str, link_for: Mapping[str, str] | None = None, source: str = ""
) -> RenderedBody:
    """An SOP body as HTML: the title heading and the managed Revision History section
    left out (the page shows both from the history), each procedure step wrapped in a
    <section class="step"> so that print keeps it together, headings given anchors and
    a permalink each, and the text of each heading's part kept for the search index.

    LINK_FOR maps library paths to page URLs; relative links from SOURCE (the SOP's
    path) to another SOP's file then open its page, and images and links to the
    library's other files (see referenced_files) point at their copies in the site.
    """
    md = markdown()
    tokens = _drop_revision_history(_drop_title(md.parse(body), title))
    contents: list[tuple[str, str]] = []
    sections: list[Section] = []
    anchor, heading = "", ""  # the section being read
    words: list[str] = []
    used = {"main", "revision-history"}  # ids the page itself uses
    out: list[Token] = []
    in_step = False
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.level == 0:
            inline = tokens[index + 1] if index + 1 < len(tokens) else None
            text = _plain(inline) if inline is not None else ""
            if words or heading:
                sections.append(Section(anchor, heading, " ".join(" ".join(words).split())))
            anchor = slug(text)
            while anchor in used:
                anchor += "-"
            used.add(anchor)
            heading, words = text, []
            token.attrSet("id", anchor)
            if inline is not None and inline.type == "inline":
                inline.children = [*(inline.children or []), *_permalink(anchor, text)]
            if token.tag == "h2":
                contents.append((anchor, text))
            if in_step and token.tag in ("h1", "h2", "h3"):
                out.append(_html("</section>\n"))
                in_step = False
            if token.tag == "h3":
                out.append(_html('<section class="step">\n'))
                in_step = True
        elif token.type == "inline" and not (index and tokens[index - 1].type == "heading_open"):
            words.append(_plain(token))
        elif token.type in ("fence", "code_block"):
            words.append(token.content)
        if token.type == "inline" and token.children and link_for is not None:
            for child in token.children:
                if child.type == "link_open":
                    href = str(child.attrGet("href") or "")
                    child.attrSet("href", _rewrite_link(href, source, link_for))
                elif child.type == "image":
                    src = str(child.attrGet("src") or "")
                    child.attrSet("src", _rewrite_link(src, source, link_for))
        out.append(token)
    if in_step:
        out.append(_html("</section>\n"))
    if words or heading:
        sections.append(Section(anchor, heading, " ".join(" ".join(words).split())))
    html = md.renderer.render(out, md.options, {})
    return RenderedBody(Markup(html), tuple(contents), tuple(sections))  # markdown-it escaped it


def _permalink(anchor: str, heading: str) -> list[Token]:
    """A `#` link to the heading itself, named for screen readers (text is escaped)."""
    from markdown_it.token import Token

    link = Token("link_open", "a", 1)
    link.attrs = {
        "class": "permalink",
        "href": f"#{anchor}",
        "aria-label": f"Permalink to this section: {heading}",
    }
    return [
        Token("text", "", 0, content=" "),
        link,
        Token("text", "", 0, content="#"),
        Token("link_close", "a", -1),
    ]


def _plain(inline: Token) -> str:
    """The text of an inline token, without its Markdown syntax."""
    parts = [
        c.content if c.type in ("text", "code_inline") else " "
        for c in inline.children or []
        if c.type in ("text", "code_inline", "softbreak", "hardbreak")
    ]
    return "".join(parts) if parts else inline.content


def _html(text: str) -> Token:
    """Markup sopgit itself writes (never user text) between the rendered blocks."""
    from markdown_it.token import Token

    return Token("html_block", "", 0, content=text)


def _drop_title(tokens: list[Token], title: str) -> list[Token]:
    if (
        len(tokens) >= 3
        and tokens[0].type == "heading_open"
        and tokens[0].tag == "h1"
        and " ".join(tokens[1].content.split()) == " ".join(title.split())
    ):
        return tokens[3:]
    return tokens


def _drop_revision_history(tokens: list[Token]) -> list[Token]:
    kept: list[Token] = []
    skipping = False
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.level == 0 and token.tag in ("h1", "h2"):
            text = tokens[index + 1].content if index + 1 < len(tokens) else ""
            skipping = token.tag == "h2" and text.strip().lower() == REVISION_HISTORY
        if not skipping:
            kept.append(token)
    return kept


def _rewrite_link(href: str, source: str, link_for: Mapping[str, str]) -> str:
    if not href or href.startswith(("#", "/")) or SCHEME.match(href):
        return href
    path, _, fragment = href.partition("#")
    target = posixpath.normpath(posixpath.join(posixpath.dirname(source), unquote(path)))
    page = link_for.get(target)
    if page is None:
        return href
    return f"{page}#{fragment}" if fragment else page


# --- the version timeline -------------------------------------------------------------


def timeline(rows: list[HistoryRow], bumps: Mapping[str, str], width: int = 640) -> dict[str, Any]:
    """Points for an inline SVG: one per release, placed by date.

    Up to DENSE releases every point is labelled, never closer than a gap, a label that
    would touch its neighbour's going above the line. Past that the points are thin
    marks placed by date alone, and only the labels that fit are drawn: the newest and
    the first version always, then major versions, then others, none touching another
    (the table below the timeline lists every version).
    """
    left, right = 40, width - 40
    dense = len(rows) > DENSE
    gap = 0 if dense else 56
    dates = [dt.date.fromisoformat(r.date) for r in rows if _is_date(r.date)]
    if len(dates) != len(rows) or not rows:
        dates = [dt.date(2000, 1, 1) + dt.timedelta(days=i) for i in range(len(rows))]
    first, last = (min(dates), max(dates)) if dates else (None, None)
    span = (last - first).days if first and last else 0
    xs: list[float] = []
    for index, day in enumerate(dates):
        if span and first:
            x = left + (day - first).days / span * (right - left)
        elif len(rows) > 1:  # all on one day: spread evenly
            x = left + index / (len(rows) - 1) * (right - left)
        else:
            x = (left + right) / 2
        xs.append(max(x, xs[-1] + gap) if xs else x)
    if xs and xs[-1] > right:  # pushed off the end: squeeze back into the line
        scale = (right - left) / (xs[-1] - left) if xs[-1] > left else 1
        xs = [left + (x - left) * scale for x in xs]
    points: list[dict[str, Any]] = []
    for x, row in zip(xs, rows, strict=True):
        # Labels sit below the line; one that would touch its neighbour's goes above.
        crowded = (
            not dense
            and bool(points)
            and x - points[-1]["x"] < LABEL_WIDTH
            and not points[-1]["above"]
        )
        points.append(
            {
                "x": round(x, 1),
                "version": row.version,
                "date": row.date,
                "bump": bumps.get(row.version, "patch"),
                "above": crowded,
                "label": not dense,
            }
        )
    if dense:
        _label_what_fits(points)
    # The line sits high when no label needs the space above it.
    axis = 42 if any(p["above"] for p in points) else 14
    for point in points:
        point["label_y"] = axis - 27 if point["above"] else axis + 23
        point["date_y"] = axis - 14 if point["above"] else axis + 36
    return {
        "width": width,
        "height": axis + 42,
        "axis": axis,
        "left": left,
        "right": right,
        "dense": dense,
        "radius": 4 if dense else 7,
        "points": points,
    }


def _label_what_fits(points: list[dict[str, Any]]) -> None:
    """Label the newest, the first, then major, minor and other versions, newest first,
    each only where it keeps a label's width from every label already placed."""
    rank = {"initial": 1, "major": 1, "minor": 2}
    order = sorted(
        range(len(points)),
        key=lambda i: (
            0 if i in (0, len(points) - 1) else rank.get(points[i]["bump"], 3),
            -i,
        ),
    )
    placed: list[float] = []
    for i in order:
        x = points[i]["x"]
        if all(abs(x - other) >= LABEL_WIDTH for other in placed):
            points[i]["label"] = True
            placed.append(x)


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


# --- the environment --------------------------------------------------------------------


def css_string(value: object) -> Markup:
    """VALUE as a CSS string literal that no text can break out of (for @page boxes)."""
    text = " ".join(str(value).split())
    escaped = "".join(c if c.isalnum() or c in " .,:/-" else f"\\{ord(c):x} " for c in text)
    return Markup(f'"{escaped}"')  # all else escaped above


def site_environment(
    library_root: Path | None = None, compiled: Path | None = None
) -> jinja2.Environment:
    """COMPILED: a folder to keep the templates compiled in (keyed by their source)."""
    options: dict[str, Any] = {}
    if compiled is not None:
        try:
            compiled.mkdir(parents=True, exist_ok=True)
            options["bytecode_cache"] = jinja2.FileSystemBytecodeCache(str(compiled))
        except OSError:  # a read-only .git: compiled each time
            pass
    env = sandboxed(
        library_loaders(library_root, "site"),
        autoescape=True,  # every value is untrusted text until escaped
        trim_blocks=True,
        lstrip_blocks=True,
        **options,
    )
    env.filters["long_date"] = long_date
    env.filters["css_string"] = css_string
    env.globals["state_labels"] = STATE_LABELS
    return env


def static_files(library_root: Path | None) -> dict[str, Path]:
    """Path -> file of the site's static assets; a library's own file of a path wins."""
    found: dict[str, Path] = {}
    folders = [resource_dir("templates") / "site" / "static"]
    if library_root is not None:
        folders.append(library_root / "templates" / "site" / "static")
    for folder in folders:
        if folder.is_dir():
            for file in sorted(folder.rglob("*")):  # vendor/ too
                if file.is_file():
                    found[file.relative_to(folder).as_posix()] = file
    return found


# --- the pages --------------------------------------------------------------------------

DRAFT_NOTICE = "Draft of the next version, not approved"
CHANGELOG_PAGE_BYTES = 200_000  # a changelog page past this is split further
SEARCH_DATA = "search-data.js"
# Stands for the way back to the site root in a rendered body: markdown-it turns every
# NUL of the source into U+FFFD, so no SOP text can produce one.
BASE_MARK = "\x00"


@dataclass(frozen=True)
class SiteReport:
    output: Path
    pages: tuple[str, ...]  # relative paths written (or that would be)


@dataclass(frozen=True)
class Page:
    """One page of the site: where it goes, the template, and what the template gets.

    PATH is relative to the site root; links in the context are root-relative too and
    the templates put `base` (the way back to the root) before them.
    """

    path: str
    template: str
    context: dict[str, Any]

    @property
    def base(self) -> str:
        return "../" * self.path.count("/")


FILES_DIR = "files/"
# A Markdown link or image target: [text](target), ![alt](target "title")
TARGET = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def referenced_files(root: Path, sops: Iterable[Sop]) -> dict[str, Path]:
    """The library's files (images, forms) that SOPs link to or show, by their name in
    the site (files/ and their path in the library): never an SOP, a hidden file, a
    link, or anything outside the library."""
    found: dict[str, Path] = {}
    sop_paths = {sop.path for sop in sops}
    for sop in sops:
        for match in TARGET.finditer(sop.text):
            target = match.group(1).split("#", 1)[0].split("?", 1)[0]
            if not target or target.startswith("/") or SCHEME.match(target):
                continue
            path = posixpath.normpath(posixpath.join(posixpath.dirname(sop.path), unquote(target)))
            parts = path.split("/")
            if path in sop_paths or parts[0] == ".." or any(p.startswith(".") for p in parts):
                continue
            file = root / path
            if file.is_file() and not file.is_symlink():
                found[FILES_DIR + path] = file
    return found


def sop_page_name(sop_id: str) -> str:
    """The SOP's default page: its effective text (or its draft, before any release)."""
    return f"sops/{sop_id}.html"


def version_page_name(sop_id: str, version: str) -> str:
    """The permanent page of one released version: an audit link that never changes."""
    return f"sops/{sop_id}/{version}.html"


def changes_page_name(sop_id: str, version: str) -> str:
    """The redline of VERSION against the release before it."""
    return f"sops/{sop_id}/{version}-changes.html"


def draft_page_name(sop_id: str) -> str:
    """The text on the branch with changes not yet released, marked as a draft."""
    return f"sops/{sop_id}/draft.html"


@dataclass(frozen=True)
class Output:
    """One file of the site: the digest of everything it is made from, and how to make
    its bytes (called only when the file on disk is not already the one of that digest)."""

    digest: str
    make: Callable[[], bytes] | None  # None: a page kept as the last build wrote it


def page_bytes(html: str) -> bytes:
    # a byte that was not UTF-8 in an SOP shows as U+FFFD on the page
    return html.encode("utf-8", "surrogateescape").decode("utf-8", "replace").encode("utf-8")


def build_site(
    snapshot: Snapshot, output: Path, today: dt.date, *, dry_run: bool = False
) -> SiteReport:
    """Write the site into OUTPUT: only the files whose inputs changed since the last
    build into it (see sopgit.publish.site_state), or, with nothing kept of it, every file into
    a fresh folder that then takes OUTPUT's place."""
    _check_output(snapshot.lib.root, output)
    root = snapshot.lib.root
    lib = snapshot.lib
    store = Store(lib.repo, output, writable=not dry_run) if lib.use_cache else None
    kept = store.load() if store is not None else None
    in_place = kept is not None and output.is_dir() and (output / MARKER).is_file()
    compiled = store.folder / "jinja" if store is not None and store.writable else None
    env = site_environment(root, compiled)
    with template_errors("site", root):
        plan = site_pages(snapshot, today, env, store, kept if in_place else None, output)
    progress.done()
    names = tuple(sorted(plan.outputs))
    if dry_run:
        return SiteReport(output, names)
    with template_errors("site", root):
        if in_place and kept is not None and store is not None:
            files = _write_in_place(output, plan, kept, store)
        else:
            files = _write_fresh(output, plan)
    if store is None:
        Store(lib.repo, output).forget()  # nothing kept now describes this folder
        return SiteReport(output, names)
    store.save(SiteState(files, plan.sops, plan.sizes), plan.search_changed)
    store.prune({key for entry in plan.sops.values() for key in entry.derived})
    return SiteReport(output, names)


def _write_fresh(output: Path, plan: SitePlan) -> dict[str, tuple[str, int, int]]:
    """Every file into a fresh folder, then the folder in OUTPUT's place."""
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}-", dir=output.parent))
    try:
        for count, (name, made) in enumerate(plan.outputs.items(), 1):
            if count % 50 == 0 or count == len(plan.outputs):
                progress.report("writing:", count, "files")
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if made.make is not None:
                target.write_bytes(made.make())
        os.chmod(staging, 0o755)  # mkdtemp's 0700 would hide the site from a web server
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    progress.done()
    files = {}
    for name, made in plan.outputs.items():
        found = stat_of(output / name)
        if found is not None:
            files[name] = (made.digest, *found)
    return files


def _write_in_place(
    output: Path, plan: SitePlan, kept: SiteState, store: Store
) -> dict[str, tuple[str, int, int]]:
    """Write the files whose inputs changed, each whole through a rename; then remove
    the files the last build wrote that this one does not (and no other file)."""
    files: dict[str, tuple[str, int, int]] = {}
    changed = []
    for name, made in plan.outputs.items():
        if name in plan.checked or kept.valid(output, name, made.digest):
            files[name] = kept.files[name]
        else:
            changed.append(name)
    gone = sorted((set(kept.files) | kept.owned) - set(plan.outputs))
    temporaries = [temporary_name(Path(n)).as_posix() for n in changed]
    store.claim([*changed, *temporaries, *kept.owned, *(n for n in gone if n not in kept.files)])
    for count, name in enumerate(changed, 1):
        if count % 50 == 0 or count == len(changed):
            progress.report("writing:", count, "files")
        made = plan.outputs[name]
        if made.make is None:  # changed on disk since it was planned: made next time
            continue
        target = _inside(output, name)
        data = made.make()
        if not (target.is_file() and stat_of(target) and target.read_bytes() == data):
            write_atomic(target, data)
        found = stat_of(target)
        if found is not None:
            files[name] = (made.digest, *found)
    for name in gone:
        target = _inside(output, name)
        recorded = kept.files.get(name)
        # a file edited since sopgit wrote it is the user's now: left alone
        if recorded is None or stat_of(target) == recorded[1:]:
            target.unlink(missing_ok=True)
            _drop_empty_folders(output, target.parent)
    progress.done()
    return files


def _inside(output: Path, name: str) -> Path:
    """OUTPUT/NAME, refused when NAME leaves OUTPUT or goes through a symbolic link."""
    normal = posixpath.normpath(name)
    if normal.startswith(("../", "/")) or normal in ("..", "."):
        raise UsageError(f"{name} is not a path inside the site", output)
    target = output / normal
    link = link_on_path(output, target)
    if link is not None:
        raise UsageError(
            f"goes through the symbolic link {link}; sopgit writes no page there", output
        )
    return target


def _drop_empty_folders(output: Path, folder: Path) -> None:
    """Remove FOLDER and the folders above it, up to OUTPUT, while they are empty."""
    while folder != output and folder.is_relative_to(output):
        try:
            folder.rmdir()
        except OSError:  # not empty (or gone)
            return
        folder = folder.parent


def _check_output(root: Path, output: Path) -> None:
    """Only ever replace a folder sopgit built (or an empty one), never the library."""
    resolved = output.resolve()
    if resolved == root.resolve() or root.resolve().is_relative_to(resolved):
        raise UsageError("is the library or holds it; give a folder for the site", output)
    safe_target(root, output)  # not in .git, not through a link in the library
    if output.exists() and not output.is_dir():
        raise UsageError("exists and is not a folder; give a folder for the site", output)
    if output.is_dir() and any(output.iterdir()) and not (output / MARKER).exists():
        raise UsageError(
            "holds files sopgit did not build; give an empty or new folder for the site",
            output,
        )


# --- the texts, read from git -------------------------------------------------------------


@dataclass(frozen=True)
class TextSpec:
    sop_id: str
    label: str  # the version released, or "" for the draft (the file at HEAD)
    revision: str  # the tag's commit, or HEAD's
    names: tuple[str, ...]  # the paths to try there, the first found wins

    @property
    def specs(self) -> list[str]:
        return [f"{self.revision}:{name}" for name in self.names]


def text_specs(
    snapshot: Snapshot, versions: Mapping[str, SopVersion], names: Mapping[str, list[str]]
) -> list[TextSpec]:
    """Where each SOP's file is at every release tag (under each name it had, newest
    first), and at HEAD when something is pending or it was never released."""
    head = snapshot.head
    wanted: list[TextSpec] = []
    for sop in snapshot.sops.values():
        version = versions[sop.sop_id]
        known = tuple(names.get(sop.sop_id, [sop.path]))
        for released_as, tag in version.releases:
            wanted.append(TextSpec(sop.sop_id, str(released_as), tag.target, known))
        if head and (version.pending or not version.releases):
            wanted.append(TextSpec(sop.sop_id, "", head, (sop.path,)))
    return wanted


class TextSource:
    """The files TextSpecs name, read from git in one `git cat-file` per call of read()
    (their bytes) or identify() (only their object ids)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.repo = snapshot.lib.repo
        self.blobs: dict[str, bytes] = {}
        self.ids: dict[str, str] = {}

    def read(self, wanted: Iterable[TextSpec]) -> None:
        specs = [s for w in wanted for s in w.specs if s not in self.blobs]
        for spec, (object_id, data) in self.repo.blob_records(specs).items():
            self.blobs[spec], self.ids[spec] = data, object_id

    def identify(self, wanted: Iterable[TextSpec]) -> None:
        self.ids.update(self.repo.blob_ids(s for w in wanted for s in w.specs if s not in self.ids))

    def found(self, spec: TextSpec) -> tuple[str, bytes] | None:
        """(path, bytes) of the first of SPEC's places that holds the file."""
        for place in spec.specs:
            if place in self.blobs:
                return place.split(":", 1)[1], self.blobs[place]
        return None

    def found_id(self, spec: TextSpec) -> tuple[str, str] | None:
        """(path, object id) of the first of SPEC's places that holds the file."""
        for place in spec.specs:
            if place in self.ids:
                return place.split(":", 1)[1], self.ids[place]
        return None


def parse_sop(sop_id: str, path: str, text: str, fmt: Any) -> Sop:
    try:
        doc = read_document(text, path, fmt)
    except DocumentError:
        doc = None
    return Sop(sop_id, path, text, doc, fmt)


def former_paths(commits: Iterable[Commit], paths: Mapping[str, str]) -> dict[str, list[str]]:
    """Every name each SOP's file had, by id, its current one first."""
    names = file_names(commits, paths)
    return {sop_id: names[path] for path, sop_id in paths.items()}


# --- derived data: bodies and redlines, made once per text ---------------------------------

Lookups = tuple[tuple[str, str | None], ...]


class Recording(Mapping[str, str]):
    """LINK_FOR, noting each target looked up and what it gave (None: not a page)."""

    def __init__(self, link_for: Mapping[str, str]) -> None:
        self.link_for = link_for
        self.seen: dict[str, str | None] = {}

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        value = self.link_for.get(key)
        self.seen[key] = value
        return default if value is None else value

    def __iter__(self) -> Iterator[str]:
        return iter(self.link_for)

    def __len__(self) -> int:
        return len(self.link_for)


class Derived:
    """Rendered bodies and redlines, each made once per content: from STORE when it kept
    them (and the links a body looked up still lead where they did), else made and kept.

    Between start() and finish() it notes what one SOP's pages used: the links its texts
    looked up and the derived entries, which the SOP's record keeps."""

    def __init__(self, store: Store | None, link_for: Mapping[str, str], code: str) -> None:
        self.store = store
        self.link_for = link_for
        self.code = code
        self.memo: dict[str, Any] = {}
        self.lookups: dict[str, str | None] = {}
        self.used: set[str] = set()

    def start(self) -> None:
        self.lookups, self.used = {}, set()

    def finish(self) -> tuple[Lookups, tuple[str, ...]]:
        return tuple(sorted(self.lookups.items())), tuple(sorted(self.used))

    def _kept(self, key: str) -> Any:
        if key in self.memo:
            return self.memo[key]
        value = self.store.get(key) if self.store is not None else None
        self.memo[key] = value
        return value

    def _keep(self, key: str, value: Any) -> None:
        self.memo[key] = value
        if self.store is not None:
            self.store.put(key, value)

    def body(self, file: Sop, base: str) -> RenderedBody:
        """FILE's body for a page BASE away from the root. Links to pages start with
        BASE_MARK in what is kept, so one rendering (the Markdown parse is most of a
        cold build's time) serves every page of the same text."""
        if file.doc is None:
            return RenderedBody(Markup(""), ())
        body_text = "".join(file.doc.text.splitlines(keepends=True)[file.doc.body_line - 1 :])
        title = file.meta("title", file.sop_id)
        key = digest(self.code, "body", body_text, title, file.path)
        kept = self._kept(key)
        found = _body_from(kept, self.link_for)
        if found is None:
            links = Recording(self.link_for)
            made = render_body(body_text, title, links, file.path)
            looked = tuple(sorted(links.seen.items()))
            self._keep(
                key,
                [
                    str(made.html),
                    [list(c) for c in made.contents],
                    [[s.anchor, s.heading, s.text] for s in made.sections],
                    [list(x) for x in looked],
                ],
            )
            found = (made, looked)
        body, looked = found
        self.used.add(key)
        self.lookups.update(looked)
        return replace(body, html=Markup(str(body.html).replace(BASE_MARK, base)))

    def redline(self, old: str, new: str, old_label: str, new_label: str) -> Markup:
        key = digest(self.code, "redline", old, new, old_label, new_label)
        html = self._kept(key)
        if not isinstance(html, str):
            html = render_html_fragment(redline(old, new, old_label, new_label))
            self._keep(key, html)
        self.used.add(key)
        return Markup(html)  # redline's own escaping


def _body_from(kept: Any, link_for: Mapping[str, str]) -> tuple[RenderedBody, Lookups] | None:
    """The RenderedBody Derived.body kept, if each link it looked up leads where it did."""
    try:
        html, contents, sections, looked = kept
        links = tuple((str(t), v) for t, v in looked)
        if any(link_for.get(target) != value for target, value in links):
            return None
        return (
            RenderedBody(
                Markup(html),  # rendered by render_body, escaped there
                tuple((str(a), str(t)) for a, t in contents),
                tuple(Section(str(a), str(h), str(t)) for a, h, t in sections),
            ),
            links,
        )
    except (TypeError, ValueError):
        return None


# --- the plan: every file and what it is made from ------------------------------------------


@dataclass
class SitePlan:
    outputs: dict[str, Output]  # relative path -> the file
    sops: dict[str, SopEntry]  # what the next build needs to know of each SOP
    sizes: dict[str, int]  # changelog candidates measured
    checked: set[str]  # files found on disk as the last build wrote them, while planning
    search_changed: bool  # the search data is written anew (its documents are to be kept)


def site_pages(
    snapshot: Snapshot,
    today: dt.date,
    env: jinja2.Environment,
    store: Store | None = None,
    kept: SiteState | None = None,
    output: Path | None = None,
) -> SitePlan:
    """Every file of the site with the digest of its inputs. An SOP whose inputs are
    those KEPT recorded, with its pages as recorded in OUTPUT, is not read or rendered;
    the others are (their texts from git, their bodies from STORE where it has them)."""
    lib = snapshot.lib
    config = lib.config
    root = lib.root
    versions = all_versions(snapshot)
    log = library_changelog(snapshot, versions)
    repo_url = repository_url(lib)
    home_site = site_info(snapshot, today, repo_url)
    site = {**home_site, "commit": None, "today": None}  # pages other than the home page
    code = code_key()
    assets = static_files(root)
    copied = referenced_files(root, snapshot.sops.values())
    shared = digest(
        code,
        config,
        site,
        repo_url,
        _templates_digest(root),
    )
    states = {row.id: row for row in status_rows(snapshot, today)}
    names = former_paths(
        snapshot.history.commits, {s.path: s.sop_id for s in snapshot.sops.values()}
    )
    bumps = _bumps_by_sop(log)
    neighbours = _neighbours(snapshot)
    # a link to another SOP's file, under any name it had, opens that SOP's page
    link_for = {
        path: BASE_MARK + sop_page_name(sop_id) for sop_id, paths in names.items() for path in paths
    }
    # an image or a form beside an SOP: its copy in the site (build_site copies it)
    for name in copied:
        link_for.setdefault(name.removeprefix(FILES_DIR), BASE_MARK + name)
    derived = Derived(store, link_for, code)

    wanted = text_specs(snapshot, versions, names)
    specs_of: dict[str, list[TextSpec]] = {}
    for spec in wanted:
        specs_of.setdefault(spec.sop_id, []).append(spec)
    texts = TextSource(snapshot)
    drafts = {w.sop_id: w for w in wanted if not w.label}
    if kept is not None:
        texts.identify(drafts.values())  # the drafts' object ids are part of each SOP's key
    else:
        texts.read(wanted)  # every text will be rendered: all in one read
    inputs: dict[str, str] = {}
    for sop in snapshot.sops.values():
        sop_id = sop.sop_id
        draft_spec = drafts.get(sop_id)
        version = versions[sop_id]
        draft_text = texts.found_id(draft_spec) if draft_spec else None
        if draft_text is None:  # not at HEAD: the work tree's file may stand in for it
            draft_text = ("work tree " + sop.path, digest(sop.text))
        # What the SOP's pages are made from, besides what all pages share (SHARED) and
        # the links its texts look up (kept apart, see Derived): its texts are named by
        # where they are (the tags' commits are in its version) and the draft by its
        # object id at HEAD, else by the work tree's text.
        key_parts = (
            sop_id,
            sop.path,
            tuple(names.get(sop_id, [sop.path])),
            draft_text,
            _version_key(version),
            astuple(states[sop_id]),
            tuple(sorted(bumps.get(sop_id, {}).items())),
            neighbours[sop_id],
            _department_name(snapshot, sop_id),
        )
        inputs[sop_id] = digest(shared, key_parts)

    def fresh(sop_id: str, key: str) -> SopEntry | None:
        entry = kept.sops.get(sop_id) if kept is not None else None
        if entry is None or entry.key != key or output is None or kept is None:
            return None
        if any(link_for.get(target) != value for target, value in entry.links):
            return None
        page_key = digest(key, entry.links)
        if all(kept.valid(output, path, page_key) for path in entry.pages):
            return entry
        return None

    entries: dict[str, SopEntry] = {}
    checked: set[str] = set()  # pages found on disk as the last build wrote them
    reused = {sop_id: fresh(sop_id, key) for sop_id, key in inputs.items()}
    stale = [sop_id for sop_id, entry in reused.items() if entry is None]
    if kept is not None and stale:
        texts.read(w for sop_id in stale for w in specs_of.get(sop_id, []) if w.label)
    pages: list[Page] = []
    page_keys: dict[str, str] = {}
    fmt = config.format

    def make(sop: Sop) -> SopEntry:
        """SOP's pages planned afresh (its texts parsed, its bodies rendered or reused)."""
        sop_id = sop.sop_id
        released: dict[str, Sop] = {}
        draft_file: Sop | None = None
        for spec in specs_of.get(sop_id, []):
            found = texts.found(spec)
            if found is None:
                continue
            parsed = parse_sop(sop_id, found[0], found[1].decode("utf-8", errors="replace"), fmt)
            if spec.label:
                released[spec.label] = parsed
            else:
                draft_file = parsed
        version = versions[sop_id]
        if draft_file is None and (version.pending or not released):
            draft_file = sop  # not committed yet: the work tree is all there is
        derived.start()
        sop_pages_, documents = sop_pages(
            SopInput(
                sop=sop,
                version=version,
                state=states[sop_id],
                released=released,
                draft=draft_file,
                bumps=bumps.get(sop_id, {}),
                neighbours=neighbours[sop_id],
                department=_department_name(snapshot, sop_id),
                library=config.name,
            ),
            site,
            derived,
            repo_url,
            config.release_branch,
        )
        links, used = derived.finish()
        page_key = digest(inputs[sop_id], links)
        for page in sop_pages_:
            page_keys[page.path] = page_key
        pages.extend(sop_pages_)
        paths = tuple(p.path for p in sop_pages_)
        return SopEntry(inputs[sop_id], paths, links, digest(documents), used, documents)

    for count, sop in enumerate(snapshot.sops.values(), 1):
        progress.report("reading:", count, "SOPs")
        entry = reused[sop.sop_id]
        if entry is None:
            entries[sop.sop_id] = make(sop)
            continue
        entries[sop.sop_id] = entry
        page_key = digest(inputs[sop.sop_id], entry.links)
        for path in entry.pages:
            page_keys[path] = page_key
            checked.add(path)

    # The search data holds every SOP's effective text: written again only when one of
    # them changed, from the documents kept of the others (an SOP whose kept documents
    # are missing or not the ones recorded is planned afresh for them).
    search_key = digest(shared, "search", [(i, e.search) for i, e in entries.items()])
    search_kept = (
        kept is not None and output is not None and kept.valid(output, SEARCH_DATA, search_key)
    )
    search_changed = False
    if not search_kept:
        search_changed = True
        reuse = [i for i, e in entries.items() if reused[i] is not None]
        documents = store.search_documents() if store is not None and reuse else {}
        missing = []
        for sop_id in reuse:
            found_docs = documents.get(sop_id) if documents else None
            if found_docs is not None and digest(found_docs) == entries[sop_id].search:
                entries[sop_id] = replace(entries[sop_id], documents=found_docs)
            else:
                missing.append(sop_id)
        if missing:
            texts.read(w for sop_id in missing for w in specs_of.get(sop_id, []) if w.label)
            for sop_id in missing:
                for path in entries[sop_id].pages:
                    checked.discard(path)
                entries[sop_id] = make(snapshot.sops[sop_id])

    outputs: dict[str, Output] = {}
    index = index_context(config.name, config.departments.values(), index_items(snapshot, versions))
    summary = _summary(states.values(), today)
    home = Page(
        "index.html",
        "index.html.j2",
        {
            "site": home_site,
            "page": "home",
            "title": config.name,
            "index": _with_states(index, states, today),
            "summary": summary,
            "filters": _filters(index, summary),
            "search_data": SEARCH_DATA,
        },
    )
    page_keys[home.path] = digest(shared, home_site, home.context)
    for page in [home, *pages]:
        outputs[page.path] = Output(page_keys[page.path], partial(_render, env, page))
    for page_path, key in page_keys.items():
        if page_path not in outputs:  # an SOP's page as the last build wrote it
            outputs[page_path] = Output(key, None)
    sizes: dict[str, int] = {}
    outputs.update(
        changelog_pages(snapshot, env, log, site, shared, kept.sizes if kept else {}, sizes)
    )
    search_key = digest(shared, "search", [(i, e.search) for i, e in entries.items()])
    outputs[SEARCH_DATA] = Output(
        search_key,
        partial(_search_bytes, [e.documents for e in entries.values()]) if search_changed else None,
    )
    for name, file in assets.items():
        outputs[f"assets/{name}"] = _file_output(file)
    for name, file in copied.items():  # the images and files SOPs point at
        outputs[name] = _file_output(file)
    marker = b"built by sopgit build; safe to delete\n"
    outputs[MARKER] = Output(digest(marker), partial(bytes, marker))
    outputs[".nojekyll"] = Output(digest(b""), bytes)  # GitHub Pages: serve as is
    if search_kept:
        checked.add(SEARCH_DATA)
    return SitePlan(outputs, entries, sizes, checked, search_changed)


TAG_FIELDS = tuple(f.name for f in fields(Tag))
CHANGE_FIELDS = tuple(f.name for f in fields(Change))


def _tag_key(tag: Tag) -> tuple[object, ...]:
    return tuple(getattr(tag, name) for name in TAG_FIELDS)


def _change_field(change: Change, name: str) -> object:
    if name == "commit":
        return change.commit.sha
    if name == "message":  # parsed from the commit's message: named by its id too
        return None
    return getattr(change, name)


def _version_key(version: SopVersion) -> tuple[object, ...]:
    """VERSION as plain data for its SOP's key, without the cost of a dataclass's repr:
    each tag by all its fields, each pending change by its commit's id (which names the
    commit's content, its message too) and every other field of the change (the bump and
    pull request made of it); the rest as it is."""
    parts: list[object] = []
    for f in fields(version):
        value = getattr(version, f.name)
        if f.name == "releases":
            value = tuple(
                ((v.major, v.minor, v.patch, v.prerelease, v.build), _tag_key(tag))
                for v, tag in value
            )
        elif f.name == "pending":
            value = tuple(tuple(_change_field(c, n) for n in CHANGE_FIELDS) for c in value)
        parts.append((f.name, value))
    return tuple(parts)


def _render(env: jinja2.Environment, page: Page) -> bytes:
    return page_bytes(env.get_template(page.template).render(base=page.base, **page.context))


def _search_bytes(documents: list[list[dict[str, Any]]]) -> bytes:
    return page_bytes(search_script([d for group in documents for d in group]))


def _file_output(file: Path) -> Output:
    data = file.read_bytes()
    return Output(digest("file", hashlib.sha256(data).hexdigest()), partial(bytes, data))


def _templates_digest(root: Path) -> str:
    """Every file the site's templates may load (a template may include any file of its
    folder, static ones too): the library's, then the packaged ones."""
    found = []
    for folder in (root / "templates" / "site", resource_dir("templates") / "site"):
        if folder.is_dir():
            for file in sorted(folder.rglob("*")):
                # never read through a link of the library (the loader refuses those)
                if file.is_file() and link_on_path(root, file) is None:
                    content = hashlib.sha256(file.read_bytes()).hexdigest()
                    found.append((file.relative_to(folder).as_posix(), content))
        found.append(("--", str(folder)))
    return digest(found)


def site_info(snapshot: Snapshot, today: dt.date, repo_url: str | None) -> dict[str, Any]:
    return {
        "name": snapshot.lib.config.name,
        "branch": snapshot.branch,
        "commit": (snapshot.head or "")[:10],
        "today": today.isoformat(),
        "repository_url": repo_url,
    }


def _department_name(snapshot: Snapshot, sop_id: str) -> str:
    dept = snapshot.lib.config.departments.get(department_of(sop_id))
    return dept.name if dept else department_of(sop_id)


def _neighbours(snapshot: Snapshot) -> dict[str, dict[str, Any]]:
    """The previous and next SOP of the same department, by id."""
    by_dept: dict[str, list[Sop]] = {}
    for sop in snapshot.sops.values():
        by_dept.setdefault(department_of(sop.sop_id), []).append(sop)
    found: dict[str, dict[str, Any]] = {}
    for group in by_dept.values():
        for i, sop in enumerate(group):
            prev = group[i - 1] if i > 0 else None
            after = group[i + 1] if i + 1 < len(group) else None
            found[sop.sop_id] = {
                "previous": _ref(prev) if prev else None,
                "next": _ref(after) if after else None,
            }
    return found


def _ref(sop: Sop) -> dict[str, str]:
    return {
        "id": sop.sop_id,
        "title": sop.meta("title", sop.sop_id),
        "url": sop_page_name(sop.sop_id),
    }


@dataclass(frozen=True)
class SopInput:
    """Everything one SOP's pages are made from."""

    sop: Sop  # the work tree's file: where it lives now
    version: SopVersion
    state: StatusRow
    released: Mapping[str, Sop]  # version -> the file at its release tag
    draft: Sop | None  # the file on the branch, when something is pending or unreleased
    bumps: Mapping[str, str]  # version -> its bump
    neighbours: Mapping[str, Any]
    department: str
    library: str  # the library's name


def sop_pages(
    given: SopInput,
    site: Mapping[str, Any],
    derived: Derived,
    repo_url: str | None,
    release_branch: str,
) -> tuple[list[Page], list[dict[str, Any]]]:
    """One SOP's pages: its effective text (the default page), a permanent page per
    released version, and its draft when something is pending; and the search
    documents of its effective text.

    Each page is a Page with its own context, so another kind of page (a comparison
    of two versions, say) is one more entry in the list.
    """
    sop_id = given.sop.sop_id
    rows = history_rows(given.version)
    tagged = [r for r in rows if r.tag and r.version in given.released]
    retired_final = bool(tagged) and given.released[tagged[-1].version].meta("status") == "retired"
    has_draft = given.draft is not None and (bool(given.version.pending) or not tagged)
    draft_path = draft_page_name(sop_id) if tagged else sop_page_name(sop_id)
    links = {
        "current": sop_page_name(sop_id),
        "draft": draft_path if has_draft else None,
        "versions": [
            {"version": r.version, "date": r.date, "url": version_page_name(sop_id, r.version)}
            for r in reversed(tagged)
        ],
        "previous": given.neighbours.get("previous"),
        "next": given.neighbours.get("next"),
    }
    common = {
        "site": site,
        "page": "sop",
        "links": links,
        "state": given.state.state,
        "department": given.department,
        "repo_url": repo_url,
    }
    pages: list[Page] = []
    search: list[dict[str, Any]] = []
    changes = {
        row.version: changes_page_name(sop_id, row.version) for row in tagged[1:]
    }  # every release but the first has a redline against the one before it
    for before, after in zip(tagged, tagged[1:], strict=False):
        pages.append(_changes_page(given, common, before, after, changes[after.version], derived))
    for position, row in enumerate(tagged):
        newest = position == len(tagged) - 1
        kind = "retired" if newest and retired_final else "current" if newest else "superseded"
        file = given.released[row.version]
        shown = [r for r in rows if _not_after(r, row, rows)]
        for path in ([sop_page_name(sop_id)] if newest else []) + [
            version_page_name(sop_id, row.version)
        ]:
            base = "../" * path.count("/")
            body = derived.body(file, base)
            context = {
                **common,
                **_document(file, given, body, repo_url, row.tag or release_branch),
                "view": _released_view(sop_id, row, kind, path, tagged[-1].version, given),
                "releases": _release_rows(
                    reversed(shown), given.bumps, repo_url, sop_id, tagged, changes
                ),
                "timeline": timeline(shown, given.bumps),
                "pending": [],  # listed on the draft page: not approved text
                "redline": None,
            }
            pages.append(Page(path, "sop.html.j2", context))
            if newest and path == sop_page_name(sop_id):
                search.extend(_search_documents(sop_id, file, body, row.version, kind, path))
    if has_draft and given.draft is not None:
        base = "../" * draft_path.count("/")
        body = derived.body(given.draft, base)
        context = {
            **common,
            **_document(given.draft, given, body, repo_url, release_branch),
            "view": _draft_view(given, draft_path, tagged[-1].version if tagged else None),
            "releases": _release_rows(
                reversed(rows), given.bumps, repo_url, sop_id, tagged, changes
            ),
            "timeline": timeline(rows, given.bumps),
            "pending": _pending(given.version, repo_url),
            "redline": _draft_redline(given, tagged, derived),
        }
        pages.append(Page(draft_path, "sop.html.j2", context))
    return pages, search


def _changes_page(
    given: SopInput,
    common: Mapping[str, Any],
    before: HistoryRow,
    after: HistoryRow,
    path: str,
    derived: Derived,
) -> Page:
    """The "changes from the previous version" page of the release AFTER."""
    sop_id = given.sop.sop_id
    old, new = given.released[before.version], given.released[after.version]
    html = derived.redline(
        old.text, new.text, f"{sop_id} v{before.version}", f"{sop_id} v{after.version}"
    )
    title = new.meta("title", sop_id)
    context = {
        **common,
        "page": "changes",
        "title": f"{sop_id} {title} v{after.version}: changes from v{before.version} · "
        f"{given.library}",
        "sop": {"id": sop_id, "title": title, "department_code": department_of(sop_id)},
        "change": {
            "from": before.version,
            "to": after.version,
            "from_url": version_page_name(sop_id, before.version),
            "to_url": version_page_name(sop_id, after.version),
            "date": after.date,
            "description": terminal_safe(after.description),  # a commit subject: untrusted
            "approved_by": terminal_safe(after.approved_by),
            "tag": after.tag,
        },
        "redline": html,
    }
    return Page(path, "changes.html.j2", context)


def _draft_redline(given: SopInput, tagged: list[HistoryRow], derived: Derived) -> Markup | None:
    """The draft's redline against the effective text, when there is one to compare with."""
    if given.draft is None or not tagged:
        return None
    effective = given.released[tagged[-1].version]
    return derived.redline(
        effective.text,
        given.draft.text,
        f"{given.sop.sop_id} v{tagged[-1].version} (effective)",
        f"{given.sop.sop_id} draft (not approved)",
    )


def _not_after(candidate: HistoryRow, row: HistoryRow, rows: list[HistoryRow]) -> bool:
    """Is CANDIDATE in the history as it stood when ROW was released (oldest first)?"""
    return rows.index(candidate) <= rows.index(row)


def _document(
    file: Sop, given: SopInput, body: RenderedBody, repo_url: str | None, ref: str
) -> dict[str, Any]:
    """The SOP as this one file (a released version, or the draft) says it."""
    title = file.meta("title", file.sop_id)
    tags = file.raw("tags")
    return {
        "title": f"{file.sop_id} {title} · {given.library}",
        "sop": {
            "id": file.sop_id,
            "title": title,
            "description": file.meta("description"),
            "owner": file.meta("owner"),
            "status": file.meta("status", "draft"),
            "department": given.department,
            "department_code": department_of(file.sop_id),
            "tags": [str(t) for t in tags] if isinstance(tags, list) else [],
            "path": file.path,
            "source_url": f"{repo_url}/blob/{ref}/{file.path}" if repo_url else None,
            "parsed": file.doc is not None,
            "review_due": given.state.review_due,
            "last_updated": file.meta("lastUpdated"),
        },
        "body": body.html,
        "contents": body.contents,
    }


def _released_view(
    sop_id: str, row: HistoryRow, kind: str, path: str, newest: str, given: SopInput
) -> dict[str, Any]:
    label = {"current": "", "superseded": " (superseded)", "retired": " (retired)"}[kind]
    return {
        "kind": kind,
        "version": row.version,
        "effective": row.date,
        "approved_by": row.approved_by,
        "author": row.author,
        "description": row.description,
        "tag": row.tag,
        "newest": newest,
        "permalink": version_page_name(sop_id, row.version),
        "is_permalink": path == version_page_name(sop_id, row.version),
        "next_version": str(given.version.next) if given.version.next else None,
        "pending": len(given.version.pending),
        "banner": None,
        "print_top": f"Version {row.version}{label} · Effective {row.date}",
        "print_footer": f"Printed copy of {sop_id} v{row.version}{label}; "
        "the site holds the current version",
    }


def _draft_view(given: SopInput, path: str, released: str | None) -> dict[str, Any]:
    version = given.version
    upcoming = str(version.next) if version.next else None
    return {
        "kind": "draft",
        "version": None,
        "released": released,
        # an adopted SOP's hand-recorded version, which no release tag holds the text of
        "recorded": str(version.legacy) if version.legacy and not released else None,
        "effective": None,
        "approved_by": "",
        "author": ", ".join(version.authors),
        "description": "",
        "tag": None,
        "newest": released,
        "permalink": path,
        "is_permalink": False,
        "next_version": upcoming,
        "pending": len(version.pending),
        "banner": DRAFT_NOTICE,
        "print_top": f"{DRAFT_NOTICE}" + (f" · would be v{upcoming}" if upcoming else ""),
        "print_footer": f"{DRAFT_NOTICE}: {given.sop.sop_id}"
        + (f" (v{released} is in force)" if released else " (never released)"),
    }


def _release_rows(
    rows: Iterable[HistoryRow],
    bumps: Mapping[str, str],
    repo_url: str | None,
    sop_id: str,
    tagged: list[HistoryRow],
    changes: Mapping[str, str],
) -> list[dict[str, Any]]:
    pages = {r.version for r in tagged}
    return [
        {
            "version": r.version,
            "date": r.date,
            "description": r.description,
            "author": r.author,
            "approved_by": r.approved_by,
            "tag": r.tag,
            "bump": bumps.get(r.version, ""),
            "pull_requests": [_pr(n, repo_url) for n in r.pull_requests],
            "url": version_page_name(sop_id, r.version) if r.version in pages else None,
            "changes_url": changes.get(r.version),
        }
        for r in rows
    ]


def _pending(version: SopVersion, repo_url: str | None) -> list[dict[str, Any]]:
    return [
        {
            "subject": c.commit.subject,
            "commit": c.commit.sha[:10],
            "author": c.commit.author_name,
            "date": dt.datetime.fromtimestamp(c.commit.author_time, dt.UTC).date().isoformat(),
            "bump": c.bump,
            "pull_request": _pr(c.pull_request, repo_url),
        }
        for c in version.pending
    ]


def _search_documents(
    sop_id: str, file: Sop, body: RenderedBody, version: str, kind: str, path: str
) -> list[dict[str, Any]]:
    """One search document per heading's part of the effective text."""
    title = file.meta("title", sop_id)
    return [
        {
            "sop": sop_id,
            "title": title,
            "version": version,
            "retired": kind == "retired",
            "heading": section.heading,
            "url": f"{path}#{section.anchor}" if section.anchor else path,
            "text": section.text,
        }
        for section in body.sections
        if section.text or section.heading
    ]


def search_script(documents: list[dict[str, Any]]) -> str:
    """The search documents as a script that sets one global: a script, not JSON, so
    that pages opened from disk (file:) can load it too, where fetch() is refused."""
    numbered = [{**document, "id": number} for number, document in enumerate(documents)]
    data = json.dumps(numbered, ensure_ascii=True, separators=(",", ":"), sort_keys=True)
    return f"window.SOPGIT_SEARCH = {data};\n"


def _pr(number: int | None, repo_url: str | None) -> dict[str, Any] | None:
    if number is None:
        return None
    return {"number": number, "url": f"{repo_url}/pull/{number}" if repo_url else None}


def _bumps_by_sop(changelog: Changelog) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for release in changelog.releases:
        for entry in release.entries:
            found.setdefault(entry.sop_id, {})[entry.version] = entry.bump
    return found


# --- the home page ------------------------------------------------------------------------

# What a manager asks, in order: a card each, and a filter each on the home page.
CARDS = (
    ("in-force", "In force"),
    ("changed", "With pending changes"),
    ("draft", "Drafts"),
    ("review-due", "Review due"),
    ("retired", "Retired"),
)


def flags(row: StatusRow, today: dt.date) -> list[str]:
    """The cards an SOP counts in. In force: released and not retired, whether or not
    changes are pending or its review is due; the other cards say which of those."""
    if row.state == "retired":
        return ["retired"]
    if row.version is None:
        return ["draft"]
    found = ["in-force"]
    if row.pending:
        found.append("changed")
    if row.review_due is not None and row.review_due <= today.isoformat():
        found.append("review-due")
    return found


def _with_states(
    index: dict[str, Any], states: Mapping[str, StatusRow], today: dt.date
) -> dict[str, Any]:
    def row(item: dict[str, Any]) -> dict[str, Any]:
        state = states[item["id"]]
        return {
            **item,
            "link": sop_page_name(item["id"]),
            "state": state.state,
            "flags": flags(state, today),
            "shown_version": state.shown_version,
            "next_version": state.next_version,
            "review_due": state.review_due,
        }

    return {
        **index,
        "departments": [
            {**dept, "sops": [row(item) for item in dept["sops"]]} for dept in index["departments"]
        ],
        "retired": [row(item) for item in index["retired"]],
    }


def _summary(rows: Iterable[StatusRow], today: dt.date) -> list[dict[str, Any]]:
    counts = {card: 0 for card, _ in CARDS}
    for row in rows:
        for flag in flags(row, today):
            counts[flag] += 1
    return [{"state": card, "label": label, "count": counts[card]} for card, label in CARDS]


def _filters(index: dict[str, Any], summary: list[dict[str, Any]]) -> dict[str, Any]:
    tags = sorted(
        {
            tag
            for group in [*(d["sops"] for d in index["departments"]), index["retired"]]
            for item in group
            for tag in item["tags"]
        }
    )
    used = {item["department"] for item in index["retired"]}
    used |= {d["code"] for d in index["departments"] if d["sops"]}
    return {
        "departments": [
            {"code": d["code"], "name": d["name"]}
            for d in index["departments"]
            if d["code"] in used
        ],
        "states": [{"state": s["state"], "label": s["label"]} for s in summary if s["count"]],
        "tags": tags,
    }


# --- the changelog, split ----------------------------------------------------------------


def changelog_pages(
    snapshot: Snapshot,
    env: jinja2.Environment,
    log: Changelog,
    site: Mapping[str, Any],
    shared: str,
    measured: Mapping[str, int],
    sizes: dict[str, int],
) -> dict[str, Output]:
    """changelog.html, an index of pages: the unreleased changes, then the releases by
    year. A page past CHANGELOG_PAGE_BYTES is split again (a year by month, unreleased
    changes by department, then in halves), so none grows with the library's age.

    Whether a page is split depends on its size once rendered: MEASURED holds the sizes
    a build measured before, by the digest of the page's inputs, so a page whose inputs
    did not change is neither rendered nor measured again. SIZES gets what this build
    used, to keep for the next."""
    config = snapshot.lib.config
    repo_url = site["repository_url"]
    changelog = changelog_context(log, config.name, repo_url)
    template = env.get_template("changelog.html.j2")
    released = {
        sop_id: {str(v) for v, _ in tags} for sop_id, tags in snapshot.history.tags_by_sop.items()
    }
    common = {
        "site": site,
        "page": "changelog",
        "pages": {sop_id: sop_page_name(sop_id) for sop_id in snapshot.sops},
        "versions": released,
        "base": "../",
    }
    common_key = digest(
        shared,
        "changelog",
        {k: v for k, v in changelog.items() if k not in ("releases", "unreleased")},
        {**common, "versions": {k: sorted(v) for k, v in sorted(released.items())}},
    )

    def render(label: str, releases: list[Any], unreleased: list[Any]) -> str:
        return template.render(
            **common,
            title=f"Changelog: {label} · {config.name}",
            heading=label,
            changelog={**changelog, "releases": releases, "unreleased": unreleased},
            parts=None,
        )

    out: dict[str, Output] = {}
    parts: list[dict[str, Any]] = []

    def place(
        key: str, label: str, releases: list[Any], unreleased: list[Any], cuts: list[Any]
    ) -> None:
        made = digest(common_key, key, label, releases, unreleased)
        size = measured.get(made)
        html = None
        if size is None:
            html = render(label, releases, unreleased)
            size = len(html.encode())
        sizes[made] = size
        entries = sum(len(r["sops"]) for r in releases) + len(unreleased)
        if size <= CHANGELOG_PAGE_BYTES or not cuts or entries <= 1:
            make = (
                partial(page_bytes, html)
                if html is not None
                else partial(_render_html, render, label, releases, unreleased)
            )
            out[f"changelog/{key}.html"] = Output(made, make)
            parts.append(
                {
                    "url": f"changelog/{key}.html",
                    "label": label,
                    "releases": len(releases),
                    "entries": sum(len(r["sops"]) for r in releases) + len(unreleased),
                    "unreleased": bool(unreleased),
                }
            )
            return
        cut, *rest = cuts
        rest = rest or [cut]  # the last way of cutting goes on until a page fits
        for sub_key, sub_label, sub_releases, sub_unreleased in cut(
            key, label, releases, unreleased
        ):
            place(sub_key, sub_label, sub_releases, sub_unreleased, rest)

    if changelog["unreleased"]:
        place("unreleased", "Unreleased", [], changelog["unreleased"], [_by_department, _halves])
    years: dict[str, list[Any]] = {}
    for release in changelog["releases"]:
        years.setdefault(release["date"][:4], []).append(release)
    for year, releases in years.items():
        place(year, year, releases, [], [_by_month, _halves])
    context = {
        **{**common, "base": ""},
        "title": f"Changelog · {config.name}",
        "heading": None,
        "changelog": {**changelog, "releases": [], "unreleased": []},
        "parts": parts,
    }
    out["changelog.html"] = Output(
        digest(common_key, "index", parts),
        lambda: page_bytes(template.render(**context)),
    )
    return out


def _render_html(
    render: Callable[[str, list[Any], list[Any]], str],
    label: str,
    releases: list[Any],
    unreleased: list[Any],
) -> bytes:
    return page_bytes(render(label, releases, unreleased))


Cut = Iterable[tuple[str, str, list[Any], list[Any]]]


def _by_month(key: str, label: str, releases: list[Any], unreleased: list[Any]) -> Cut:
    months: dict[str, list[Any]] = {}
    for release in releases:
        months.setdefault(release["date"][:7], []).append(release)
    for month, group in months.items():
        yield month, long_date(f"{month}-01").replace(" 1,", ""), group, []


def _by_department(key: str, label: str, releases: list[Any], unreleased: list[Any]) -> Cut:
    depts: dict[str, list[Any]] = {}
    for entry in unreleased:
        depts.setdefault(department_of(entry["id"]), []).append(entry)
    for code, group in depts.items():
        yield f"{key}-{code}", f"{label}, {code}", [], group


def _halves(key: str, label: str, releases: list[Any], unreleased: list[Any]) -> Cut:
    """Two pages of half the releases each; one release (many SOPs released together)
    is split by its SOPs, the Unreleased part by its entries."""
    pairs: list[tuple[list[Any], list[Any]]]
    if len(releases) == 1:
        release = releases[0]
        middle = len(release["sops"]) // 2
        halves = [
            [{**release, "sops": release["sops"][:middle]}],
            [{**release, "sops": release["sops"][middle:]}],
        ]
        pairs = [(half, []) for half in halves]
    elif releases:
        middle = len(releases) // 2
        pairs = [(releases[:middle], []), (releases[middle:], [])]
    else:
        middle = len(unreleased) // 2
        pairs = [([], unreleased[:middle]), ([], unreleased[middle:])]
    for number, (part_releases, part_unreleased) in enumerate(pairs, 1):
        yield f"{key}-{number}", f"{label} ({number} of 2)", part_releases, part_unreleased
