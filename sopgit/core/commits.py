"""Conventional Commit and trailer parsing (pure). Any message is still a commit; parsing
never raises."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

HEADER = re.compile(
    r"^(?P<type>[A-Za-z][\w-]*)(?:\((?P<scope>[^()\r\n]*)\))?(?P<breaking>!)?"
    r":[ \t]+(?P<subject>.*\S.*)$"  # a subject may open with a no-break space
)
# A trailer or footer line: `Token: value` or `Token #value` (git-interpret-trailers style).
TRAILER = re.compile(
    r"^(?P<key>[A-Za-z][\w-]*|BREAKING CHANGE|BREAKING-CHANGE)(?::[ \t]*| #)(?P<value>.*)$"
)
# Messages git writes itself; they need no Conventional Commit header.
GIT_GENERATED = re.compile(r"^(Merge |Revert \"|fixup! |squash! |amend! )")
BREAKING_FOOTER = re.compile(r"^BREAKING[ -]CHANGE:", re.MULTILINE)
MERGE_PR = re.compile(r"^Merge pull request #(?P<number>\d+) from ")
SQUASH_PR = re.compile(r"\(#(?P<number>\d+)\)\s*$")
RELEASE_TRAILER = "Sopgit-Release"


@dataclass(frozen=True)
class Header:
    type: str
    scopes: tuple[str, ...]
    breaking: bool
    subject: str


@dataclass(frozen=True)
class Message:
    """A commit message, understood: header (if conventional), trailers, breaking flag."""

    subject: str  # the first line, as written
    header: Header | None
    body: str
    trailers: tuple[tuple[str, str], ...]
    breaking: bool

    @property
    def type(self) -> str | None:
        return self.header.type if self.header else None

    def trailer_values(self, key: str) -> list[str]:
        wanted = key.lower()
        return [value for k, value in self.trailers if k.lower() == wanted]

    @property
    def description(self) -> str:
        """What changed, for a history row: the header's subject, or the first line."""
        text = self.header.subject if self.header else self.subject
        return text[:1].upper() + text[1:]


def lines(text: str) -> list[str]:
    """TEXT's lines as git sees them: split at LF only (CRLF counts as LF).

    str.splitlines would also split at 0x1c-0x1e, 0x85 and U+2028, which a commit
    message may hold as plain bytes.
    """
    return text.replace("\r\n", "\n").split("\n") if text else []


def strip_comments(message: str) -> str:
    """The message as git stores it: '#' comment lines and the scissors part removed."""
    kept = []
    for line in lines(message):
        if line.startswith("# ------------------------ >8 ------------------------"):
            break
        if not line.startswith("#"):
            kept.append(line)
    return "\n".join(kept).strip()


def parse_header(message: str) -> Header | None:
    """The Conventional Commit header of MESSAGE's first line, or None if it is not one."""
    first = lines(message.strip("\r\n \t"))[0] if message.strip("\r\n \t") else ""
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


@lru_cache(maxsize=1 << 15)
def parse_message(message: str) -> Message:
    """MESSAGE understood (the same Message, immutable, for the same text: a tag's message
    is read for the version, the history and the changelog alike)."""
    text = message.replace("\r\n", "\n").strip("\n")
    subject, _, rest = text.partition("\n")
    header = parse_header(subject)
    paragraphs = re.split(r"\n[ \t]*\n", rest.strip("\n")) if rest.strip() else []
    trailers: list[tuple[str, str]] = []
    if paragraphs and _is_trailer_block(paragraphs[-1]):
        trailers = _trailers(paragraphs.pop())
    breaking = bool(header and header.breaking) or bool(BREAKING_FOOTER.search(rest))
    return Message(subject.strip(), header, "\n\n".join(paragraphs), tuple(trailers), breaking)


# Lines git itself writes into a trailer block (trailer.c): with one of them present, a
# last paragraph is a trailer block when at least a quarter of its lines are trailers.
GIT_TRAILER_PREFIXES = ("Signed-off-by: ", "(cherry picked from commit ")


def _is_trailer_block(paragraph: str) -> bool:
    """Is PARAGRAPH (a message's last) a trailer block, by `git interpret-trailers` rules?

    Either every line is a trailer (or folds one), or a line git writes itself is there
    (`Signed-off-by:`, `(cherry picked from commit ...)`) and trailers make up at least
    a quarter of the lines.
    """
    trailers = others = 0
    recognised = False
    owner_is_trailer = False
    for line in lines(paragraph):
        if not line.strip():
            continue
        if line.startswith(GIT_TRAILER_PREFIXES):
            trailers += 1
            recognised = owner_is_trailer = True
        elif line[:1].isspace():
            others += 0 if owner_is_trailer else 1
        elif TRAILER.match(line):
            trailers += 1
            owner_is_trailer = True
        else:
            others += 1
            owner_is_trailer = False
    if trailers and not others:
        return True
    return recognised and trailers * 3 >= others


def _trailers(paragraph: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    folding = False  # the line before was a trailer, so an indented line continues it
    for line in lines(paragraph):
        if line[:1].isspace() and line.strip():
            if folding:
                key, value = found[-1]
                found[-1] = (key, f"{value} {line.strip()}".strip())
            continue
        match = TRAILER.match(line)
        folding = match is not None
        if match:
            found.append((match.group("key"), match.group("value").strip()))
    return found


def is_git_generated(message: str) -> bool:
    return bool(GIT_GENERATED.match(message))


def pull_request_number(subject: str) -> int | None:
    """The PR behind a merge (`Merge pull request #12 from ...`) or squash (`Title (#12)`)."""
    match = MERGE_PR.match(subject) or SQUASH_PR.search(subject)
    return int(match.group("number")) if match else None


def bump_for(message: Message, rules: dict[str, str]) -> str:
    """The bump MESSAGE asks for under RULES (commit type -> major/minor/patch)."""
    if message.breaking:
        return rules.get("breaking", "major")
    if message.type and message.type in rules and message.type not in ("breaking", "default"):
        return rules[message.type]
    return rules.get("default", "patch")


def is_release(message: Message) -> bool:
    return bool(message.trailer_values(RELEASE_TRAILER))
