"""After publication: periodic reviews, training acknowledgements (real repositories)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from conftest import git, tree_state

ENG1 = "sops/engineering/ENG-001-deployment-process.md"


@pytest.fixture
def released(run, library: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The library with every SOP released as 1.0.0 on 2025-04-01."""
    monkeypatch.setenv("SOPGIT_TODAY", "2025-04-01")
    run("-C", str(library), "release")
    return library


def status_of(run, root: Path, sop_id: str) -> dict:
    rows = json.loads(run("-C", str(root), "status", "--format", "json").stdout)
    return next(r for r in rows if r["id"] == sop_id)


def as_person(monkeypatch: pytest.MonkeyPatch, root: Path, name: str, email: str) -> None:
    git(root, "config", "user.name", name)
    git(root, "config", "user.email", email)
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", name)
        monkeypatch.setenv(f"GIT_{role}_EMAIL", email)


# --- periodic review ----------------------------------------------------------------


def test_review_lists_due_and_overdue_oldest_first(run, released, monkeypatch):
    (released / ENG1).write_text(
        (released / ENG1)
        .read_text()
        .replace("status: effective", "status: effective\nreviewIntervalDays: 90")
    )
    git(released, "commit", "-qam", "chore(ENG-001): review it every quarter")
    monkeypatch.setenv("SOPGIT_TODAY", "2025-07-15")
    rows = json.loads(run("-C", str(released), "review", "--format", "json").stdout)
    # ENG-001 is due 90 days after 2025-04-01; the others after 365 days, not yet.
    assert [(r["id"], r["review_due"], r["overdue"]) for r in rows] == [
        ("ENG-001", "2025-06-30", True)
    ]
    monkeypatch.setenv("SOPGIT_TODAY", "2026-03-20")
    rows = json.loads(run("-C", str(released), "review", "--format", "json").stdout)
    assert rows[0]["id"] == "ENG-001"
    assert rows[0]["days_left"] == -263
    assert {r["id"] for r in rows[1:]} == {
        "CMP-001",
        "CMP-002",
        "CMP-003",
        "CMP-004",
        "CMP-005",
        "ENG-002",
        "ENG-003",
        "ENG-004",
        "ENG-005",
        "OPS-001",
        "OPS-002",
        "OPS-003",
        "OPS-004",
    }
    assert all(r["review_due"] == "2026-04-01" and not r["overdue"] for r in rows[1:])
    text = run("-C", str(released), "review", "--within", "0").stdout
    assert text.splitlines()[1].split()[:2] == ["ENG-001", "Deployment"]
    assert "overdue by 263 days" in text
    assert len(text.splitlines()) == 2  # only the overdue one within 0 days


def test_status_shows_review_due_and_done_restarts_the_clock(run, released, monkeypatch):
    monkeypatch.setenv("SOPGIT_TODAY", "2026-04-02")
    assert status_of(run, released, "CMP-002")["state"] == "review-due"
    result = run("-C", str(released), "review", "CMP-002", "--done", "-m", "Still right.")
    assert result.stdout == "CMP-002 v1.0.0 reviewed; next review in 365 days\n"
    message = git(released, "log", "-1", "--format=%B")
    assert message == (
        "chore(CMP-002): review v1.0.0\n\nStill right.\n\n"
        "Sopgit-Review: CMP-002 v1.0.0\nDate: 2026-04-02\n\n"
    )
    assert git(released, "show", "--name-only", "--format=", "HEAD").strip() == ""
    row = status_of(run, released, "CMP-002")
    assert (row["state"], row["review_due"], row["version"]) == ("effective", "2027-04-02", "1.0.0")
    assert row["next_version"] is None  # a review is not a change: no version bump


