"""status after new commits: the kept rows brought up to date, and only when that gives
exactly what a run without any cache gives; every doubt is a full computation.

Random histories (tests/histories.py: edits of every kind of message, renames, deletes
and re-adds, forks and merges of every kind, cherry-picks, reverts, real and hand-made
releases) grow step by step; after each step, uncommitted edits, moved, deleted or new
tags and recorded reviews, `status --format json` with the kept rows is compared byte
for byte with `--no-cache`. Targeted cases check which runs were brought up to date
and which were computed in full.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import commit_all, git
from histories import CONFIG, Branch, Generator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_attribution import release as real_release
from test_cache import ENG1, edit, full_tag_listings, history_scans, traced

from sopgit.cli.main import cli
from sopgit.core.lifecycle import REVIEW_TRAILER, event_message
from sopgit.repo.status_cache import STATE_FILE_NAME, advanced_from
from sopgit.repo.workspace import open_library

STATE = Path(".git/sopgit") / STATE_FILE_NAME
TODAY = "2026-02-01"


def status_json(root: Path, *options: str) -> str:
    result = CliRunner().invoke(cli, ["-C", str(root), *options, "status", "--format", "json"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.stdout


def warm_and_cold(root: Path) -> tuple[str, str, str | None]:
    """status with the kept rows, status without any cache, and the HEAD the kept rows
    were brought up to date from (None: computed in full)."""
    warm = status_json(root)
    return warm, status_json(root, "--no-cache"), advanced_from(open_library(root))


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


@pytest.fixture(autouse=True)
def _today(monkeypatch):
    monkeypatch.setenv("SOPGIT_TODAY", TODAY)


# --- random histories, step by step ----------------------------------------------------

ADVANCED: list[int] = []  # per history: how many of its runs were brought up to date
EXTRAS = ["none", "worktree", "review", "tag-new", "tag-move", "tag-delete", "lightweight"]


def extra(generator: Generator, root: Path, what: str, pick: int) -> None:
    """Something besides the generator's commits: on main, in its work tree or tags."""
    main = generator.branches["main"]
    live = sorted(main.sops)
    if not live:
        return
    sop_id = live[pick % len(live)]
    tags = sorted(git(root, "tag", "--list").split())
    if what == "worktree":  # uncommitted: an edit, a new file, a removed file
        path = root / main.sops[sop_id]
        kind = pick % 3
        if kind == 0:
            path.write_text(path.read_text(encoding="utf-8").replace("title: ", "title: New "))
        elif kind == 1:
            text = path.read_text(encoding="utf-8").replace(sop_id, "ENG-900")
            (root / "sops/engineering/ENG-900-uncommitted.md").write_text(text)
        else:
            path.unlink()
    elif what == "review":
        message = event_message(REVIEW_TRAILER, sop_id, "1.0.0", dt_date(pick), "looked at it")
        git(root, "commit", "-q", "--allow-empty", "-m", message)
        main.head = head(root)
    elif what == "tag-new":
        git(root, "tag", "-fam", f"{sop_id} v9.{pick}.0", f"{sop_id}/v9.{pick}.0", "HEAD")
    elif what == "tag-move" and tags:
        git(root, "tag", "-fam", "moved", tags[pick % len(tags)], "HEAD")
    elif what == "tag-delete" and tags:
        git(root, "tag", "-d", tags[pick % len(tags)])
    elif what == "lightweight":
        git(root, "tag", "-f", f"{sop_id}/v8.{pick}.0", "HEAD")


def dt_date(pick: int):
    import datetime as dt

    return dt.date(2025, 1 + pick % 12, 1 + pick % 27)


def undo_worktree(root: Path) -> None:
    git(root, "checkout", "-q", "--", ".")
    git(root, "clean", "-qfd", "--", "sops")


