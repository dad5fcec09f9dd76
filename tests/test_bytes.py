"""Bytes are the author's: a release rewrites sopgit's own lines and nothing else.

Line endings (LF, CRLF, CR, mixed), a BOM, trailing whitespace and bytes that are not
valid UTF-8 survive every write, byte for byte.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import commit_all, git
from hypothesis import given, settings
from hypothesis import strategies as st

from sopgit.core.formats import SEED_FORMAT
from sopgit.repo.docformat import read_document, update_sop
from sopgit.repo.document import REVISION_HISTORY, managed_region
from sopgit.repo.textio import decode, encode, split_lines

SOPGIT = Path(sys.executable).parent / "sopgit"


def sopgit(library: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "SOPGIT_TODAY": "2026-11-22"}
    return subprocess.run([SOPGIT, "-C", library, *args], capture_output=True, env=env)


START = b"<!-- sopgit:revision-history:start -->"
END = b"<!-- sopgit:revision-history:end -->"
ENDINGS = [b"\n", b"\r\n", b"\r"]

endings = st.sampled_from(ENDINGS)
# Any bytes but line breaks: invalid UTF-8, control bytes, trailing blanks included
body_bytes = st.binary(max_size=30).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
plain = st.from_regex(r"[A-Za-z][A-Za-z0-9 ,.()/-]{0,20}", fullmatch=True).map(str.strip)


def write_lines(lines: list[tuple[bytes, bytes]]) -> bytes:
    return b"".join(text + eol for text, eol in lines)


@st.composite
def sop_file(draw: st.DrawFn) -> bytes:
    """An SOP as an author's editor may have saved it."""

    def line(text: bytes) -> tuple[bytes, bytes]:
        return text, draw(endings)

    front = [line(b"---")]
    keys = draw(st.lists(st.sampled_from(["title", "owner", "sop_id", "description"]), unique=True))
    managed = [b"version: 1.0.0", b"lastUpdated: 2025-03-13"]
    for key in keys:
        value = draw(plain) or "x"
        blanks = draw(st.sampled_from([b"", b" ", b"   ", b"  # note "]))
        front.append(line(f"{key}: {value}".encode() + blanks))
    for text in managed:
        front.insert(
            draw(st.integers(1, len(front))),
            line(text + draw(st.sampled_from([b"", b"  ", b"  # kept"]))),
        )
    front.append(line(b"---"))
    before = [line(draw(body_bytes)) for _ in range(draw(st.integers(0, 5)))]
    table = [line(draw(body_bytes)) for _ in range(draw(st.integers(0, 3)))]
    after = [line(draw(body_bytes)) for _ in range(draw(st.integers(0, 5)))]
    lines = [*front, *before, line(START), *table, line(END), *after]
    lines = [(t, e) for t, e in lines if b"sopgit:" not in t or t in (START, END)]
    data = write_lines(lines)
    if draw(st.booleans()) and after:  # no final line ending
        data = data[: -len(lines[-1][1])]
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + data


def byte_lines(data: bytes) -> list[bytes]:
    return [encode(line) for line in split_lines(decode(data))]


@settings(max_examples=300, deadline=None)
@given(
    data=sop_file(),
    # what a release writes: a semver version, whose numbers have no leading zero
    version=st.from_regex(r"(0|[1-9][0-9]{0,2})(\.(0|[1-9][0-9]{0,2})){2}", fullmatch=True),
    rows=st.lists(st.from_regex(r"\| [a-z0-9 .]{0,12} \|", fullmatch=True), max_size=4),
)
def test_release_writer_changes_only_its_own_lines_byte_for_byte(data, version, rows):
    text = decode(data)  # as sopgit reads every file
    assert encode(text) == data  # reading alone loses nothing
    doc = read_document(text, "sops/x.md", SEED_FORMAT)
    # the writer release uses (sopgit.commands.release_plan.plan_release -> update_sop), as bytes
    new = encode(
        update_sop(
            doc,
            SEED_FORMAT,
            version=version,
            last_updated=dt.date(2026, 11, 22),
            revision_table=rows,
        )
    )
    old_lines, new_lines = byte_lines(data), byte_lines(new)
    old_start, old_end = managed_region(text, REVISION_HISTORY)
    new_start, new_end = managed_region(decode(new), REVISION_HISTORY)
    assert len(old_lines) - old_end == len(new_lines) - new_end
    assert old_lines[old_end:] == new_lines[new_end:]  # after the region: every byte
    assert new_start == old_start
    start_eol = old_lines[old_start][len(old_lines[old_start].rstrip(b"\r\n")) :]
    assert new_lines[new_start + 1 : new_end] == [r.encode() + start_eol for r in rows]
    touched = {doc.meta_lines["version"] - 1, doc.meta_lines["lastUpdated"] - 1}
    for index in range(old_start + 1):
        old, now = old_lines[index], new_lines[index]
        if index not in touched:
            assert old == now
            continue
        key = old.split(b":", 1)[0]
        value = b"2026-11-22" if key == b"lastUpdated" else version.encode()
        body = old.rstrip(b"\r\n")
        rest = body[len(key) + 2 :]  # the old value, then blanks or a comment the author kept
        tail = rest[len(rest.split()[0]) :]
        assert now == key + b": " + value + tail + old[len(body) :]


