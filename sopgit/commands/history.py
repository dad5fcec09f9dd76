"""`sopgit history` as a typed function: one SOP's released versions and pending changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sopgit.core.history import HistoryRow, SopVersion
    from sopgit.repo.snapshot import Sop
    from sopgit.repo.workspace import Library


@dataclass(frozen=True)
class SopHistory:
    sop: Sop
    version: SopVersion  # its releases, and the changes pending since the latest
    rows: tuple[HistoryRow, ...]  # the revision history, oldest first


def sop_history(lib: Library, sop_id: str) -> SopHistory:
    """The revision history of SOP_ID, derived from its release tags (and the rows typed
    by hand before sopgit), reading only its own tags and the history since them."""
    from sopgit.core.history import history_rows
    from sopgit.repo.snapshot import load_one

    sop, version = load_one(lib, sop_id)
    return SopHistory(sop, version, tuple(history_rows(version)))
