"""What `sopgit build` keeps between builds, in `.git/sopgit/site-v1/`.

- **The record of one output folder** (`out-<hash of its path>.bin`): every file the
  last build wrote there, with the digest of all its inputs and the size and mtime the
  file had once written; each SOP's key (the digest of everything its pages are made
  from), the links its texts looked up and its search documents' digest; the byte sizes
  of the changelog pages it measured. The search documents themselves are kept beside
  it (`out-<hash>.search`), read only when the search data is written again.
- **Derived data by content** (`derived/<digest>`): a text's rendered body and a pair of
  texts' redline, keyed by a digest of the texts and everything else they are made from,
  so an unchanged text is never rendered twice.

A file on disk counts as the one recorded only when its size and mtime are the ones
recorded, so a page the user deleted or edited is written again. Before the files of a
build are written in place, the paths it may create are listed in `out-<hash>.pending`,
so that a build killed half way still knows them as its own; the record is written last.
Every file here is replaced whole (a temporary file, then a rename) and carries a
checksum (see sopgit.repo.history_cache.write_kept); a missing, damaged or foreign one is ignored.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sopgit.repo.git import GitRepo
from sopgit.repo.history_cache import cache_key, drop_orphans, read_kept, write_kept

FORMAT = "site-1"
FOLDER = "site-v1"


def digest(*parts: object) -> str:
    """One digest of PARTS, each given as its repr (the values here are plain data,
    dataclasses and strings, whose repr is a function of their content)."""
    hashed = hashlib.sha256()
    for part in parts:
        text = part if isinstance(part, str) else repr(part)
        hashed.update(text.encode("utf-8", "surrogateescape"))
        hashed.update(b"\0")
    return hashed.hexdigest()


def code_key() -> str:
    """sopgit's version and this format: what the site's code itself contributes."""
    return digest(FORMAT, cache_key(b"site"))


@dataclass(frozen=True)
class SopEntry:
    """What the last build made of one SOP."""

    key: str  # the digest of everything its pages are made from (but links, below)
    pages: tuple[str, ...]  # the paths of its pages
    links: tuple[tuple[str, str | None], ...]  # (target, page or None) its texts looked up
    search: str  # the digest of its search documents
    derived: tuple[str, ...]  # the derived entries its pages use
    documents: list[dict[str, Any]]  # its search documents (once read or made)


@dataclass
class SiteState:
    # path -> (digest of its inputs, size, mtime in ns) of every file sopgit wrote
    files: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    sops: dict[str, SopEntry] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)  # changelog candidate -> bytes
    owned: set[str] = field(default_factory=set)  # paths a killed build may have written

    def valid(self, output: Path, path: str, wanted: str) -> bool:
        """Does OUTPUT hold PATH as recorded, made from inputs of digest WANTED?"""
        entry = self.files.get(path)
        if entry is None or entry[0] != wanted:
            return False
        return stat_of(output / path) == entry[1:]


def stat_of(path: Path) -> tuple[int, int] | None:
    try:
        found = os.lstat(path)
    except OSError:
        return None
    return found.st_size, found.st_mtime_ns


class Store:
    """The kept files of builds into OUTPUT, in REPO's private folder."""

    def __init__(self, repo: GitRepo, output: Path, *, writable: bool = True) -> None:
        self.folder = repo.private_dir() / FOLDER
        name = hashlib.sha256(os.fsencode(os.path.abspath(output))).hexdigest()[:24]
        self.record = self.folder / f"out-{name}.bin"
        self.search = self.folder / f"out-{name}.search"
        self.pending = self.folder / f"out-{name}.pending"
        self.derived_folder = self.folder / "derived"
        self.writable = writable
        self.key = code_key()

    # --- the record of the output folder ------------------------------------------------

    def load(self) -> SiteState | None:
        parts = read_kept(self.record, self.key)
        state = _state(parts[0]) if parts and len(parts) == 1 else None
        owned = read_kept(self.pending, self.key)
        if owned and isinstance(owned[0], list):
            state = state if state is not None else SiteState()
            state.owned = {p for p in owned[0] if isinstance(p, str)}
        return state

    def claim(self, paths: Iterable[str]) -> None:
        """Before writing in place: the paths this build may create, kept until save()."""
        if self.writable:
            write_kept(self.pending, self.key, [sorted(paths)])

    def save(self, state: SiteState, search: bool) -> None:
        """Write the record: last, once every file it names is on disk. SEARCH: the SOPs'
        search documents changed, and are written too (before the record)."""
        if not self.writable:
            return
        if search:
            documents = {sop_id: e.documents for sop_id, e in state.sops.items()}
            write_kept(self.search, self.key, [documents])
        files = {path: list(entry) for path, entry in state.files.items()}
        sops = {
            sop_id: [
                e.key,
                list(e.pages),
                [list(x) for x in e.links],
                e.search,
                list(e.derived),
            ]
            for sop_id, e in state.sops.items()
        }
        write_kept(self.record, self.key, [[files, sops, state.sizes]])
        self.pending.unlink(missing_ok=True)

    def search_documents(self) -> dict[str, list[dict[str, Any]]] | None:
        """The search documents save() kept, by SOP id; None when missing or damaged."""
        parts = read_kept(self.search, self.key)
        if not parts or not isinstance(parts[0], dict):
            return None
        return parts[0]

    def forget(self) -> None:
        """Drop the record (a build that used no cache leaves none that could be stale)."""
        for path in (self.record, self.search, self.pending):
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass

    # --- derived data, by content --------------------------------------------------------

    def get(self, key: str) -> Any:
        parts = read_kept(self.derived_folder / key, self.key)
        return parts[0] if parts and len(parts) == 1 else None

    def put(self, key: str, value: Any) -> None:
        if self.writable:
            write_kept(self.derived_folder / key, self.key, [value], tidy=False)

    def prune(self, live: set[str]) -> None:
        """Remove derived entries no SOP's pages use any longer, once they outnumber the
        ones in use by a quarter (so that a build rarely lists the folder for nothing)."""
        if not self.writable:
            return
        if self.derived_folder.is_dir():
            drop_orphans(self.derived_folder)  # what killed writers left, once a build
        try:
            names = os.listdir(self.derived_folder)
        except OSError:
            return
        if len(names) <= len(live) * 5 // 4 + 64:
            return
        for name in names:
            if name not in live and not name.startswith("."):  # not a writer's temporary
                try:
                    os.unlink(self.derived_folder / name)
                except OSError:
                    pass


