"""The library index model (pure): SOP records in, the SOPS.md render context out.

The shape is the seed's company wiki page: an overview, then per department a table
Procedure (linked), Description, Version, Last Updated; retired SOPs apart.
"""

from __future__ import annotations

import datetime as dt
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sopgit.core.settings import Department

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclass(frozen=True)
class IndexItem:
    sop_id: str
    title: str
    description: str
    path: str  # relative to the library root
    version: str | None  # the latest released version; None before the first release
    last_updated: str  # YYYY-MM-DD as the frontmatter says, or ""
    status: str  # the frontmatter's: draft, effective, retired
    owner: str
    tags: tuple[str, ...]


def long_date(iso: str) -> str:
    """2025-03-13 -> March 13, 2025 (locale-independent); anything else as it is."""
    try:
        day = dt.date.fromisoformat(iso)
    except (TypeError, ValueError):
        return iso
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"


def relative_link(path: str, from_folder: str) -> str:
    """PATH (from the library root) as a URL relative to FROM_FOLDER (from the root)."""
    relative = posixpath.relpath(path, from_folder or ".")
    return quote(relative, safe="/-._~")


def department_of(sop_id: str) -> str:
    return sop_id.rsplit("-", 1)[0]


def index_context(
    library: str,
    departments: Iterable[Department],
    items: Iterable[IndexItem],
    link_from: str = "",
) -> dict[str, Any]:
    """LINK_FROM: the folder, relative to the library root, that the index is written to."""

    def row(item: IndexItem) -> dict[str, Any]:
        return {
            "id": item.sop_id,
            "title": item.title,
            "description": item.description,
            "path": item.path,
            "link": relative_link(item.path, link_from),
            "version": item.version,
            "status": item.status,
            "owner": item.owner,
            "tags": list(item.tags),
            "last_updated": item.last_updated,
            "last_updated_long": long_date(item.last_updated),
            "department": department_of(item.sop_id),
        }

    ordered = sorted(items, key=lambda i: i.sop_id)
    active = [i for i in ordered if i.status != "retired"]
    known = {d.code: d for d in departments}
    # Departments in sopgit.toml's order; a prefix it does not know still gets a table.
    codes = list(known) + sorted({department_of(i.sop_id) for i in active} - set(known))
    groups = []
    for code in codes:
        dept = known.get(code)
        groups.append(
            {
                "code": code,
                "name": dept.name if dept else code,
                "description": dept.description if dept else "",
                "folder": dept.folder if dept else "",
                "sops": [row(i) for i in active if department_of(i.sop_id) == code],
            }
        )
    return {
        "library": library,
        "count": len(active),
        "departments": groups,
        "retired": [row(i) for i in ordered if i.status == "retired"],
    }