LEGACY_TOML = """\
[format]
files = ["**/*.md"]
history = { heading = "Revision History", markers = false }
"""


def seed_sop(version: str, eol: bytes, tail: bytes = b"") -> bytes:
    lines = [
        b"---",
        b"title: Deployment Process",
        b"sop_id: ENG-001",
        b"description: Deploying  ",
        b"lastUpdated: 2025-03-13",
        b"version: " + version.encode(),
        b"owner: Engineering / Ana",
        b"tags: ['sop', 'engineering']",
        b"status: draft",
        b"---",
        b"",
        b"# Deployment Process",
        b"",
        b"## Purpose \t",
        b"Caf\xe9 au lait \xff\xfe bytes that are not UTF-8.  ",
        b"",
    ]
    return eol.join(lines) + eol + tail


@pytest.mark.parametrize(
    ("name", "eol"),
    [("lf", b"\n"), ("crlf", b"\r\n"), ("cr", b"\r"), ("mixed", b"\r\n")],
)
def test_first_and_later_releases_keep_the_authors_bytes(library, name, eol):
    """Through the installed CLI: first release, then a later one, on a file whose
    bytes an editor chose."""
    path = next((library / "sops" / "engineering").glob("ENG-001-*.md"))
    original = path.read_bytes()
    head, sep, rest = original.partition(b"\n## ")
    data = b"\xef\xbb\xbf" + head.replace(b"\n", eol) + eol + b"Trailing  \t" + eol
    data += b"\xff\xc3 invalid" + eol + sep.lstrip(b"\n") + rest.replace(b"\n", eol)
    if name == "mixed":  # every ending in one file
        data = data.replace(b"Trailing  \t\r\n", b"Trailing  \t\r").replace(
            b"\xff\xc3 invalid\r\n", b"\xff\xc3 invalid\n"
        )
    path.write_bytes(data)
    commit_all(library, "docs(ENG-001): the author's bytes")

    done = sopgit(library, "release", "ENG-001")
    assert done.returncode == 0, done.stderr
    first = path.read_bytes()
    assert git(library, "status", "--porcelain") == ""
    old, new = byte_lines(data), byte_lines(first)
    old_start, old_end = (i for i, line in enumerate(old) if b"sopgit:revision-history" in line)
    new_start, new_end = (i for i, line in enumerate(new) if b"sopgit:revision-history" in line)
    assert old_start == new_start
    changed = [(a, b) for a, b in zip(old[:old_start], new, strict=False) if a != b]
    assert {a.split(b":")[0] for a, _ in changed} == {b"version", b"lastUpdated", b"status"}
    assert all(a[len(a.rstrip(b"\r\n")) :] == b[len(b.rstrip(b"\r\n")) :] for a, b in changed)
    assert old[old_end:] == new[new_end:]
    assert first.startswith(b"\xef\xbb\xbf---")
    assert b"Trailing  \t" + (b"\r" if name == "mixed" else eol) in first
    assert b"\xff\xc3 invalid" + (b"\n" if name == "mixed" else eol) in first
    start = first.index(b"<!-- sopgit:revision-history:start -->")
    region = first[start : first.index(b"<!-- sopgit:revision-history:end -->")]
    assert region.count(b"|") > 5
    assert all(line.endswith(eol) for line in byte_lines(region))

    # a later release rewrites only the same lines again
    text = first + b"More text \xfe" + eol
    path.write_bytes(text)
    commit_all(library, "fix(ENG-001): one more line")
    done = sopgit(library, "release", "ENG-001")
    assert done.returncode == 0, done.stderr
    second = path.read_bytes()
    assert second.endswith(b"More text \xfe" + eol)
    assert b"\xff\xc3 invalid" in second
    assert len(byte_lines(second)) == len(byte_lines(first)) + 2  # a row and the new line
    assert (
        second.replace(b"2026-11-22", b"").count(eol)
        == text.replace(b"2026-11-22", b"").count(eol) + 1
    )
    assert b"\xef\xbf\xbd" not in second  # no U+FFFD anywhere


def test_committed_bytes_are_the_file_bytes(library):
    path = next((library / "sops" / "engineering").glob("ENG-001-*.md"))
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n") + b"\xff\r\n")
    commit_all(library, "docs(ENG-001): crlf")
    done = sopgit(library, "release", "ENG-001")
    assert done.returncode == 0, done.stderr
    relative = path.relative_to(library).as_posix()
    blob = subprocess.run(
        ["git", "cat-file", "blob", f"HEAD:{relative}"], cwd=library, capture_output=True
    ).stdout
    assert blob == path.read_bytes()
    assert blob.count(b"\r\n") == blob.count(b"\n")
    assert blob.endswith(b"\xff\r\n")
