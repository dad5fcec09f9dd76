"""The library a command works on: its root, configuration and repository."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sopgit.core.settings import Config
from sopgit.repo.config import load_config
from sopgit.repo.git import GitRepo


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


def open_sop_library(start: Path, *, use_cache: bool = True, recover: bool = True) -> Library:
    """The library of START; outside one (no sopgit.toml and no SOP folder), a usage error.
    First, a release that a killed sopgit left unfinished is finished or undone (one
    line on stderr says which); git hooks skip that (RECOVER)."""
    from sopgit.errors import UsageError
    from sopgit.repo.config import CONFIG_FILE

    lib = open_library(start, use_cache=use_cache)
    if not (lib.root / CONFIG_FILE).is_file() and not (lib.root / lib.config.root).is_dir():
        raise UsageError(
            f"is not a sopgit library (no {CONFIG_FILE}, no {lib.config.root}/ folder); "
            "run 'sopgit init' there, or give -C LIBRARY",
            lib.root,
        )
    if recover:
        from sopgit.repo.transaction import recover as finish_interrupted

        finish_interrupted(lib.repo)
    return lib