@settings(
    max_examples=int(os.environ.get("SOPGIT_INCREMENT_EXAMPLES", "30")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 10_000),
    real=st.booleans(),
    batches=st.lists(
        st.tuples(st.integers(1, 6), st.sampled_from(EXTRAS), st.integers(0, 1000)),
        min_size=2,
        max_size=7,
    ),
)
def test_kept_rows_brought_up_to_date_answer_as_a_cold_run(seed, real, batches):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "lib"
        generator = Generator(root, seed, real_release if real else None)
        generator.branches["main"] = Branch("", {"sopgit.toml": CONFIG}, {})
        generator.add("main")
        generator.flush()
        git(root, "reset", "-q", "--hard", "main")
        advanced = 0
        for steps, what, pick in batches:
            for _ in range(steps):
                generator.step()
            generator.flush()
            git(root, "reset", "-q", "--hard", "main")
            warm, cold, origin = warm_and_cold(root)
            assert warm == cold, (seed, real, batches)
            advanced += origin is not None
            extra(generator, root, what, pick)
            warm, cold, origin = warm_and_cold(root)
            assert warm == cold, (seed, real, batches, what)
            advanced += origin is not None
            if what == "worktree":
                undo_worktree(root)
        ADVANCED.append(advanced)
        shutil.rmtree(root)


def test_the_random_histories_were_brought_up_to_date():
    """Runs after the histories above: most runs were increments, not full computations
    (else the comparison above would prove little)."""
    if not ADVANCED:
        pytest.skip("the random histories did not run")
    assert sum(ADVANCED) >= len(ADVANCED), ADVANCED


# --- which runs are brought up to date -------------------------------------------------


@pytest.fixture
def released(run, library: Path) -> Path:
    run("-C", str(library), "release", "--date", "2025-04-01")
    return library


def kept(run, root: Path) -> str:
    """Run status once (rows kept for HEAD); HEAD."""
    run("-C", str(root), "status", "--format", "json")
    return head(root)


def assert_advanced(root: Path, old: str) -> None:
    warm, cold, origin = warm_and_cold(root)
    assert warm == cold
    assert origin == old


def assert_full(root: Path) -> None:
    warm, cold, origin = warm_and_cold(root)
    assert warm == cold
    assert origin is None


def test_new_commits_are_read_alone_and_only_their_sops_computed_again(
    run, released, monkeypatch, tmp_path
):
    old = kept(run, released)
    edit(released, "feat(ENG-001): add a step")
    edit(released, "fix(ENG-001)!: a new order")
    out, commands = traced(run, released, monkeypatch, tmp_path, "status", "--format", "json")
    assert history_scans(commands) == [history_scans(commands)[0]]
    assert history_scans(commands)[0].endswith(f" ^{old} --")
    listings = full_tag_listings(commands)  # of the 14 SOPs' tags, only ENG-001's is read
    assert len(listings) == 1
    assert listings[0].endswith("' refs/tags/ENG-001/v1.0.0")
    assert not [c for c in commands if c.startswith("cat-file")]
    assert advanced_from(open_library(released)) == old
    assert out == status_json(released, "--no-cache")
    row = next(r for r in json.loads(out) if r["id"] == "ENG-001")
    assert (row["pending"], row["bump"], row["next_version"]) == (2, "major", "2.0.0")


def test_a_merge_of_a_branch_forked_at_the_kept_head_is_an_increment(run, released):
    old = kept(run, released)
    git(released, "checkout", "-q", "-b", "topic")
    edit(released, "feat(ENG-001)!: on a branch", "2025-01-01T09:00:00+00:00")
    git(released, "checkout", "-q", "main")
    edit(released, "fix(ENG-001): on main")
    git(released, "merge", "-q", "--no-ff", "--no-edit", "topic")
    assert_advanced(released, old)


def test_a_merge_of_a_branch_forked_earlier_is_computed_in_full(run, released):
    git(released, "branch", "topic")  # forked before the rows are kept
    edit(released, "fix(ENG-001): on main")
    kept(run, released)
    git(released, "checkout", "-q", "topic")
    edit(released, "feat(ENG-001)!: on the older branch", "2025-01-01T09:00:00+00:00")
    git(released, "checkout", "-q", "main")
    git(released, "merge", "-q", "--no-ff", "--no-edit", "topic")
    assert_full(released)


def test_a_rewritten_history_is_computed_in_full(run, released):
    edit(released, "feat(ENG-001)!: soon dropped")
    kept(run, released)
    git(released, "reset", "-q", "--hard", "HEAD~1")
    edit(released, "fix(ENG-001): instead")
    assert_full(released)


