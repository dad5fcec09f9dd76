"""The library a command works on: its root, configuration and repository."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sopgit.config import load_config
from sopgit.gitrepo import GitRepo
from sopgit.settings import Config


@dataclass(frozen=True)
class Library:
    root: Path
    config: Config
    repo: GitRepo
    use_cache: bool = True  # keep the history scan in .git/sopgit/ (--no-cache: off)


def open_library(start: Path, use_cache: bool = True) -> Library:
    """The library whose work tree holds START (its git top level)."""
    repo = GitRepo.open(start)
    return Library(repo.root, load_config(repo.root), repo, use_cache)
