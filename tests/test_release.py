"""`sopgit status`, `history` and `release` end to end, on real repositories.

What a user and an auditor check: which versions a release cuts and why, that the
files change only where sopgit owns them, that the tags say who and when, that a
refused or failed release leaves everything as it was, and that reading versions
costs the same number of git processes whatever the size of the library.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import commit_all, git, tree_state

ENG_001 = "sops/engineering/ENG-001-deployment-process.md"
ENG_002 = "sops/engineering/ENG-002-code-review-standards.md"
ENG_003 = "sops/engineering/ENG-003-incident-management.md"
ENG_004 = "sops/engineering/ENG-004-testing-protocols.md"
ENG_005 = "sops/engineering/ENG-005-database-management.md"
OPS_001 = "sops/operations/OPS-001-customer-onboarding.md"
CMP_001 = "sops/compliance/CMP-001-incident-response.md"
ALL_IDS = [
    *(f"CMP-00{n}" for n in range(1, 6)),
    *(f"ENG-00{n}" for n in range(1, 6)),
    *(f"OPS-00{n}" for n in range(1, 5)),
]
START = "<!-- sopgit:revision-history:start -->"
END = "<!-- sopgit:revision-history:end -->"


# --- helpers ------------------------------------------------------------------------


def sopgit(run, root: Path, *args: str, expect: int = 0):
    return run("-C", str(root), *args, expect=expect)


def status_of(run, root: Path) -> dict[str, dict]:
    rows = json.loads(sopgit(run, root, "status", "--format", "json").stdout)
    return {row["id"]: row for row in rows}


def history_of(run, root: Path, sop_id: str) -> dict:
    return json.loads(sopgit(run, root, "history", sop_id, "--format", "json").stdout)


def tags(root: Path) -> list[str]:
    return git(root, "tag", "--list").split()


def tag_message(root: Path, name: str) -> str:
    return git(root, "for-each-ref", "--format=%(contents)", f"refs/tags/{name}")


def commit_of(root: Path, rev: str) -> str:
    return git(root, "rev-parse", f"{rev}^{{commit}}").strip()


def note(root: Path, relative: str, text: str, after: str = "## Purpose\n\n") -> None:
    """Add a paragraph to an SOP's body, right after AFTER."""
    path = root / relative
    body = path.read_text(encoding="utf-8")
    assert after in body, f"{after!r} not in {relative}"
    path.write_text(body.replace(after, f"{after}{text}\n\n", 1), encoding="utf-8")


def change(root: Path, relative: str, message: str, date: str | None = None, **where) -> str:
    """Commit one edit of RELATIVE's body with MESSAGE; returns the commit."""
    note(root, relative, f"Edit: {message.splitlines()[0]}", **where)
    return commit_all(root, message, date=date)


