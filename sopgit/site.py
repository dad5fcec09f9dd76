"""The static HTML site: one read of the library, then pages rendered with jinja2.

HTML has its own jinja2 environment with autoescape on (every title, subject and name
is untrusted text), and Markdown is rendered with markdown-it-py with raw HTML off and
only safe link schemes, so no SOP body can carry a script either. A library's own
templates/site/ comes first, then the packaged one. Every link is relative, and no page
fetches anything from the network, so the folder works from disk or any static host.
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jinja2
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

from sopgit import progress
from sopgit.catalog import department_of, index_context, long_date
from sopgit.changelog import changelog_context
from sopgit.errors import UsageError
from sopgit.history import HistoryRow, SopVersion, history_rows
from sopgit.publish import all_versions, index_items, library_changelog, repository_url
from sopgit.resources import resource_dir
from sopgit.snapshot import Snapshot, Sop
from sopgit.status import StatusRow, status_rows

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


# --- Markdown -------------------------------------------------------------------------


def safe_link(url: str) -> bool:
    """Relative links and http(s), mailto, tel; never javascript:, data:, file: or others."""
    match = SCHEME.match(url.strip())
    return match is None or match.group(1).lower() in SAFE_SCHEMES


@cache
def markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.validateLink = safe_link  # type: ignore[method-assign]
    return md


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


@dataclass(frozen=True)
class RenderedBody:
    html: Markup
    contents: tuple[tuple[str, str], ...]  # (anchor, title) of each section


def render_body(
    body: str, title: str, link_for: Mapping[str, str] | None = None, source: str = ""
) -> RenderedBody:
    """An SOP body as HTML: the title heading and the managed Revision History section
    left out (the page shows both from the history), each procedure step wrapped in a
    <section class="step"> so that print keeps it together, headings given anchors.

    LINK_FOR maps library paths to page URLs; relative links from SOURCE (the SOP's
    path) to another SOP's file then open its page.
    """
    md = markdown()
    tokens = _drop_revision_history(_drop_title(md.parse(body), title))
    contents: list[tuple[str, str]] = []
    used = {"main", "revision-history"}  # ids the page itself uses
    out: list[Token] = []
    in_step = False
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.level == 0:
            text = _plain(tokens[index + 1]) if index + 1 < len(tokens) else ""
            anchor = slug(text)
            while anchor in used:
                anchor += "-"
            used.add(anchor)
            token.attrSet("id", anchor)
            if token.tag == "h2":
                contents.append((anchor, text))
            if in_step and token.tag in ("h1", "h2", "h3"):
                out.append(_html("</section>\n"))
                in_step = False
            if token.tag == "h3":
                out.append(_html('<section class="step">\n'))
                in_step = True
        if token.type == "inline" and token.children and link_for is not None:
            for child in token.children:
                if child.type == "link_open":
                    href = str(child.attrGet("href") or "")
                    child.attrSet("href", _rewrite_link(href, source, link_for))
        out.append(token)
    if in_step:
        out.append(_html("</section>\n"))
    html = md.renderer.render(out, md.options, {})
    return RenderedBody(Markup(html), tuple(contents))  # markdown-it escaped it


def _plain(inline: Token) -> str:
    """The text of an inline token, without its Markdown syntax."""
    parts = [c.content for c in inline.children or [] if c.type in ("text", "code_inline")]
    return "".join(parts) if parts else inline.content


def _html(text: str) -> Token:
    """Markup sopgit itself writes (never user text) between the rendered blocks."""
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
    """Points for an inline SVG: one per release, placed by date, never closer than GAP."""
    left, right, gap = 40, width - 40, 56
    dates = [dt.date.fromisoformat(r.date) for r in rows if _is_date(r.date)]
    if len(dates) != len(rows) or not rows:
        dates = [dt.date(2000, 1, 1) + dt.timedelta(days=i) for i in range(len(rows))]
    first, last = (min(dates), max(dates)) if dates else (None, None)
    span = (last - first).days if first and last else 0
    xs: list[float] = []
    for day in dates:
        x = left + ((day - first).days / span * (right - left) if span and first else 0)
        if len(rows) == 1:
            x = (left + right) / 2
        xs.append(max(x, xs[-1] + gap) if xs else x)
    if xs and xs[-1] > right:  # pushed off the end: squeeze back into the line
        scale = (right - left) / (xs[-1] - left) if xs[-1] > left else 1
        xs = [left + (x - left) * scale for x in xs]
    points: list[dict[str, Any]] = []
    for x, row in zip(xs, rows, strict=True):
        # Labels sit below the line; one that would touch its neighbour's goes above.
        crowded = bool(points) and x - points[-1]["x"] < LABEL_WIDTH and not points[-1]["above"]
        points.append(
            {
                "x": round(x, 1),
                "version": row.version,
                "date": row.date,
                "bump": bumps.get(row.version, "patch"),
                "above": crowded,
            }
        )
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
        "points": points,
    }


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


def site_environment(library_root: Path | None = None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if library_root is not None and (library_root / "templates" / "site").is_dir():
        loaders.append(jinja2.FileSystemLoader(library_root / "templates" / "site"))
    loaders.append(jinja2.FileSystemLoader(resource_dir("templates") / "site"))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=True,  # every value is untrusted text until escaped
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["long_date"] = long_date
    env.filters["css_string"] = css_string
    env.globals["state_labels"] = STATE_LABELS
    return env


def static_files(library_root: Path | None) -> dict[str, Path]:
    """Name -> file of the site's static assets; a library's own file of a name wins."""
    found: dict[str, Path] = {}
    folders = [resource_dir("templates") / "site" / "static"]
    if library_root is not None:
        folders.append(library_root / "templates" / "site" / "static")
    for folder in folders:
        if folder.is_dir():
            for file in sorted(folder.iterdir()):
                if file.is_file():
                    found[file.name] = file
    return found


# --- the pages --------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteReport:
    output: Path
    pages: tuple[str, ...]  # relative paths written (or that would be)


def sop_page_name(sop_id: str) -> str:
    return f"sops/{sop_id}.html"


def build_site(
    snapshot: Snapshot, output: Path, today: dt.date, *, dry_run: bool = False
) -> SiteReport:
    """Render every page into a fresh folder, then put it in OUTPUT's place."""
    _check_output(snapshot.lib.root, output)
    root = snapshot.lib.root
    env = site_environment(root)
    pages = site_pages(snapshot, today, env)
    progress.done()
    assets = static_files(root)
    names = tuple(sorted([*pages, *(f"assets/{name}" for name in assets)]))
    if dry_run:
        return SiteReport(output, names)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}-", dir=output.parent))
    try:
        for name, html in pages.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(html, encoding="utf-8", newline="\n")
        (staging / "assets").mkdir(exist_ok=True)
        for name, file in assets.items():
            shutil.copyfile(file, staging / "assets" / name)
        (staging / MARKER).write_text("built by sopgit build; safe to delete\n", encoding="utf-8")
        (staging / ".nojekyll").write_text("", encoding="utf-8")  # GitHub Pages: serve as is
        os.chmod(staging, 0o755)  # mkdtemp's 0700 would hide the site from a web server
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return SiteReport(output, names)


