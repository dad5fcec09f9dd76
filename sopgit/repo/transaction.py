"""Write commits and tags as ONE git transaction, and finish or undo one that was killed.

The steps of a release, in order (SOPGIT_FAULT_KILL_AT=<step> makes sopgit SIGKILL
itself right after that step; tests/test_faults.py kills a real release at each):

  locked   the release lock under .git/sopgit/ is taken (owner pid, host, start time)
  blobs    the new bytes of every file are blobs (one pack, `git index-pack --stdin`)
  tree     the tree is written from a temporary index (`read-tree`, `update-index`,
           `write-tree` with GIT_INDEX_FILE under .git/sopgit/)
  commit   the commit object exists (`git commit-tree`); no ref points at it
  tags     the annotated tag objects exist (one pack again, or `git tag -s` in a scratch
           ref store sharing the objects when signing)
  hooks    the repository's pre-commit and commit-msg hooks accepted the commit
  journal  .git/sopgit/release.json records the branch, its old and new commit, the
           tags and the files
  refs     ONE `git update-ref --stdin` transaction moved the branch and created every
           tag, the old values verified (branch: the commit released on; tags: none)
  files    the changed files in the work tree hold the new bytes
  index    the index holds the new blobs
  done     the journal is removed (then the lock)

Up to `journal` the repository is exactly as it was, plus objects nothing refers to;
from `refs` on, the release is made. Whatever sopgit command runs next finds the
journal: if the branch is at the new commit it finishes the files and index, else it
drops the journal; either way it says so in one line on stderr. No helper file is ever
written into the work tree: scratch files live in .git/sopgit/work/.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import sys
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sopgit.errors import RepoError
from sopgit.repo.git import GitRepo, ref_create, ref_delete, ref_update

STEPS = (
    "locked",
    "blobs",
    "tree",
    "commit",
    "tags",
    "hooks",
    "journal",
    "refs",
    "files",
    "index",
    "done",
)
FAULT_ENV = "SOPGIT_FAULT_KILL_AT"
RELEASE_ENV = "SOPGIT_RELEASE"  # set for the hooks sopgit runs; its own hooks then pass
JOURNAL = "release.json"
LOCK = "lock"
WORK = "work"
LEGACY_LOCK = "sopgit-release.lock"  # before sopgit 0.2, beside .git/HEAD
PACK_TYPES = {"commit": 1, "tree": 2, "blob": 3, "tag": 4}


def step(name: str) -> None:
    """Mark step NAME done; under fault injection, die here as a power cut would."""
    assert name in STEPS, name
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class FileWrite:
    path: str  # relative to the work tree root, POSIX
    data: bytes


@dataclass(frozen=True)
class TagWrite:
    name: str  # without refs/tags/
    message: str


@dataclass(frozen=True)
class CommitWrite:
    files: tuple[FileWrite, ...]
    message: str


# --- the lock ------------------------------------------------------------------------


def process_alive(pid: int) -> bool:
    """Is process PID running on this host (whoever owns it)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _owner_text(owner: Mapping[str, Any]) -> str:
    return (
        f"pid {owner.get('pid', '?')} on {owner.get('host', '?')}, "
        f"started {owner.get('started', '?')}"
    )


def _read_owner(fd: int) -> dict[str, Any] | None:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 4096)
    if not raw.strip():
        return None
    try:
        owner = json.loads(raw)
    except ValueError:
        return {"pid": "?", "host": "?", "started": "?"}
    return owner if isinstance(owner, dict) else {"pid": "?", "host": "?", "started": "?"}


def _note(text: str) -> None:
    print(f"sopgit: {text}", file=sys.stderr, flush=True)


@dataclass
class Lock:
    held: bool
    taken_over: dict[str, Any] | None = None  # the record of a dead owner it replaced


