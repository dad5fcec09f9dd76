"""All git I/O. Callers get plain values; git's failures become RepoError.

Git runs without a shell, and paths always follow `--`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import git
from git.exc import GitCommandError, InvalidGitRepositoryError, NoSuchPathError

from sopgit.errors import RepoError


@dataclass(frozen=True)
class Identity:
    name: str
    email: str


class GitRepo:
    def __init__(self, repo: git.Repo) -> None:
        self._repo = repo
        self.root = Path(repo.working_tree_dir or ".").resolve()

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

    def run(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        """Run one git command in the work tree and return its stdout."""
        try:
            output: str = self._repo.git.execute(
                ["git", *args], env=dict(env) if env else None, strip_newline_in_stdout=False
            )
        except GitCommandError as err:
            raise RepoError(f"git {args[0]} failed: {_reason(err)}", self.root) from None
        return output

    # --- reading -----------------------------------------------------------------

    def current_branch(self) -> str | None:
        """The checked-out branch, or None on a detached HEAD or an unborn repository."""
        try:
            return self.run("symbolic-ref", "--quiet", "--short", "HEAD").strip() or None
        except RepoError:
            return None

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
        wanted = list(paths)
        if not wanted:
            return {}
        request = "".join(f":{path}\n" for path in wanted).encode()
        with tempfile.TemporaryFile() as stdin:
            stdin.write(request)
            stdin.seek(0)
            try:
                data = self._repo.git.execute(
                    ["git", "cat-file", "--batch"], istream=stdin, stdout_as_string=False
                )
            except GitCommandError as err:
                raise RepoError(f"git cat-file failed: {_reason(err)}", self.root) from None
        texts: dict[str, str] = {}
        for path in wanted:
            header, _, data = data.partition(b"\n")
            if header.endswith(b"missing"):
                continue
            size = int(header.split()[2])
            texts[path] = data[:size].decode("utf-8", errors="replace")
            data = data[size + 1 :]
        return texts

    def is_dirty(self) -> bool:
        return bool(self.run("status", "--porcelain", "--untracked-files=no").strip())

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

    # --- writing -----------------------------------------------------------------

    def create_branch(self, name: str, checkout: bool = True) -> None:
        if checkout:
            self.run("checkout", "--quiet", "-b", name)
        else:
            self.run("branch", "--quiet", name)

    def commit_paths(self, paths: Iterable[str], message: str, author: Identity, date: str) -> None:
        """Commit PATHS as AUTHOR at DATE (also the committer), for generated history."""
        self.run("add", "--", *paths)
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_AUTHOR_DATE": date,
            "GIT_COMMITTER_NAME": author.name,
            "GIT_COMMITTER_EMAIL": author.email,
            "GIT_COMMITTER_DATE": date,
        }
        self.run("commit", "--quiet", "--no-verify", "-m", message, env=env)


def _reason(err: GitCommandError) -> str:
    stderr = err.stderr if isinstance(err.stderr, str) else str(err.stderr or "")
    text = stderr.strip().removeprefix("stderr:").strip().strip("'").strip()
    return text.splitlines()[-1] if text else f"exit status {err.status}"