def test_check_fail_on_overdue(run, released, monkeypatch):
    monkeypatch.setenv("SOPGIT_TODAY", "2026-03-31")
    run("-C", str(released), "check", "--fail-on-overdue", expect=0)
    monkeypatch.setenv("SOPGIT_TODAY", "2026-04-02")
    run("-C", str(released), "check", expect=0)  # only with the flag
    result = run("-C", str(released), "check", "--fail-on-overdue", "--format", "json", expect=1)
    found = json.loads(result.stdout)["diagnostics"]
    assert len(found) == 14
    assert found[0]["rule"] == "review-overdue"
    assert "was due on 2026-04-01" in found[0]["message"]


def test_review_markdown_for_the_scheduled_issue(run, released, monkeypatch):
    monkeypatch.setenv("SOPGIT_TODAY", "2026-04-03")
    body = run("-C", str(released), "review", "--format", "markdown").stdout
    assert body.splitlines()[3] == "| SOP | Title | Version | Review due | |"
    assert "| ENG-001 | Deployment Process | 1.0.0 | 2026-04-01 | overdue by 2 days |" in body


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["ENG-999", "--done"], "no SOP with id ENG-999"),
        (["--done"], "--done needs the ID"),
        (["ENG-001"], "give --done"),
    ],
)
def test_review_bad_input(run, released, args, words):
    before = tree_state(released)
    result = run("-C", str(released), "review", *args, expect=2)
    assert words in result.stderr
    assert tree_state(released) == before


def test_review_of_an_unreleased_sop_is_refused(run, library):
    before = tree_state(library)
    result = run("-C", str(library), "review", "ENG-001", "--done", expect=2)
    assert "not released yet" in result.stderr
    assert tree_state(library) == before


def test_review_refuses_staged_changes(run, released):
    (released / "notes.txt").write_text("x")
    git(released, "add", "notes.txt")
    before = tree_state(released)
    result = run("-C", str(released), "review", "ENG-001", "--done", expect=2)
    assert "staged changes" in result.stderr
    assert tree_state(released) == before


# --- training acknowledgements ------------------------------------------------------


def configure_audience(root: Path) -> None:
    with (root / "sopgit.toml").open("a") as handle:
        handle.write(
            '\n[training]\naudience = ["kim@acme.example"]\n'
            '[training.departments.ENG]\naudience = ["ana@acme.example", "ben@acme.example"]\n'
        )
    git(root, "commit", "-qam", "chore: who must acknowledge SOPs")


def test_acknowledgements_by_several_people_and_retraining_after_a_major(
    run, released, monkeypatch
):
    configure_audience(released)
    monkeypatch.setenv("SOPGIT_TODAY", "2025-04-10")
    head = git(released, "rev-parse", "HEAD")
    for name, email in (("Ana Ruiz", "ana@acme.example"), ("Kim Park", "kim@acme.example")):
        as_person(monkeypatch, released, name, email)
        result = run("-C", str(released), "ack", "ENG-001")
        assert result.stdout == f"{name} acknowledged ENG-001 v1.0.0\n"
    # Acknowledgements live on their own ref: the SOP history is untouched.
    assert git(released, "rev-parse", "HEAD") == head
    assert len(git(released, "rev-list", "refs/sopgit/acks").split()) == 2
    again = run("-C", str(released), "ack", "ENG-001")
    assert "already, on 2025-04-10" in again.stdout
    assert len(git(released, "rev-list", "refs/sopgit/acks").split()) == 2

    rows = json.loads(run("-C", str(released), "training", "ENG-001", "--format", "json").stdout)
    assert rows[0]["missing"] == ["ben@acme.example"]
    assert sorted(a["email"] for a in rows[0]["acknowledged"]) == [
        "ana@acme.example",
        "kim@acme.example",
    ]

    # A minor version keeps acknowledgements; a major one asks everyone again.
    text = (released / ENG1).read_text()
    (released / ENG1).write_text(text.replace("## Scope\n", "## Scope\n\nNew scope.\n"))
    git(released, "commit", "-qam", "feat(ENG-001): widen the scope")
    run("-C", str(released), "release", "--date", "2025-05-01")
    rows = json.loads(run("-C", str(released), "training", "ENG-001", "--format", "json").stdout)
    assert rows[0]["version"] == "1.1.0"
    assert rows[0]["missing"] == ["ben@acme.example"]
    (released / ENG1).write_text((released / ENG1).read_text().replace("New scope.", "Changed."))
    git(released, "commit", "-qam", "feat(ENG-001)!: change the scope")
    run("-C", str(released), "release", "--date", "2025-06-01")
    rows = json.loads(run("-C", str(released), "training", "ENG-001", "--format", "json").stdout)
    assert rows[0]["version"] == "2.0.0"
    assert rows[0]["missing"] == ["ana@acme.example", "ben@acme.example", "kim@acme.example"]


