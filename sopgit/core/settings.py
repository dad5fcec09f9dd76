"""A library's settings as plain data (pure): departments, versioning, approval policy,
training audience and document format, each with its default.

sopgit.repo.config reads and validates them from sopgit.toml; everything else takes them as
a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sopgit.core.formats import Format


@dataclass(frozen=True)
class Department:
    code: str
    name: str
    folder: str
    description: str = ""


DEFAULT_DEPARTMENTS: tuple[Department, ...] = (
    Department(
        "ENG", "Engineering", "engineering", "Software development, deployment, and maintenance"
    ),
    Department("CMP", "Compliance", "compliance", "Regulatory compliance in all operations"),
    Department(
        "OPS", "Operations", "operations", "Day-to-day business operations and administration"
    ),
)


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    name: str = "SOP Library"
    root: str = "sops"
    release_branch: str = "main"
    remote: str = "origin"
    departments: Mapping[str, Department] = field(
        default_factory=lambda: {d.code: d for d in DEFAULT_DEPARTMENTS}
    )
    tag_format: str = "{id}/v{version}"
    initial_version: str = "1.0.0"
    bump: Mapping[str, str] = field(
        default_factory=lambda: {"breaking": "major", "feat": "minor", "default": "patch"}
    )
    review_interval_days: int = 365
    approval_required: tuple[str, ...] = ()
    approval_roles: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: {"peer": ("*",)})
    # Roles needed on top of `required` by the SOPs of a department / carrying a tag.
    approval_departments: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    approval_tags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    approval_require_signed: bool = False
    # A sign-off of an earlier text of the SOP: "void" (counts for nothing) or "keep".
    approval_stale: str = "void"
    github_max_requests: int = 200  # GitHub API requests one command may make at most
    commit_msg: str = "warn"
    # who must acknowledge: "*" (every SOP), a department code or an SOP id -> emails
    training_audience: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    format: Format = field(default_factory=Format)  # the library's document format
    check_disable: tuple[str, ...] = ()  # check rules this library does not follow

    def audience_for(self, sop_id: str) -> tuple[str, ...]:
        dept = sop_id.rsplit("-", 1)[0]
        groups = (self.training_audience.get(k, ()) for k in ("*", dept, sop_id))
        return tuple(dict.fromkeys(p for group in groups for p in group))