def _check_output(root: Path, output: Path) -> None:
    """Only ever replace a folder sopgit built (or an empty one), never the library."""
    resolved = output.resolve()
    if resolved == root.resolve() or root.resolve().is_relative_to(resolved):
        raise UsageError("is the library or holds it; give a folder for the site", output)
    if output.exists() and not output.is_dir():
        raise UsageError("exists and is not a folder; give a folder for the site", output)
    if output.is_dir() and any(output.iterdir()) and not (output / MARKER).exists():
        raise UsageError(
            "holds files sopgit did not build; give an empty or new folder for the site",
            output,
        )


def site_pages(snapshot: Snapshot, today: dt.date, env: jinja2.Environment) -> dict[str, str]:
    """Relative page path -> HTML."""
    lib = snapshot.lib
    config = lib.config
    repo_url = repository_url(lib)
    states = {row.id: row for row in status_rows(snapshot, today)}
    link_for = {sop.path: f"{sop.sop_id}.html" for sop in snapshot.sops.values()}
    versions = all_versions(snapshot)
    changelog = changelog_context(library_changelog(snapshot, versions), config.name, repo_url)
    bumps = _bumps_by_sop(changelog)
    index = index_context(config.name, config.departments.values(), index_items(snapshot, versions))
    site = {
        "name": config.name,
        "branch": snapshot.branch,
        "commit": (snapshot.head or "")[:10],
        "today": today.isoformat(),
        "repository_url": repo_url,
    }
    pages: dict[str, str] = {}
    home = env.get_template("index.html.j2")
    pages["index.html"] = home.render(
        site=site,
        base="",
        page="home",
        title=config.name,
        index=_with_states(index, states),
        summary=_summary(states.values()),
        filters=_filters(index, states.values()),
    )
    pages["changelog.html"] = env.get_template("changelog.html.j2").render(
        site=site,
        base="",
        page="changelog",
        title=f"Changelog · {config.name}",
        changelog=changelog,
        pages={sop_id: sop_page_name(sop_id) for sop_id in snapshot.sops},
    )
    sop_template = env.get_template("sop.html.j2")
    for count, sop in enumerate(snapshot.sops.values(), 1):
        progress.report("rendering:", count, "SOP pages")
        pages[sop_page_name(sop.sop_id)] = sop_template.render(
            site=site,
            base="../",
            page="sop",
            **sop_context(
                snapshot,
                sop,
                versions[sop.sop_id],
                states[sop.sop_id],
                link_for,
                bumps,
                repo_url,
            ),
        )
    return pages