def test_head_moved_back_is_computed_in_full(run, released):
    edit(released, "feat(ENG-001)!: soon left behind")
    kept(run, released)
    git(released, "reset", "-q", "--hard", "HEAD~1")
    assert_full(released)


def test_a_pruned_kept_head_is_computed_in_full(run, released):
    edit(released, "feat(ENG-001)!: soon unreachable")
    kept(run, released)
    git(released, "reset", "-q", "--hard", "HEAD~1")
    git(released, "reflog", "expire", "--expire=now", "--all")
    git(released, "gc", "-q", "--prune=now")
    edit(released, "fix(ENG-001): instead")
    assert_full(released)


@pytest.mark.parametrize(
    "change",
    [
        lambda root: git(root, "tag", "-fam", "moved", "ENG-001/v1.0.0", "HEAD"),
        lambda root: git(root, "tag", "-d", "ENG-001/v1.0.0"),
        lambda root: git(root, "tag", "-fam", "another message", "ENG-001/v1.0.0", "HEAD~1"),
    ],
    ids=["moved", "deleted", "re-made"],
)
def test_a_moved_or_deleted_tag_is_computed_in_full(run, released, change):
    edit(released, "feat(ENG-001): pending")
    kept(run, released)
    change(released)
    assert_full(released)


def test_a_release_is_an_increment(run, released):
    edit(released, "feat(ENG-001): pending")
    edit(released, "fix(ENG-002): pending too")
    old = kept(run, released)
    run("-C", str(released), "release", "--date", "2025-05-01")
    warm, cold, origin = warm_and_cold(released)
    assert (warm, origin) == (cold, old)
    assert '"pending": 1' not in warm


def test_a_new_tag_on_an_older_commit_is_computed_in_full(run, released):
    edit(released, "feat(ENG-001): pending")
    edit(released, "fix(ENG-001): pending too")
    kept(run, released)
    git(released, "tag", "-am", "by hand", "ENG-001/v1.1.0", "HEAD~1")
    assert_full(released)


def test_a_new_tag_released_on_a_side_branch_is_computed_in_full(run, released):
    """Its latest release does not reach the kept HEAD: the commits before it need the
    whole graph to be placed."""
    edit(released, "feat(ENG-001): pending on main")
    old = kept(run, released)
    git(released, "checkout", "-q", "--orphan", "other")
    git(released, "rm", "-rqf", ".")
    (released / "x.txt").write_text("x\n")
    side = commit_all(released, "chore: unrelated history")
    git(released, "checkout", "-q", "main")
    git(released, "merge", "-q", "--no-edit", "--allow-unrelated-histories", "other")
    git(released, "tag", "-am", "by hand", "ENG-001/v1.1.0", side)
    assert_full(released)
    assert old != head(released)


def test_a_lightweight_or_foreign_tag_is_an_increment(run, released):
    old = kept(run, released)
    git(released, "tag", "ENG-001/v3.0.0")  # lightweight: not a release
    git(released, "tag", "-am", "not an SOP", "v1")
    assert_advanced(released, old)


def test_a_review_recorded_is_an_increment(run, released):
    old = kept(run, released)
    run("-C", str(released), "review", "ENG-001", "--done")
    assert_advanced(released, old)


def test_another_branch_or_a_detached_head_is_computed_in_full(run, released):
    kept(run, released)
    git(released, "checkout", "-q", "-b", "draft/x")
    edit(released, "feat(ENG-001): a draft")
    assert_full(released)
    git(released, "checkout", "-q", "--detach")
    assert_full(released)


def test_a_changed_config_is_computed_in_full(run, released):
    edit(released, "feat(ENG-001): pending")
    kept(run, released)
    config = released / "sopgit.toml"
    config.write_text(config.read_text().replace('feat = "minor"', 'feat = "major"'))
    commit_all(released, "chore: feat is major here")
    assert_full(released)


def test_a_renamed_file_is_an_increment_and_keeps_its_history(run, released):
    edit(released, "feat(ENG-001): pending")
    old = kept(run, released)
    git(released, "mv", ENG1, ENG1.replace("deployment-process", "deploying"))
    commit_all(released, "refactor(ENG-001): rename the file")
    assert_advanced(released, old)


