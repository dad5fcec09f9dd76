"""One error family; each kind carries the exit code the CLI maps it to."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar


class SopgitError(Exception):
    """An expected failure with a message for the user (exit 2 unless a subclass says)."""

    exit_code: ClassVar[int] = 2

    def __init__(
        self, message: str, path: Path | str | None = None, line: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line else f"{self.path}: "
        return f"{where}{self.message}"


class ConfigError(SopgitError):
    """sopgit.toml is missing a value, has a wrong type or an unknown key."""


class DocumentError(SopgitError):
    """An SOP file cannot be parsed or updated."""


class RepoError(SopgitError):
    """A git operation failed or the repository is in a state sopgit refuses."""


class UsageError(SopgitError):
    """The command was given something it cannot act on."""


class PolicyError(SopgitError):
    """A check found problems or a policy refused the action (exit 1)."""

    exit_code: ClassVar[int] = 1