def test_training_csv_for_hr_systems(run, released, monkeypatch):
    configure_audience(released)
    as_person(monkeypatch, released, "Ana Ruiz", "ana@acme.example")
    run("-C", str(released), "ack", "ENG-002", "--version", "1.0.0")
    out = run("-C", str(released), "training", "ENG-002", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["person"], r["status"], r["acknowledged_version"]) for r in rows] == [
        ("ana@acme.example", "acknowledged", "1.0.0"),
        ("ben@acme.example", "missing", ""),
        ("kim@acme.example", "missing", ""),
    ]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["ENG-999"], "no SOP with id ENG-999"),
        (["ENG-001", "--version", "3.0.0"], "has no version 3.0.0; released versions: 1.0.0"),
    ],
)
def test_ack_bad_input_writes_nothing(run, released, args, words):
    before = tree_state(released)
    result = run("-C", str(released), "ack", *args, expect=2)
    assert words in result.stderr
    assert result.stderr.count("\n") == 1
    assert tree_state(released) == before


def test_ack_of_an_unreleased_sop_is_refused(run, library):
    result = run("-C", str(library), "ack", "ENG-001", expect=2)
    assert "not released yet" in result.stderr


def test_ack_push_sends_the_acknowledgements_ref(run, released, tmp_path, monkeypatch):
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(released, "remote", "add", "origin", str(remote))
    as_person(monkeypatch, released, "Ana Ruiz", "ana@acme.example")
    run("-C", str(released), "ack", "OPS-001", "--push")
    assert git(remote, "rev-parse", "refs/sopgit/acks") == git(
        released, "rev-parse", "refs/sopgit/acks"
    )


# --- retirement ---------------------------------------------------------------------

ENG2 = "sops/engineering/ENG-002-code-review-standards.md"


def test_retire_superseded_by_a_new_sop(run, released, monkeypatch):
    monkeypatch.setenv("SOPGIT_TODAY", "2025-06-01")
    new = run("-C", str(released), "new", "Review And Deploy", "--dept", "ENG", "--no-branch")
    assert new.stdout.strip() == "sops/engineering/ENG-006-review-and-deploy.md"
    git(released, "add", "-A")
    git(released, "commit", "-qm", "feat(ENG-006): one procedure for review and deployment")
    run("-C", str(released), "release", "ENG-006")

    result = run(
        "-C",
        str(released),
        "retire",
        "ENG-002",
        "--reason",
        "Merged into ENG-006",
        "--superseded-by",
        "ENG-006",
    )
    assert result.stdout == "ENG-002 retired: final version 2.0.0, tag ENG-002/v2.0.0\n"
    text = (released / ENG2).read_text()
    assert "status: retired\n" in text
    assert "supersededBy: ENG-006\n" in text
    assert "version: 2.0.0\n" in text
    assert "| 2.0.0 | 2025-06-01 | Retired: Merged into ENG-006 |" in text
    tag = git(released, "cat-file", "tag", "ENG-002/v2.0.0")
    assert "Retired: Merged into ENG-006\nSuperseded-By: ENG-006\n" in tag
    assert "Bump: major\n" in tag
    row = status_of(run, released, "ENG-002")
    assert (row["state"], row["review_due"], row["next_version"]) == ("retired", None, None)
    # Kept with its history, but never reused and no longer linked to.
    assert git(released, "log", "--format=%s", "--", ENG2).splitlines()[:2] == [
        "release: ENG-002 v2.0.0",
        "feat(ENG-002)!: retire Code Review Standards",
    ]
    again = run("-C", str(released), "new", "Another", "--dept", "ENG", "--dry-run")
    assert "ENG-007" in again.stdout
    result = run("-C", str(released), "check", "--format", "json", expect=1)
    retired_links = [
        d for d in json.loads(result.stdout)["diagnostics"] if d["rule"] == "retired-link"
    ]
    assert retired_links
    assert all("links to ENG-002, which is retired" in d["message"] for d in retired_links)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["ENG-002", "--reason", "x", "--superseded-by", "ENG-002"], "by itself"),
        (["ENG-002", "--reason", "x", "--superseded-by", "ENG-999"], "no SOP with id ENG-999"),
        (["ENG-999", "--reason", "x"], "no SOP with id ENG-999"),
        (["ENG-002", "--reason", "  "], "give the reason"),
    ],
)
def test_retire_bad_input_writes_nothing(run, released, args, words):
    before = tree_state(released)
    result = run("-C", str(released), "retire", *args, expect=2)
    assert words in result.stderr
    assert tree_state(released) == before