@contextmanager
def repo_lock(repo: GitRepo, *, refuse: bool = True, announce: bool = True) -> Iterator[Lock]:
    """Hold .git/sopgit/lock, which records its owner (pid, host, start time).

    The lock is an flock on that file, so an owner killed by SIGKILL releases it; its
    record stays behind and the next owner takes it over with a one-line note (unless
    ANNOUNCE is off). A live owner (one holding the flock, or a live pid on this host,
    or any owner on another host) is a one-line error, exit 2; with REFUSE off the
    lock is yielded not held instead.
    """
    folder = repo.sopgit_dir
    path = folder / LOCK
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RepoError(f"cannot create {folder} ({err.strerror})", repo.root) from None
    host = socket.gethostname()
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise RepoError(f"cannot open the release lock ({err.strerror})", path) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            locked = True
        except OSError:
            locked = False
        owner = _read_owner(fd)
        if locked:
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # the previous owner removed the file meanwhile: lock the new one
                os.close(fd)
                continue
        live = not locked or (
            owner is not None
            and (
                owner.get("host") != host
                or not isinstance(owner.get("pid"), int)
                or process_alive(owner["pid"])
            )
        )
        if live:
            os.close(fd)
            if not refuse:
                yield Lock(False)
                return
            who = f" ({_owner_text(owner)})" if owner else ""
            raise RepoError(
                f"another sopgit command{who} is releasing in this repository; wait for it "
                "to finish (if that process is not sopgit, delete this file)",
                path,
            )
        break
    try:
        if owner is not None and announce:
            _note(f"took over the release lock of {_owner_text(owner)}, which is gone")
        record = {
            "pid": os.getpid(),
            "host": host,
            "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(record).encode())
        yield Lock(True, owner)
    finally:
        try:
            path.unlink(missing_ok=True)  # ours: nobody else can hold it meanwhile
        finally:
            os.close(fd)  # the flock goes with the descriptor


# --- recovery -----------------------------------------------------------------------


def needs_recovery(repo: GitRepo) -> bool:
    """Cheap (a few stat calls): is anything left by a release that did not finish?"""
    folder = repo.sopgit_dir
    return (
        (folder / JOURNAL).exists()
        or (folder / WORK).exists()
        or (folder / LOCK).exists()
        or (repo.git_dir_path / LEGACY_LOCK).exists()
    )


def recover(repo: GitRepo) -> None:
    """Finish or undo a release that was killed; a release still running is left alone."""
    if os.environ.get(RELEASE_ENV):
        return  # a hook that a running release started
    if not needs_recovery(repo):
        return
    _legacy_lock(repo)
    if not (repo.sopgit_dir.exists()):
        return
    with repo_lock(repo, refuse=False, announce=False) as lock:
        if lock.held:
            recover_locked(repo, lock)


def recover_locked(repo: GitRepo, lock: Lock) -> None:
    """With the lock held: finish or undo what the journal says, drop scratch files.
    One line on stderr says what was done."""
    folder = repo.sopgit_dir
    journal = folder / JOURNAL
    if journal.exists():
        try:
            record = json.loads(journal.read_text(encoding="utf-8"))
            branch, old, new = str(record["branch"]), str(record["old"]), str(record["new"])
            files = [(str(p), str(m), str(b)) for p, m, b in record["files"]]
            tags = {str(k): str(v) for k, v in dict(record["tags"]).items()}
        except (OSError, ValueError, KeyError, TypeError):
            _note(f"dropped an unreadable release journal ({journal})")
        else:
            _note(_resume(repo, branch, old, new, files, tags))
        journal.unlink(missing_ok=True)
    elif lock.taken_over is not None:
        _note(
            f"took over the release lock of {_owner_text(lock.taken_over)}, which is gone; "
            "no release was left half-made"
        )
    shutil.rmtree(folder / WORK, ignore_errors=True)


def _resume(
    repo: GitRepo,
    branch: str,
    old: str,
    new: str,
    files: list[tuple[str, str, str]],
    tags: dict[str, str],
) -> str:
    """Finish or undo a journaled release; what was done, for the user.

    The ref transaction either never reached its commit (no ref moved: the release was
    not made) or did. git's files backend commits ref by ref, so a kill inside the
    commit can leave some refs moved and lock files (`<ref>.lock`) on the others: the
    release is then made, and the remaining refs are moved here. The lock files the
    killed transaction held (the refs', HEAD's) are removed.
    """
    wanted = {branch: new, **tags}
    listing = repo.run("for-each-ref", "--format=%(refname)%00%(objectname)", branch, "refs/tags")
    values = dict(line.split("\0", 1) for line in listing.splitlines() if "\0" in line)
    short = branch.removeprefix("refs/heads/")
    moved = [ref for ref, target in wanted.items() if values.get(ref) == target]
    common = repo.common_dir_path
    for ref in wanted:
        if ref not in moved:  # left by the killed transaction, which held them
            (common / f"{ref}.lock").unlink(missing_ok=True)
    # Moving the checked-out branch locks HEAD too (for its reflog).
    (repo.git_dir_path / "HEAD.lock").unlink(missing_ok=True)
    if not moved:
        return (
            "undid an interrupted release that had not been made: "
            f"{short} and the tags are as they were"
        )
    at = values.get(branch)
    commands = [ref_create(ref, tags[ref]) for ref in tags if ref not in moved]
    if at == old:
        commands.append(ref_update(branch, new, old))
    if commands:
        repo.update_refs("sopgit: release (finished)", commands)
    if at in (old, new):
        _finish(repo, files, None)
        return (
            f"finished an interrupted release: {short} is at {new[:10]} with "
            f"{len(tags)} new tag(s); the work tree and index are up to date"
        )
    return (
        f"finished the tags of an interrupted release; {short} has moved on since, "
        "so the work tree is left as it is"
    )


def _legacy_lock(repo: GitRepo) -> None:
    """The lock file of earlier versions: taken over when its process is gone."""
    legacy = repo.git_dir_path / LEGACY_LOCK
    try:
        text = legacy.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return
    if text.isdigit() and not process_alive(int(text)):
        legacy.unlink(missing_ok=True)
        _note(f"removed the release lock of pid {text}, which is gone ({legacy})")


# --- writing ------------------------------------------------------------------------


class Transaction:
    """Commits on top of the current branch and tags on the last, made in one go."""

    def __init__(self, repo: GitRepo, branch: str, head: str) -> None:
        self.repo = repo
        self.branch = f"refs/heads/{branch}"
        self.old = head
        self.tip = head
        self.work = repo.sopgit_dir / WORK
        self.files: dict[str, tuple[str, str, bytes]] = {}  # path -> (mode, blob, data)
        self.tags: dict[str, str] = {}  # refs/tags/NAME -> tag object
        self._hooks_env = {RELEASE_ENV: "1"}

    def __enter__(self) -> Transaction:
        shutil.rmtree(self.work, ignore_errors=True)
        try:
            self.work.mkdir(parents=True)
        except OSError as err:
            raise RepoError(f"cannot create {self.work} ({err.strerror})", self.repo.root) from None
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.work, ignore_errors=True)

    def _scratch(self, name: str, data: bytes) -> Path:
        path = self.work / name
        path.write_bytes(data)
        return path

    def commit(self, change: CommitWrite, *, sign: bool = False, hooks: bool = True) -> str:
        """Make the commit objects of CHANGE on top of the last one (no ref moves)."""
        repo = self.repo
        blobs = self._write_pack([("blob", file.data) for file in change.files])
        step("blobs")
        index = self.work / "index"
        env = {"GIT_INDEX_FILE": str(index)}
        paths = [f.path for f in change.files]
        repo.run("read-tree", self.tip, env=env)
        modes = _modes(repo, self.tip, paths)
        entries = []
        for file, blob in zip(change.files, blobs, strict=True):
            mode = modes.get(file.path, "100644")
            entries.append(f"{mode} {blob}\t{file.path}\0")
            self.files[file.path] = (mode, blob, file.data)
        repo.run("update-index", "-z", "--index-info", env=env, input="".join(entries))
        tree = repo.run("write-tree", env=env).strip()
        step("tree")
        message = self._scratch("message", change.message.encode("utf-8"))
        commit = repo.run(
            "commit-tree", tree, "-p", self.tip, "-F", str(message), *(["-S"] if sign else [])
        ).strip()
        step("commit")
        if hooks:
            self._hook("pre-commit", env=env)
            self._hook("commit-msg", str(message))
        index.unlink(missing_ok=True)
        self.tip = commit
        return commit

    def _hook(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> None:
        try:
            self.repo.run(
                "hook",
                "run",
                "--ignore-missing",
                name,
                "--",
                *args,
                env={**self._hooks_env, **(env or {})},
            )
        except RepoError as err:
            reason = err.message.removeprefix("git hook failed: ")
            raise RepoError(
                f"the {name} hook refused the commit ({reason}); nothing was released",
                self.repo.root,
            ) from None

    def tag(self, tags: Sequence[TagWrite], *, sign: bool = False) -> None:
        """Make annotated tag objects on the last commit (no ref is created)."""
        repo = self.repo
        if not tags:
            return
        if sign:
            made = self._signed_tags(tags)
        else:
            tagger = repo.run("var", "GIT_COMMITTER_IDENT").strip()
            bodies = [
                (
                    "tag",
                    f"object {self.tip}\ntype commit\ntag {tag.name}\ntagger {tagger}\n\n"
                    f"{tag.message}".encode(),
                )
                for tag in tags
            ]
            made = dict(zip((t.name for t in tags), self._write_pack(bodies), strict=True))
        for tag in tags:
            self.tags[f"refs/tags/{tag.name}"] = made[tag.name]

    def _scratch_git_dir(self, name: str) -> dict[str, str]:
        """The environment for git to work in a scratch ref store under .git/sopgit/
        that shares the repository's objects and configuration: the refs `git tag`
        makes there are not the repository's."""
        scratch = self.work / name
        (scratch / "refs").mkdir(parents=True)
        (scratch / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
        config = self.repo.git_dir_path / "config"
        (scratch / "config").write_text(
            f"[include]\n\tpath = {json.dumps(str(config))}\n", encoding="utf-8"
        )
        objects = self.repo.common_dir_path / "objects"
        return {"GIT_DIR": str(scratch), "GIT_OBJECT_DIRECTORY": str(objects)}

    def _write_pack(self, objects: Sequence[tuple[str, bytes]]) -> list[str]:
        """Store OBJECTS (type, content) as one pack with one `git index-pack`; their
        ids. No file per object, no ref: nothing refers to them until the transaction."""
        if not objects:
            return []
        algorithm = "sha1" if len(self.old) == 40 else "sha256"
        pack = hashlib.new(algorithm)
        chunks = [b"PACK" + struct.pack(">II", 2, len(objects))]
        ids = []
        for kind, data in objects:
            ids.append(hashlib.new(algorithm, b"%s %d\0%s" % (kind.encode(), len(data), data)))
            size = len(data)
            header = bytearray([(PACK_TYPES[kind] << 4) | (size & 0x0F)])
            size >>= 4
            while size:
                header[-1] |= 0x80
                header.append(size & 0x7F)
                size >>= 7
            chunks += [bytes(header), zlib.compress(data, 1)]
        for chunk in chunks:
            pack.update(chunk)
        chunks.append(pack.digest())
        try:
            self.repo.run_binary("index-pack", "--stdin", input=b"".join(chunks))
        except RepoError as err:
            reason = err.message.removeprefix("git index-pack failed: ")
            raise RepoError(
                f"cannot write the release's git objects ({reason}); nothing was released",
                self.repo.root,
            ) from None
        return [i.hexdigest() for i in ids]

    def _signed_tags(self, tags: Sequence[TagWrite]) -> dict[str, str]:
        """`git tag -s` (git's own signing setup) in a scratch ref store, so no ref of
        the repository moves."""
        repo = self.repo
        env = self._scratch_git_dir("signing")
        for number, tag in enumerate(tags):
            message = self._scratch(f"tag-{number}.txt", tag.message.encode("utf-8"))
            repo.run(
                "tag", "-s", "--cleanup=verbatim", "-F", str(message), tag.name, self.tip, env=env
            )
        listing = repo.run(
            "for-each-ref", "--format=%(refname:strip=2)%00%(objectname)", "refs/tags", env=env
        )
        return dict(line.split("\0", 1) for line in listing.splitlines() if "\0" in line)

    def apply(self) -> None:
        """Journal, one ref transaction, then the work tree and index; or nothing."""
        repo = self.repo
        step("hooks")
        record = {
            "branch": self.branch,
            "old": self.old,
            "new": self.tip,
            "tags": self.tags,
            "files": [[p, mode, blob] for p, (mode, blob, _) in self.files.items()],
        }
        journal = _write_journal(repo, record)
        step("journal")
        commands = [ref_update(self.branch, self.tip, self.old)]
        commands += [ref_create(ref, obj) for ref, obj in self.tags.items()]
        try:
            repo.update_refs("sopgit: release", commands)
        except RepoError as err:
            journal.unlink(missing_ok=True)
            raise RepoError(
                f"{err.message.removeprefix('git update-ref failed: ')}; nothing was released",
                repo.root,
            ) from None
        step("refs")
        try:
            _finish(repo, [(p, m, b) for p, (m, b, _) in self.files.items()], self.files)
        except OSError as err:
            raise RepoError(
                f"the release is made, but {err.filename or 'a file'} could not be written "
                f"({err.strerror}); make room and run any sopgit command to finish it",
                repo.root,
            ) from None
        journal.unlink()
        step("done")

    def post_commit(self) -> None:
        """git's post-commit, for what a user hangs on it (its exit status is ignored)."""
        try:
            self.repo.run("hook", "run", "--ignore-missing", "post-commit", env=self._hooks_env)
        except RepoError as err:
            _note(f"warning: the post-commit hook failed ({err.message})")


def _modes(repo: GitRepo, tree: str, paths: list[str]) -> dict[str, str]:
    if not paths:
        return {}
    listing = repo.run("ls-tree", "-z", tree, "--", *paths)
    modes = {}
    for entry in listing.split("\0"):
        if "\t" in entry:
            info, path = entry.split("\t", 1)
            modes[path] = info.split()[0]
    return modes


def _finish(
    repo: GitRepo,
    files: list[tuple[str, str, str]],
    data: Mapping[str, tuple[str, str, bytes]] | None,
) -> None:
    """Bring the work tree and then the index up to FILES (path, mode, blob); idempotent.

    The bytes come from DATA, or from the object store when a later command finishes
    a killed release. Each file is replaced by a rename, never left half-written.
    """
    work = repo.sopgit_dir / WORK
    work.mkdir(parents=True, exist_ok=True)
    contents = (
        {p: d for p, (_, _, d) in data.items()}
        if data is not None
        else repo.blob_contents({p: b for p, _, b in files})
    )
    for path, mode, _ in files:
        _replace(repo.root / path, contents[path], mode, work)
    step("files")
    index = repo.git_dir_path / "index"
    staged = work / "index.next"
    (work / "index.next.lock").unlink(missing_ok=True)  # left by a killed update-index
    shutil.copyfile(index, staged)
    repo.run(
        "update-index",
        "-z",
        "--index-info",
        env={"GIT_INDEX_FILE": str(staged)},
        input="".join(f"{mode} {blob}\t{path}\0" for path, mode, blob in files),
    )
    os.replace(staged, index)
    step("index")


def _replace(target: Path, data: bytes, mode: str, work: Path) -> None:
    if target.is_symlink() or not target.parent.is_dir():
        raise OSError(errno.EINVAL, "not a regular file in the work tree", str(target))
    temporary = work / "file.next"
    try:
        temporary.write_bytes(data)
        if target.exists():
            shutil.copymode(target, temporary)
        else:
            temporary.chmod(0o755 if mode == "100755" else 0o644)
        try:
            os.replace(temporary, target)
        except OSError as err:
            if err.errno != errno.EXDEV:
                raise
            target.write_bytes(data)  # .git on another file system: no atomic rename
    except OSError as err:
        temporary.unlink(missing_ok=True)
        raise OSError(err.errno, err.strerror, str(target)) from None


def undo_release(
    repo: GitRepo, branch: str, made: str, base: str, paths: Sequence[str], tags: Sequence[str]
) -> None:
    """Take back a release this process made and nobody else has seen (the remote
    refused its push): BRANCH from MADE back to BASE and the TAGS deleted in one ref
    transaction, then PATHS in the work tree and index back to BASE's bytes.

    It is journaled as a release from MADE to BASE, so a kill midway is finished (or,
    before the refs moved, left as the release it was) by the next sopgit command.
    """
    ref = f"refs/heads/{branch}"
    listing = repo.run("ls-tree", "-z", base, "--", *paths) if paths else ""
    files = []
    for entry in listing.split("\0"):
        if "\t" in entry:
            info, path = entry.split("\t", 1)
            mode, _, blob = info.split()
            files.append((path, mode, blob))
    names = [f"refs/tags/{name}" for name in tags]
    values = repo.run("for-each-ref", "--format=%(refname)%00%(objectname)", *names)
    current = dict(line.split("\0", 1) for line in values.splitlines() if "\0" in line)
    record = {"branch": ref, "old": made, "new": base, "tags": {}, "files": files}
    journal = _write_journal(repo, record)
    commands = [ref_update(ref, base, made)]
    commands += [ref_delete(name, current[name]) for name in names if name in current]
    try:
        repo.update_refs("sopgit: release taken back (its push was refused)", commands)
    except RepoError:
        journal.unlink(missing_ok=True)
        raise
    _finish(repo, files, None)
    journal.unlink()
    shutil.rmtree(repo.sopgit_dir / WORK, ignore_errors=True)


def _write_journal(repo: GitRepo, record: Mapping[str, Any]) -> Path:
    """.git/sopgit/release.json, written whole (fsync, then a rename) or not at all."""
    work = repo.sopgit_dir / WORK
    work.mkdir(parents=True, exist_ok=True)
    journal = repo.sopgit_dir / JOURNAL
    temporary = work / "journal.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(record, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, journal)
    return journal