def _state(raw: object) -> SiteState | None:
    """The SiteState that save() wrote, or None if RAW is not one."""
    try:
        parts: Any = raw
        files_raw, sops_raw, sizes = parts
        files = {str(p): (str(d), int(s), int(m)) for p, (d, s, m) in files_raw.items()}
        sops = {
            str(sop_id): SopEntry(
                str(key),
                tuple(pages),
                tuple((str(t), None if v is None else str(v)) for t, v in links),
                str(search),
                tuple(derived),
                [],  # in the search file, read when needed
            )
            for sop_id, (key, pages, links, search, derived) in sops_raw.items()
        }
        return SiteState(files, sops, {str(k): int(v) for k, v in sizes.items()})
    except (TypeError, ValueError, AttributeError):
        return None


def temporary_name(path: Path) -> Path:
    """Where write_atomic writes PATH's new bytes before the rename (a build lists it
    among the files it may leave, so that a killed one's is removed by the next)."""
    return path.with_name(f".{path.name}.{os.getpid()}.sopgit-new")  # one per writer


def write_atomic(path: Path, data: bytes) -> None:
    """Replace PATH with DATA through a temporary file beside it and a rename: a reader
    (a web server, say) sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_name(path)
    try:
        with temporary.open("wb") as handle:  # the mode the umask gives, as a new file
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