def test_retiring_twice_is_refused(run, released):
    run("-C", str(released), "retire", "ENG-002", "--reason", "Obsolete", "--date", "2025-05-01")
    before = tree_state(released)
    result = run("-C", str(released), "retire", "ENG-002", "--reason", "again", expect=2)
    assert "ENG-002 is retired already" in result.stderr
    assert tree_state(released) == before


def test_a_failed_final_release_undoes_the_retirement(run, released):
    hook = released / ".git/hooks/commit-msg"
    # Let the retirement commit through, refuse the release commit after it.
    hook.write_text("#!/bin/sh\ngrep -q '^release:' \"$1\" && exit 1\nexit 0\n")
    hook.chmod(0o755)
    before = tree_state(released)
    result = run("-C", str(released), "retire", "ENG-002", "--reason", "Obsolete", expect=2)
    assert "the commit-msg hook refused the commit" in result.stderr
    assert tree_state(released) == before
    assert not list(released.rglob("*.sopgit-*"))
    kept = [p.name for p in (released / ".git/sopgit").iterdir()]
    # no journal or lock; the history cache and status's rows may stay
    assert set(kept) <= {"cache-v1.bin", "status-v2.bin", "status-state-v2.bin"}


def test_retire_without_release_leaves_it_for_review(run, released):
    result = run("-C", str(released), "retire", "ENG-002", "--reason", "Obsolete", "--no-release")
    assert "release it after review" in result.stdout
    assert "status: retired" in (released / ENG2).read_text()
    assert "ENG-002/v2.0.0" not in git(released, "tag")
    assert not list(released.rglob("*.sopgit-*"))
    run("-C", str(released), "release", "--date", "2025-05-02")
    assert "Retired: Obsolete" in git(released, "cat-file", "tag", "ENG-002/v2.0.0")


# --- audit --------------------------------------------------------------------------


