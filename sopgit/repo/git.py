"""All git I/O. Callers get plain values; git's failures become RepoError.

Git runs without a shell, and paths always follow `--`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import git
from git.exc import GitCommandError, InvalidGitRepositoryError, NoSuchPathError

from sopgit.core import progress
from sopgit.core.attribution import OutOfOrder
from sopgit.core.model import Commit, FileChange, Tag
from sopgit.errors import RepoError
from sopgit.repo.scan_start import LOG_FORMAT, scan_args, start_log, take_early


@dataclass(frozen=True)
class Identity:
    name: str
    email: str


# Every field of a tag ends in NUL (none can hold one), so a record is eight tokens.
TAG_FORMAT = (
    "%(refname:strip=2)%00%(objecttype)%00%(objectname)%00%(*objectname)"
    "%00%(taggername)%00%(taggeremail:trim)%00%(taggerdate:raw)%00%(contents)%00"
)
TAG_FIELDS = 8
SIGNATURE = re.compile(r"-----BEGIN (?:PGP|SSH) SIGNATURE-----.*", re.DOTALL)


class LogParser:
    """Commits from `git log -z` output in LOG_FORMAT (with or without --name-status).

    Tokens are fed in order as they arrive. A commit starts with a token that begins
    with the marker where a commit can start: after the six fields and the message
    (whatever bytes it holds) come only file changes -- a status, then one or two paths,
    each consumed by count -- so a marker inside a message or a path is never a record.
    """

    def __init__(self, with_tree: bool = False) -> None:
        self.commits: list[Commit] = []
        self._width = 8 if with_tree else 7  # SCAN_FORMAT adds the tree
        self._merges: dict[str, list[tuple[FileChange, ...]]] = {}  # changes, per record
        self._merge_at: list[int] = []  # where the merges are in self.commits
        # Are the commits newest first by commit time, author time, then id, as
        # sopgit.repo.history_cache.newest_first orders them? (git's own order mostly is.)
        self.newest_first = True
        self._last_key: tuple[int, int, str] | None = None
        self._fields: list[str] = []  # the current commit's fields
        self._changes: list[FileChange] = []
        self._status = ""  # a change's status waiting for its paths
        self._paths: list[str] = []

    def feed(self, tokens: Iterable[str]) -> None:
        # One loop over the tokens with the state in local names: a million tokens on a
        # large history, each a method call and four attribute reads before.
        width = self._width
        fields, changes, status, paths = self._fields, self._changes, self._status, self._paths
        for token in tokens:
            if 0 < len(fields) < width:
                fields.append(token)
                continue
            if status:
                paths.append(token)
                if len(paths) == (2 if status in "RC" else 1):
                    changes.append(FileChange(status, token, paths[0] if len(paths) == 2 else None))
                    status, paths = "", []
                continue
            if token[:1] == "\n":
                token = token.lstrip("\n")
            if not token:
                continue
            if token[0] == "\x1e":
                self._fields, self._changes, self._status, self._paths = (
                    fields,
                    changes,
                    status,
                    paths,
                )
                self._flush()
                fields = self._fields = [token[1:]]
                changes, status, paths = self._changes, "", []
            elif fields:
                status = token[0]
        self._fields, self._changes, self._status, self._paths = fields, changes, status, paths

    def _flush(self) -> None:
        if len(self._fields) == self._width:
            sha, parents, name, email, author_time, commit_time, message = self._fields[:7]
            if " " in parents:  # a merge: with -m, one record per parent it differs from
                changes = tuple(self._changes)
                if self.commits and self.commits[-1].sha == sha:
                    if changes:
                        self._merges[sha].append(changes)
                    self._fields, self._changes, self._status, self._paths = [], [], "", []
                    return
                self._merges[sha] = [changes] if changes else []
                self._merge_at.append(len(self.commits))
                self._changes = []
            tree = self._fields[7] if self._width == 8 else ""
            key = (int(commit_time), int(author_time), sha)
            if self._last_key is not None and not key < self._last_key:
                self.newest_first = False
            self._last_key = key
            self.commits.append(
                Commit(
                    sha,
                    tuple(parents.split()),
                    name,
                    email,
                    int(author_time),
                    int(commit_time),
                    message,
                    tuple(self._changes),
                    tree,
                )
            )
        self._fields, self._changes, self._status, self._paths = [], [], "", []

    def finish(self) -> list[Commit]:
        self._flush()
        return self.commits

    def changes_so_far(
        self, child: Commit, index: int, parent_tree: str | None
    ) -> tuple[FileChange, ...] | None:
        """What CHILD (a commit read in full) changed against its parent number INDEX,
        that parent's tree PARENT_TREE when known: None when that cannot be told yet
        (see per_parent; an octopus merge waits for per_parent)."""
        records = self._merges.get(child.sha)
        if records is None:
            return child.changes
        if len(records) == len(child.parents):
            return records[index]
        if not records:
            return ()
        if parent_tree is None:
            return None
        if parent_tree == child.tree:
            return ()
        return records[0] if len(child.parents) == 2 and len(records) == 1 else None

    def unknown_trees(self, known: Mapping[str, str]) -> set[str]:
        """Parents of merges whose trees settle which record is against which parent,
        and that were neither scanned nor are in KNOWN."""
        wanted = self._parents_to_settle()
        own = self._own_trees(wanted)
        return {p for p in wanted if p not in own and p not in known}

    def _parents_to_settle(self) -> set[str]:
        """The parents of the merges that git printed fewer records for than they have
        parents (those whose tree is the merge's own get none)."""
        wanted: set[str] = set()
        for index in self._merge_at:
            commit = self.commits[index]
            if len(self._merges[commit.sha]) != len(commit.parents):
                wanted.update(commit.parents)
        return wanted

    def _own_trees(self, wanted: set[str]) -> dict[str, str]:
        """The trees of the WANTED commits this scan read."""
        return {c.sha: c.tree for c in self.commits if c.sha in wanted} if wanted else {}

    def per_parent(self, trees: Mapping[str, str]) -> list[Commit]:
        """The commits, each merge with its changes against each of its parents.

        git leaves out the parents whose tree is the merge's own (nothing changed), so
        the records belong, in order, to the parents whose tree differs (TREES: those of
        parents that were not scanned).
        """
        own = self._own_trees(self._parents_to_settle())
        for at in self._merge_at:
            commit = self.commits[at]
            records = self._merges[commit.sha]
            if len(records) != len(commit.parents):
                differing = [
                    index
                    for index, parent in enumerate(commit.parents)
                    if (own.get(parent) or trees.get(parent)) != commit.tree
                ]
                placed: list[tuple[FileChange, ...]] = [() for _ in commit.parents]
                for index, changes in zip(differing, records, strict=False):
                    placed[index] = changes
                records = placed
            self.commits[at] = commit._replace(parent_changes=tuple(records))
        self._merge_at = []  # settled
        return self.commits


class Follower(Protocol):
    def visit(self, commit: Commit) -> None:
        """Take COMMIT, or raise OutOfOrder when it cannot be taken in this order."""


@dataclass
class _Feed:
    follower: Follower
    fed: int = 0  # commits handed to it
    lost: bool = False  # it met a commit out of order


def parse_log(text: str) -> list[Commit]:
    parser = LogParser()
    parser.feed(text.split("\0"))
    return parser.finish()


class HistoryScan:
    """A `git log` running in the background, parsed as its output arrives.

    The caller does other work (reading SOP files) meanwhile; result() waits for the
    rest. git writes to a temporary file that a thread tails: through a pipe, git
    itself runs about a third slower on large histories (a context switch per 64 KiB).
    """

    CHUNK = 1 << 20
    POLL = 0.005  # seconds to wait for more output

    def __init__(self, repo: GitRepo, args: list[str], known_trees: Mapping[str, str] = {}) -> None:
        self._repo = repo
        self._args = args
        self._known_trees = known_trees
        self._parser = LogParser(with_tree=True)
        self._commits: list[Commit] = []
        self._error: BaseException | None = None
        started = None if repo.env else take_early(repo.root, args)
        self._process, self._output = started or start_log(repo.root, args, repo.env)
        self._followers: list[_Feed] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def follow(self, follower: Follower) -> None:
        """Hand FOLLOWER every commit, once read in full, in the order git prints them,
        while git still runs; followed() says afterwards whether it took them all."""
        self._followers.append(_Feed(follower))

    def followed(self, follower: Follower) -> bool:
        """Did FOLLOWER take every commit, in order (after result())?"""
        return any(f.follower is follower and not f.lost for f in self._followers)

    def changes_so_far(
        self, child: Commit, index: int, parent_tree: str | None
    ) -> tuple[FileChange, ...] | None:
        return self._parser.changes_so_far(child, index, parent_tree)

    def newest_first(self) -> bool:
        """Did git print the commits newest first, as sopgit keeps them (after result())?"""
        return self._parser.newest_first

    def _feed_followers(self, final: bool = False) -> None:
        commits = self._parser.commits
        # The last commit read may still be a merge whose changes against its next
        # parent are yet to come.
        end = len(commits) if final else len(commits) - 1
        for feed in list(self._followers):  # the main thread may add one meanwhile
            if feed.lost:
                continue
            try:
                for index in range(feed.fed, end):
                    feed.follower.visit(commits[index])
            except OutOfOrder:
                feed.lost = True
            feed.fed = max(feed.fed, end)

    def _read(self) -> None:
        try:
            parser = self._parser
            self._commits = parser.commits
            pending = b""
            finished = False
            while True:
                chunk = self._output.read(self.CHUNK)
                if not chunk:
                    if finished:
                        break
                    if self._process.poll() is not None:
                        finished = True  # read once more: git may have written since
                    else:
                        time.sleep(self.POLL)
                    continue
                data = pending + chunk
                cut = data.rfind(b"\0")
                if cut < 0:
                    pending = data
                    continue
                # Decoded whole: a NUL ends any byte sequence, so this is each token's
                # own decoding, at one call per chunk instead of one per token.
                parser.feed(data[:cut].decode("utf-8", "replace").split("\0"))
                pending = data[cut + 1 :]
                self._feed_followers()
                progress.report("reading history:", len(self._commits), "commits")
            parser.feed([pending.decode("utf-8", "replace")])
            parser.finish()
            progress.report("reading history:", len(self._commits), "commits")
        except BaseException as err:  # handed to the caller in result()
            self._error = err
            self._process.kill()

    def result(self) -> list[Commit]:
        assert self._process.stderr is not None
        stderr = self._process.stderr.read().decode("utf-8", "replace").strip()
        self._thread.join()
        progress.done()
        self._output.close()
        if self._process.wait() != 0:
            reason = failure_cause(stderr, self._process.returncode)
            raise RepoError(f"git {self._args[0]} failed: {reason}", self._repo.root)
        if self._error is not None:
            raise self._error
        self._feed_followers(final=True)
        unknown = self._parser.unknown_trees(self._known_trees)
        return self._parser.per_parent({**self._known_trees, **self._repo.trees_of(unknown)})


def parse_tags(text: str) -> list[Tag]:
    tokens = text.split("\0")
    tags = []
    for start in range(0, len(tokens) - TAG_FIELDS + 1, TAG_FIELDS):
        name, kind, obj, peeled, tagger, email, date, contents = tokens[start : start + TAG_FIELDS]
        name = name.lstrip("\n")  # for-each-ref ends each record with a newline
        annotated = kind == "tag"
        tags.append(
            Tag(
                name=name,
                target=peeled if annotated else obj,
                annotated=annotated,
                tagger_name=tagger,
                tagger_email=email,
                time=int(date.split()[0]) if date.strip() else 0,
                message=SIGNATURE.sub("", contents).strip(" \t\r\n") if annotated else "",
                signed=annotated and SIGNATURE.search(contents) is not None,
            )
        )
    return tags


class GitRepo:
    def __init__(self, repo: git.Repo) -> None:
        self._repo = repo
        self.root = Path(repo.working_tree_dir or ".").resolve()
        self.env: dict[str, str] = {}  # added to git's environment (see acting_as)

    @classmethod
    def open(cls, path: Path) -> GitRepo:
        try:
            repo = git.Repo(path, search_parent_directories=True)
        except (InvalidGitRepositoryError, NoSuchPathError):
            raise RepoError(
                "is not inside a git repository; run 'sopgit init' there first", path
            ) from None
        if repo.bare:
            raise RepoError("is a bare repository; run sopgit in a clone with a work tree", path)
        return cls(repo)

    @classmethod
    def init(cls, path: Path, branch: str) -> GitRepo:
        try:
            return cls(git.Repo.init(path, initial_branch=branch))
        except GitCommandError as err:
            raise RepoError(f"git init failed: {_reason(err)}", path) from None

    def run(
        self, *args: str, env: Mapping[str, str] | None = None, input: str | None = None
    ) -> str:
        """Run one git command in the work tree and return its stdout."""
        try:
            if input is not None:
                done = subprocess.run(
                    ["git", *args],
                    cwd=self.root,
                    input=input,
                    text=True,
                    encoding="utf-8",
                    errors="replace",
                    capture_output=True,
                    env={**os.environ, **self.env, **(env or {})},
                )
                if done.returncode != 0:
                    raise GitCommandError(["git", *args], done.returncode, done.stderr)
                return done.stdout
            output: str = self._repo.git.execute(
                ["git", *args], env={**self.env, **(env or {})}, strip_newline_in_stdout=False
            )
        except GitCommandError as err:
            raise RepoError(f"git {args[0]} failed: {_reason(err)}", self.root) from None
        return output

    def update_refs(self, message: str, commands: Iterable[str]) -> None:
        """Move refs in ONE transaction, all or none: `git update-ref -z --stdin` with
        `start`, COMMANDS (built with ref_create, ref_update, ref_delete), `prepare`,
        `commit`. Every old value given is verified, so a ref someone moved meanwhile
        fails the whole transaction."""
        self.run(
            "update-ref",
            "-z",
            "-m",
            message,
            "--stdin",
            input="start\0" + "".join(commands) + "prepare\0commit\0",
        )

    def run_binary(self, *args: str, input: bytes, env: Mapping[str, str] | None = None) -> bytes:
        """Run one git command with INPUT as its stdin, bytes in and out."""
        done = subprocess.run(
            ["git", *args],
            cwd=self.root,
            input=input,
            capture_output=True,
            env={**os.environ, **self.env, **(env or {})},
        )
        if done.returncode != 0:
            stderr = done.stderr.decode("utf-8", "replace").strip()
            if done.returncode < 0:  # e.g. SIGXFSZ: a file grew past the size limit
                reason = f"git was killed: {signal.strsignal(-done.returncode)}"
            else:
                reason = stderr.splitlines()[-1] if stderr else f"exit {done.returncode}"
            raise RepoError(f"git {args[0]} failed: {reason}", self.root)
        return done.stdout

    # --- reading -----------------------------------------------------------------

    def current_branch(self) -> str | None:
        """The checked-out branch, or None on a detached HEAD or an unborn repository."""
        try:
            return self.run("symbolic-ref", "--quiet", "--short", "HEAD").strip() or None
        except RepoError:
            return None

    def head_commit(self) -> str | None:
        """The commit HEAD names, or None in a repository without commits."""
        try:
            return self.run("rev-parse", "--verify", "--quiet", "HEAD^{commit}").strip() or None
        except RepoError:
            return None

    def private_dir(self) -> Path:
        """Where sopgit keeps its own files: .git/sopgit (per work tree)."""
        return Path(self._repo.git_dir) / "sopgit"

    def is_shallow_fast(self) -> bool:
        """Is this a shallow clone (read from the file system, without running git)?"""
        return (Path(self._repo.common_dir) / "shallow").exists()

    def has_commits(self) -> bool:
        try:
            self.run("rev-parse", "--verify", "--quiet", "HEAD")
        except RepoError:
            return False
        return True

    def branch_exists(self, name: str) -> bool:
        try:
            self.run("show-ref", "--verify", "--quiet", f"refs/heads/{name}")
        except RepoError:
            return False
        return True

    def tag_names(self) -> list[str]:
        return self.run("for-each-ref", "--format=%(refname:strip=2)", "refs/tags").split()

    def branch_names(self) -> list[str]:
        """Local and remote-tracking branch names (refs/heads and refs/remotes, shortened)."""
        out = self.run("for-each-ref", "--format=%(refname:short)", "refs/heads", "refs/remotes")
        return out.split()

    def paths_on_all_branches(self, folder: str) -> set[str]:
        """Every file under FOLDER on any local or remote-tracking branch.

        One ls-tree per distinct tree, so branches that share a tree cost nothing more.
        """
        out = self.run("for-each-ref", "--format=%(tree)", "refs/heads", "refs/remotes")
        paths: set[str] = set()
        for tree in sorted(set(out.split())):
            listing = self.run("ls-tree", "-r", "-z", "--name-only", tree, "--", folder)
            paths.update(p for p in listing.split("\0") if p)
        return paths

    def staged_paths(self) -> list[str]:
        """Files added, copied, modified or renamed in the index, relative to the root."""
        out = self.run("diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR")
        return [p for p in out.split("\0") if p]

    def staged_text(self, paths: Iterable[str]) -> dict[str, str]:
        """The staged content of PATHS, read in one git process."""
        blobs = self.blobs(f":{path}" for path in paths)
        return {spec[1:]: data.decode("utf-8", errors="replace") for spec, data in blobs.items()}

    def blobs(self, specs: Iterable[str]) -> dict[str, bytes]:
        """The bytes each of SPECS names (`REV:PATH`, `:PATH` for the index), read in ONE
        git process whatever their number; a spec that names no file is left out."""
        return {spec: data for spec, (_, data) in self.blob_records(specs).items()}

    def blob_records(self, specs: Iterable[str]) -> dict[str, tuple[str, bytes]]:
        """(object id, bytes) of the file each of SPECS names, as blobs() reads them."""
        wanted = [s for s in dict.fromkeys(specs) if "\n" not in s and "\r" not in s]
        return {
            spec: (object_id, data)
            for spec, (kind, data, object_id) in zip(wanted, self._cat_file(wanted), strict=True)
            if kind == b"blob"
        }

    def blob_ids(self, specs: Iterable[str]) -> dict[str, str]:
        """The object id of the file each of SPECS names, in one git process, without
        reading its bytes; a spec that names no file is left out."""
        wanted = [s for s in dict.fromkeys(specs) if "\n" not in s and "\r" not in s]
        if not wanted:
            return {}
        request = "".join(f"{spec}\n" for spec in wanted).encode("utf-8", "surrogateescape")
        out = self.run_binary(
            "cat-file", "--batch-check=%(objectname) %(objecttype)", input=request
        )
        found = {}
        for spec, line in zip(wanted, out.split(b"\n"), strict=False):
            fields = line.split()
            if len(fields) == 2 and fields[1] == b"blob":
                found[spec] = fields[0].decode("ascii")
        return found

    def _cat_file(self, names: list[str]) -> list[tuple[bytes, bytes, str]]:
        """`git cat-file --batch` over NAMES in ONE process: each name's object type,
        bytes and object id, in order; the type is b"missing" (or b"ambiguous"), with no
        bytes and no id, for a name that names no single object."""
        if not names:
            return []
        request = "".join(f"{name}\n" for name in names).encode("utf-8", "surrogateescape")
        with tempfile.TemporaryFile() as stdin:
            stdin.write(request)
            stdin.seek(0)
            try:
                data: bytes = self._repo.git.execute(
                    ["git", "cat-file", "--batch"], istream=stdin, stdout_as_string=False
                )
            except GitCommandError as err:
                raise RepoError(f"git cat-file failed: {_reason(err)}", self.root) from None
        found = []
        for _ in names:
            header, _, data = data.partition(b"\n")
            fields = header.split()
            # `<sha> <type> <size>` then the bytes; `<name> missing` (or ambiguous) alone
            if len(fields) < 3 or not fields[-1].isdigit():
                found.append((fields[-1] if fields else b"missing", b"", ""))
                continue
            size = int(fields[-1])
            found.append((fields[-2], data[:size], fields[0].decode("ascii", "replace")))
            data = data[size + 1 :]
        return found

    def is_dirty(self) -> bool:
        # --no-optional-locks: status takes no index.lock to refresh the index, so a
        # sopgit killed during this check leaves no lock behind.
        return bool(
            self.run("--no-optional-locks", "status", "--porcelain", "--untracked-files=no").strip()
        )

    def identity(self) -> Identity | None:
        try:
            name = self.run("config", "user.name").strip()
            email = self.run("config", "user.email").strip()
        except RepoError:
            return None
        return Identity(name, email)

    def hooks_dir(self) -> Path:
        """Where git looks for hooks (honours core.hooksPath)."""
        path = Path(self.run("rev-parse", "--git-path", "hooks").strip())
        return path if path.is_absolute() else self.root / path

    def scan_history(self, *revs: str, known_trees: Mapping[str, str] = {}) -> HistoryScan:
        """Start reading every commit reachable from REVS (default HEAD; `^X` leaves out
        what X reaches) with its files. Call result() for the commits.

        One git process whatever the size of the library: renames are detected (-M) so
        that histories follow them; a merge lists its changes against each parent (-m),
        which is how a file's names are followed through it. KNOWN_TREES are the trees
        of commits read before (a merge's parents this scan does not reach).
        """
        return HistoryScan(self, scan_args(*revs), known_trees)

    def trees_of(self, commits: Iterable[str]) -> dict[str, str]:
        """The tree of each of COMMITS, in one git process (none when there are none)."""
        wanted = sorted(set(commits))
        if not wanted:
            return {}
        request = "".join(f"{c}^{{tree}}\n" for c in wanted)
        lines = self.run("cat-file", "--batch-check=%(objectname)", input=request).splitlines()
        return {c: t for c, t in zip(wanted, lines, strict=False) if " " not in t.strip()}

    def tags(self, pattern: str = "") -> list[Tag]:
        """Every tag (or those matching PATTERN, a for-each-ref glob) with its target
        commit and, for annotated tags, tagger and message."""
        pattern = f"refs/tags/{pattern}" if pattern else "refs/tags"
        raw = self.run_bytes("for-each-ref", f"--format={TAG_FORMAT}", pattern)
        return parse_tags(raw.decode("utf-8", errors="replace"))

    def tag_ids(self) -> list[tuple[str, str]]:
        """(ref name, object id) of every tag: what names each tag's content, since an
        annotated tag's object id names its target, tagger and message (no tag is read)."""
        raw = self.run_bytes("for-each-ref", "--format=%(refname)%00%(objectname)", "refs/tags")
        text = raw.decode("utf-8", errors="replace")  # a ref name holds no newline
        return [(n, o) for n, _, o in (r.partition("\0") for r in text.split("\n") if r)]

    def tags_and_ids(self, *refs: str) -> tuple[list[Tag], list[tuple[str, str]]]:
        """tags() and tag_ids() of one and the same listing: every tag, or the tags of
        REFS (full ref names, refs/tags/...)."""
        raw = self.run_bytes(
            "for-each-ref",
            f"--format=%(refname)%00%(objectname)%00{TAG_FORMAT}",
            *(refs or ["refs/tags"]),
        )
        tokens = raw.decode("utf-8", errors="replace").split("\0")
        size = TAG_FIELDS + 2
        ids = [
            (tokens[i].lstrip("\n"), tokens[i + 1]) for i in range(0, len(tokens) - size + 1, size)
        ]
        rest = [t for i, t in enumerate(tokens) if i % size >= 2]
        return parse_tags("\0".join(rest)), ids

    def parents_outside(self, targets: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """Parents of the commits reachable from TARGETS but not from HEAD (one process)."""
        wanted = sorted(set(targets))
        if not wanted:
            return {}
        out = self.run("rev-list", "--parents", "--end-of-options", *wanted, "^HEAD", "--")
        graph: dict[str, tuple[str, ...]] = {}
        for line in out.splitlines():
            sha, *parents = line.split()
            graph[sha] = tuple(parents)
        return graph

    def git_dir(self) -> Path:
        path = Path(self.run("rev-parse", "--git-dir").strip())
        return path if path.is_absolute() else self.root / path

    @property
    def git_dir_path(self) -> Path:
        """The repository's git folder (.git, or the worktree's own), without a process."""
        return Path(self._repo.git_dir).resolve()

    @property
    def common_dir_path(self) -> Path:
        """The folder holding refs and objects (differs from git_dir_path in a worktree)."""
        return Path(self._repo.common_dir).resolve()

    @property
    def sopgit_dir(self) -> Path:
        """Where sopgit keeps its lock, release journal and scratch files: .git/sopgit/."""
        return self.git_dir_path / "sopgit"

    def blob_contents(self, blobs: Mapping[str, str]) -> dict[str, bytes]:
        """KEY -> the bytes of blob BLOBS[KEY], read in one git process."""
        keys = list(blobs)
        found: dict[str, bytes] = {}
        for key, (kind, data, _) in zip(
            keys, self._cat_file([blobs[k] for k in keys]), strict=True
        ):
            if kind in (b"missing", b"ambiguous"):
                raise RepoError(f"blob {blobs[key]} of {key} is missing", self.root)
            found[key] = data
        return found

    def signing_wanted(self) -> tuple[bool, bool]:
        """(commit.gpgSign, tag.gpgSign) from git's configuration, in one process."""
        try:
            out = self.run("config", "--bool", "--get-regexp", r"^(commit|tag)\.gpgsign$")
        except RepoError:
            return False, False
        values = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
        return values.get("commit.gpgsign") == "true", values.get("tag.gpgsign") == "true"

    def is_shallow(self) -> bool:
        return self.run("rev-parse", "--is-shallow-repository").strip() == "true"

    def head(self) -> str:
        return self.run("rev-parse", "--verify", "HEAD").strip()

    def signatures(self, shas: Iterable[str]) -> dict[str, tuple[str, str]]:
        """sha -> (%G?, %GS): git's own verdict on each commit's signature, in one process.

        G is a good signature by a trusted key (gpg keyring, or ssh allowedSignersFile);
        %GS names the signer (the allowed_signers principal for ssh).
        """
        wanted = sorted(set(shas))
        if not wanted:
            return {}
        out = self.run(
            "log",
            "--no-walk=unsorted",
            "--format=%H%x00%G?%x00%GS%x00",
            "--end-of-options",
            *wanted,
            "--",
        )
        found: dict[str, tuple[str, str]] = {}
        for record in out.split("\0\n"):
            parts = record.strip("\n").split("\0")
            if len(parts) >= 3 and parts[0]:
                found[parts[0]] = (parts[1], parts[2])
        return found

    def verify_tag(self, name: str) -> bool:
        """Does git's own verification (gpg keyring, ssh allowedSignersFile) accept NAME?"""
        try:
            self.run("verify-tag", "--", name)
        except RepoError:
            return False
        return True

    def remotes(self) -> list[str]:
        """The names of the configured remotes."""
        return self.run("remote").split()

    def remote_url(self, remote: str) -> str | None:
        try:
            return self.run("remote", "get-url", "--", remote).strip() or None
        except RepoError:
            return None

    def author_ident(self) -> tuple[Identity, int] | None:
        """Who and when git would record as the author of a commit made now."""
        try:
            ident = self.run("var", "GIT_AUTHOR_IDENT").strip()
        except RepoError:
            return None
        match = re.match(r"^(?P<name>.*?) <(?P<email>[^>]*)> (?P<time>\d+) [+-]\d{4}$", ident)
        if not match:
            return None
        return Identity(match.group("name"), match.group("email")), int(match.group("time"))

    def resolve(self, *names: str) -> str | None:
        """The commit the first of NAMES that exists names, or None."""
        for name in names:
            try:
                return self.run(
                    "rev-parse", "--verify", "--quiet", "--end-of-options", f"{name}^{{commit}}"
                ).strip()
            except RepoError:
                continue
        return None

    def commits_between(self, base: str, tip: str = "HEAD") -> set[str]:
        """Commits reachable from TIP and not from BASE."""
        return set(self.run("rev-list", "--end-of-options", tip, f"^{base}", "--").split())

    def run_bytes(self, *args: str) -> bytes:
        try:
            output: bytes = self._repo.git.execute(
                ["git", *args], env=self.env, stdout_as_string=False
            )
        except GitCommandError as err:
            raise RepoError(f"git {args[0]} failed: {_reason(err)}", self.root) from None
        return output

    def blob(self, commit: str, path: str) -> bytes:
        """The bytes of PATH at COMMIT, exactly (a trailing newline is kept)."""
        try:
            output: bytes = self._repo.git.execute(
                ["git", "cat-file", "blob", f"{commit}:{path}"],
                env=self.env,
                stdout_as_string=False,
                strip_newline_in_stdout=False,
            )
        except GitCommandError as err:
            raise RepoError(f"git cat-file failed: {_reason(err)}", self.root) from None
        return output

    # --- writing -----------------------------------------------------------------

    def create_branch(self, name: str, checkout: bool = True) -> None:
        if checkout:
            self.run("checkout", "--quiet", "-b", name)
        else:
            self.run("branch", "--quiet", name)

    def switch_back(self, previous: str, created: str) -> None:
        """Undo create_branch: check out PREVIOUS again and delete CREATED."""
        self.run("checkout", "--quiet", previous, "--")
        self.run("branch", "--quiet", "-D", "--", created)

    def acting_as(self, person: Identity, date: str) -> None:
        """Make every later commit and tag by PERSON at DATE (for generated history)."""
        self.env = {
            "GIT_AUTHOR_NAME": person.name,
            "GIT_AUTHOR_EMAIL": person.email,
            "GIT_AUTHOR_DATE": date,
            "GIT_COMMITTER_NAME": person.name,
            "GIT_COMMITTER_EMAIL": person.email,
            "GIT_COMMITTER_DATE": date,
        }

    def commit_empty(self, message: str, sign: bool = False) -> str:
        """Record MESSAGE as a commit that changes no file; returns its id."""
        with message_file(message) as path:
            self.run(
                "commit",
                "--quiet",
                "--allow-empty",
                "--cleanup=verbatim",
                "-F",
                path,
                *(["-S"] if sign else []),
            )
        return self.head()

    def append_to_ref(self, ref: str, message: str, sign: bool = False) -> str:
        """Add a commit with MESSAGE and no files on top of REF (created if missing).

        The ref is moved only if nobody moved it meanwhile (update-ref's old value).
        """
        try:
            parent = self.run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
        except RepoError:
            parent = ""
        tree = self.run("mktree", input="").strip()
        with message_file(message) as path:
            args = ["commit-tree", tree, "-F", path, *(["-p", parent] if parent else [])]
            commit = self.run(*args, *(["-S"] if sign else [])).strip()
        self.run("update-ref", "-m", "sopgit: record", ref, commit, parent or "0" * len(commit))
        return commit

    def ref_log(self, ref: str) -> list[Commit]:
        """The commits of REF, newest first (empty when REF does not exist)."""
        try:
            self.run("rev-parse", "--verify", "--quiet", ref)
        except RepoError:
            return []
        raw = self.run_bytes("log", "-z", f"--format={LOG_FORMAT}", ref, "--")
        return parse_log(raw.decode("utf-8", "replace"))

    def signing_configured(self, kind: str) -> bool:
        """Is `commit.gpgsign` or `tag.gpgsign` (KIND) on in git's configuration?"""
        try:
            return self.run("config", "--bool", f"{kind}.gpgsign").strip() == "true"
        except RepoError:
            return False

    def commit_paths(self, paths: Iterable[str], message: str, *, verify: bool = True) -> None:
        """Commit PATHS with MESSAGE; the repository's hooks run unless VERIFY is off."""
        self.run("add", "--", *paths)
        with message_file(message) as path:
            self.run(
                "commit",
                "--quiet",
                "--cleanup=verbatim",
                "-F",
                path,
                *([] if verify else ["--no-verify"]),
            )


def _reason(err: GitCommandError) -> str:
    stderr = err.stderr if isinstance(err.stderr, str) else str(err.stderr or "")
    text = stderr.strip().removeprefix("stderr:").strip()
    if len(text) > 1 and text[0] == text[-1] == "'":  # GitPython quotes the whole stderr
        text = text[1:-1].strip()
    status = err.status if isinstance(err.status, int) else None
    return failure_cause(text, status)


def failure_cause(stderr: str, status: int | None) -> str:
    """Why git failed, in one line: its first fatal or error line, else its first line
    that is not a hint; for git stopped by a signal, the signal."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    causes = [line for line in lines if line.startswith(("fatal:", "error:"))]
    said = causes or [line for line in lines if not line.startswith("hint:")]
    if said:
        return said[0]
    if status is not None and status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"git was stopped by {name} (out of disk space or a file size limit?)"
    return f"exit status {status}" if status is not None else "no reason given"


@contextmanager
def message_file(text: str) -> Iterator[str]:
    """TEXT in a temporary file, for git's -F (no length limit, no shell quoting)."""
    handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False)
    try:
        with handle:
            handle.write(text)
        yield handle.name
    finally:
        os.unlink(handle.name)


# Commands of GitRepo.update_refs, in update-ref's -z form.
def ref_create(ref: str, new: str) -> str:
    return f"create {ref}\0{new}\0"


def ref_update(ref: str, new: str, old: str) -> str:
    return f"update {ref}\0{new}\0{old}\0"


def ref_delete(ref: str, old: str) -> str:
    return f"delete {ref}\0{old}\0"
