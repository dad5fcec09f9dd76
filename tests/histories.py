"""Random SOP-library histories, built fast with git fast-import, and a brute-force
reference for which commits are pending for each SOP (plain git, one SOP at a time).

The generator keeps each branch's tree in memory and writes whole trees to fast-import:
adds, edits (every kind of message, `feat!` and BREAKING CHANGE footers included),
renames, deletes, re-adds at the path a file was deleted from, branches, merges (either
side's file, a resolved conflict, a file kept or dropped, fast-forwards), cherry-picks,
reverts and releases, all with random dates. Real `sopgit release` runs on main in some
histories; elsewhere a release is a release commit with annotated tags, as sopgit writes.
"""

from __future__ import annotations

import random
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import semver

T0 = 1_735_689_600  # 2025-01-01T00:00:00Z
CONFIG = """[library]
name = "Random"
root = "sops"
release_branch = "main"

[departments.ENG]
name = "Engineering"
folder = "engineering"
"""
SOP = """---
title: Procedure {n}
sop_id: {id}
description: What procedure {n} covers
lastUpdated: 2025-01-01
version: 0.0.0
owner: Engineering / Owner
tags: ['sop', 'engineering']
status: draft
---

# Procedure {n}

## Purpose

Why procedure {n} exists: {words}.

## Scope

What this procedure covers, and what it does not.

## Responsibilities

- **Engineering / Owner**: keeps this procedure accurate and current.

## Procedure

### 1. First step

{steps}

## References

- Related procedures.

## Definitions

- **Term**: what it means here.

## Revision History

<!-- sopgit:revision-history:start -->
| Version | Date | Description | Author | Approved by |
|---------|------|-------------|--------|-------------|
<!-- sopgit:revision-history:end -->
"""
MESSAGES = [
    "fix({id}): correct step {u}",
    "feat({id}): add step {u}",
    "docs: reword step {u}",
    "chore: tidy {u}",
    "feat({id})!: replace step {u}",
    "fix: clarify {u}\n\nBREAKING CHANGE: the order of steps changed",
    "Update procedure {u}",
]
WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima".split()


@dataclass
class Branch:
    head: str  # ":mark" or a commit id
    files: dict[str, str]  # path -> text
    sops: dict[str, str]  # id -> path
    gone: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (path, text)
    previous: dict[str, str] = field(default_factory=dict)  # id -> its text before the last edit

    def copy(self) -> Branch:
        return Branch(self.head, dict(self.files), dict(self.sops), dict(self.gone))