def test_a_file_renamed_onto_another_id_is_computed_in_full(run, released):
    """A rename chain that moves an SOP's id: ENG-001's file now carries ENG-099."""
    edit(released, "feat(ENG-001): pending")
    kept(run, released)
    new = ENG1.replace("ENG-001", "ENG-099")
    git(released, "mv", ENG1, new)
    path = released / new
    path.write_text(path.read_text(encoding="utf-8").replace("ENG-001", "ENG-099"))
    commit_all(released, "refactor: ENG-001 becomes ENG-099")
    assert_full(released)


def test_an_id_changed_in_the_work_tree_is_computed_in_full(run, released):
    kept(run, released)
    path = released / ENG1
    path.write_text(path.read_text(encoding="utf-8").replace("sop_id: ENG-001", "sop_id: ENG-098"))
    assert_full(released)


def test_a_new_sop_is_an_increment_a_path_with_a_past_is_not(run, released):
    old = kept(run, released)
    text = (released / ENG1).read_text(encoding="utf-8").replace("ENG-001", "ENG-077")
    (released / ENG1.replace("ENG-001", "ENG-077")).write_text(text)
    commit_all(released, "feat(ENG-077): a new procedure")
    assert_advanced(released, old)
    deleted = (released / ENG1).read_text(encoding="utf-8")
    before = head(released)
    (released / ENG1).unlink()
    commit_all(released, "docs(ENG-001): withdrawn")
    assert_advanced(released, before)  # no two SOPs' names ever met: ENG-001 just goes
    (released / ENG1).write_text(deleted)  # back at the path it had: its history counts
    commit_all(released, "fix(ENG-001): restored")
    assert_full(released)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-3],
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),
        lambda data: b"",
        lambda data: b"sopgit-cache\n" + bytes(32),
    ],
    ids=["truncated", "corrupt", "empty", "foreign"],
)
def test_a_damaged_state_is_computed_in_full(run, released, damage):
    kept(run, released)
    edit(released, "feat(ENG-001): pending")
    (released / STATE).write_bytes(damage((released / STATE).read_bytes()))
    assert_full(released)


def test_a_state_of_another_repository_is_not_trusted(run, released, tmp_path):
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(released), str(clone))
    edit(clone, "feat(ENG-001)!: only in the clone")
    kept(run, clone)
    edit(clone, "fix(ENG-001): again only in the clone")
    kept(run, released)
    shutil.copy(clone / STATE, released / STATE)
    edit(released, "fix(ENG-002): here")
    warm, cold, _origin = warm_and_cold(released)
    assert warm == cold


def test_a_branch_forked_earlier_can_change_what_older_commits_count_for(run, library):
    """Why a merge of a branch forked before the kept HEAD is computed in full: walking
    back along that branch, ENG-001's file is found under the name it has now, which an
    older, deleted file had, so the full computation counts that file's commits too."""
    eng1, older = library / ENG1, library / "sops/engineering/m-old.md"
    older.write_text(eng1.read_text(encoding="utf-8").replace("ENG-001", "ENG-050"))
    commit_all(library, "feat(ENG-050): a procedure soon withdrawn")
    older.write_text(older.read_text(encoding="utf-8") + "\n- edited\n")
    commit_all(library, "feat(ENG-050)!: changed, then withdrawn")
    older.unlink()
    commit_all(library, "docs(ENG-050): withdrawn")
    git(library, "branch", "side")  # forked here
    git(library, "mv", ENG1, "sops/engineering/m-old.md")  # ENG-001 takes the old name
    commit_all(library, "refactor(ENG-001): move the file")
    old = kept(run, library)
    git(library, "checkout", "-q", "side")
    git(library, "mv", ENG1, "sops/engineering/q.md")
    (library / "sops/engineering/q.md").write_text(
        "---\ntitle: Deployment\nsop_id: ENG-001\n---\n\n# Deployment\n\nAll new.\n"
    )
    commit_all(library, "fix(ENG-001): rewritten on a branch")
    git(library, "checkout", "-q", "main")
    git(library, "merge", "-q", "--no-edit", "-s", "ours", "side")
    warm, cold, origin = warm_and_cold(library)
    assert (warm, origin) == (cold, None)
    row = next(r for r in json.loads(cold) if r["id"] == "ENG-001")
    assert (row["pending"], old != head(library)) == (5, True)