def test_audit_shows_the_whole_trail(run, released, monkeypatch):
    configure_audience(released)
    as_person(monkeypatch, released, "Kim Park", "kim@acme.example")
    monkeypatch.setenv("SOPGIT_TODAY", "2025-04-20")
    run("-C", str(released), "ack", "ENG-001")
    monkeypatch.setenv("SOPGIT_TODAY", "2026-03-30")
    run("-C", str(released), "review", "ENG-001", "--done", "-m", "Matches practice.")
    data = json.loads(run("-C", str(released), "audit", "ENG-001", "--format", "json").stdout)
    assert data["current_version"] == "1.0.0"
    assert data["review_due"] == "2027-03-30"
    [version] = data["versions"]
    assert version["tag"] == "ENG-001/v1.0.0"
    assert version["bump"] == "initial"
    assert version["signature"] == "unsigned"
    assert version["released_by"] == "Ana Ruiz <ana@acme.example>"
    assert (
        version["release_commit"] == git(released, "rev-parse", "ENG-001/v1.0.0^{commit}").strip()
    )
    assert [(r["version"], r["name"], r["note"]) for r in data["reviews"]] == [
        ("1.0.0", "Kim Park", "Matches practice.")
    ]
    assert [(a["version"], a["email"], a["date"]) for a in data["acknowledgements"]] == [
        ("1.0.0", "kim@acme.example", "2025-04-20")
    ]
    text = run("-C", str(released), "audit", "ENG-001").stdout
    assert text.startswith("# Audit trail: ENG-001 Deployment Process\n")
    assert "## Version 1.0.0 (2025-04-01)" in text
    assert "- 2026-03-30: v1.0.0 reviewed by Kim Park" in text
    assert "- 2025-04-20: v1.0.0 acknowledged by Kim Park" in text


def test_audit_of_one_version_and_to_a_file(run, released, tmp_path):
    out = tmp_path / "audit.md"
    run("-C", str(released), "audit", "ENG-001", "--version", "1.0.0", "--output", str(out))
    assert "## Version 1.0.0" in out.read_text()
    result = run("-C", str(released), "audit", "ENG-001", "--version", "7.0.0", expect=2)
    assert "has no version 7.0.0" in result.stderr


def test_audit_of_the_example_records_approvals_and_pull_requests(run, example):
    data = json.loads(run("-C", str(example), "audit", "ENG-001", "--format", "json").stdout)
    latest = data["versions"][-1]
    assert latest["version"] == "1.1.0"
    assert latest["pull_requests"] == [1]
    assert [(a["name"], a["role"], a["meaning"]) for a in latest["approvals"]] == [
        ("Ana Ruiz", "peer", "approved")
    ]


def test_ack_dry_run_writes_nothing(run, released, monkeypatch):
    as_person(monkeypatch, released, "Ana Ruiz", "ana@acme.example")
    before = tree_state(released)
    result = run("-C", str(released), "ack", "ENG-001", "--dry-run")
    assert result.stdout.startswith("would record on refs/sopgit/acks, as Ana Ruiz")
    assert "Sopgit-Ack: ENG-001 v1.0.0" in result.stdout
    assert tree_state(released) == before


def test_a_major_version_asks_who_acknowledged_the_last_one_without_an_audience(
    run, released, monkeypatch
):
    """No [training] audience: whoever acknowledged 1.x must acknowledge 2.0.0 again."""
    monkeypatch.setenv("SOPGIT_TODAY", "2025-04-10")
    for name, email in (("Ana Ruiz", "ana@acme.example"), ("Kim Park", "kim@acme.example")):
        as_person(monkeypatch, released, name, email)
        run("-C", str(released), "ack", "ENG-001")
    rows = json.loads(run("-C", str(released), "training", "ENG-001", "--format", "json").stdout)
    assert rows[0]["missing"] == []

    (released / ENG1).write_text(
        (released / ENG1).read_text().replace("## Scope\n", "## Scope\n\nNew.\n")
    )
    git(released, "commit", "-qam", "feat(ENG-001)!: change the scope")
    run("-C", str(released), "release", "--date", "2025-06-01")
    rows = json.loads(run("-C", str(released), "training", "ENG-001", "--format", "json").stdout)
    assert rows[0]["version"] == "2.0.0"
    assert rows[0]["missing"] == ["ana@acme.example", "kim@acme.example"]

    run("-C", str(released), "ack", "ENG-001")  # as Kim, the last one set
    rows = json.loads(run("-C", str(released), "training", "ENG-001", "--format", "json").stdout)
    assert rows[0]["missing"] == ["ana@acme.example"]
    assert [a["email"] for a in rows[0]["acknowledged"]] == ["kim@acme.example"]