class Generator:
    def __init__(self, root: Path, seed: int, release: Callable[[Path, str], None] | None):
        self.root = root
        self.rng = random.Random(seed)
        self.release_cmd = release
        self.real_releases = 0  # how many real `sopgit release` runs cut something
        self.stream: list[bytes] = []
        self.mark = 0
        self.unique = 0
        self.next_id = 1
        self.versions: dict[str, semver.Version] = {}
        self.branches: dict[str, Branch] = {}
        subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)

    # --- fast-import ---------------------------------------------------------------

    def _data(self, text: str) -> bytes:
        raw = text.encode()
        return b"data %d\n%s\n" % (len(raw), raw)

    def _when(self) -> int:
        return T0 + self.rng.randrange(0, 400 * 86400)

    def commit(self, name: str, message: str, extra_parent: str | None = None) -> str:
        branch = self.branches[name]
        self.mark += 1
        when = self._when()
        out = [
            f"commit refs/heads/{name}\nmark :{self.mark}\n".encode(),
            f"author Ana Ruiz <ana@acme.example> {when} +0000\n".encode(),
            f"committer Ana Ruiz <ana@acme.example> {when} +0000\n".encode(),
            self._data(message),
        ]
        if branch.head:
            out.append(f"from {branch.head}\n".encode())
        if extra_parent:
            out.append(f"merge {extra_parent}\n".encode())
        out.append(b"deleteall\n")
        for path, text in sorted(branch.files.items()):
            out.append(f"M 100644 inline {path}\n".encode() + self._data(text))
        self.stream.append(b"".join(out) + b"\n")
        branch.head = f":{self.mark}"
        return branch.head

    def flush(self) -> None:
        """Write what is queued, then name every branch head by its commit id."""
        if not self.stream:
            return
        subprocess.run(
            ["git", "fast-import", "--quiet", "--force"],
            cwd=self.root,
            input=b"".join(self.stream),
            check=True,
        )
        self.stream = []
        refs = subprocess.run(
            ["git", "for-each-ref", "--format=%(refname:strip=2) %(objectname)", "refs/heads"],
            cwd=self.root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for line in refs.splitlines():
            name, sha = line.split()
            if name in self.branches:
                self.branches[name].head = sha

    # --- the operations --------------------------------------------------------------

    def text(self, sop_id: str, n: int) -> str:
        words = " ".join(self.rng.sample(WORDS, 4))
        steps = "\n".join(f"- step {self.rng.randrange(10**6)} for {sop_id}" for _ in range(6))
        return SOP.format(id=sop_id, n=n, words=words, steps=steps)

    def path(self, sop_id: str) -> str:
        """A new file name for SOP_ID (check wants the id first in the name)."""
        self.unique += 1
        return f"sops/engineering/{sop_id}-doc-{self.unique}.md"

    def add(self, name: str) -> None:
        branch = self.branches[name]
        sop_id = f"ENG-{self.next_id:03d}"
        self.next_id += 1
        path = self.path(sop_id)
        branch.files[path] = self.text(sop_id, self.next_id)
        branch.sops[sop_id] = path
        self.commit(name, f"feat({sop_id}): add procedure")

    def edit(self, name: str, sop_id: str) -> None:
        branch = self.branches[name]
        path = branch.sops[sop_id]
        branch.previous[sop_id] = branch.files[path]
        self.unique += 1
        branch.files[path] += f"\n- note {self.unique} on {sop_id}\n"
        message = self.rng.choice(MESSAGES).format(id=sop_id, u=self.unique)
        self.commit(name, message)

    def rename(self, name: str, sop_id: str) -> None:
        branch = self.branches[name]
        old = branch.sops[sop_id]
        new = self.path(sop_id)
        branch.files[new] = branch.files.pop(old)
        branch.sops[sop_id] = new
        self.commit(name, f"refactor({sop_id}): move the file")

    def delete(self, name: str, sop_id: str) -> None:
        branch = self.branches[name]
        path = branch.sops.pop(sop_id)
        branch.gone[sop_id] = (path, branch.files.pop(path))
        self.commit(name, f"docs({sop_id}): withdraw the procedure")

    def readd(self, name: str, sop_id: str) -> None:
        branch = self.branches[name]
        path, text = branch.gone.pop(sop_id)
        if path in branch.files:  # the path is taken again: put it back elsewhere
            path = self.path(sop_id)
        branch.files[path] = text + "\n- restored\n"
        branch.sops[sop_id] = path
        self.commit(name, f"fix({sop_id}): restore the procedure")

    def fork(self, name: str) -> None:
        source = self.rng.choice(sorted(self.branches))
        new = f"b{len(self.branches)}"
        self.branches[new] = self.branches[source].copy()
        if self.branches[new].head:
            self.stream.append(
                f"reset refs/heads/{new}\nfrom {self.branches[new].head}\n\n".encode()
            )

    def merge(self, into: str, other: str) -> None:
        ours, theirs = self.branches[into], self.branches[other]
        if self.rng.random() < 0.15:  # a fast-forward: the branch simply moves
            self.branches[into] = theirs.copy()
            self.stream.append(f"reset refs/heads/{into}\nfrom {theirs.head}\n\n".encode())
            return
        files = {p: t for p, t in ours.files.items() if not p.startswith("sops/")}
        sops: dict[str, str] = {}
        for sop_id in sorted(set(ours.sops) | set(theirs.sops)):
            sides = [b for b in (ours, theirs) if sop_id in b.sops]
            if len(sides) == 1 and self.rng.random() < 0.3:
                continue  # deleted on the other side, and the deletion wins
            side = self.rng.choice(sides)
            path, text = side.sops[sop_id], side.files[side.sops[sop_id]]
            if (
                len(sides) == 2
                and ours.files[ours.sops[sop_id]] != theirs.files[theirs.sops[sop_id]]
                and self.rng.random() < 0.3
            ):
                text += "\n- resolved a conflict\n"  # neither side's text
            if path in files:
                path = self.path(sop_id)
            files[path] = text
            sops[sop_id] = path
        ours.files, ours.sops = files, sops
        for sop_id in set(theirs.gone) - set(sops):
            ours.gone.setdefault(sop_id, theirs.gone[sop_id])
        for sop_id in list(ours.gone):
            if sop_id in sops:
                del ours.gone[sop_id]
        self.commit(into, f"Merge branch '{other}' into {into}", extra_parent=theirs.head)

    def cherry_pick(self, into: str, other: str) -> None:
        ours, theirs = self.branches[into], self.branches[other]
        shared = sorted(set(ours.sops) & set(theirs.sops))
        if not shared:
            return
        sop_id = self.rng.choice(shared)
        ours.files[ours.sops[sop_id]] = theirs.files[theirs.sops[sop_id]]
        picked = f"{self.rng.randrange(16**40):040x}"
        message = self.rng.choice(MESSAGES).format(id=sop_id, u=self.unique)
        self.commit(into, f"{message}\n\n(cherry picked from commit {picked})")

    def revert(self, name: str, sop_id: str) -> None:
        branch = self.branches[name]
        before = branch.previous.pop(sop_id, None)
        if before is None or sop_id not in branch.sops:
            return
        branch.files[branch.sops[sop_id]] = before
        gone = f"{self.rng.randrange(16**40):040x}"
        self.commit(name, f'Revert "edit of {sop_id}"\n\nThis reverts commit {gone}.')

    def release(self, name: str) -> None:
        branch = self.branches[name]
        if not branch.sops:
            return
        if self.release_cmd is not None:
            # Only real releases here, and only on main: sopgit alone writes versions,
            # so check (which release runs first) finds them consistent.
            if name != "main":
                return
            self.flush()
            git(self.root, "reset", "-q", "--hard", "main")
            day = f"2025-{self.rng.randrange(1, 13):02d}-{self.rng.randrange(1, 28):02d}"
            if self.release_cmd(self.root, day):
                self.real_releases += 1
            self._read_back(name)
            return
        released = sorted(branch.sops)
        self.commit(
            name,
            "chore(release): " + ", ".join(released) + "\n\nSopgit-Release: " + ", ".join(released),
        )
        for sop_id in released:
            current = self.versions.get(sop_id)
            version = current.bump_patch() if current else semver.Version(1, 0, 0)
            if self.rng.random() < 0.2 and current:
                version = current.bump_major()
            self.versions[sop_id] = version
            when = self._when()
            message = f"{sop_id} v{version}\n\nSop-Id: {sop_id}\nSop-Version: {version}\n"
            self.stream.append(
                f"tag {sop_id}/v{version}\nfrom {branch.head}\n".encode()
                + f"tagger Ana Ruiz <ana@acme.example> {when} +0000\n".encode()
                + self._data(message)
            )

    def _read_back(self, name: str) -> None:
        """After a real release: the branch's head, its files and the versions it tagged."""
        branch = self.branches[name]
        branch.head = git(self.root, "rev-parse", "HEAD").strip()
        for path in branch.sops.values():
            branch.files[path] = (self.root / path).read_text(encoding="utf-8")
        for line in git(self.root, "tag", "--list").split():
            sop_id, _, version = line.partition("/v")
            parsed = semver.Version.parse(version)
            if sop_id not in self.versions or parsed > self.versions[sop_id]:
                self.versions[sop_id] = parsed

    # --- a whole history -------------------------------------------------------------

    def build(self, steps: int) -> None:
        self.branches["main"] = Branch("", {"sopgit.toml": CONFIG}, {})
        self.add("main")
        for _ in range(steps):
            self.step()
        self.flush()
        git(self.root, "reset", "-q", "--hard", "main")

    def step(self) -> None:
        rng = self.rng
        name = rng.choice(sorted(self.branches))
        branch = self.branches[name]
        others = [b for b in sorted(self.branches) if b != name]
        choice = rng.choices(
            [
                "add",
                "edit",
                "rename",
                "delete",
                "readd",
                "fork",
                "merge",
                "pick",
                "revert",
                "release",
            ],
            weights=[2, 8, 2, 1, 2, 2, 3, 1, 1, 2],
        )[0]
        live = sorted(branch.sops)
        if choice == "add" or not live and choice in ("edit", "rename", "delete", "revert"):
            self.add(name)
        elif choice == "edit":
            self.edit(name, rng.choice(live))
        elif choice == "rename":
            self.rename(name, rng.choice(live))
        elif choice == "delete":
            self.delete(name, rng.choice(live))
        elif choice == "readd" and branch.gone:
            self.readd(name, rng.choice(sorted(branch.gone)))
        elif choice == "fork":
            self.fork(name)
        elif choice == "merge" and others:
            # Most merges go into main, so that HEAD reaches the branches.
            into = "main" if rng.random() < 0.7 else name
            other = rng.choice([b for b in sorted(self.branches) if b != into])
            self.merge(into, other)
        elif choice == "pick" and others:
            self.cherry_pick(name, rng.choice(others))
        elif choice == "revert" and branch.previous:
            self.revert(name, rng.choice(sorted(branch.previous)))
        elif choice == "release":
            self.release(name)


def git(cwd: Path, *args: str, input: str | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, input=input, check=False
    )
    assert done.returncode == 0, f"git {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


# --- the reference: plain git, one SOP at a time ----------------------------------------

BUMPS = {"patch": 1, "minor": 2, "major": 3}


@dataclass(frozen=True)
class Expected:
    pending: frozenset[str]
    bump: str | None
    next: str | None


def reference(root: Path, sops: dict[str, str]) -> dict[str, Expected]:
    """For each SOP (id -> its path at HEAD), the commits pending since its latest
    release tag, by the rule in sopgit.core.attribution, found with nothing but plain git:
    `rev-list --topo-order --parents` for the graph (children before parents),
    `diff-tree -M` for each commit against each of its parents, git's own trailer
    parser for release commits; pending is what HEAD reaches and the latest tag does
    not (`rev-list --all`, walked here)."""
    graph: dict[str, list[str]] = {}
    order: list[str] = []
    for line in git(root, "rev-list", "--topo-order", "--parents", "HEAD").splitlines():
        sha, *parents = line.split()
        graph[sha] = parents
        order.append(sha)
    everything: dict[str, list[str]] = {}  # what tags on other branches reach, too
    for line in git(root, "rev-list", "--parents", "--all").splitlines():
        sha, *parents = line.split()
        everything[sha] = parents
    pairs = [(c, p) for c in order for p in graph[c]] + [(c, "") for c in order if not graph[c]]
    request = "".join(f"{c} {p}".strip() + "\n" for c, p in pairs)
    out = git(
        root,
        "diff-tree",
        "--stdin",
        "--always",
        "-r",
        "-M",
        "--name-status",
        "--root",
        input=request,
    )
    blocks: list[list[list[str]]] = []
    for line in out.splitlines():
        if "\t" not in line:
            blocks.append([])  # the commit id that starts each pair's output
        else:
            blocks[-1].append(line.split("\t"))
    assert len(blocks) == len(pairs)
    diffs: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for (c, p), lines in zip(pairs, blocks, strict=True):
        diffs[(c, p)] = [
            (f[0][0], f[2], f[1]) if f[0][0] in "RC" else (f[0][0], f[1], "") for f in lines
        ]
    messages: dict[str, tuple[str, bool]] = {}
    log = git(root, "log", "--format=%H%x00%B%x00%(trailers:key=Sopgit-Release,valueonly)%x01")
    for record in log.split("\x01"):
        parts = record.strip("\n").split("\0")
        if len(parts) == 3:
            messages[parts[0]] = (parts[1], bool(parts[2].strip()))
    tags: dict[str, tuple[semver.Version, str]] = {}
    listing = git(
        root,
        "for-each-ref",
        "--format=%(refname:strip=2) %(objecttype) %(*objectname)",
        "refs/tags",
    )
    for line in listing.splitlines():
        name, kind, target = line.split()
        sop_id, _, version = name.partition("/v")
        parsed = semver.Version.parse(version)
        if kind == "tag" and (sop_id not in tags or parsed > tags[sop_id][0]):
            tags[sop_id] = (parsed, target)
    found = {}
    for sop_id, path in sops.items():
        names: dict[str, set[str]] = {sha: set() for sha in order}
        names[order[0]].add(path)
        touched: set[str] = set()
        for sha in order:  # every child comes before its parents
            mine = names[sha]
            for parent in graph[sha] or [""]:
                diff = diffs[(sha, parent)]
                renamed = {new: old for kind, new, old in diff if kind == "R"}
                before = {renamed.get(n, n) for n in mine}
                if len(graph[sha]) <= 1 and any(
                    new in mine or (kind == "R" and old in before) for kind, new, old in diff
                ):
                    touched.add(sha)
                if parent:
                    names[parent] |= before
        latest = tags.get(sop_id)
        region = set(graph) - (reached(everything, latest[1]) if latest else set())
        pending = frozenset(s for s in touched & region if not messages[s][1])
        bump = max((bump_of(messages[s][0]) for s in pending), key=BUMPS.get, default=None)
        version = None
        if bump:
            base = latest[0] if latest else None
            version = str(
                semver.Version(1, 0, 0)
                if base is None
                else base.bump_major()
                if bump == "major"
                else base.bump_minor()
                if bump == "minor"
                else base.bump_patch()
            )
        found[sop_id] = Expected(pending, bump if latest or not bump else "initial", version)
    return found


def reached(graph: dict[str, list[str]], start: str) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        for parent in graph[stack.pop()]:
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen


def bump_of(message: str) -> str:
    first = message.splitlines()[0] if message else ""
    header = re.match(r"^(\w+)(\([^)]*\))?(!)?: ", first)
    if (header and header.group(3)) or re.search(r"^BREAKING CHANGE: ", message, re.M):
        return "major"
    if header and header.group(1) == "feat":
        return "minor"
    return "patch"