def at(monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    """Make every later commit and tag (ours and sopgit's) at WHEN."""
    monkeypatch.setenv("GIT_AUTHOR_DATE", when)
    monkeypatch.setenv("GIT_COMMITTER_DATE", when)


def managed_table(text: str) -> list[str]:
    lines = text.splitlines()
    return lines[lines.index(START) + 1 : lines.index(END)]


def refused(run, root: Path, *args: str, says: str) -> str:
    """Run `release ARGS`, expect exit 2 and one `sopgit:` line on stderr saying SAYS."""
    result = sopgit(run, root, "release", *args, expect=2)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sopgit: "), lines[0]
    assert says in lines[0], lines[0]
    return lines[0]


def no_lock(root: Path) -> bool:
    """No lock, journal or scratch file is left under .git/sopgit/ (the history cache,
    cache-v1.bin, and status's rows, status-v2.bin and status-state-v2.bin, are meant
    to stay)."""
    folder = root / ".git" / "sopgit"
    kept = ("cache-v1.bin", "status-v2.bin", "status-state-v2.bin")
    return not (root / ".git" / "sopgit-release.lock").exists() and (
        not folder.exists() or not [p for p in folder.iterdir() if p.name not in kept]
    )


def executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def released(library: Path, run, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example library after its first release, dated 2025-04-01."""
    monkeypatch.setenv("SOPGIT_TODAY", "2025-06-01")
    sopgit(run, library, "release", "--date", "2025-04-01")
    return library


# --- the first release --------------------------------------------------------------


def test_first_release_cuts_1_0_0_of_every_sop_in_one_commit(library, run, monkeypatch):
    monkeypatch.setenv("SOPGIT_TODAY", "2025-06-01")
    before = commit_of(library, "HEAD")
    before_status = status_of(run, library)
    assert {row["version"] for row in before_status.values()} == {None}
    assert {row["next_version"] for row in before_status.values()} == {"1.0.0"}
    assert {row["state"] for row in before_status.values()} == {"draft"}

    result = sopgit(run, library, "release", "--date", "2025-04-01")

    head = commit_of(library, "HEAD")
    assert git(library, "rev-parse", "HEAD~1").strip() == before
    assert git(library, "rev-list", "--count", f"{before}..HEAD").strip() == "1"
    message = git(library, "log", "-1", "--format=%B")
    assert message.startswith("release: ")
    trailers = [line for line in message.splitlines() if line.startswith("Sopgit-Release:")]
    assert trailers == [f"Sopgit-Release: {sop_id} v1.0.0" for sop_id in ALL_IDS]
    assert sorted(tags(library)) == sorted(f"{sop_id}/v1.0.0" for sop_id in ALL_IDS)
    for sop_id in ALL_IDS:
        name = f"{sop_id}/v1.0.0"
        assert git(library, "cat-file", "-t", name).strip() == "tag"  # annotated
        assert commit_of(library, name) == head
        text = tag_message(library, name)
        assert f"Sop-Id: {sop_id}\n" in text
        assert "Sop-Version: 1.0.0\n" in text
        assert "Bump: initial\n" in text
        assert "Release-Date: 2025-04-01\n" in text
        assert f"{sop_id} - -> 1.0.0 (initial)  tag {name}" in result.stdout
    # Only the SOP files changed, each in the lines sopgit owns.
    changed = git(library, "diff", "--name-only", "HEAD~1", "HEAD").split()
    assert sorted(changed) == sorted(
        p.relative_to(library).as_posix() for p in (library / "sops").rglob("*.md")
    )
    for line in git(library, "diff", "--numstat", "HEAD~1", "HEAD").splitlines():
        assert line.split()[:2] == ["4", "3"], line
    diff = git(library, "diff", "-U0", "HEAD~1", "HEAD", "--", ENG_001)
    edits = [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert edits == [
        "-lastUpdated: 2025-03-13",
        "-version: 0.0.0",
        "+lastUpdated: 2025-04-01",
        "+version: 1.0.0",
        "-status: draft",
        "+status: effective",
        "+| 1.0.0 | 2025-04-01 | Initial version | Ana Ruiz |  |",
    ]
    table = managed_table((library / ENG_001).read_text(encoding="utf-8"))
    assert table[-1] == "| 1.0.0 | 2025-04-01 | Initial version | Ana Ruiz |  |"

    after = status_of(run, library)
    for row in after.values():
        assert row["version"] == "1.0.0"
        assert row["next_version"] is None
        assert row["bump"] is None
        assert row["pending"] == 0
        assert row["state"] == "effective"
        assert row["last_updated"] == "2025-04-01"
        assert row["review_due"] == "2026-04-01"
    sopgit(run, library, "check")


def test_review_falls_due_365_days_after_the_release(released, run, monkeypatch):
    monkeypatch.setenv("SOPGIT_TODAY", "2026-03-31")
    assert status_of(run, released)["ENG-001"]["state"] == "effective"
    monkeypatch.setenv("SOPGIT_TODAY", "2026-04-01")
    assert {row["state"] for row in status_of(run, released).values()} == {"review-due"}
    text = sopgit(run, released, "status").stdout
    assert re.search(r"^ENG-001\s+Deployment Process\s+1\.0\.0\s+review-due\b", text, re.M)


def test_release_date_defaults_to_today(library, run, monkeypatch):
    monkeypatch.setenv("SOPGIT_TODAY", "2025-05-05")
    sopgit(run, library, "release", "ENG-001")
    assert "Release-Date: 2025-05-05\n" in tag_message(library, "ENG-001/v1.0.0")
    assert "lastUpdated: 2025-05-05\n" in (library / ENG_001).read_text(encoding="utf-8")
    assert tags(library) == ["ENG-001/v1.0.0"]


# --- bumps from Conventional Commits ------------------------------------------------


def test_bumps_follow_the_commit_messages(released, run):
    change(released, ENG_001, "fix(ENG-001): typo")
    change(released, ENG_002, "feat(ENG-002): add step")
    change(released, ENG_003, "feat(ENG-003)!: new process")
    change(released, ENG_004, "docs(ENG-004): rework\n\nBREAKING CHANGE: staff retrain")
    change(released, ENG_005, "Update the backup section")
    change(released, OPS_001, "fix(OPS-001): wording")
    change(released, OPS_001, "feat(OPS-001): add a kickoff call")
    change(released, OPS_001, "docs(OPS-001): links")

    rows = status_of(run, released)
    expected = {
        "ENG-001": ("patch", "1.0.1", 1),
        "ENG-002": ("minor", "1.1.0", 1),
        "ENG-003": ("major", "2.0.0", 1),
        "ENG-004": ("major", "2.0.0", 1),
        "ENG-005": ("patch", "1.0.1", 1),
        "OPS-001": ("minor", "1.1.0", 3),
    }
    for sop_id, (bump, next_version, pending) in expected.items():
        row = rows[sop_id]
        assert (row["bump"], row["next_version"], row["pending"]) == (bump, next_version, pending)
        assert row["version"] == "1.0.0"
        assert row["state"] == "changed"
    assert rows["CMP-001"]["next_version"] is None
    assert rows["CMP-001"]["state"] == "effective"
    text = sopgit(run, released, "status").stdout
    assert re.search(r"^OPS-001 .* changed\s+3 \(minor\)\s+1\.1\.0\b", text, re.M)

    # Releasing one SOP releases only that one.
    head = commit_of(released, "HEAD")
    result = sopgit(run, released, "release", "ENG-001", "--date", "2025-05-01")
    assert "ENG-001 1.0.0 -> 1.0.1 (patch)" in result.stdout
    assert git(released, "diff", "--name-only", head, "HEAD").split() == [ENG_001]
    assert git(released, "log", "-1", "--format=%s").strip() == "release: ENG-001 v1.0.1"
    assert set(tags(released)) - {f"{i}/v1.0.0" for i in ALL_IDS} == {"ENG-001/v1.0.1"}
    message = tag_message(released, "ENG-001/v1.0.1")
    assert "Previous-Version: 1.0.0\n" in message
    assert "Bump: patch\n" in message
    assert "fix(ENG-001): typo" in message
    assert managed_table((released / ENG_001).read_text(encoding="utf-8"))[2:] == [
        "| 1.0.0 | 2025-04-01 | Initial version | Ana Ruiz |  |",
        "| 1.0.1 | 2025-05-01 | Typo | Ana Ruiz |  |",
    ]
    rows = status_of(run, released)
    assert rows["ENG-001"]["next_version"] is None
    assert rows["ENG-002"]["next_version"] == "1.1.0"

    # The rest, in one commit.
    result = sopgit(run, released, "release", "--date", "2025-05-02")
    versions = {sop_id: row["version"] for sop_id, row in status_of(run, released).items()}
    assert versions["ENG-001"] == "1.0.1"
    assert versions["ENG-002"] == "1.1.0"
    assert versions["ENG-003"] == "2.0.0"
    assert versions["ENG-004"] == "2.0.0"
    assert versions["ENG-005"] == "1.0.1"
    assert versions["OPS-001"] == "1.1.0"
    assert versions["CMP-001"] == "1.0.0"
    ops = managed_table((released / OPS_001).read_text(encoding="utf-8"))
    assert ops[-1] == "| 1.1.0 | 2025-05-02 | Add a kickoff call | Ana Ruiz |  |"
    assert "Bump: major\n" in tag_message(released, "ENG-004/v2.0.0")
    sopgit(run, released, "check")
    assert nothing_to_release(run, released, "--date", "2025-05-03")


@pytest.mark.parametrize(
    ("flag", "expected"), [("--major", "2.0.0"), ("--minor", "1.1.0"), ("--patch", "1.0.1")]
)
def test_a_flag_overrides_the_bump_and_message_sets_the_description(released, run, flag, expected):
    change(released, ENG_002, "feat(ENG-002): add step")
    change(released, ENG_001, "fix(ENG-001): typo")

    sopgit(
        run,
        released,
        "release",
        "ENG-001",
        "ENG-002",
        flag,
        "--message",
        "Reviewed | reworded\nthroughout",
        "--date",
        "2025-05-01",
    )

    for path, sop_id in ((ENG_001, "ENG-001"), (ENG_002, "ENG-002")):
        assert f"{sop_id}/v{expected}" in tags(released)
        last = managed_table((released / path).read_text(encoding="utf-8"))[-1]
        assert (
            last == f"| {expected} | 2025-05-01 | Reviewed \\| reworded throughout | Ana Ruiz |  |"
        )
        assert f"Bump: {flag[2:]}\n" in tag_message(released, f"{sop_id}/v{expected}")
    sopgit(run, released, "check")


def test_two_bump_flags_are_a_usage_error(released, run):
    change(released, ENG_001, "fix(ENG-001): typo")
    before = tree_state(released)
    refused(run, released, "--major", "--patch", says="at most one of --major, --minor, --patch")
    refused(run, released, "--minor", "--patch", "ENG-001", says="at most one")
    assert tree_state(released) == before


# --- history --------------------------------------------------------------------------


def test_history_text_markdown_and_json(released, run, monkeypatch):
    change(released, ENG_001, "fix(ENG-001): typo")
    sopgit(run, released, "release", "--date", "2025-05-01")
    change(released, ENG_001, "feat(ENG-001): add a canary stage")

    text = sopgit(run, released, "history", "ENG-001").stdout
    assert text.splitlines()[0] == f"ENG-001 Deployment Process ({ENG_001})"
    assert re.search(r"^1\.0\.0\s+2025-04-01\s+Initial version\s+Ana Ruiz\s+-$", text, re.M)
    assert re.search(r"^1\.0\.1\s+2025-05-01\s+Typo\s+Ana Ruiz\s+-$", text, re.M)
    assert "Pending: 1 change(s), next 1.1.0 (minor)" in text
    assert re.search(r"^  [0-9a-f]{10} minor feat\(ENG-001\): add a canary stage$", text, re.M)

    markdown = sopgit(run, released, "history", "ENG-001", "--format", "markdown").stdout
    assert markdown.splitlines() == managed_table((released / ENG_001).read_text("utf-8"))

    data = history_of(run, released, "ENG-001")
    assert data["id"] == "ENG-001"
    assert data["path"] == ENG_001
    assert data["version"] == "1.0.1"
    assert data["next_version"] == "1.1.0"
    assert data["bump"] == "minor"
    assert [(r["version"], r["date"], r["description"], r["tag"]) for r in data["releases"]] == [
        ("1.0.0", "2025-04-01", "Initial version", "ENG-001/v1.0.0"),
        ("1.0.1", "2025-05-01", "Typo", "ENG-001/v1.0.1"),
    ]
    assert [(p["subject"], p["bump"]) for p in data["pending"]] == [
        ("feat(ENG-001): add a canary stage", "minor")
    ]
    assert data["pending"][0]["commit"] == commit_of(released, "HEAD")

    untouched = history_of(run, released, "CMP-001")
    assert untouched["pending"] == []
    assert untouched["next_version"] is None
    result = sopgit(run, released, "history", "ENG-999", expect=2)
    assert result.stderr.startswith("sopgit: ")
    assert "ENG-999" in result.stderr


def test_history_of_an_unreleased_sop(library, run):
    text = sopgit(run, library, "history", "ENG-001").stdout
    assert "not released yet" in text
    data = history_of(run, library, "ENG-001")
    assert data["version"] is None
    assert data["releases"] == []
    assert data["next_version"] == "1.0.0"
    assert data["bump"] == "initial"


# --- renames --------------------------------------------------------------------------


def test_history_and_pending_changes_follow_renames(released, run):
    renamed = "sops/engineering/ENG-001-release-process.md"
    moved = "sops/engineering/ENG-001-production-release.md"
    change(released, ENG_001, "fix(ENG-001): typo")
    git(released, "mv", ENG_001, renamed)
    commit_all(released, "refactor(ENG-001): new slug")
    change(released, renamed, "feat(ENG-001): add a canary stage")
    git(released, "mv", renamed, moved)
    commit_all(released, "refactor(ENG-001): another name")

    row = status_of(run, released)["ENG-001"]
    assert row["path"] == moved
    assert (row["version"], row["bump"], row["next_version"]) == ("1.0.0", "minor", "1.1.0")
    assert row["pending"] == 4
    data = history_of(run, released, "ENG-001")
    assert [p["subject"] for p in data["pending"]] == [
        "refactor(ENG-001): another name",
        "feat(ENG-001): add a canary stage",
        "refactor(ENG-001): new slug",
        "fix(ENG-001): typo",
    ]
    assert [r["version"] for r in data["releases"]] == ["1.0.0"]
    tags_before = git(released, "for-each-ref", "refs/tags")

    sopgit(run, released, "release", "ENG-001", "--date", "2025-05-01")

    for line in tags_before.splitlines():  # no release tag moved or went away
        assert line in git(released, "for-each-ref", "refs/tags").splitlines()
    assert set(tags(released)) == {f"{i}/v1.0.0" for i in ALL_IDS} | {"ENG-001/v1.1.0"}
    assert git(released, "diff", "--name-only", "HEAD~1", "HEAD").split() == [moved]
    table = managed_table((released / moved).read_text(encoding="utf-8"))
    assert table[2:] == [
        "| 1.0.0 | 2025-04-01 | Initial version | Ana Ruiz |  |",
        "| 1.1.0 | 2025-05-01 | Add a canary stage | Ana Ruiz |  |",
    ]
    message = tag_message(released, "ENG-001/v1.1.0")
    for subject in ("fix(ENG-001): typo", "new slug", "add a canary stage", "another name"):
        assert subject in message
    assert status_of(run, released)["ENG-001"]["next_version"] is None


def test_rename_on_a_draft_branch_and_an_edit_on_main_both_pending(released, run, monkeypatch):
    """The draft renames the file; main meanwhile edits it under its old name."""
    renamed = "sops/engineering/ENG-001-release-process.md"
    at(monkeypatch, "2025-05-01T10:00:00+00:00")
    git(released, "switch", "-q", "-c", "draft/ENG-001-rename")
    git(released, "mv", ENG_001, renamed)
    commit_all(released, "refactor(ENG-001): new slug")
    git(released, "switch", "-q", "main")
    at(monkeypatch, "2025-05-02T10:00:00+00:00")
    change(released, ENG_001, "feat(ENG-001): add a canary stage")
    at(monkeypatch, "2025-05-03T10:00:00+00:00")
    git(
        released,
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge pull request #7 from acme/x",
        "draft/ENG-001-rename",
    )
    assert "Edit: feat(ENG-001)" in (released / renamed).read_text(encoding="utf-8")

    data = history_of(run, released, "ENG-001")
    assert sorted(p["subject"] for p in data["pending"]) == [
        "feat(ENG-001): add a canary stage",
        "refactor(ENG-001): new slug",
    ]
    assert (data["bump"], data["next_version"]) == ("minor", "1.1.0")


# --- merges and drafts ----------------------------------------------------------------


def test_a_merged_pull_request_is_pending_and_named_in_the_tag(released, run, monkeypatch):
    at(monkeypatch, "2025-05-01T10:00:00+00:00")
    git(released, "switch", "-q", "-c", "draft/ENG-001-x")
    change(released, ENG_001, "feat(ENG-001): add a canary stage")
    change(released, ENG_001, "fix(ENG-001): wording")

    draft = status_of(run, released)["ENG-001"]
    assert draft["version"] == "1.0.0"
    assert draft["shown_version"] == "1.1.0-draft.2"
    assert draft["next_version"] == "1.1.0"
    assert status_of(run, released)["ENG-002"]["shown_version"] == "1.0.0"
    text = sopgit(run, released, "status")
    assert re.search(r"^ENG-001 .* 1\.1\.0-draft\.2 ", text.stdout, re.M)
    assert "draft/ENG-001-x" in text.stderr

    git(released, "switch", "-q", "main")
    assert status_of(run, released)["ENG-001"]["next_version"] is None
    at(monkeypatch, "2025-05-02T10:00:00+00:00")
    merge = "Merge pull request #12 from acme/draft/ENG-001-x"
    git(released, "merge", "-q", "--no-ff", "-m", merge, "draft/ENG-001-x")
    change(released, ENG_002, "fix(ENG-002): clarify the checklist (#13)")

    row = status_of(run, released)["ENG-001"]
    assert (row["shown_version"], row["next_version"], row["pending"]) == ("1.0.0", "1.1.0", 2)
    data = history_of(run, released, "ENG-001")
    assert [p["pull_request"] for p in data["pending"]] == [12, 12]

    sopgit(run, released, "release", "--date", "2025-05-03")
    message = tag_message(released, "ENG-001/v1.1.0")
    assert "Pull-Request: #12\n" in message
    assert "Pull-Request: #13\n" in tag_message(released, "ENG-002/v1.0.1")
    assert history_of(run, released, "ENG-001")["releases"][-1]["pull_requests"] == [12]


def test_a_draft_started_before_a_release_and_merged_after_is_still_pending(
    released, run, monkeypatch
):
    at(monkeypatch, "2025-05-01T10:00:00+00:00")
    git(released, "switch", "-q", "-c", "draft/ENG-001-canary")
    draft_commit = change(
        released, ENG_001, "feat(ENG-001): add a canary stage", after="## Definitions\n\n"
    )
    git(released, "switch", "-q", "main")
    at(monkeypatch, "2025-05-02T10:00:00+00:00")
    change(released, ENG_001, "fix(ENG-001): typo")
    sopgit(run, released, "release", "--date", "2025-05-02")
    assert status_of(run, released)["ENG-001"]["version"] == "1.0.1"

    # On the draft branch, the newer release on main is the base of the draft version.
    git(released, "switch", "-q", "draft/ENG-001-canary")
    row = status_of(run, released)["ENG-001"]
    assert (row["version"], row["shown_version"]) == ("1.0.1", "1.1.0-draft.1")
    git(released, "switch", "-q", "main")

    at(monkeypatch, "2025-05-03T10:00:00+00:00")
    git(
        released,
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge pull request #3 from acme/d",
        "draft/ENG-001-canary",
    )
    data = history_of(run, released, "ENG-001")
    assert [p["commit"] for p in data["pending"]] == [draft_commit]
    assert (data["version"], data["bump"], data["next_version"]) == ("1.0.1", "minor", "1.1.0")
    sopgit(run, released, "release", "--date", "2025-05-04")
    assert [r["version"] for r in history_of(run, released, "ENG-001")["releases"]] == [
        "1.0.0",
        "1.0.1",
        "1.1.0",
    ]


# --- dry run, push, sign ----------------------------------------------------------


def test_dry_run_prints_everything_and_changes_nothing(library, run):
    before = tree_state(library)

    out = sopgit(run, library, "release", "--dry-run", "--date", "2025-04-01").stdout

    assert tree_state(library) == before
    assert tags(library) == []
    assert no_lock(library)
    for path in (library / "sops").rglob("*.md"):
        relative = path.relative_to(library).as_posix()
        assert f"--- a/{relative}\n+++ b/{relative}\n" in out
    assert "-version: 0.0.0\n+lastUpdated: 2025-04-01\n+version: 1.0.0\n" in out
    assert "-status: draft\n+status: effective\n" in out
    assert "+| 1.0.0 | 2025-04-01 | Initial version | Ana Ruiz |  |" in out
    assert "commit:\n    release: 14 SOPs\n" in out
    for sop_id in ALL_IDS:
        assert f"    Sopgit-Release: {sop_id} v1.0.0\n" in out
        assert f"tag {sop_id}/v1.0.0:\n    {sop_id} v1.0.0\n" in out
        assert f"    Sop-Id: {sop_id}\n" in out
    assert out.count("    Release-Date: 2025-04-01\n") == 14


def test_push_sends_the_branch_and_exactly_the_new_tags(released, run, tmp_path):
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(released, "remote", "add", "origin", str(remote))
    git(released, "push", "-q", "origin", "main", "refs/tags/ENG-002/v1.0.0")
    git(released, "tag", "scratch")
    git(released, "tag", "-a", "-m", "not for sharing", "local-note")
    change(released, ENG_001, "fix(ENG-001): typo")

    result = sopgit(run, released, "release", "--push", "--date", "2025-05-01")

    assert "pushed main and 1 tag(s) to origin" in result.stderr
    remote_tags = git(remote, "for-each-ref", "--format=%(refname)", "refs/tags").split()
    assert sorted(remote_tags) == ["refs/tags/ENG-001/v1.0.1", "refs/tags/ENG-002/v1.0.0"]
    assert git(remote, "rev-parse", "main").strip() == commit_of(released, "HEAD")
    assert git(remote, "cat-file", "-t", "ENG-001/v1.0.1").strip() == "tag"
    listed = git(released, "ls-remote", "--tags", "--refs", "origin").split()
    assert "refs/tags/scratch" not in listed
    assert "refs/tags/local-note" not in listed


def test_a_failed_push_keeps_the_local_release_and_says_how_to_push(released, run, tmp_path):
    git(released, "remote", "add", "origin", str(tmp_path / "nowhere.git"))
    change(released, ENG_001, "fix(ENG-001): typo")

    result = sopgit(run, released, "release", "--push", "--date", "2025-05-01", expect=2)

    assert "ENG-001/v1.0.1" in tags(released)
    assert result.stderr.splitlines()[-1].startswith("sopgit: ")
    assert "git push --atomic origin refs/heads/main refs/tags/ENG-001/v1.0.1" in result.stderr


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")
def test_sign_makes_ssh_signed_tags(released, run, tmp_path):
    key = tmp_path / "key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ana", "-f", str(key)], check=True
    )
    git(released, "config", "gpg.format", "ssh")
    git(released, "config", "user.signingkey", str(key))
    signers = tmp_path / "allowed_signers"
    signers.write_text(f"ana@acme.example {key.with_suffix('.pub').read_text()}")
    git(released, "config", "gpg.ssh.allowedSignersFile", str(signers))
    change(released, ENG_001, "fix(ENG-001): typo")

    sopgit(run, released, "release", "--sign", "--date", "2025-05-01")

    raw = git(released, "cat-file", "tag", "ENG-001/v1.0.1")
    assert "-----BEGIN SSH SIGNATURE-----" in raw
    assert "Sop-Version: 1.0.1" in raw
    git(released, "verify-tag", "ENG-001/v1.0.1")
    row = history_of(run, released, "ENG-001")["releases"][-1]
    assert (row["version"], row["description"], row["author"]) == ("1.0.1", "Typo", "Ana Ruiz")
    sopgit(run, released, "check")


# --- refusals -----------------------------------------------------------------------


def test_refuses_a_dirty_tree(released, run):
    change(released, ENG_001, "fix(ENG-001): typo")
    note(released, ENG_002, "Not committed yet.")
    before = tree_state(released)
    refused(run, released, "--date", "2025-05-01", says="uncommitted changes")
    git(released, "add", ENG_002)
    staged = tree_state(released)
    refused(run, released, "--date", "2025-05-01", says="uncommitted changes")
    assert tree_state(released) == staged
    git(released, "reset", "-q")
    assert tree_state(released) == before
    assert no_lock(released)


def test_refuses_a_detached_head(released, run):
    change(released, ENG_001, "fix(ENG-001): typo")
    git(released, "switch", "-q", "--detach", "HEAD")

    def state() -> dict[str, object]:  # tree_state, minus its symbolic-ref of HEAD
        return {
            "files": {
                p.relative_to(released).as_posix(): p.read_bytes()
                for p in sorted(released.rglob("*"))
                if p.is_file() and ".git" not in p.relative_to(released).parts
            },
            "index": git(released, "ls-files", "-s"),
            "refs": git(released, "for-each-ref"),
            "head": git(released, "rev-parse", "HEAD"),
        }

    before = state()
    refused(run, released, "--date", "2025-05-01", says="detached")
    assert state() == before
    assert no_lock(released)


def test_refuses_a_shallow_clone(released, run, tmp_path):
    change(released, ENG_001, "fix(ENG-001): typo")
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{released}", str(clone))
    assert git(clone, "rev-parse", "--is-shallow-repository").strip() == "true"
    before = tree_state(clone)
    refused(run, clone, "--date", "2025-05-01", says="shallow")
    assert tree_state(clone) == before
    assert no_lock(clone)


def test_refuses_another_branch_unless_allowed(released, run):
    git(released, "switch", "-q", "-c", "hotfix")
    change(released, ENG_001, "fix(ENG-001): typo")
    before = tree_state(released)
    line = refused(run, released, "--date", "2025-05-01", says="--allow-branch")
    assert "'main'" in line
    assert "'hotfix'" in line
    assert tree_state(released) == before

    sopgit(run, released, "release", "--allow-branch", "--date", "2025-05-01")
    assert commit_of(released, "ENG-001/v1.0.1") == commit_of(released, "hotfix")
    assert git(released, "symbolic-ref", "--short", "HEAD").strip() == "hotfix"
    assert commit_of(released, "main") != commit_of(released, "hotfix")


def test_refuses_when_the_next_tag_exists_and_never_moves_it(released, run):
    change(released, ENG_001, "fix(ENG-001): typo")
    older = commit_of(released, "HEAD~1")
    git(released, "tag", "ENG-001/v1.0.1", older)
    assert status_of(run, released)["ENG-001"]["next_version"] == "1.0.1"
    before = tree_state(released)

    refused(run, released, "--date", "2025-05-01", says="ENG-001/v1.0.1 already exists")

    assert tree_state(released) == before
    assert commit_of(released, "ENG-001/v1.0.1") == older


def test_a_hand_made_lightweight_tag_is_not_dated_1970(released, run):
    """Whatever it counts as, a tag without a date must not show up as released in 1970."""
    change(released, ENG_001, "fix(ENG-001): typo")
    git(released, "tag", "ENG-001/v1.0.1", "HEAD~1")
    data = history_of(run, released, "ENG-001")
    dates = [r["date"] for r in data["releases"]]
    assert "1970-01-01" not in dates
    review = status_of(run, released)["ENG-001"]["review_due"]
    assert review is None or review >= "2026-01-01"


def nothing_to_release(run, root: Path, *args: str) -> bool:
    """`release ARGS` says "nothing to release" on stderr, prints nothing else, exits 0."""
    result = sopgit(run, root, "release", *args)
    assert result.stdout == ""
    assert result.stderr == "nothing to release: no SOP has changes since its last release\n"
    return True


@pytest.mark.parametrize("args", [(), ("--dry-run",), ("--push",)])
def test_nothing_pending_is_nothing_to_release_exit_0(released, run, tmp_path, args):
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(released, "remote", "add", "origin", str(remote))
    before = tree_state(released)

    assert nothing_to_release(run, released, "--date", "2025-05-01", *args)

    assert tree_state(released) == before
    assert git(remote, "for-each-ref") == ""  # nothing pushed
    assert no_lock(released)


def test_fail_if_empty_makes_nothing_to_release_exit_1(released, run):
    before = tree_state(released)

    result = sopgit(run, released, "release", "--fail-if-empty", "--date", "2025-05-01", expect=1)

    assert result.stdout == ""
    assert result.stderr == (
        "sopgit: nothing to release: no SOP has changes since its last release (--fail-if-empty)\n"
    )
    assert tree_state(released) == before
    assert no_lock(released)


def test_fail_if_empty_with_something_pending_releases(released, run):
    change(released, ENG_001, "fix(ENG-001): typo")

    result = sopgit(run, released, "release", "--fail-if-empty", "--date", "2025-05-01")

    assert result.stdout == "ENG-001 1.0.0 -> 1.0.1 (patch)  tag ENG-001/v1.0.1\n"
    assert "ENG-001/v1.0.1" in tags(released)


def test_naming_an_sop_without_pending_changes_is_still_refused(released, run):
    before = tree_state(released)
    refused(run, released, "ENG-001", "--date", "2025-05-01", says="nothing to cut")
    assert tree_state(released) == before
    assert no_lock(released)


@pytest.mark.parametrize(
    ("before", "after", "says"),
    [
        ("status: effective", "status: final", "'status' must be one of"),
        ("version: 1.0.0", "version: v1.2.3", "'version' must be a semantic version"),
    ],
)
def test_refuses_an_sop_that_check_finds_errors_in(released, run, before, after, says):
    change(released, ENG_001, "fix(ENG-001): typo")
    change(released, OPS_001, "fix(OPS-001): typo")
    path = released / ENG_002
    path.write_text(path.read_text().replace(before, after, 1))
    commit_all(released, "fix(ENG-002): a hand edit of the frontmatter")
    state, tags_before = tree_state(released), tags(released)

    result = sopgit(run, released, "release", "--date", "2025-05-01", expect=1)

    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("sopgit: release refused, 'sopgit check' finds errors: ")
    assert f"{ENG_002}:" in lines[0]
    assert says in lines[0]
    assert ENG_001 not in lines[0]
    assert OPS_001 not in lines[0]
    assert_untouched(released, state, tags_before)
    check = sopgit(run, released, "check", expect=1)
    assert says in check.stdout
    # Releasing only the SOPs that pass goes ahead.
    sopgit(run, released, "release", "ENG-001", "OPS-001", "--date", "2025-05-01")
    assert {"ENG-001/v1.0.1", "OPS-001/v1.0.1"} <= set(tags(released))


def test_refuses_an_unknown_id(released, run):
    change(released, ENG_001, "fix(ENG-001): typo")
    before = tree_state(released)
    refused(run, released, "ENG-999", says="ENG-999")
    refused(run, released, "ENG-001", "NOPE-1", says="NOPE-1")
    assert tree_state(released) == before
    assert no_lock(released)


HOLDER = """
import fcntl, json, os, socket, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
record = {"pid": os.getpid(), "host": socket.gethostname(), "started": "2025-05-01T09:00:00Z"}
os.write(fd, json.dumps(record).encode())
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_live_lock_owner_refuses_a_dead_one_is_taken_over(released, run):
    change(released, ENG_001, "fix(ENG-001): typo")
    lock = released / ".git" / "sopgit" / "lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        before = tree_state(released)
        line = refused(run, released, "--date", "2025-05-01", says="another sopgit command")
        assert f"pid {holder.pid} on " in line
        assert "started 2025-05-01T09:00:00Z" in line
        assert tree_state(released) == before
        sopgit(run, released, "status")  # a read-only command leaves a live lock alone
        assert json.loads(lock.read_text())["pid"] == holder.pid
    finally:
        holder.kill()  # SIGKILL: the owner is gone, its record stays
        holder.wait()
    assert json.loads(lock.read_text())["pid"] == holder.pid

    result = sopgit(run, released, "release", "--date", "2025-05-01")

    note = result.stderr.splitlines()[0]
    assert note.startswith(f"sopgit: took over the release lock of pid {holder.pid} on ")
    assert "which is gone" in note
    assert "ENG-001/v1.0.1" in tags(released)
    assert no_lock(released)


def test_the_lock_records_its_owner_while_a_release_runs(released, run):
    change(released, ENG_001, "fix(ENG-001): typo")
    seen = released.parent / "lock-seen.json"
    executable(released / ".git/hooks/pre-commit", f"#!/bin/sh\ncat .git/sopgit/lock > {seen}\n")

    sopgit(run, released, "release", "--date", "2025-05-01")

    owner = json.loads(seen.read_text())
    assert owner["pid"] == os.getpid()  # CliRunner runs sopgit in this process
    assert owner["host"] == socket.gethostname()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", owner["started"])
    assert no_lock(released)


def test_a_lock_file_of_an_earlier_sopgit_whose_process_is_gone_is_removed(released, run):
    change(released, ENG_001, "fix(ENG-001): typo")
    gone = subprocess.Popen(["true"])
    gone.wait()
    legacy = released / ".git" / "sopgit-release.lock"
    legacy.write_text(str(gone.pid))

    result = sopgit(run, released, "release", "--date", "2025-05-01")

    assert result.stderr.startswith(f"sopgit: removed the release lock of pid {gone.pid}")
    assert not legacy.exists()
    assert "ENG-001/v1.0.1" in tags(released)


# --- faults part-way: all or nothing -----------------------------------------------


def assert_untouched(root: Path, before: dict, tags_before: list[str]) -> None:
    assert tree_state(root) == before
    assert tags(root) == tags_before
    assert no_lock(root)
    assert git(root, "status", "--porcelain") == ""


def test_a_rejecting_pre_commit_hook_stops_the_release_with_nothing_changed(released, run):
    change(released, ENG_001, "fix(ENG-001): typo")
    change(released, CMP_001, "feat(CMP-001): add a step")
    executable(
        released / ".git/hooks/pre-commit", "#!/bin/sh\necho 'pre-commit: not today' >&2\nexit 1\n"
    )
    before, tags_before = tree_state(released), tags(released)

    line = refused(run, released, "--date", "2025-05-01", says="the pre-commit hook refused")

    assert "not today" in line
    assert "nothing was released" in line
    assert_untouched(released, before, tags_before)


def test_the_users_hooks_see_the_release_commit_as_git_commit_would_show_it(released, run):
    """pre-commit with the new index (GIT_INDEX_FILE), commit-msg with the message file."""
    change(released, ENG_001, "fix(ENG-001): typo")
    seen = released.parent / "seen"
    executable(
        released / ".git/hooks/pre-commit",
        f"#!/bin/sh\ngit diff --cached --name-only > {seen}.staged\n"
        f'echo "$SOPGIT_RELEASE" > {seen}.env\n',
    )
    executable(released / ".git/hooks/commit-msg", f'#!/bin/sh\ncp "$1" {seen}.msg\n')
    executable(
        released / ".git/hooks/post-commit", f"#!/bin/sh\ngit rev-parse HEAD > {seen}.head\n"
    )

    sopgit(run, released, "release", "--date", "2025-05-01")

    assert (released.parent / "seen.staged").read_text() == f"{ENG_001}\n"
    assert (released.parent / "seen.env").read_text() == "1\n"
    assert (released.parent / "seen.msg").read_text() == git(released, "log", "-1", "--format=%B")[
        :-1
    ]
    assert (released.parent / "seen.head").read_text().strip() == commit_of(released, "HEAD")


def test_a_rejecting_commit_msg_hook_stops_the_release(released, run):
    change(released, ENG_001, "fix(ENG-001): typo")
    executable(released / ".git/hooks/commit-msg", "#!/bin/sh\necho 'msg: no' >&2\nexit 1\n")
    before, tags_before = tree_state(released), tags(released)

    refused(run, released, "--date", "2025-05-01", says="the commit-msg hook refused")

    assert_untouched(released, before, tags_before)


def test_sopgits_own_hooks_let_its_release_through(released, run):
    """Installed hooks once rejected every release commit (the version rule)."""
    change(released, ENG_001, "fix(ENG-001): typo")
    sopgit(run, released, "hooks", "install")

    result = sopgit(run, released, "release", "--date", "2025-05-01")

    assert "ENG-001 1.0.0 -> 1.0.1" in result.stdout
    assert commit_of(released, "ENG-001/v1.0.1") == commit_of(released, "HEAD")
    assert git(released, "status", "--porcelain") == ""


def test_a_post_commit_hook_that_adds_a_commit_cannot_move_the_tags(released, run):
    change(released, ENG_001, "fix(ENG-001): typo")
    change(released, OPS_001, "fix(OPS-001): typo")
    executable(
        released / ".git/hooks/post-commit",
        "#!/bin/sh\ngit log -1 --format=%s | grep -q '^release:' || exit 0\n"
        "git commit -q --allow-empty --no-verify -m 'chore: after the release'\n",
    )
    start = commit_of(released, "HEAD")

    sopgit(run, released, "release", "--date", "2025-05-01")

    release = commit_of(released, "HEAD~1")
    assert git(released, "log", "-1", "--format=%s").strip() == "chore: after the release"
    assert git(released, "rev-parse", f"{release}~1").strip() == start
    assert commit_of(released, "ENG-001/v1.0.1") == release
    assert commit_of(released, "OPS-001/v1.0.1") == release


def test_a_tag_that_cannot_be_created_leaves_everything_as_it_was(library, run):
    """CMP-* and ENG-001 release together; refs/tags/ENG-001 blocks ENG-001/v1.0.0."""
    git(library, "tag", "ENG-001")
    before, tags_before = tree_state(library), tags(library)

    refused(run, library, "--date", "2025-04-01", says="nothing was released")

    assert_untouched(library, before, tags_before)
    assert tags(library) == ["ENG-001"]


def test_a_reference_transaction_hook_refusing_a_tag_leaves_everything_as_it_was(released, run):
    change(released, CMP_001, "fix(CMP-001): typo")
    change(released, ENG_001, "fix(ENG-001): typo")
    change(released, OPS_001, "fix(OPS-001): typo")
    executable(
        released / ".git/hooks/reference-transaction",
        "#!/bin/sh\n"
        'refs=$(cat)\n[ "$1" = prepared ] || exit 0\n'
        'case "$refs" in *refs/tags/ENG-001/*) echo "no ENG tags" >&2; exit 1;; esac\n'
        "exit 0\n",
    )
    before, tags_before = tree_state(released), tags(released)

    refused(run, released, "--date", "2025-05-01", says="nothing was released")

    assert_untouched(released, before, tags_before)


def test_a_tag_made_behind_sopgits_back_is_left_where_it_is(released, run):
    """A pre-commit hook creates ENG-001/v1.0.1 first: sopgit must not move or delete it."""
    change(released, ENG_001, "fix(ENG-001): typo")
    executable(
        released / ".git/hooks/pre-commit", "#!/bin/sh\ngit tag -m mine ENG-001/v1.0.1 HEAD~1\n"
    )
    before, tags_before = tree_state(released), tags(released)
    mine = commit_of(released, "HEAD~1")

    refused(run, released, "--date", "2025-05-01", says="ENG-001/v1.0.1")

    assert commit_of(released, "ENG-001/v1.0.1") == mine
    assert tag_message(released, "ENG-001/v1.0.1").strip() == "mine"
    git(released, "tag", "-d", "ENG-001/v1.0.1")
    assert_untouched(released, before, tags_before)


# --- speed: git processes do not grow with the library ------------------------------


def git_processes(run, root: Path, monkeypatch, trace: Path, *args: str) -> int:
    trace.unlink(missing_ok=True)
    monkeypatch.setenv("GIT_TRACE", str(trace))
    try:
        sopgit(run, root, "--no-cache", *args)  # a cold run: see test_cache.py for warm ones
    finally:
        monkeypatch.delenv("GIT_TRACE")
    lines = trace.read_text(encoding="utf-8").splitlines()
    return sum(1 for line in lines if re.search(r"trace: (built-in|exec|run_command):", line))


def test_git_processes_do_not_grow_with_the_number_of_sops(library, run, monkeypatch, tmp_path):
    big = tmp_path / "big"
    shutil.copytree(library, big)
    for n in range(30):
        sopgit(run, big, "new", f"Generated procedure {n}", "--dept", "OPS", "--no-branch")
        if n % 10 == 9:
            commit_all(big, f"docs: add procedures up to {n}")
    assert len(status_of(run, big)) == 44
    counts = {}
    for name, root in (("small", library), ("big", big)):
        trace = tmp_path / f"{name}.trace"
        counts[name] = [
            git_processes(run, root, monkeypatch, trace, "status", "--format", "json"),
            git_processes(run, root, monkeypatch, trace, "history", "OPS-001"),
            git_processes(run, root, monkeypatch, trace, "release", "--dry-run"),
        ]
    assert counts["small"] == counts["big"]
    assert all(0 < n <= 12 for n in counts["small"]), counts
    # A real release too (14 SOPs against 44: blobs, tags and files in batches).
    released = [
        git_processes(
            run, root, monkeypatch, tmp_path / "r.trace", "release", "--date", "2025-04-01"
        )
        for root in (library, big)
    ]
    assert released[0] == released[1]
    assert released[0] <= 30, released
    # The same holds once released and with changes pending.
    for root in (library, big):
        change(root, ENG_001, "fix(ENG-001): typo")
    small = git_processes(run, library, monkeypatch, tmp_path / "s.trace", "status")
    large = git_processes(run, big, monkeypatch, tmp_path / "b.trace", "status")
    assert small == large
    assert os.environ.get("GIT_TRACE") is None
