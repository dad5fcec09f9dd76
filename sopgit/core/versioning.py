"""Versions from tags (pure): parse tag names, find each SOP's released version."""

from __future__ import annotations

import re
from collections.abc import Iterable

import semver

UNRELEASED = "0.0.0"


DEFAULT_ID_PATTERN = r"[A-Z][A-Z0-9]{1,9}-\d{3,}"


def tag_pattern(tag_format: str, id_pattern: str = DEFAULT_ID_PATTERN) -> re.Pattern[str]:
    """A regex for tag names in TAG_FORMAT, with groups `id` and `version`."""
    parts = re.split(r"(\{id\}|\{version\})", tag_format)
    regex = "".join(
        f"(?P<id>{id_pattern})"
        if part == "{id}"
        else r"(?P<version>\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)"
        if part == "{version}"
        else re.escape(part)
        for part in parts
    )
    return re.compile(f"^{regex}$")


def tag_name(tag_format: str, sop_id: str, version: str) -> str:
    return tag_format.replace("{id}", sop_id).replace("{version}", version)


def parse_version(text: str) -> semver.Version | None:
    try:
        return semver.Version.parse(text)
    except (ValueError, TypeError):
        return None


def released_versions(
    tags: Iterable[str], tag_format: str, id_pattern: str = DEFAULT_ID_PATTERN
) -> dict[str, list[semver.Version]]:
    """Each SOP id's released versions, highest first. Prereleases are not releases."""
    pattern = tag_pattern(tag_format, id_pattern)
    found: dict[str, list[semver.Version]] = {}
    for tag in tags:
        match = pattern.match(tag)
        if not match:
            continue
        version = parse_version(match.group("version"))
        if version is not None and not version.prerelease:
            found.setdefault(match.group("id"), []).append(version)
    for versions in found.values():
        versions.sort(reverse=True)
    return found


def current_versions(
    tags: Iterable[str], tag_format: str, id_pattern: str = DEFAULT_ID_PATTERN
) -> dict[str, semver.Version]:
    """The current version of each released SOP: the highest semver among its tags."""
    found = released_versions(tags, tag_format, id_pattern)
    return {sop_id: versions[0] for sop_id, versions in found.items()}


BUMP_ORDER = {"patch": 1, "minor": 2, "major": 3}


def largest_bump(bumps: Iterable[str]) -> str | None:
    """The largest of BUMPS (major > minor > patch), or None when there are none."""
    return max(bumps, key=BUMP_ORDER.__getitem__, default=None)


def next_version(current: semver.Version | None, bump: str, initial: str) -> semver.Version:
    """The version a release cuts: the initial one first, then CURRENT bumped."""
    if current is None:
        return semver.Version.parse(initial)
    if bump == "major":
        return current.bump_major()
    if bump == "minor":
        return current.bump_minor()
    return current.bump_patch()


def draft_version(next_: semver.Version, pending: int) -> semver.Version:
    """The version shown off the release branch: `{next}-draft.{n}`."""
    return next_.replace(prerelease=f"draft.{pending}")
