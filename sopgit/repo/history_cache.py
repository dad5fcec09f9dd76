"""The history scan, kept between runs in `.git/sopgit/cache-v1.bin`.

What is kept is what git said about each commit (parents, author, message, tree and the
changes against each parent), for every commit HEAD reached when it was written. A
commit's id names its content, so a kept record never goes stale; what can change is
which commits HEAD reaches. So a run:

- with HEAD where it was, reads the kept records and starts no `git log` at all;
- with HEAD moved, scans only `git log HEAD --not OLD` (what the new commits and the
  merges that brought them reach) and keeps only what HEAD reaches (a rewritten or reset
  history drops the commits it left behind); when OLD no longer exists, scans it all;
- rebuilds everything when the file is not one it wrote (checksum), or was written by
  another sopgit version, cache format, scan or `sopgit.toml`.

Tags and the SOP files are read afresh on every run, never kept: a moved or deleted
tag or an edited file is seen at once. The file is replaced whole (a temporary file,
then a rename), so two processes never see half of one.
"""

from __future__ import annotations

import hashlib
import itertools
import marshal
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sopgit.core.model import Commit, FileChange
from sopgit.errors import RepoError
from sopgit.repo.git import SCAN_ARGS, Follower, GitRepo, HistoryScan
from sopgit.repo.transaction import process_alive

CACHE_FORMAT = 3  # 3: key, head, then the records in chunks, each marshalled alone
CHUNK = 4096  # records marshalled at a time
FILE_NAME = "cache-v1.bin"
TEMP_PREFIX = ".cache-"  # then the writer's pid: .cache-<pid>-<random>
MAGIC = b"sopgit-cache\n"
DIGEST = 32  # sha256


def cache_key(config_bytes: bytes) -> str:
    """Everything the kept records depend on besides the commits themselves."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("sopgit")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        ours = "source"
    parts = [str(CACHE_FORMAT), ours, " ".join(SCAN_ARGS)]
    return hashlib.sha256("\0".join(parts).encode() + b"\0" + config_bytes).hexdigest()


def cache_path(repo: GitRepo) -> Path:
    return repo.private_dir() / FILE_NAME


def read_cache(path: Path, key: str) -> tuple[str, list[Commit]] | None:
    """(head, commits) from the cache file, or None when it is missing, damaged or not
    written for KEY."""
    parts = read_kept(path, key)
    if not parts or not isinstance(parts[0], str):
        return None
    try:
        return parts[0], [_commit(r) for chunk in parts[1:] for r in chunk]
    except (ValueError, TypeError):
        return None


def write_cache(path: Path, key: str, head: str, commits: Iterable[Commit]) -> None:
    """Replace the cache file whole; a failure to write leaves no cache, never a bad one.
    The records go in chunks, so that no more than one chunk is ever held twice."""
    records = (_record(c) for c in commits)
    chunks = iter(lambda: list(itertools.islice(records, CHUNK)), [])
    write_kept(path, key, itertools.chain([head], chunks))


def read_kept(path: Path, key: str) -> list[Any] | None:
    """The parts write_kept stored in PATH under KEY; None when the file is missing,
    damaged (checksum), or was written for another key."""
    start = len(MAGIC) + DIGEST
    try:
        with path.open("rb") as handle:  # read as it is parsed: never held whole
            header = handle.read(start)
            if len(header) < start or not header.startswith(MAGIC):
                return None
            if hashlib.file_digest(handle, "sha256").digest() != header[len(MAGIC) :]:
                return None
            end = handle.tell()
            handle.seek(start)
            if marshal.load(handle) != key:
                return None
            parts = []
            while handle.tell() < end:
                parts.append(marshal.load(handle))
    except (OSError, ValueError, TypeError, EOFError):
        return None
    return parts


def write_kept(path: Path, key: str, parts: Iterable[Any], *, tidy: bool = True) -> None:
    """Replace PATH whole with KEY and PARTS (plain values marshal can write), each
    marshalled and written in turn, through a temporary file and a rename; a failure to
    write leaves no file, never a bad one. TIDY: first remove what killed writers left
    in the folder (a caller writing many files at once does that once itself)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if tidy:
            drop_orphans(path.parent)
        fd, temporary = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(MAGIC + bytes(DIGEST))  # the checksum, once it is known
                digest = hashlib.sha256()
                for part in itertools.chain([key], parts):
                    data = marshal.dumps(part)
                    digest.update(data)
                    handle.write(data)
                handle.seek(len(MAGIC))
                handle.write(digest.digest())
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError:
        pass  # a read-only .git still runs, only without a cache


