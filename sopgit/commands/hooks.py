"""Git hooks: install the packaged scripts; what each hook checks when git runs it."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sopgit.core.commits import (
    is_git_generated,
    is_release,
    parse_header,
    parse_message,
    strip_comments,
)
from sopgit.errors import UsageError
from sopgit.repo.checking import CheckResult, check_library
from sopgit.repo.docformat import id_in_filename
from sopgit.repo.git import GitRepo
from sopgit.repo.library import is_under
from sopgit.repo.transaction import RELEASE_ENV
from sopgit.repo.workspace import Library
from sopgit.resources import resource_dir

HOOKS = ("pre-commit", "commit-msg")
MARKER = "# sopgit-hook:"


@dataclass(frozen=True)
class Installed:
    hook: str
    path: Path
    legacy: Path | None  # a hook that was there before, kept and still run first


def is_ours(path: Path) -> bool:
    try:
        return MARKER in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def install_hooks(
    repo: GitRepo, python: str = sys.executable, dry_run: bool = False
) -> list[Installed]:
    """Install sopgit's hooks. A foreign hook moves to HOOK.legacy and keeps running first."""
    directory = repo.hooks_dir()
    planned: list[tuple[str, Path, Path | None, str]] = []
    for hook in HOOKS:
        script = (resource_dir("hooks") / hook).read_text(encoding="utf-8")
        target = directory / hook
        legacy = directory / f"{hook}.legacy"
        move = target.exists() and not is_ours(target)
        if move and legacy.exists():
            raise UsageError(
                f"both {hook} and {hook}.legacy exist; merge them by hand, then install again",
                directory,
            )
        keep = legacy if move or legacy.exists() else None
        # The script holds the path in '...'; a quote in it is written '\'' (close, \', reopen).
        quoted = python.replace("'", "'\\''")
        planned.append((hook, target, keep, script.replace("@SOPGIT_PYTHON@", quoted)))
    if dry_run:
        return [Installed(hook, target, legacy) for hook, target, legacy, _ in planned]
    directory.mkdir(parents=True, exist_ok=True)
    for _, target, kept, script in planned:
        if kept is not None and not kept.exists():
            target.rename(kept)
        target.write_text(script, encoding="utf-8")
        target.chmod(0o755)
    return [Installed(hook, target, legacy) for hook, target, legacy, _ in planned]


def run_by_release() -> bool:
    """Is this hook run by sopgit for its own release or retirement commit? sopgit checks
    those itself before making them, so its hooks pass them (the user's own still run)."""
    return os.environ.get(RELEASE_ENV) == "1"


def pre_commit(lib: Library, files: list[Path]) -> CheckResult:
    """Check the SOP files being committed: FILES (pre-commit framework) or the index."""
    if files:
        under = [f for f in files if _in_root(lib, f)]
        return check_library(lib, under) if under else CheckResult((), ())
    staged = [p for p in lib.repo.staged_paths() if _sop_path(lib, p)]
    if not staged:
        return CheckResult((), ())
    return check_library(lib, [lib.root / p for p in staged], staged=True)


def commit_msg_problem(lib: Library, message_file: Path) -> str | None:
    """Why the commit message does not suit the staged SOP changes, or None."""
    if lib.config.commit_msg == "off":
        return None
    try:
        message = strip_comments(message_file.read_text(encoding="utf-8", errors="replace"))
    except OSError as err:
        raise UsageError(f"cannot read the commit message ({err.strerror})", message_file) from None
    ids = sorted(
        {
            i
            for p in lib.repo.staged_paths()
            if _sop_path(lib, p)
            for i in [id_in_filename(PurePosixPath(p).name, lib.config.format)]
            if i
        }
    )
    if not ids or not message or is_git_generated(message) or is_release(parse_message(message)):
        return None
    header = parse_header(message)
    example = f"docs({ids[0]}): what changed"
    if header is None:
        return f"the message is not a Conventional Commit; write e.g. '{example}'"
    if not set(header.scopes) & set(ids):
        return f"the scope should name the SOP changed ({', '.join(ids)}); write e.g. '{example}'"
    return None


def _sop_path(lib: Library, relative: str) -> bool:
    return relative.endswith(".md") and is_under(relative, lib.config.root)


def _in_root(lib: Library, file: Path) -> bool:
    try:
        relative = file.resolve().relative_to(lib.root).as_posix()
    except ValueError:
        return False
    return _sop_path(lib, relative)
