"""Starting the history scan's `git log`, and starting it early.

This module imports nothing beyond the standard library, so that a command that will
read the whole history can start git before sopgit's own modules are imported (a
tenth of a second of a cold `status`): start_early() runs the scan HistoryScan would
run, and HistoryScan takes it over when it asks for exactly that scan.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import tempfile
from pathlib import Path
from typing import BinaryIO

# One record per commit: \x1e, then NUL-separated fields; git appends the file changes.
# A message may hold any byte but NUL (0x1e included), so records are never split on the
# marker: LogParser reads the NUL-separated tokens in order and knows what each one is.
LOG_FORMAT = "%x1e%H%x00%P%x00%an%x00%ae%x00%at%x00%ct%x00%B%x00"
# The history scan's records also carry the tree. With -m a merge comes once per parent
# whose tree differs from its own, each time with its changes against that parent.
SCAN_FORMAT = LOG_FORMAT + "%T%x00"
SCAN_ARGS = ["log", "-z", "-m", "--name-status", "-M", f"--format={SCAN_FORMAT}"]

Started = tuple[subprocess.Popen[bytes], BinaryIO]  # git, and the file it writes to

_early: dict[tuple[Path, tuple[str, ...]], Started] = {}


def scan_args(*revs: str) -> list[str]:
    return [*SCAN_ARGS, "--end-of-options", *(revs or ("HEAD",)), "--"]


def start_log(root: Path, args: list[str], env: dict[str, str]) -> Started:
    """git ARGS in ROOT writing to a temporary file that is already unlinked (the open
    handles keep it readable; nothing is left behind), and that file opened to read."""
    fd, name = tempfile.mkstemp(prefix="sopgit-log-")
    try:
        output = open(name, "rb")
        process = subprocess.Popen(
            ["git", *args], cwd=root, stdout=fd, stderr=subprocess.PIPE, env={**os.environ, **env}
        )
    finally:
        os.close(fd)
        os.unlink(name)
    return process, output


def start_early(start: Path, *, use_cache: bool = True) -> None:
    """Start the scan of HEAD's whole history for the repository at START, when that is
    what the command will run: nothing of sopgit's is kept there yet (no .git/sopgit: no
    cache, no release to recover), or no cache is used (USE_CACHE false). Anything
    unexpected: start nothing (and a scan started for a HEAD that recovering a release
    then moves is not taken over)."""
    if use_cache and _kept_here(start):
        return  # the usual case after the first run, told without starting git
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--show-toplevel", "--absolute-git-dir", "--verify", "-q", "HEAD"],
            cwd=start,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return
    lines = found.stdout.splitlines()
    if found.returncode != 0 or len(lines) != 3:
        return
    root, git_dir, head = Path(lines[0]).resolve(), Path(lines[1]), lines[2]
    if (use_cache and (git_dir / "sopgit").exists()) or (git_dir / "shallow").exists():
        return
    args = scan_args(head)
    try:
        _early[(root, tuple(args))] = start_log(root, args, {})
    except OSError:
        return


def _kept_here(start: Path) -> bool:
    """Does the .git folder START is in (found as git finds it, when it is a plain
    folder and GIT_DIR does not say otherwise) hold sopgit's files already?"""
    if "GIT_DIR" in os.environ:
        return False
    start = start.resolve()
    for folder in (start, *start.parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return (dot_git / "sopgit").exists()
        if dot_git.exists():
            return False  # a file: a linked work tree or a submodule; git will say
    return False


def take_early(root: Path, args: list[str]) -> Started | None:
    """The scan start_early() started in ROOT, if it is git ARGS exactly."""
    return _early.pop((root, tuple(args)), None)


def _drop_early() -> None:
    """An early scan that no command took over (it failed first): stop it."""
    for process, output in _early.values():
        process.kill()
        process.wait()
        output.close()
    _early.clear()


atexit.register(_drop_early)
