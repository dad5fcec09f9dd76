"""The library a command works on: its root, configuration and repository."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sopgit.config import Config, load_config
from sopgit.gitrepo import GitRepo


@dataclass(frozen=True)
class Library:
    root: Path
    config: Config
    repo: GitRepo


def open_library(start: Path) -> Library:
    """The library whose work tree holds START (its git top level)."""
    repo = GitRepo.open(start)
    return Library(repo.root, load_config(repo.root), repo)
