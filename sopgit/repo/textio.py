"""A file's bytes as text and back, exactly.

Every file sopgit reads and may write back is decoded as UTF-8 with surrogateescape and
without newline translation: a BOM, CRLF, CR-only or mixed line endings, trailing
whitespace and bytes that are not valid UTF-8 all survive a read and a write unchanged.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ERRORS = "surrogateescape"
LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def decode(data: bytes) -> str:
    return data.decode("utf-8", ERRORS)


def encode(text: str) -> bytes:
    return text.encode("utf-8", ERRORS)


def read_text(path: Path) -> str:
    return decode(path.read_bytes())


def write_text(path: Path, text: str) -> None:
    path.write_bytes(encode(text))


def split_lines(text: str) -> list[str]:
    """Lines with their endings kept (LF, CRLF or CR only, never U+2028 and the like),
    so that joining them gives the text back."""
    return LINE.findall(text)


def ending(line: str) -> str:
    """LINE's own line ending ("" for a last line without one)."""
    return line[len(line.rstrip("\r\n")) :]


def neighbour_ending(lines: list[str], at: int, text: str = "") -> str:
    """The line ending for a new line inserted at AT: that of the line before it, else of
    the line after it, else the text's most common one (LF when it has none)."""
    for index in (*range(at - 1, -1, -1), *range(at, len(lines))):
        found = ending(lines[index])
        if found:
            return found
    return most_common_ending(text)


def most_common_ending(text: str) -> str:
    counts = {eol: 0 for eol in ("\n", "\r\n", "\r")}
    for line in split_lines(text):
        found = ending(line)
        if found:
            counts[found] += 1
    best = max(counts.values())
    return "\n" if best == 0 else next(e for e, n in counts.items() if n == best)


# --- where sopgit may read and write ------------------------------------------------


def link_on_path(root: Path, path: Path) -> Path | None:
    """The first symbolic link on the way from ROOT down to PATH (PATH included), or None.

    sopgit never follows a link inside a repository: whatever it points at is not the
    repository's to read or write."""
    root = Path(os.path.abspath(root))
    path = Path(os.path.abspath(path))
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return None
    current = root
    for part in parts:
        current = current / part
        if current.is_symlink():
            return current
    return None


def safe_target(root: Path, path: Path) -> Path:
    """PATH, checked as a place to write inside the repository at ROOT: never inside
    .git, never through a symbolic link (the file itself or a folder on its way)."""
    from sopgit.errors import UsageError

    absolute = Path(os.path.abspath(path))
    try:
        relative = absolute.relative_to(Path(os.path.abspath(root)))
    except ValueError:
        relative = None
    if relative is not None and relative.parts[:1] == (".git",):
        raise UsageError("is inside .git; write the output somewhere else", path)
    if relative is not None and relative.parts == ():
        raise UsageError("is the repository itself; give a file", path)
    link = link_on_path(root, absolute)
    if link is not None:
        where = (
            "is a symbolic link" if link == absolute else f"goes through the symbolic link {link}"
        )
        raise UsageError(f"{where}; sopgit does not write through links", path)
    return absolute


def write_checked(root: Path, path: Path, text: str) -> None:
    """Write TEXT to PATH (see safe_target), creating its folders; bytes as given."""
    target = safe_target(root, path)
    target.parent.mkdir(parents=True, exist_ok=True)
    safe_target(root, target)  # a folder just made cannot be a link; one found can
    write_text(target, text)