def sop_context(
    snapshot: Snapshot,
    sop: Sop,
    version: SopVersion,
    state: StatusRow,
    link_for: Mapping[str, str],
    bumps: Mapping[str, dict[str, str]],
    repo_url: str | None,
) -> dict[str, Any]:
    config = snapshot.lib.config
    rows = history_rows(version)
    title = sop.meta("title", sop.sop_id)
    if sop.doc is not None:
        body_text = "".join(sop.doc.text.splitlines(keepends=True)[sop.doc.body_line - 1 :])
        body = render_body(body_text, title, link_for, sop.path)
    else:
        body = RenderedBody(Markup(""), ())
    dept = config.departments.get(department_of(sop.sop_id))
    tags = sop.raw("tags")
    source_url = f"{repo_url}/blob/{config.release_branch}/{sop.path}" if repo_url else None
    pending = [
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
    releases = [
        {
            "version": r.version,
            "date": r.date,
            "description": r.description,
            "author": r.author,
            "approved_by": r.approved_by,
            "tag": r.tag,
            "bump": bumps.get(sop.sop_id, {}).get(r.version, ""),
            "pull_requests": [_pr(n, repo_url) for n in r.pull_requests],
        }
        for r in reversed(rows)  # newest first on the page
    ]
    return {
        "title": f"{sop.sop_id} {title} · {config.name}",
        "sop": {
            "id": sop.sop_id,
            "title": title,
            "description": sop.meta("description"),
            "owner": sop.meta("owner"),
            "status": sop.meta("status", "draft"),
            "state": state.state,
            "version": state.version,
            "next_version": state.next_version,
            "bump": state.bump,
            "pending": state.pending,
            "last_updated": state.last_updated,
            "effective": rows[-1].date if rows else None,
            "review_due": state.review_due,
            "department": dept.name if dept else department_of(sop.sop_id),
            "tags": [str(t) for t in tags] if isinstance(tags, list) else [],
            "path": sop.path,
            "source_url": source_url,
            "parsed": sop.doc is not None,
        },
        "body": body.html,
        "contents": body.contents,
        "releases": releases,
        "pending": pending,
        "timeline": timeline(rows, bumps.get(sop.sop_id, {})),
    }


def _pr(number: int | None, repo_url: str | None) -> dict[str, Any] | None:
    if number is None:
        return None
    return {"number": number, "url": f"{repo_url}/pull/{number}" if repo_url else None}


def _bumps_by_sop(changelog: dict[str, Any]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for release in changelog["releases"]:
        for entry in release["sops"]:
            found.setdefault(entry["id"], {})[entry["version"]] = entry["bump"]
    return found


def _with_states(index: dict[str, Any], states: Mapping[str, StatusRow]) -> dict[str, Any]:
    def row(item: dict[str, Any]) -> dict[str, Any]:
        state = states[item["id"]]
        return {
            **item,
            "link": sop_page_name(item["id"]),
            "state": state.state,
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


def _summary(rows: Iterable[StatusRow]) -> list[dict[str, Any]]:
    counts = {state: 0 for state in STATES}
    for row in rows:
        counts[row.state] = counts.get(row.state, 0) + 1
    return [{"state": s, "label": STATE_LABELS[s], "count": counts[s]} for s in STATES]


def _filters(index: dict[str, Any], rows: Iterable[StatusRow]) -> dict[str, Any]:
    tags = sorted(
        {
            tag
            for group in [*(d["sops"] for d in index["departments"]), index["retired"]]
            for item in group
            for tag in item["tags"]
        }
    )
    present = {row.state for row in rows}
    used = {item["department"] for item in index["retired"]}
    used |= {d["code"] for d in index["departments"] if d["sops"]}
    return {
        "departments": [
            {"code": d["code"], "name": d["name"]}
            for d in index["departments"]
            if d["code"] in used
        ],
        "states": [{"state": s, "label": STATE_LABELS[s]} for s in STATES if s in present],
        "tags": tags,
    }
