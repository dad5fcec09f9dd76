"""Plain records for tests of the pure core: commits, file changes and tags built by hand.

Shas are fixed 40-character strings that still read as their name in a failure message.
"""

from __future__ import annotations

from collections.abc import Iterable

from sopgit.core.history import History
from sopgit.core.model import Commit, FileChange, Tag
from sopgit.core.settings import Config

ENG1 = "sops/engineering/ENG-001-deploy.md"
ENG2 = "sops/engineering/ENG-002-rollback.md"
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def sha(name: str) -> str:
    """A fixed 40-character sha that still reads as NAME in a failure message."""
    return f"{name:0<40}"


def commit(
    name: str,
    *parents: str,
    message: str = "fix(ENG-001): edit",
    changes: tuple[FileChange, ...] = (),
    author: str = "Ana Ruiz",
    email: str = "ana@acme.example",
    when: int = T0,
) -> Commit:
    return Commit(
        sha=sha(name),
        parents=tuple(sha(p) for p in parents),
        author_name=author,
        author_email=email,
        author_time=when,
        commit_time=when,
        message=message,
        changes=changes,
    )


def mod(path: str = ENG1) -> tuple[FileChange, ...]:
    return (FileChange("M", path),)


def add(path: str = ENG1) -> tuple[FileChange, ...]:
    return (FileChange("A", path),)


def tag(name: str, target: str, message: str = "", **kw: object) -> Tag:
    annotated = bool(kw.pop("annotated", True))
    return Tag(name=name, target=sha(target), annotated=annotated, message=message, **kw)


def shas(commits: list[Commit]) -> list[str]:
    return [c.sha for c in commits]


def release_message(*released: str) -> str:
    trailers = "\n".join(f"Sopgit-Release: {r}" for r in released)
    return f"release: {', '.join(released)}\n\n{trailers}\n"


def build(commits: list[Commit], tags: Iterable[Tag] = (), head: str | None = None, **paths: str):
    return History.build(
        Config(),
        commits,
        list(tags),
        paths or {ENG1: "ENG-001"},
        sha(head) if head else (commits[0].sha if commits else None),
    )
