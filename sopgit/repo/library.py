"""The library on disk: where SOPs live, how paths map to ids, which ids are free."""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath

from sopgit.core.settings import Config, Department
from sopgit.errors import UsageError
from sopgit.repo.docformat import id_in_filename

SOP_ID = re.compile(r"^(?P<dept>[A-Z][A-Z0-9]{1,9})-(?P<num>\d{3,})$")
# An id at the start of a file name, branch leaf or tag: ENG-001-deployment.md, ENG-001/v1.0.0
ID_PREFIX = re.compile(r"(?:^|/)(?P<id>[A-Z][A-Z0-9]{1,9}-\d{3,})(?=[-/.]|$)")
SLUG_MAX = 60


@dataclass(frozen=True)
class SopFile:
    path: str  # relative to the library root, POSIX separators
    id_from_name: str | None  # the id the file name claims, if any


def slugify(title: str) -> str:
    """ASCII, lowercase, hyphen-separated; never empty, never a path."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    slug = slug[:SLUG_MAX].rstrip("-")
    return slug or "sop"


def id_in_name(name: str) -> str | None:
    match = ID_PREFIX.search(name)
    return match.group("id") if match else None


def sop_files(root: Path, config: Config) -> list[SopFile]:
    """Every SOP file under the library root, sorted by path: the Markdown files that
    `[format] files` names and `exclude` does not (default: every `*.md`). A symbolic
    link is never listed, nor followed.

    Paths are handled as strings, one lstat per file: status lists thousands of files
    on every run, where pathlib's objects cost more than the listing itself."""
    base = root / config.root
    if not base.is_dir():
        return []
    fmt = config.format
    prefix = base.relative_to(root).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    found = []
    for under in _markdown_files(str(base)):
        try:
            regular = stat.S_ISREG(os.lstat(os.path.join(base, under)).st_mode)
        except OSError:
            continue  # gone since it was listed
        if regular and is_sop_path(under, fmt.files, fmt.exclude):
            found.append(SopFile(prefix + under, id_in_filename(under.rpartition("/")[2], fmt)))
    return found


def _markdown_files(base: str) -> list[str]:
    """The *.md entries under BASE (POSIX paths relative to it), sorted as paths are
    (folder by folder); symbolic links are listed, never followed."""
    found = []
    for folder, dirs, files in os.walk(base):
        dirs.sort()
        under = os.path.relpath(folder, base).replace(os.sep, "/")
        start = "" if under == "." else under + "/"
        found += [start + name for name in files if name.endswith(".md")]
    return sorted(found, key=lambda path: path.split("/"))


def linked_sops(root: Path, config: Config) -> list[str]:
    """SOP files (and folders of them) under the library root that are symbolic links:
    sopgit reads none of them, and check reports each."""
    base = root / config.root
    if not base.is_dir() or base.is_symlink():
        return [base.relative_to(root).as_posix()] if base.is_symlink() else []
    found = []
    for folder, dirs, files in os.walk(base):
        for name in sorted(dirs + files):
            path = Path(folder) / name
            if not path.is_symlink():
                continue
            under = path.relative_to(base).as_posix()
            if name in dirs or is_sop_path(under, config.format.files, config.format.exclude):
                found.append(path.relative_to(root).as_posix())
    return sorted(found)


def is_sop_path(under_root: str, files: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    """Does a path (relative to the library root) name an SOP under these globs? Folders
    starting with '.' (.git, .github) never hold SOPs unless a glob names them."""
    if files == ("**/*.md",) and not exclude:
        return True  # the seed: every Markdown file
    if any(part.startswith(".") for part in under_root.split("/")[:-1]) and not any(
        g.startswith(".") for g in files
    ):
        return False
    return any(glob_regex(g).match(under_root) for g in files) and not any(
        glob_regex(g).match(under_root) for g in exclude
    )


@cache
def glob_regex(glob: str) -> re.Pattern[str]:
    """A glob as a regex over POSIX paths: `**/` any folders, `*` and `?` within one,
    a glob without a slash matches that name in any folder, a folder matches all in it."""
    pattern = glob if "/" in glob.rstrip("/") else f"**/{glob}"
    out, index = "", 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out, index = out + "(?:.*/)?", index + 3
        elif pattern.startswith("**", index):
            out, index = out + ".*", index + 2
        elif pattern[index] == "*":
            out, index = out + "[^/]*", index + 1
        elif pattern[index] == "?":
            out, index = out + "[^/]", index + 1
        else:
            out, index = out + re.escape(pattern[index]), index + 1
    return re.compile(f"^{out.rstrip('/')}(?:/.*)?$")


def relative_to_root(root: Path, path: Path) -> str | None:
    """PATH as a POSIX path relative to ROOT, or None when it lies outside."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


def is_under(path: str, folder: str) -> bool:
    return PurePosixPath(path).is_relative_to(PurePosixPath(folder))


def department(config: Config, code: str) -> Department:
    try:
        return config.departments[code]
    except KeyError:
        known = ", ".join(config.departments)
        raise UsageError(
            f"unknown department '{code}'; use one of {known} or add it to sopgit.toml"
        ) from None


def taken_numbers(code: str, names: Iterable[str]) -> set[int]:
    """Numbers of DEPT ids that appear in any of NAMES (paths, branches, tags)."""
    numbers = set()
    for name in names:
        for match in ID_PREFIX.finditer(name):
            dept, _, number = match.group("id").rpartition("-")
            if dept == code:
                numbers.add(int(number))
    return numbers


def next_id(code: str, names: Iterable[str]) -> str:
    """One above the highest number in use anywhere, so an id is never handed out twice."""
    used = taken_numbers(code, names)
    return f"{code}-{max(used, default=0) + 1:03d}"


def sop_path(config: Config, dept: Department, sop_id: str, title: str) -> str:
    path = PurePosixPath(config.root) / dept.folder / f"{sop_id}-{slugify(title)}.md"
    return path.as_posix()
