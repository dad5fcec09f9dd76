"""The command functions of sopgit/commands/, called directly: plain arguments in, a
result object out, on real repositories with fixed dates (no command line involved)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import git, tree_state

from sopgit.commands.approvals import write_codeowners
from sopgit.commands.export import diff_versions, export_copy, verify_copy_file
from sopgit.commands.history import sop_history
from sopgit.commands.lifecycle import (
    acknowledge,
    audit_trail,
    due_reviews,
    push_acknowledgements,
    record_review,
    training_report,
)
from sopgit.commands.release import ReleaseOptions, run_release
from sopgit.commands.retire import run_retire
from sopgit.core.lifecycle import ACKS_REF
from sopgit.errors import UsageError
from sopgit.repo.snapshot import load_snapshot
from sopgit.repo.workspace import Library, open_sop_library

RELEASED_ON = dt.date(2025, 4, 1)


@pytest.fixture
def released(library: Path) -> Library:
    """The library with every SOP released as 1.0.0 on 2025-04-01, by run_release."""
    result = run_release(library, ReleaseOptions(date=RELEASED_ON))
    assert result.plan is not None
    assert len(result.plan.tags) == 14
    return open_sop_library(library)


def ack_log(root: Path) -> list[str]:
    """The subjects on the acknowledgements ref, newest first."""
    return git(root, "log", "--format=%s", ACKS_REF).splitlines()


def test_acknowledge_appends_to_the_acks_ref_once(released: Library):
    root = released.root
    head = git(root, "rev-parse", "HEAD")

    done = acknowledge(released, "eng-001", dt.date(2025, 4, 2))

    assert (done.sop_id, done.version, done.name, done.email) == (
        "ENG-001",
        "1.0.0",
        "Ana Ruiz",
        "ana@acme.example",
    )
    assert done.recorded
    assert done.already is None
    assert done.catchups == ()
    assert done.message == (
        "chore(ENG-001): acknowledge v1.0.0\n\nSopgit-Ack: ENG-001 v1.0.0\nDate: 2025-04-02\n"
    )
    assert ack_log(root) == ["chore(ENG-001): acknowledge v1.0.0"]
    body = git(root, "log", "-1", "--format=%B", ACKS_REF)
    assert "Sopgit-Ack: ENG-001 v1.0.0\nDate: 2025-04-02" in body
    assert git(root, "rev-parse", "HEAD") == head  # on no branch

    again = acknowledge(released, "ENG-001", dt.date(2025, 4, 9))
    assert not again.recorded
    assert again.already == "2025-04-02"
    assert again.message == ""
    assert ack_log(root) == ["chore(ENG-001): acknowledge v1.0.0"]


def test_acknowledge_dry_run_and_refusals_write_nothing(released: Library):
    before = tree_state(released.root)
    done = acknowledge(released, "ENG-002", dt.date(2025, 4, 2), dry_run=True)
    assert not done.recorded
    assert "Sopgit-Ack: ENG-002 v1.0.0" in done.message
    with pytest.raises(UsageError, match="has no version 9.9.9; released versions: 1.0.0"):
        acknowledge(released, "ENG-002", dt.date(2025, 4, 2), version="9.9.9")
    assert tree_state(released.root) == before


def test_push_acknowledgements_sends_the_ref(released: Library, tmp_path: Path):
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(released.root, "remote", "add", "origin", str(remote))
    acknowledge(released, "ENG-001", dt.date(2025, 4, 2))

    assert push_acknowledgements(released) == "origin"
    assert git(remote, "rev-parse", ACKS_REF) == git(released.root, "rev-parse", ACKS_REF)


def test_training_report_rows_and_the_git_users_catchups(released: Library):
    acknowledge(released, "ENG-001", dt.date(2025, 4, 2))
    report = training_report(released, ("ENG-001", "ENG-002"))
    assert [r.sop_id for r in report.rows] == ["ENG-001", "ENG-002"]
    eng1, eng2 = report.rows
    assert [e.email for e in eng1.acknowledged] == ["ana@acme.example"]
    assert eng2.acknowledged == ()
    assert report.changes == {"ENG-001": (), "ENG-002": ()}
    assert report.me is not None
    assert report.me.email == "ana@acme.example"
    assert report.mine() == []


def test_due_reviews_on_a_given_day_and_recording_one(released: Library):
    snapshot = load_snapshot(released)
    assert due_reviews(snapshot, 30, dt.date(2025, 4, 2)) == []  # due 2026-04-01

    rows = due_reviews(snapshot, 30, dt.date(2026, 4, 3))
    assert len(rows) == 14
    first = rows[0]
    assert (first.review_due, first.days_left, first.overdue, first.last_review) == (
        "2026-04-01",
        -2,
        True,
        None,
    )
    assert [r.sop_id for r in rows] == sorted(r.sop_id for r in rows)
    assert list(first.as_dict()) == [
        "id",
        "title",
        "path",
        "version",
        "last_review",
        "review_due",
        "days_left",
        "overdue",
    ]

    planned = record_review(snapshot, "ENG-001", "still right", dt.date(2026, 3, 20), dry_run=True)
    assert planned.commit is None
    assert "Sopgit-Review: ENG-001 v1.0.0" in planned.message
    head = git(released.root, "rev-parse", "HEAD").strip()

    done = record_review(snapshot, "ENG-001", "still right", dt.date(2026, 3, 20))
    assert done.commit is not None
    assert done.commit != head
    assert (done.sop_id, done.version, done.interval_days) == ("ENG-001", "1.0.0", 365)
    assert git(released.root, "log", "-1", "--format=%B").strip() == done.message.strip()
    after = due_reviews(load_snapshot(released), 30, dt.date(2026, 4, 3))
    assert "ENG-001" not in {r.sop_id for r in after}
    assert len(after) == 13


def test_audit_trail_is_the_model_of_one_sop(released: Library):
    trail = audit_trail(released, "eng-001")
    assert trail.sop_id == "ENG-001"
    assert trail.data["id"] == "ENG-001"
    with pytest.raises(UsageError, match="ENG-001 has no version 2.0.0"):
        audit_trail(released, "ENG-001", "2.0.0")


def test_run_retire_dry_run_computes_the_commit_and_writes_nothing(released: Library):
    before = tree_state(released.root)
    planned = run_retire(
        released, "ENG-001", "replaced", successor="ENG-002", date=RELEASED_ON, dry_run=True
    )
    assert planned.plan is None
    assert planned.sop_id == "ENG-001"
    assert "Superseded-By: ENG-002" in planned.message
    assert "status: retired" in planned.text
    assert tree_state(released.root) == before


def test_write_codeowners_creates_then_leaves_it(released: Library):
    path = released.root / ".github" / "CODEOWNERS"
    path.unlink(missing_ok=True)
    planned = write_codeowners(released, dry_run=True)
    assert (planned.action, planned.path) == ("created", ".github/CODEOWNERS")
    assert not path.exists()

    done = write_codeowners(released)
    assert done.action == "created"
    assert path.read_text() == done.text == planned.text
    assert write_codeowners(released).action == "unchanged"
    path.write_text("* @someone\n")
    assert write_codeowners(released).action == "skipped"
    assert path.read_text() == "* @someone\n"


def test_history_export_verify_and_diff_of_the_example(example: Path, tmp_path: Path):
    lib = open_sop_library(example)
    found = sop_history(lib, "eng-001")
    assert found.sop.sop_id == "ENG-001"
    assert [r.version for r in found.rows] == [str(v) for v, _ in reversed(found.version.releases)]
    current = str(found.version.releases[0][0])
    previous = str(found.version.releases[1][0])

    out = tmp_path / "copies"
    out.mkdir()
    copy = export_copy(example, "ENG-001", output=out)
    assert copy.path == out / f"ENG-001-v{current}.html"
    assert (copy.sop_id, copy.version) == ("ENG-001", current)
    assert verify_copy_file(example, copy.path, "current").ok

    line = diff_versions(load_snapshot(lib), "ENG-001")
    assert (line.old_label, line.new_label) == (f"ENG-001 v{previous}", f"ENG-001 v{current}")
