"""Faults part-way through a release: a full disk, and SIGKILL at every step.

Every outcome must be the repository untouched, or the release complete once one
plain sopgit command has run after the kill; never anything in between.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import FIXED_ENV, commit_all, git, tree_state

from sopgit.repo.transaction import FAULT_ENV, STEPS

SOPGIT = Path(sys.executable).parent / "sopgit"


def limit_file_size(size: int):
    def apply() -> None:
        # Writing past SIZE bytes then fails with EFBIG ("File too large"), as a full
        # disk fails with ENOSPC, instead of killing the process.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return apply


def test_a_release_that_cannot_write_its_files_changes_nothing(library: Path):
    sizes = sorted(p.stat().st_size for p in (library / "sops").rglob("*.md"))
    # Small SOPs still fit, the large ones cannot be written: the failure comes part-way.
    limit = (sizes[0] + sizes[-1]) // 2
    before = tree_state(library)
    done = subprocess.run(
        [SOPGIT, "-C", str(library), "release", "--date", "2025-04-01"],
        capture_output=True,
        text=True,
        preexec_fn=limit_file_size(limit),
        env={**os.environ, "TMPDIR": str(library.parent)},
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("sopgit: ")
    # git writes the new files' contents first, and is stopped by the limit.
    assert "cannot write the release's git objects (" in done.stderr
    assert "File size limit exceeded" in done.stderr
    assert "nothing was released" in done.stderr
    assert "Traceback" not in done.stderr
    assert tree_state(library) == before
    assert not list(library.rglob("*.sopgit-*"))
    # And with room again, the same release goes through.
    ok = subprocess.run(
        [SOPGIT, "-C", str(library), "release", "--date", "2025-04-01"],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr


# --- killed releases: untouched, or fully released after one plain rerun ------------

DATE = "2025-04-01"
UNTOUCHED, RELEASED = "untouched", "released"


def sopgit_run(root: Path, *args: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [SOPGIT, "-C", str(root), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def leftovers(root: Path) -> list[str]:
    """Files sopgit keeps while it works: none may outlive a command that completed (the
    history cache, cache-v1.bin, and status's rows, status-v2.bin and
    status-state-v2.bin, are kept on purpose;
    their temporary files are not)."""
    folder = root / ".git" / "sopgit"
    kept = ("cache-v1.bin", "status-v2.bin", "status-state-v2.bin")
    found = [p.name for p in folder.iterdir() if p.name not in kept] if folder.exists() else []
    found += [str(p) for p in (root / ".git").glob("*.lock")]
    found += [str(p) for p in (root / ".git" / "refs").rglob("*.lock")]
    return found + [p.name for p in root.rglob("*.sopgit-*")]


def outcome(root: Path, before: dict, released: dict) -> str:
    """UNTOUCHED or RELEASED; anything in between fails the test, saying what differs."""
    assert git(root, "status", "--porcelain") == ""
    assert leftovers(root) == []
    state = tree_state(root)
    if state == before:
        assert git(root, "tag", "--list") == ""
        return UNTOUCHED
    for key in ("refs", "head", "index", "files"):
        assert state[key] == released[key], f"neither untouched nor released: {key} differ"
    return RELEASED


@pytest.fixture(scope="module", autouse=True)
def _module_git_env(tmp_path_factory: pytest.TempPathFactory):
    """conftest's fixed identity and dates, for the module-wide repositories too."""
    home = tmp_path_factory.mktemp("home")
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Ana Ruiz\n\temail = ana@acme.example\n"
        "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
        for key, value in FIXED_ENV.items():
            patch.setenv(key, value)
        yield


