"""A redline between two texts of an SOP (pure): sections matched, blocks compared, words marked.

The texts are split into sections at their Markdown headings (the front matter is a
section of its own). Sections are matched by title; a section whose title changed is
matched by its number-less title or by its content and reported as renamed; a matched
section out of its old order is reported as moved. Inside a matched section the blocks
(paragraphs, list items, table rows, code fences) are compared, and a changed block is
marked word by word. difflib does the comparing.

Renderers give plain or coloured text (control characters escaped), Markdown (syntax
escaped), HTML (escaped) and a dict for JSON. Nothing here reads git or files.
"""

from __future__ import annotations

import difflib
import html
import re
import unicodedata
from dataclasses import dataclass

FRONT_MATTER = "Front matter"
HEADING = re.compile(r"^(?P<marks>#{1,6})[ \t]+(?P<title>.*?)[ \t]*#*[ \t]*$")
FENCE = re.compile(r"^\s*(```|~~~)")
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s")
NUMBERING = re.compile(r"^\s*(?:\d+[.)]?|[A-Za-z][.)])(?:\d+[.)]?)*\s+")
# a word may hold inner . : / @ ' - (dates, versions, addresses); other marks stand alone
TOKEN = re.compile(r"\s+|[\w.:/@'’-]*\w|[^\s]")
SIMILAR = 0.5  # blocks or section bodies at least this alike are one thing, changed


@dataclass(frozen=True)
class Section:
    level: int  # 1-6 for a heading; 0 for the front matter or text before any heading
    title: str
    blocks: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{'#' * self.level} {self.title}" if self.level else self.title


@dataclass(frozen=True)
class Piece:
    op: str  # "equal" | "delete" | "insert"
    text: str


@dataclass(frozen=True)
class BlockDiff:
    op: str  # "equal" | "delete" | "insert" | "change"
    old: str
    new: str
    pieces: tuple[Piece, ...] = ()  # for "change": the words kept, deleted, inserted


@dataclass(frozen=True)
class SectionDiff:
    status: str  # "unchanged" | "changed" | "added" | "removed"
    title: str  # the new title (the old one for a removed section)
    level: int
    old_title: str | None = None  # set when the section was renamed
    moved_after: str | None = None  # set when moved: the section it now follows ("" = first)
    blocks: tuple[BlockDiff, ...] = ()

    @property
    def renamed(self) -> bool:
        return self.old_title is not None

    @property
    def moved(self) -> bool:
        return self.moved_after is not None

    @property
    def shown(self) -> bool:
        """Does the redline mention this section?"""
        return self.status != "unchanged" or self.renamed or self.moved

    @property
    def label(self) -> str:
        return f"{'#' * self.level} {self.title}" if self.level else self.title

    def notes(self) -> list[str]:
        """What happened to the section, in words: `changed`, `renamed from "X"`, ..."""
        notes = []
        if self.status in ("added", "removed"):
            notes.append(self.status)
        if self.old_title is not None:
            notes.append(f'renamed from "{self.old_title}"')
        if self.moved_after is not None:
            where = f'after "{self.moved_after}"' if self.moved_after else "to the start"
            notes.append(f"moved {where}")
        if self.status == "changed":
            notes.append("changed")
        return notes

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "title": self.title,
            "level": self.level,
            "renamed_from": self.old_title,
            "moved": self.moved,
            "moved_after": self.moved_after,
            "blocks": [
                {
                    "op": b.op,
                    "old": b.old if b.op != "insert" else None,
                    "new": b.new if b.op != "delete" else None,
                    **({"words": [[p.op, p.text] for p in b.pieces]} if b.op == "change" else {}),
                }
                for b in self.blocks
                if b.op != "equal"
            ],
        }


@dataclass(frozen=True)
class Redline:
    old_label: str
    new_label: str
    sections: tuple[SectionDiff, ...]

    @property
    def changed(self) -> bool:
        return any(s.shown for s in self.sections)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for section in self.sections:
            for note in ("added", "removed", "changed"):
                counts[note] = counts.get(note, 0) + (section.status == note)
            counts["renamed"] = counts.get("renamed", 0) + section.renamed
            counts["moved"] = counts.get("moved", 0) + section.moved
        parts = [f"{n} {what}" for what, n in counts.items() if n]
        if not parts:
            return "no changes"
        total = sum(1 for s in self.sections if s.shown)
        return f"{total} section{'s' * (total != 1)}: " + ", ".join(parts)

    def as_dict(self) -> dict[str, object]:
        return {
            "from": self.old_label,
            "to": self.new_label,
            "summary": self.summary(),
            "sections": [s.as_dict() for s in self.sections if s.shown],
        }


# --- parsing ----------------------------------------------------------------------------


