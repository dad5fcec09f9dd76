"""Conventional Commit parsing (pure). Any message is still a commit; parsing never raises."""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADER = re.compile(
    r"^(?P<type>[A-Za-z][\w-]*)(?:\((?P<scope>[^()\r\n]*)\))?(?P<breaking>!)?: (?P<subject>\S.*)$"
)
# Messages git writes itself; they need no Conventional Commit header.
GIT_GENERATED = re.compile(r"^(Merge |Revert \"|fixup! |squash! |amend! )")


@dataclass(frozen=True)
class Header:
    type: str
    scopes: tuple[str, ...]
    breaking: bool
    subject: str


def strip_comments(message: str) -> str:
    """The message as git stores it: '#' comment lines and the scissors part removed."""
    kept = []
    for line in message.splitlines():
        if line.startswith("# ------------------------ >8 ------------------------"):
            break
        if not line.startswith("#"):
            kept.append(line)
    return "\n".join(kept).strip()


def parse_header(message: str) -> Header | None:
    """The Conventional Commit header of MESSAGE's first line, or None if it is not one."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    match = HEADER.match(first)
    if not match:
        return None
    scopes = tuple(s.strip() for s in (match.group("scope") or "").split(",") if s.strip())
    return Header(
        type=match.group("type").lower(),
        scopes=scopes,
        breaking=bool(match.group("breaking")),
        subject=match.group("subject").strip(),
    )


def is_git_generated(message: str) -> bool:
    return bool(GIT_GENERATED.match(message))