@pytest.fixture(scope="module")
def drafts(tmp_path_factory: pytest.TempPathFactory, _module_git_env: None) -> Path:
    """The 14 example SOPs as unreleased drafts in one commit (as conftest's `library`)."""
    from sopgit.commands.scaffold import example_sops

    root = tmp_path_factory.mktemp("drafts") / "lib"
    done = subprocess.run([SOPGIT, "init", str(root)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for relative, text in example_sops().items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, encoding="utf-8")
    for keep in root.glob("sops/*/.gitkeep"):
        keep.unlink()
    commit_all(root, "chore: start the library")
    return root


@pytest.fixture(scope="module")
def reference(drafts: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The state a release that nobody interrupted leaves (fixed dates: same ids)."""
    root = tmp_path_factory.mktemp("reference") / "lib"
    shutil.copytree(drafts, root, symlinks=True)
    done = sopgit_run(root, "release", "--date", DATE)
    assert done.returncode == 0, done.stderr
    assert len(git(root, "tag", "--list").split()) == 14
    return tree_state(root)


def assert_second_release_behaves(root: Path, result: str, released: dict) -> None:
    again = sopgit_run(root, "release", "--date", DATE)
    if result == UNTOUCHED:
        assert again.returncode == 0, again.stderr
        assert tree_state(root) == released  # the very release, to the object ids
    else:
        assert again.returncode == 0
        assert again.stdout == ""
        assert again.stderr == "nothing to release: no SOP has changes since its last release\n"
    assert leftovers(root) == []


@pytest.mark.parametrize("step", STEPS)
def test_a_release_killed_after_any_step_is_undone_or_finished_by_the_next_command(
    step: str, drafts: Path, reference: dict, tmp_path: Path
):
    root = tmp_path / "lib"
    shutil.copytree(drafts, root, symlinks=True)
    before = tree_state(root)

    killed = sopgit_run(root, "release", "--date", DATE, env={FAULT_ENV: step})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    rerun = sopgit_run(root, "status")

    assert rerun.returncode == 0, rerun.stderr
    notes = rerun.stderr.splitlines()
    result = outcome(root, before, reference)
    made = STEPS.index(step) >= STEPS.index("refs")
    assert result == (RELEASED if made else UNTOUCHED)
    assert len(notes) == 1, notes
    if step == "journal":
        assert notes[0].startswith("sopgit: undid an interrupted release that had not been made")
    elif step in ("refs", "files", "index"):
        assert notes[0].startswith("sopgit: finished an interrupted release: main is at ")
        assert "14 new tag(s)" in notes[0]
    else:
        assert notes[0].startswith("sopgit: took over the release lock of pid ")
        assert "no release was left half-made" in notes[0]
    assert sopgit_run(root, "status").stderr == ""  # once only
    assert_second_release_behaves(root, result, reference)


def kill_loop(drafts: Path, reference: dict, work: Path, runs: int, seed: int) -> Counter:
    """Kill real releases (sopgit and its git children) after a seeded random delay."""
    rng = random.Random(seed)
    clean = work / "clean"
    shutil.copytree(drafts, clean, symlinks=True)
    before = tree_state(clean)
    started = time.monotonic()  # only to spread the kills over a release's life
    assert sopgit_run(clean, "release", "--date", DATE).returncode == 0
    span = (time.monotonic() - started) * 1.2
    counts: Counter = Counter()
    for number in range(runs):
        root = work / f"run{number}"
        shutil.copytree(drafts, root, symlinks=True)
        process = subprocess.Popen(
            [SOPGIT, "-C", str(root), "release", "--date", DATE],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(rng.uniform(0, span))
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        code = process.wait()
        rerun = sopgit_run(root, "status")
        assert rerun.returncode == 0, rerun.stderr
        assert len(rerun.stderr.splitlines()) <= 1, rerun.stderr
        result = outcome(root, before, reference)
        note = rerun.stderr.split(":", 2)[1].split()[0] if rerun.stderr else "no note"
        counts[("killed" if code == -signal.SIGKILL else "completed", result, note)] += 1
        assert_second_release_behaves(root, result, reference)
        shutil.rmtree(root)
    return counts


def test_releases_killed_at_random_moments_are_untouched_or_released(
    drafts: Path, reference: dict, tmp_path: Path
):
    runs = int(os.environ.get("SOPGIT_KILL_RUNS", "30"))
    counts = kill_loop(drafts, reference, tmp_path, runs, seed=20261204)
    assert sum(counts.values()) == runs
    report = os.environ.get("SOPGIT_KILL_REPORT")
    if report:
        rows = [{"exit": k[0], "outcome": k[1], "note": k[2], "runs": n} for k, n in counts.items()]
        Path(report).write_text(json.dumps(sorted(rows, key=str), indent=2) + "\n")


def test_a_release_killed_inside_gits_ref_transaction_leaves_no_lock_behind(
    drafts: Path, reference: dict, tmp_path: Path
):
    """A kill inside `update-ref --stdin` before its commit leaves git's lock files on
    HEAD and the refs (as the random kills found); the next command removes them."""
    root = tmp_path / "lib"
    shutil.copytree(drafts, root, symlinks=True)
    before = tree_state(root)
    killed = sopgit_run(root, "release", "--date", DATE, env={FAULT_ENV: "journal"})
    assert killed.returncode == -signal.SIGKILL
    for lock in (".git/HEAD.lock", ".git/refs/heads/main.lock"):
        (root / lock).write_text("")
    (root / ".git/refs/tags/ENG-001").mkdir(parents=True)
    (root / ".git/refs/tags/ENG-001/v1.0.0.lock").write_text("")

    rerun = sopgit_run(root, "status")

    assert rerun.stderr.startswith("sopgit: undid an interrupted release")
    assert outcome(root, before, reference) == UNTOUCHED
    assert_second_release_behaves(root, UNTOUCHED, reference)