def sections_of(text: str) -> list[Section]:
    """TEXT split at its headings (outside code fences); the front matter comes first."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    found: list[Section] = []
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
        if end is not None:
            found.append(Section(0, FRONT_MATTER, tuple(x for x in lines[1:end] if x.strip())))
            lines = lines[end + 1 :]
    level, title = 0, ""
    body: list[str] = []
    fenced = False
    for line in lines:
        if FENCE.match(line):
            fenced = not fenced
        match = None if fenced else HEADING.match(line)
        if match:
            if level or any(x.strip() for x in body):
                found.append(Section(level, title, blocks_of(body)))
            level, title, body = len(match.group("marks")), match.group("title"), []
        else:
            body.append(line)
    if level or any(x.strip() for x in body):
        found.append(Section(level, title, blocks_of(body)))
    return found


def blocks_of(lines: list[str]) -> tuple[str, ...]:
    """Paragraphs, list items, table rows and code fences, each one block."""
    blocks: list[list[str]] = []
    current: list[str] | None = None
    fenced = False
    for line in lines:
        if fenced:
            assert current is not None
            current.append(line)
            fenced = not FENCE.match(line)
            continue
        if FENCE.match(line):
            current = [line]
            blocks.append(current)
            fenced = True
        elif not line.strip():
            current = None
        elif line.lstrip().startswith("|"):
            blocks.append([line])
            current = None
        elif LIST_ITEM.match(line) or current is None:
            current = [line]
            blocks.append(current)
        else:
            current.append(line)
    return tuple("\n".join(block).strip("\n") for block in blocks)


def _norm(text: str) -> str:
    return " ".join(text.split())


def _key(title: str) -> str:
    return _norm(title).casefold()


def _unnumbered(title: str) -> str:
    return _key(NUMBERING.sub("", title))


def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.split(), b.split(), autojunk=False).ratio()


# --- comparing ----------------------------------------------------------------------------


def redline(old: str, new: str, old_label: str = "", new_label: str = "") -> Redline:
    """The redline from OLD to NEW (two whole texts)."""
    before, after = sections_of(old), sections_of(new)
    pairs = _match(before, after)  # new index -> old index
    moved = _moved(pairs)
    old_to_new = {o: n for n, o in pairs.items()}
    out: list[SectionDiff] = []
    removed_after: dict[int, list[int]] = {}  # new index (-1: start) -> removed old ones
    for o in range(len(before)):
        if o in old_to_new:
            continue
        anchor = max((old_to_new[p] for p in range(o) if p in old_to_new), default=-1)
        removed_after.setdefault(anchor, []).append(o)

    def removed(anchor: int) -> None:
        for o in removed_after.get(anchor, []):
            gone = before[o]
            out.append(
                SectionDiff(
                    "removed",
                    gone.title,
                    gone.level,
                    blocks=tuple(BlockDiff("delete", b, "") for b in gone.blocks),
                )
            )

    removed(-1)
    for n, section in enumerate(after):
        if n not in pairs:
            out.append(
                SectionDiff(
                    "added",
                    section.title,
                    section.level,
                    blocks=tuple(BlockDiff("insert", "", b) for b in section.blocks),
                )
            )
        else:
            o = pairs[n]
            blocks = diff_blocks(before[o].blocks, section.blocks)
            status = "changed" if any(b.op != "equal" for b in blocks) else "unchanged"
            old_title = before[o].title if _key(before[o].title) != _key(section.title) else None
            moved_after = (after[n - 1].label if n else "") if n in moved else None
            out.append(
                SectionDiff(status, section.title, section.level, old_title, moved_after, blocks)
            )
        removed(n)
    return Redline(old_label, new_label, tuple(out))


def _match(before: list[Section], after: list[Section]) -> dict[int, int]:
    """Pairs of sections that are one section: same title, same title but its number,
    or (for the rest) a body at least SIMILAR alike. New index -> old index."""
    pairs: dict[int, int] = {}
    for key in (_key, _unnumbered):
        free: dict[str, list[int]] = {}
        taken = set(pairs.values())
        for o, section in enumerate(before):
            if o not in taken:
                free.setdefault(key(section.title), []).append(o)
        for n, section in enumerate(after):
            if n not in pairs and free.get(key(section.title)):
                pairs[n] = free[key(section.title)].pop(0)
    taken = set(pairs.values())
    for n, section in enumerate(after):
        if n in pairs or not section.blocks:
            continue
        body = _norm("\n".join(section.blocks))
        best, score = None, SIMILAR
        for o, candidate in enumerate(before):
            if o in taken or not candidate.blocks or (candidate.level == 0) != (section.level == 0):
                continue
            ratio = _ratio(_norm("\n".join(candidate.blocks)), body)
            if ratio >= score:
                best, score = o, ratio
        if best is not None:
            pairs[n] = best
            taken.add(best)
    return pairs


def _moved(pairs: dict[int, int]) -> set[int]:
    """New indexes of matched sections outside the longest run kept in the old order."""
    order = [(n, pairs[n]) for n in sorted(pairs)]
    # longest increasing subsequence of old indexes, O(n^2): documents have few sections
    best: list[list[int]] = []
    for i, (_n, o) in enumerate(order):
        chains = [best[j] for j in range(i) if order[j][1] < o]
        chain: list[int] = max(chains, key=len) if chains else []
        best.append([*chain, i])
    longest: list[int] = max(best, key=len) if best else []
    keep = set(longest)
    return {order[i][0] for i in range(len(order)) if i not in keep}


def diff_blocks(old: tuple[str, ...], new: tuple[str, ...]) -> tuple[BlockDiff, ...]:
    """Blocks kept, deleted, inserted; a replaced block like its replacement is a change."""
    a, b = [_norm(x) for x in old], [_norm(x) for x in new]
    out: list[BlockDiff] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out += [
                BlockDiff("equal", old[i], new[j])
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            ]
        elif op == "delete":
            out += [BlockDiff("delete", old[i], "") for i in range(i1, i2)]
        elif op == "insert":
            out += [BlockDiff("insert", "", new[j]) for j in range(j1, j2)]
        else:
            out += _pair_blocks(old, new, a, b, range(i1, i2), range(j1, j2))
    return tuple(out)


def _pair_blocks(
    old: tuple[str, ...],
    new: tuple[str, ...],
    a: list[str],
    b: list[str],
    olds: range,
    news: range,
) -> list[BlockDiff]:
    out: list[BlockDiff] = []
    next_new = news.start
    for i in olds:
        match = next((j for j in range(next_new, news.stop) if _ratio(a[i], b[j]) >= SIMILAR), None)
        if match is None:
            out.append(BlockDiff("delete", old[i], ""))
            continue
        out += [BlockDiff("insert", "", new[j]) for j in range(next_new, match)]
        out.append(BlockDiff("change", old[i], new[match], words(a[i], b[match])))
        next_new = match + 1
    out += [BlockDiff("insert", "", new[j]) for j in range(next_new, news.stop)]
    return out


def words(old: str, new: str) -> tuple[Piece, ...]:
    """OLD to NEW word by word; the deletions of a run come before its insertions."""
    a, b = TOKEN.findall(old), TOKEN.findall(new)
    raw: list[Piece] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            raw.append(Piece("equal", "".join(a[i1:i2])))
        else:
            if i2 > i1:
                raw.append(Piece("delete", "".join(a[i1:i2])))
            if j2 > j1:
                raw.append(Piece("insert", "".join(b[j1:j2])))
    # a lone space between two changes reads better as part of both
    for index, piece in enumerate(raw):
        between = 0 < index < len(raw) - 1
        if piece.op == "equal" and not piece.text.strip() and between:
            raw[index] = Piece("both", piece.text)
    out: list[Piece] = []
    run_del: list[str] = []
    run_ins: list[str] = []

    def flush() -> None:
        if run_del:
            out.append(Piece("delete", "".join(run_del)))
        if run_ins:
            out.append(Piece("insert", "".join(run_ins)))
        run_del.clear()
        run_ins.clear()

    for piece in raw:
        if piece.op == "equal":
            flush()
            out.append(piece)
        else:
            if piece.op in ("delete", "both"):
                run_del.append(piece.text)
            if piece.op in ("insert", "both"):
                run_ins.append(piece.text)
    flush()
    return tuple(out)


# --- rendering ----------------------------------------------------------------------------

RED, GREEN, BOLD, DIM, RESET = "\033[31m", "\033[32m", "\033[1m", "\033[2m", "\033[0m"


def terminal_safe(text: str) -> str:
    """TEXT with control and format characters (escape sequences, bidi overrides) escaped;
    newlines and tabs are kept."""
    out = []
    for char in text:
        if char in "\n\t" or unicodedata.category(char) not in ("Cc", "Cf", "Zl", "Zp"):
            out.append(char)
        else:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)


def render_text(line: Redline, color: bool = False) -> str:
    """For a terminal or a pipe: `[-deleted-]{+inserted+}`, or red and green with COLOR."""

    def paint(code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if color and text else text

    out = [paint(BOLD, terminal_safe(f"{line.old_label} -> {line.new_label}")), line.summary()]
    for section in line.sections:
        if not section.shown:
            continue
        head = terminal_safe(section.label or "(before the first heading)")
        out += ["", f"{paint(BOLD, head)}  [{terminal_safe('; '.join(section.notes()))}]"]
        for block in section.blocks:
            if block.op == "equal":
                continue
            if block.op == "insert":
                text = terminal_safe(block.new)
                out.append(_indent("+ ", paint(GREEN, text) if color else text))
            elif block.op == "delete":
                text = terminal_safe(block.old)
                out.append(_indent("- ", paint(RED, text) if color else text))
            else:
                marked = "".join(_paint_piece(p, color) for p in block.pieces)
                out.append(_indent("~ ", marked))
    return "\n".join(out) + "\n"


def _paint_piece(piece: Piece, color: bool) -> str:
    text = terminal_safe(piece.text)
    if piece.op == "equal" or not text:
        return text
    if color:
        return f"{RED if piece.op == 'delete' else GREEN}{text}{RESET}"
    return f"[-{text}-]" if piece.op == "delete" else f"{{+{text}+}}"


def _indent(mark: str, text: str) -> str:
    lines = text.split("\n")
    return "\n".join([f"  {mark}{lines[0]}", *(f"    {x}" for x in lines[1:])])


MD_SPECIAL = re.compile(r"([\\`*\[\]<>|~&#_+\-!{}()])")


def md_text(text: str) -> str:
    """Untrusted text as literal Markdown on one line."""
    return MD_SPECIAL.sub(r"\\\1", re.sub(r"\s+", " ", terminal_safe(text)))


def render_markdown(line: Redline) -> str:
    """Headings per section; deletions ~~struck~~, insertions **bold**, text escaped."""
    out = [f"# Changes: {md_text(line.old_label)} to {md_text(line.new_label)}", "", line.summary()]
    for section in line.sections:
        if not section.shown:
            continue
        notes = md_text("; ".join(section.notes()))
        out += ["", f"## {md_text(section.title or '(before the first heading)')} ({notes})", ""]
        for block in section.blocks:
            if block.op == "insert":
                out.append(f"- added: **{md_text(block.new)}**")
            elif block.op == "delete":
                out.append(f"- removed: ~~{md_text(block.old)}~~")
            elif block.op == "change":
                marked = "".join(
                    md_text(p.text)
                    if p.op == "equal"
                    else _wrap("~~" if p.op == "delete" else "**", p.text)
                    for p in block.pieces
                )
                out.append(f"- changed: {marked}")
    return "\n".join(out) + "\n"


def _wrap(mark: str, text: str) -> str:
    """Emphasis hugs the words: spaces stay outside the marks."""
    inner = md_text(text)
    if not inner:
        return " " if text else ""
    lead = " " if text[:1].isspace() else ""
    tail = " " if text[-1:].isspace() else ""
    return f"{lead}{mark}{inner}{mark}{tail}"


def render_html_fragment(line: Redline) -> str:
    """The redline as escaped HTML (<del>, <ins>), for a page of the site or a copy."""

    def esc(text: str) -> str:
        return html.escape(terminal_safe(text))

    out = [f'<div class="redline"><p class="rl-summary">{esc(line.summary())}</p>']
    for section in line.sections:
        if not section.shown:
            continue
        label = esc(section.title or "(before the first heading)")
        notes = esc("; ".join(section.notes()))
        out.append(f'<section class="rl-section rl-{section.status}">')
        out.append(f'<h2>{label} <span class="rl-note">{notes}</span></h2>')
        for block in section.blocks:
            if block.op == "insert":
                out.append(f'<p class="rl-block"><ins>{_html_lines(block.new)}</ins></p>')
            elif block.op == "delete":
                out.append(f'<p class="rl-block"><del>{_html_lines(block.old)}</del></p>')
            elif block.op == "change":
                marked = "".join(
                    _html_lines(p.text)
                    if p.op == "equal"
                    else f"<{p.op[:3]}>{_html_lines(p.text)}</{p.op[:3]}>"
                    for p in block.pieces
                )
                out.append(f'<p class="rl-block rl-change">{marked}</p>')
        out.append("</section>")
    out.append("</div>")
    return "\n".join(out) + "\n"


def _html_lines(text: str) -> str:
    return html.escape(terminal_safe(text)).replace("\n", "<br>\n")


REDLINE_CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;\
padding:0 1rem;line-height:1.5}
del{color:#b00020;background:#fde8ea;text-decoration:line-through}
ins{color:#0a6b2e;background:#e3f6e8;text-decoration:underline}
.rl-note{font-weight:normal;font-size:.8em;color:#555}
.rl-block{white-space:normal;border-left:3px solid #ccc;padding-left:.6rem}
"""


def render_html(line: Redline) -> str:
    """A standalone HTML page of the redline."""
    title = html.escape(terminal_safe(f"Changes: {line.old_label} to {line.new_label}"))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>\n{REDLINE_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{title}</h1>\n{render_html_fragment(line)}</body>\n</html>\n"
    )
