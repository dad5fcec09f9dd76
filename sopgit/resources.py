"""Find the packaged templates/ and hooks/ folders, installed or in a checkout."""

from __future__ import annotations

from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


@cache
def resource_dir(name: str) -> Path:
    """templates/ or hooks/: inside the wheel (sopgit/_data) or beside the package."""
    for candidate in (PACKAGE / "_data" / name, PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"sopgit's {name}/ folder is missing from this installation")
