"""The history cache in .git/sopgit/: read when nothing changed, topped up after new
commits, rebuilt when it cannot be trusted, and never the reason for a different answer."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import commit_all, git

ENG1 = "sops/engineering/ENG-001-deployment-process.md"
CACHE = Path(".git/sopgit/cache-v1.bin")
ROWS = Path(".git/sopgit/status-v2.bin")  # status's kept rows
STATE = Path(".git/sopgit/status-state-v2.bin")  # and what a later status starts from


def traced(run, root: Path, monkeypatch, tmp_path: Path, *args: str) -> tuple[str, list[str]]:
    """stdout of `sopgit ARGS`, and the git commands it ran (from GIT_TRACE)."""
    trace = tmp_path / "trace"
    trace.unlink(missing_ok=True)
    monkeypatch.setenv("GIT_TRACE", str(trace))
    try:
        out = run("-C", str(root), *args).stdout
    finally:
        monkeypatch.delenv("GIT_TRACE")
    lines = trace.read_text(encoding="utf-8").splitlines() if trace.exists() else []
    commands = [m.group(1) for m in (re.search(r"trace: built-in: git (.*)$", x) for x in lines)]
    return out, [c for c in commands if c]


def history_scans(commands: list[str]) -> list[str]:
    return [c for c in commands if c.startswith("log -z -m ")]


def status(run, root: Path, *options: str) -> list[dict]:
    return json.loads(run("-C", str(root), *options, "status", "--format", "json").stdout)


def edit(root: Path, message: str, date: str = "2025-05-01T09:00:00+00:00") -> str:
    path = root / ENG1
    path.write_text(path.read_text(encoding="utf-8") + "\n- One more step.\n", encoding="utf-8")
    return commit_all(root, message, date)


@pytest.fixture
def released(run, library: Path, monkeypatch) -> Path:
    monkeypatch.setenv("SOPGIT_TODAY", "2025-04-01")
    run("-C", str(library), "release", "--date", "2025-04-01")
    return library


def test_an_unchanged_repository_is_answered_from_the_cache(run, released, monkeypatch, tmp_path):
    (released / CACHE).unlink()  # release left one, of the commit before its own
    cold, commands = traced(run, released, monkeypatch, tmp_path, "status", "--format", "json")
    assert len(history_scans(commands)) == 1
    assert (released / CACHE).is_file()
    warm, commands = traced(run, released, monkeypatch, tmp_path, "status", "--format", "json")
    assert history_scans(commands) == []  # HEAD is where it was: no git log at all
    assert warm == cold
    assert sorted(p.name for p in (released / CACHE).parent.iterdir()) == sorted(
        [CACHE.name, ROWS.name, STATE.name]
    )


def test_after_new_commits_only_they_are_scanned(run, released, monkeypatch, tmp_path):
    status(run, released)
    old = git(released, "rev-parse", "HEAD").strip()
    new = edit(released, "feat(ENG-001): add a step")
    warm, commands = traced(run, released, monkeypatch, tmp_path, "status", "--format", "json")
    scans = history_scans(commands)
    assert len(scans) == 1
    assert scans[0].endswith(f" {new} ^{old} --")
    assert json.loads(warm) == status(run, released, "--no-cache")
    row = next(r for r in json.loads(warm) if r["id"] == "ENG-001")
    assert (row["pending"], row["next_version"]) == (1, "1.1.0")


def test_a_merge_brings_in_its_branch_and_the_answer_is_the_cold_one(run, released, tmp_path):
    status(run, released)
    git(released, "checkout", "-q", "-b", "topic")
    edit(released, "feat(ENG-001)!: a new order", "2025-01-01T09:00:00+00:00")  # dated earlier
    git(released, "checkout", "-q", "main")
    git(released, "merge", "-q", "--no-ff", "--no-edit", "topic")
    warm = status(run, released)
    assert warm == status(run, released, "--no-cache")
    assert next(r for r in warm if r["id"] == "ENG-001")["next_version"] == "2.0.0"


def test_rewritten_history_leaves_no_stale_commit(run, released, monkeypatch, tmp_path):
    edit(released, "feat(ENG-001)!: a change that will be dropped")
    assert next(r for r in status(run, released) if r["id"] == "ENG-001")["bump"] == "major"
    git(released, "reset", "-q", "--hard", "HEAD~1")
    edit(released, "fix(ENG-001): the change made again, smaller")
    warm = status(run, released)
    assert warm == status(run, released, "--no-cache")
    row = next(r for r in warm if r["id"] == "ENG-001")
    assert (row["bump"], row["pending"]) == ("patch", 1)


def test_a_pruned_old_head_means_a_full_scan(run, released, monkeypatch, tmp_path):
    edit(released, "feat(ENG-001)!: soon unreachable")
    (released / CACHE).unlink()  # so that the cache is written for the commit to be pruned
    status(run, released)
    git(released, "reset", "-q", "--hard", "HEAD~1")
    git(released, "reflog", "expire", "--expire=now", "--all")
    git(released, "gc", "-q", "--prune=now")
    edit(released, "fix(ENG-001): instead")
    warm, commands = traced(run, released, monkeypatch, tmp_path, "status", "--format", "json")
    # HEAD ^OLD fails, OLD being gone: for status's kept rows, then for the history
    # cache; then all of it is read.
    assert len(history_scans(commands)) == 3
    assert json.loads(warm) == status(run, released, "--no-cache")


def test_a_few_new_commits_are_scanned_again_rather_than_written(
    run, released, monkeypatch, tmp_path
):
    """The cache is written again only when a scan brings many new commits (or drops
    some): after a few, the next run scans them again from the same kept HEAD."""
    (released / CACHE).unlink()
    status(run, released)  # the whole history, kept
    kept = (released / CACHE).read_bytes()
    old = git(released, "rev-parse", "HEAD").strip()
    edit(released, "fix(ENG-001): one")
    new = edit(released, "fix(ENG-001): two", "2025-05-02T09:00:00+00:00")
    for _ in range(2):
        _, commands = traced(run, released, monkeypatch, tmp_path, "changelog", "--dry-run")
        scans = history_scans(commands)
        assert [s.split(" --end-of-options ")[1] for s in scans] == [f"{new} ^{old} --"]
    assert (released / CACHE).read_bytes() == kept


def test_moved_and_deleted_tags_are_seen_at_once(run, released):
    status(run, released)
    edit(released, "feat(ENG-001): after the release")
    assert next(r for r in status(run, released) if r["id"] == "ENG-001")["pending"] == 1
    git(released, "tag", "-f", "-a", "-m", "moved", "ENG-001/v1.0.0", "HEAD")  # moved
    moved = status(run, released)
    assert moved == status(run, released, "--no-cache")
    assert next(r for r in moved if r["id"] == "ENG-001")["pending"] == 0
    git(released, "tag", "-d", "ENG-001/v1.0.0")
    deleted = status(run, released)
    assert deleted == status(run, released, "--no-cache")
    assert next(r for r in deleted if r["id"] == "ENG-001")["version"] is None


def test_a_changed_config_rebuilds_the_cache(run, released, monkeypatch, tmp_path):
    edit(released, "feat(ENG-001): a feature")
    status(run, released)
    config = released / "sopgit.toml"
    config.write_text(config.read_text().replace('feat = "minor"', 'feat = "major"'))
    commit_all(released, "chore: features are major now")  # HEAD moves too, but:
    warm, commands = traced(run, released, monkeypatch, tmp_path, "status", "--format", "json")
    scans = history_scans(commands)
    assert len(scans) == 1
    assert "^" not in scans[0]
    assert json.loads(warm) == status(run, released, "--no-cache")
    assert next(r for r in json.loads(warm) if r["id"] == "ENG-001")["bump"] == "major"


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: data[:-10] + bytes(b ^ 0xFF for b in data[-10:]),  # bytes changed
        lambda data: b"",  # empty
        lambda data: b"not a cache at all\n" * 3,
    ],
    ids=["truncated", "corrupt", "empty", "foreign"],
)
def test_a_damaged_cache_is_rebuilt(run, released, monkeypatch, tmp_path, damage):
    before = status(run, released)
    path = released / CACHE
    path.write_bytes(damage(path.read_bytes()))
    (released / ROWS).unlink()  # else status answers from its kept rows, never reading CACHE
    (released / STATE).unlink()
    warm, commands = traced(run, released, monkeypatch, tmp_path, "status", "--format", "json")
    assert len(history_scans(commands)) == 1
    assert json.loads(warm) == before
    _, commands = traced(run, released, monkeypatch, tmp_path, "status", "--format", "json")
    assert history_scans(commands) == []  # rebuilt whole


def test_a_cache_of_another_repository_state_is_not_trusted(run, released, tmp_path):
    """A cache copied in from a clone that is ahead: its head is unknown here."""
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(released), str(clone))
    edit(clone, "feat(ENG-001)!: only in the clone")
    status(run, clone)
    (released / CACHE).parent.mkdir(parents=True, exist_ok=True)
    (released / CACHE).write_bytes((clone / CACHE).read_bytes())
    assert status(run, released) == status(run, released, "--no-cache")
    assert next(r for r in status(run, released) if r["id"] == "ENG-001")["pending"] == 0


def test_no_cache_reads_and_writes_nothing(run, released, monkeypatch, tmp_path):
    (released / CACHE).unlink()  # the release's
    status(run, released, "--no-cache")
    assert not (released / CACHE).exists()
    status(run, released)
    stamp = (released / CACHE).stat().st_mtime_ns
    edit(released, "fix(ENG-001): typo")
    _, commands = traced(run, released, monkeypatch, tmp_path, "--no-cache", "status")
    assert len(history_scans(commands)) == 1
    assert "^" not in history_scans(commands)[0]
    assert (released / CACHE).stat().st_mtime_ns == stamp


def test_a_killed_writers_temporary_file_is_removed_and_a_live_ones_kept(run, released):
    """A writer killed between creating its temporary file and renaming it leaves the file;
    the next run removes it, but never the file of a writer that is still running."""
    import os
    import subprocess
    import sys

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    folder = released / CACHE.parent
    orphan = folder / f".cache-{gone.stdout.strip()}-abc123"
    in_progress = folder / f".cache-{os.getpid()}-def456"
    orphan.write_bytes(b"half a cache")
    in_progress.write_bytes(b"being written")
    status(run, released)
    assert not orphan.exists()
    assert in_progress.read_bytes() == b"being written"


# --- status's kept rows: read when nothing they depend on changed -------------------------


def full_tag_listings(commands: list[str]) -> list[str]:
    return [c for c in commands if c.startswith("for-each-ref") and "%(contents)" in c]


def test_unchanged_status_reads_no_history_and_no_tag_contents(
    run, released, monkeypatch, tmp_path
):
    cold, _ = traced(run, released, monkeypatch, tmp_path, "status", "--format", "json")
    warm, commands = traced(run, released, monkeypatch, tmp_path, "status", "--format", "json")
    assert warm == cold
    assert history_scans(commands) == []
    assert full_tag_listings(commands) == []
    assert not [c for c in commands if c.startswith(("log", "cat-file", "rev-list"))]


def retitle(root: Path) -> None:
    path = root / ENG1
    path.write_text(path.read_text(encoding="utf-8").replace("title: ", "title: New "))


def add_sop(root: Path) -> None:
    text = (root / ENG1).read_text(encoding="utf-8")
    (root / ENG1.replace("ENG-001", "ENG-077")).write_text(text.replace("ENG-001", "ENG-077"))


def change_config(root: Path) -> None:
    config = root / "sopgit.toml"
    config.write_text(config.read_text().replace('feat = "minor"', 'feat = "major"'))


CHANGES = {
    "file edited, not committed": retitle,
    "file added, not committed": add_sop,
    "file removed": lambda root: (root / ENG1).unlink(),
    "commit": lambda root: edit(root, "feat(ENG-001): one more step"),
    "tag moved": lambda root: git(root, "tag", "-fam", "moved", "ENG-001/v1.0.0", "HEAD~1"),
    "tag deleted": lambda root: git(root, "tag", "-d", "ENG-001/v1.0.0"),
    "tag message": lambda root: git(root, "tag", "-fam", "other", "ENG-001/v1.0.0"),
    "other branch": lambda root: git(root, "checkout", "-q", "-b", "draft/ENG-001-x"),
    "detached HEAD": lambda root: git(root, "checkout", "-q", "--detach"),
    "config edited, not committed": change_config,
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_status_rows_are_kept_only_for_what_they_were_computed_from(run, released, change):
    edit(released, "feat(ENG-001): pending before the change")
    status(run, released)
    before = (released / ROWS).read_bytes()
    change(released)
    warm = status(run, released)
    assert warm == status(run, released, "--no-cache")
    assert (released / ROWS).read_bytes() != before  # the rows were computed afresh


def test_a_change_and_its_undoing_give_each_state_its_own_answer(run, released):
    """Kept rows of an earlier state are found again only for that same state."""
    status(run, released)
    original = (released / ENG1).read_text(encoding="utf-8")
    retitle(released)
    changed = status(run, released)
    (released / ENG1).write_text(original)
    assert status(run, released) == status(run, released, "--no-cache")
    assert status(run, released) != changed


def test_whether_a_review_is_due_is_decided_on_the_day(run, released, monkeypatch):
    rows = status(run, released)
    due = next(r for r in rows if r["id"] == "ENG-001")["review_due"]
    assert next(r for r in rows if r["id"] == "ENG-001")["state"] == "effective"
    monkeypatch.setenv("SOPGIT_TODAY", due)  # the same kept rows, another day
    row = next(r for r in status(run, released) if r["id"] == "ENG-001")
    assert row["state"] == "review-due"
    assert status(run, released) == status(run, released, "--no-cache")


@pytest.mark.parametrize(
    "damage",
    [lambda data: data[:-3], lambda data: data[:-1] + bytes([data[-1] ^ 1]), lambda data: b""],
    ids=["truncated", "corrupt", "empty"],
)
def test_damaged_status_rows_are_computed_afresh(run, released, monkeypatch, tmp_path, damage):
    retitle(released)
    before = status(run, released)
    (released / ROWS).write_bytes(damage((released / ROWS).read_bytes()))
    warm, commands = traced(run, released, monkeypatch, tmp_path, "status", "--format", "json")
    assert json.loads(warm) == before  # from the rows kept with the state, nothing new
    assert full_tag_listings(commands) == []
    for kept in (ROWS, STATE):
        (released / kept).write_bytes(damage((released / kept).read_bytes()))
    warm, commands = traced(run, released, monkeypatch, tmp_path, "status", "--format", "json")
    assert json.loads(warm) == before
    assert len(full_tag_listings(commands)) == 1


def test_rows_of_another_repository_are_not_trusted(run, released, tmp_path):
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(released), str(clone))
    edit(clone, "feat(ENG-001)!: only in the clone")
    status(run, clone)
    (released / ROWS).parent.mkdir(parents=True, exist_ok=True)
    (released / ROWS).write_bytes((clone / ROWS).read_bytes())
    row = next(r for r in status(run, released) if r["id"] == "ENG-001")
    assert row["pending"] == 0


def test_a_cold_status_starts_its_scan_before_anything_else(run, released, monkeypatch, tmp_path):
    """Where sopgit keeps nothing yet, status starts git log first (after the rev-parse
    that finds the repository and HEAD), takes it over as its one history scan, and
    answers as --no-cache does; where it keeps files, nothing is started early."""
    shutil.rmtree(released / ".git" / "sopgit")
    out, commands = traced(run, released, monkeypatch, tmp_path, "status", "--format", "json")
    assert commands[0].startswith("rev-parse --show-toplevel --absolute-git-dir")
    assert commands[1].startswith("log -z -m ")
    assert len(history_scans(commands)) == 1
    assert json.loads(out) == status(run, released, "--no-cache")
    edit(released, "fix(ENG-001): one more step")
    _, commands = traced(run, released, monkeypatch, tmp_path, "status", "--format", "json")
    [scan] = history_scans(commands)
    assert " ^" in scan  # only what is new since the kept HEAD
    assert not any(c.startswith("rev-parse --show-toplevel") for c in commands)
