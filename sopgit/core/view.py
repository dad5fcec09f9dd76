"""What the pure derivations read of a library (pure): the SOPs with their metadata,
each SOP's version and its review dates.

sopgit.repo.snapshot.Snapshot (the one read of git and files) provides it; status rows and
the audit trail are computed from it, so they never touch git or files themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sopgit.core.history import SopVersion
from sopgit.core.lifecycle import Event


class SopRecord(Protocol):
    @property
    def sop_id(self) -> str: ...

    @property
    def path(self) -> str: ...

    def meta(self, key: str, default: str = "") -> str: ...


class Frontmatter(Protocol):
    @property
    def meta(self) -> Mapping[str, Any]: ...


class DatedSop(SopRecord, Protocol):
    """An SOP with what its review dates are read from: its frontmatter (None when the
    file does not parse) and the dates it states itself."""

    @property
    def doc(self) -> Frontmatter | None: ...

    def stated_date(self, name: str) -> str | None: ...


class LibraryView(Protocol):
    @property
    def sops(self) -> Mapping[str, SopRecord]: ...

    @property
    def on_release_branch(self) -> bool: ...

    def sop(self, sop_id: str) -> SopRecord: ...

    def version(self, sop_id: str, force: str | None = None) -> SopVersion: ...

    def review_due(self, sop_id: str) -> str | None: ...

    def reviews(self, sop_id: str) -> Sequence[Event]: ...
