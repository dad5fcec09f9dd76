"""The history scan, kept between runs in `.git/sopgit/cache-v1.bin`.

What is kept is what git said about each commit (parents, author, message, tree and the
changes against each parent), for every commit HEAD reached when it was written. A
commit's id names its content, so a kept record never goes stale; what can change is
which commits HEAD reaches. So a run:

- with HEAD where it was, reads the kept records and starts no `git log` at all;
- with HEAD moved, scans only `git log HEAD --not OLD` (what the new commits and the
  merges that brought them reach) and keeps only what HEAD reaches (a rewritten or reset
  history drops the commits it left behind); when OLD no longer exists, scans it all.
  The file is written again for HEAD when that scan brought over 500 commits or dropped
  any; a few new commits are cheaper to scan again than a whole file is to write;
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
from typing import Any, BinaryIO

from sopgit.core.model import Commit, FileChange
from sopgit.errors import RepoError
from sopgit.repo.git import Follower, GitRepo, HistoryScan
from sopgit.repo.scan_start import SCAN_ARGS
from sopgit.repo.transaction import process_alive

CACHE_FORMAT = 4  # 4: key, head, then the records in chunks; a record is a Commit's fields
CHUNK = 4096  # records marshalled at a time
REWRITE_AFTER = 500  # new commits the file is written again for
FILE_NAME = "cache-v1.bin"
TEMP_PREFIX = ".cache-"  # then the writer's pid: .cache-<pid>-<random>
MAGIC = b"sopgit-cache-2\n"  # 2: each part after its length
LENGTH = 8  # bytes of a part's length
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
    if not parts or len(parts) < 2 or not isinstance(parts[0], str):
        return None
    try:
        *chunks, (order, merges) = parts[1:]
        records = [r for chunk in chunks for r in chunk]
        for index, per_parent in merges.items():
            records[index] = (*records[index][:9], per_parent)
        commits = list(map(_commit, records))
        if order is None:
            return parts[0], commits
        if len(order) != len(commits) or len(set(order)) != len(order) or min(order) < 0:
            return None
        return parts[0], [commits[i] for i in order]
    except (ValueError, TypeError, IndexError, AttributeError):
        return None


def write_cache(path: Path, key: str, head: str, commits: Iterable[Commit]) -> None:
    """Replace the cache file whole; a failure to write leaves no cache, never a bad one.
    The records go in chunks, so that no more than one chunk is ever held twice; they are
    in the order kept, and merges hold their changes (see _CacheAsRead for the others)."""
    records = (_record(c) for c in commits)
    chunks = iter(lambda: list(itertools.islice(records, CHUNK)), [])
    write_kept(path, key, itertools.chain([head], chunks, [(None, {})]))


class _CacheAsRead:
    """The cache file written as git log's commits are read (a Follower of the scan),
    for a scan of HEAD's whole history: the file is there when the scan is.

    The records go in the order git printed them, each merge without its changes against
    each parent (they are settled only at the end, see LogParser.per_parent). The last
    part holds the order they are kept in (newest first, as indexes) and each merge's
    changes, by index.
    """

    def __init__(self, path: Path, key: str, head: str) -> None:
        self._file = KeptFile(path, key, tidy=False)
        self._file.add(head)
        self._chunk: list[tuple[object, ...]] = []
        self._count = 0

    def visit(self, commit: Commit) -> None:
        self._chunk.append(_record(commit))
        self._count += 1
        if len(self._chunk) == CHUNK:
            self._file.add(self._chunk)
            self._chunk = []

    def done(self, read: list[Commit], order: list[int] | None) -> None:
        """READ: the commits in the order visited, merges now with their changes against
        each parent; ORDER: newest first, as indexes into READ (None: READ's own)."""
        if self._count != len(read):  # pragma: no cover - the scan hands on every commit
            self._file.abort()
            return
        self._file.add(self._chunk)
        merges = {i: _record(c)[9] for i, c in enumerate(read) if len(c.parents) > 1}
        self._file.add((order, merges))
        self._file.done()

    def abort(self) -> None:
        self._file.abort()


def read_kept(path: Path, key: str) -> list[Any] | None:
    """The parts write_kept stored in PATH under KEY; None when the file is missing,
    damaged (checksum), or was written for another key."""
    start = len(MAGIC) + DIGEST
    try:
        with path.open("rb") as handle:  # a part at a time: never held whole
            header = handle.read(start)
            if len(header) < start or not header.startswith(MAGIC):
                return None
            digest = hashlib.sha256()
            parts = []
            total = os.fstat(handle.fileno()).st_size
            while size := handle.read(LENGTH):
                length = int.from_bytes(size, "little")
                if length > total:
                    return None  # damaged
                data = handle.read(length)
                digest.update(size + data)
                # unmarshalled from bytes: ten times as fast as from the file
                parts.append(marshal.loads(data))
                if len(parts) == 1 and parts[0] != key:
                    return None
            if digest.digest() != header[len(MAGIC) :] or not parts:
                return None
    except (OSError, ValueError, TypeError, EOFError):
        return None
    return parts[1:]


def write_kept(path: Path, key: str, parts: Iterable[Any], *, tidy: bool = True) -> None:
    """Replace PATH whole with KEY and PARTS (plain values marshal can write), each
    marshalled and written in turn, through a temporary file and a rename; a failure to
    write leaves no file, never a bad one. TIDY: first remove what killed writers left
    in the folder (a caller writing many files at once does that once itself)."""
    kept = KeptFile(path, key, tidy=tidy)
    try:
        for part in parts:
            kept.add(part)
    except BaseException:
        kept.abort()
        raise
    kept.done()


class KeptFile:
    """A file read_kept reads, written a part at a time into a temporary file that done()
    renames into place. Writing never fails: a file that cannot be written (a read-only
    .git) is not written, and sopgit runs without it."""

    def __init__(self, path: Path, key: str, *, tidy: bool = True) -> None:
        self._path = path
        self._handle: BinaryIO | None = None
        self._temporary = ""
        self._digest = hashlib.sha256()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if tidy:
                drop_orphans(path.parent)
            fd, self._temporary = tempfile.mkstemp(
                prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=path.parent
            )
            self._handle = os.fdopen(fd, "wb")
            self._handle.write(MAGIC + bytes(DIGEST))  # the checksum, once it is known
        except OSError:
            self.abort()
        self.add(key)

    def add(self, part: Any) -> None:
        if self._handle is None:
            return
        data = marshal.dumps(part)
        data = len(data).to_bytes(LENGTH, "little") + data
        self._digest.update(data)
        try:
            self._handle.write(data)
        except OSError:
            self.abort()

    def done(self) -> None:
        if self._handle is None:
            return
        try:
            self._handle.seek(len(MAGIC))
            self._handle.write(self._digest.digest())
            self._handle.close()
            self._handle = None
            os.replace(self._temporary, self._path)
        except OSError:
            self.abort()

    def abort(self) -> None:
        """Leave no file behind (and no cache)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._temporary:
            Path(self._temporary).unlink(missing_ok=True)
            self._temporary = ""


def drop_orphans(folder: Path) -> None:
    """Remove temporary files whose writer is gone (killed between create and rename).

    The writer's pid is in the name; a file of a live pid is another run's, in progress."""
    for orphan in folder.glob(f"{TEMP_PREFIX}*"):
        pid = orphan.name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or not process_alive(int(pid)):
            orphan.unlink(missing_ok=True)


def _record(c: Commit) -> tuple[object, ...]:
    """COMMIT as plain tuples, which marshal writes (it writes no tuple subclass)."""
    return (
        *c[:7],
        tuple(map(tuple, c.changes)),
        c.tree,
        tuple(tuple(map(tuple, p)) for p in c.parent_changes),
    )


def _commit(r: tuple[Any, ...]) -> Commit:
    sha, parents, name, email, at, ct, message, changes, tree, per_parent = r
    return Commit(
        sha,
        parents,
        name,
        email,
        at,
        ct,
        message,
        tuple(itertools.starmap(FileChange, changes)),
        tree,
        tuple(tuple(itertools.starmap(FileChange, p)) for p in per_parent),
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
        self._writer: _CacheAsRead | None = None
        self._follower: Follower | None = None
        self.as_read = False  # result() is in the order the follower took the commits
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
        if self._enabled:
            self._writer = _CacheAsRead(self._path, key, head)
            self._scan.follow(self._writer)

    def follow(self, follower: Follower) -> bool:
        """Hand FOLLOWER the commits as git prints them, when HEAD's whole history is
        being read (not when it comes from the cache, whole or in part)."""
        if self._scan is None or self._kept:
            return False
        self._follower = follower
        self._scan.follow(follower)
        return True

    def followed(self) -> bool:
        """Did the follower take every commit result() returned, in an order it takes?"""
        return (
            self._scan is not None
            and self._follower is not None
            and not self._kept
            and self._scan.followed(self._follower)
        )

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
            if self._writer is not None or not self._kept:
                self._abort()
                raise
            self._kept = []  # OLD is gone (history rewritten and pruned): read it all
            self._scan = self._repo.scan_history(self._head)
            new = self._scan.result()
        except BaseException:
            self._abort()
            raise
        if not self._kept:  # HEAD's whole history: kept in the order read, if newest first
            order = None if self._scan.newest_first() else newest_first_order(new)
            commits = new if order is None else [new[i] for i in order]
            if self._writer is not None:
                self._writer.done(new, order)
            elif self._enabled:
                write_cache(self._path, self._key, self._head, commits)
            self.as_read = order is None
            return commits
        every = new + self._kept
        commits = newest_first(reachable(every, self._head))
        # A few new commits are cheaper to scan again next time (`git log HEAD ^OLD`)
        # than the whole file is to write; dropped ones (a reset) are written away.
        if self._enabled and (len(new) > REWRITE_AFTER or len(commits) < len(every)):
            write_cache(self._path, self._key, self._head, commits)
        return commits

    def _abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()


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
    order = newest_first_order(commits)
    return commits if order is None else [commits[i] for i in order]


def newest_first_order(commits: list[Commit]) -> list[int] | None:
    """newest_first(COMMITS) as indexes into COMMITS; None when that is their order
    already (git log's own order, unless commit times tie or run backwards)."""
    keys = [(c.commit_time, c.author_time, c.sha) for c in commits]
    if all(keys[i] > keys[i + 1] for i in range(len(keys) - 1)):
        return None
    return sorted(range(len(commits)), key=keys.__getitem__, reverse=True)