def drop_orphans(folder: Path) -> None:
    """Remove temporary files whose writer is gone (killed between create and rename).

    The writer's pid is in the name; a file of a live pid is another run's, in progress."""
    for orphan in folder.glob(f"{TEMP_PREFIX}*"):
        pid = orphan.name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or not process_alive(int(pid)):
            orphan.unlink(missing_ok=True)


def _changes(changes: tuple[FileChange, ...]) -> tuple[tuple[str, str, str | None], ...]:
    return tuple((c.status, c.path, c.old_path) for c in changes)


def _record(c: Commit) -> tuple[object, ...]:
    return (
        c.sha,
        c.parents,
        c.author_name,
        c.author_email,
        c.author_time,
        c.commit_time,
        c.message,
        c.tree,
        _changes(c.changes),
        tuple(_changes(p) for p in c.parent_changes),
    )


def _commit(r: tuple[object, ...]) -> Commit:
    sha, parents, name, email, at, ct, message, tree, changes, per_parent = r
    return Commit(
        sha=sha,  # type: ignore[arg-type]
        parents=parents,  # type: ignore[arg-type]
        author_name=name,  # type: ignore[arg-type]
        author_email=email,  # type: ignore[arg-type]
        author_time=at,  # type: ignore[arg-type]
        commit_time=ct,  # type: ignore[arg-type]
        message=message,  # type: ignore[arg-type]
        tree=tree,  # type: ignore[arg-type]
        changes=tuple(FileChange(*c) for c in changes),  # type: ignore[attr-defined]
        parent_changes=tuple(
            tuple(FileChange(*c) for c in p)
            for p in per_parent  # type: ignore[attr-defined]
        ),
    )


class CachedScan:
    """The history HEAD reaches, from the cache and a scan of what it lacks.

    Started before the SOP files are read (the scan, if any, runs in the background);
    result() waits for it and writes the cache back when anything new was read.
    """

    def __init__(self, repo: GitRepo, head: str, key: str, enabled: bool = True) -> None:
        self._repo = repo
        self._head = head
        self._key = key
        self._enabled = enabled and not repo.is_shallow_fast()
        self._path = cache_path(repo)
        if self._enabled and self._path.parent.is_dir():
            drop_orphans(self._path.parent)
        self._kept: list[Commit] = []
        self._scan: HistoryScan | None = None
        cached = read_cache(self._path, key) if self._enabled else None
        if cached is not None and cached[0] == head:
            self._kept = cached[1]
            return
        if cached is not None:
            old, self._kept = cached
            trees = {c.sha: c.tree for c in self._kept}
            try:
                self._scan = repo.scan_history(head, f"^{old}", known_trees=trees)
                return
            except RepoError:  # pragma: no cover - Popen itself does not fail here
                self._kept = []
        self._scan = repo.scan_history(head)

    def follow(self, follower: Follower) -> bool:
        """Hand FOLLOWER the commits as git prints them, when HEAD's whole history is
        being read (not when it comes from the cache, whole or in part)."""
        if self._scan is None or self._kept:
            return False
        self._scan.follow(follower)
        return True

    def followed(self) -> bool:
        """Did the follower see every commit result() returned, in an order it takes?"""
        return self._scan is not None and not self._kept and self._scan.followed()

    def changes_so_far(
        self, child: Commit, index: int, parent_tree: str | None
    ) -> tuple[FileChange, ...] | None:
        """See sopgit.repo.git.LogParser.changes_so_far."""
        assert self._scan is not None
        return self._scan.changes_so_far(child, index, parent_tree)

    def result(self) -> list[Commit]:
        if self._scan is None:
            return self._kept
        try:
            new = self._scan.result()
        except RepoError:
            if not self._kept:
                raise
            self._kept = []  # OLD is gone (history rewritten and pruned): read it all
            new = self._repo.scan_history(self._head).result()
        commits = reachable(new + self._kept, self._head) if self._kept else new
        commits = newest_first(commits)
        if self._enabled:
            write_cache(self._path, self._key, self._head, commits)
        return commits


def reachable(commits: list[Commit], head: str) -> list[Commit]:
    """The COMMITS that HEAD reaches through their parents."""
    by_sha = {c.sha: c for c in commits}
    seen = {head} if head in by_sha else set()
    stack = list(seen)
    while stack:
        for parent in by_sha[stack.pop()].parents:
            if parent in by_sha and parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return [c for c in commits if c.sha in seen]


def newest_first(commits: list[Commit]) -> list[Commit]:
    """One order for the same commits however they were read: by commit time, then
    author time, then id, newest first."""
    return sorted(commits, key=lambda c: (c.commit_time, c.author_time, c.sha), reverse=True)
