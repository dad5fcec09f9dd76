"""`release --push` when another push reaches the remote first: the release is taken
back, computed again on the remote's new head and pushed, at most three times.

The race is real git: the releasing clone's reference-transaction hook, as sopgit
moves the branch and creates the tags, has another clone push a commit to the bare
remote, so the push that follows is refused as git refuses it in a real race.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from conftest import commit_all, git, tree_state

ENG_001 = "sops/engineering/ENG-001-deployment-process.md"
ENG_002 = "sops/engineering/ENG-002-code-review-standards.md"

# On a transaction that moves main and creates tags (a release; not a fetch, not the
# taking back), the other clone pushes one more commit, while races are left.
RACE_HOOK = r"""#!/bin/sh
[ "$1" = committed ] || exit 0
input=$(cat)
echo "$input" | grep -q ' refs/heads/main$' || exit 0
echo "$input" | grep -q '^0\{{40\}} [0-9a-f]\{{40\}} refs/tags/' || exit 0
left=$(cat "{races}")
[ "$left" -gt 0 ] || exit 0
echo $((left - 1)) > "{races}"
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_PREFIX
cd "{other}" || exit 1
git pull -q --ff-only origin main
printf 'Edit: race %s\n\n' "$left" >> "{other}/{path}"
git commit -q -a -m "fix(ENG-002): clarify step $left"
git push -q origin main
"""


def sopgit(run, root: Path, *args: str, expect: int = 0):
    return run("-C", str(root), *args, expect=expect)


def remote_tags(remote: Path) -> list[str]:
    return sorted(git(remote, "for-each-ref", "--format=%(refname:strip=2)", "refs/tags").split())


@pytest.fixture
def raced(library: Path, run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """(library, remote, other clone, races file): the example library released and
    pushed to a bare remote; a hook makes the other clone win the next race(s)."""
    monkeypatch.setenv("SOPGIT_TODAY", "2025-06-01")
    sopgit(run, library, "release", "--date", "2025-04-01")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(library, "remote", "add", "origin", str(remote))
    git(library, "push", "-q", "origin", "main", "--tags")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    races = tmp_path / "races"
    races.write_text("0\n")
    hook = library / ".git" / "hooks" / "reference-transaction"
    hook.write_text(RACE_HOOK.format(races=races, other=other, path=ENG_002), encoding="utf-8")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    note = library / ENG_001
    note.write_text(note.read_text(encoding="utf-8") + "\nEdit: typo\n", encoding="utf-8")
    commit_all(library, "fix(ENG-001): typo")
    git(library, "push", "-q", "origin", "main")  # merged, as a pull request would be
    return library, remote, other, races


def test_a_push_that_lost_a_race_is_computed_again_on_the_new_head(raced, run):
    library, remote, other, races = raced
    races.write_text("1\n")

    result = sopgit(run, library, "release", "--push", "--date", "2025-05-01")

    theirs = git(other, "rev-parse", "HEAD").strip()
    head = git(library, "rev-parse", "HEAD").strip()
    assert git(remote, "rev-parse", "main").strip() == head
    assert git(library, "rev-parse", "HEAD^").strip() == theirs  # on top of theirs, not rebased
    assert git(library, "log", "-1", "--format=%B", "HEAD") == (
        "release: ENG-001 v1.0.1, ENG-002 v1.0.1\n\n"
        "Sopgit-Release: ENG-001 v1.0.1\nSopgit-Release: ENG-002 v1.0.1\n\n"
    )
    new = ["ENG-001/v1.0.1", "ENG-002/v1.0.1"]
    assert set(new) <= set(remote_tags(remote))
    assert len(remote_tags(remote)) == 16
    assert remote_tags(remote) == remote_tags(library / ".git")
    for name in new:
        assert git(remote, "rev-parse", f"{name}^{{commit}}").strip() == head
        assert git(library, "rev-parse", name).strip() == git(remote, "rev-parse", name).strip()
    assert git(library, "status", "--porcelain") == ""
    text = (library / ENG_002).read_text(encoding="utf-8")
    assert "Edit: race 1\n" in text
    assert "version: 1.0.1\n" in text
    assert result.stdout == (
        "ENG-001 1.0.0 -> 1.0.1 (patch)  tag ENG-001/v1.0.1\n"
        "ENG-002 1.0.0 -> 1.0.1 (patch)  tag ENG-002/v1.0.1\n"
    )
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"origin/main moved on to {theirs[:10]} before the push; the release is taken back "
        "here and computed again on it (attempt 2 of 3)"
    )
    assert lines[1] == f"release commit {head[:10]}"
    assert lines[2] == "pushed main and 2 tag(s) to origin"
    assert races.read_text() == "0\n"


def test_two_lost_races_and_the_third_push_goes_through(raced, run):
    library, remote, other, races = raced
    races.write_text("2\n")

    result = sopgit(run, library, "release", "--push", "--date", "2025-05-01")

    assert "(attempt 2 of 3)" in result.stderr
    assert "(attempt 3 of 3)" in result.stderr
    head = git(library, "rev-parse", "HEAD").strip()
    assert git(remote, "rev-parse", "main").strip() == head
    assert git(library, "rev-parse", "HEAD^").strip() == git(other, "rev-parse", "HEAD").strip()
    assert remote_tags(remote) == remote_tags(library / ".git")
    assert git(remote, "rev-parse", "ENG-002/v1.0.1^{commit}").strip() == head


def test_gives_up_after_three_attempts_with_nothing_released(raced, run):
    library, remote, other, races = raced
    races.write_text("3\n")
    tags_before = remote_tags(remote)

    result = sopgit(run, library, "release", "--push", "--date", "2025-05-01", expect=2)

    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("sopgit: ")]
    assert errors == [
        f"sopgit: {library}: gave up after 3 attempts: origin/main moved on before each push; "
        "nothing was released or pushed (the last attempt was taken back here); "
        "run the release again"
    ]
    assert remote_tags(remote) == tags_before
    assert remote_tags(library / ".git") == tags_before  # every attempt's tags taken back
    assert git(remote, "log", "-1", "--format=%s", "main") == "fix(ENG-002): clarify step 1\n"
    # Here: at the remote's head as last fetched (two of the three commits), clean.
    assert git(library, "log", "-1", "--format=%s") == "fix(ENG-002): clarify step 2\n"
    assert git(library, "status", "--porcelain") == ""
    assert not (library / ".git" / "sopgit" / "release.json").exists()
    assert not (library / ".git" / "sopgit" / "lock").exists()
    # A plain rerun, with the remote quiet now, releases both SOPs.
    again = sopgit(run, library, "release", "--push", "--date", "2025-05-01")
    assert "pushed main and 2 tag(s) to origin" in again.stderr


def test_local_commits_the_remote_lacks_stop_the_retry(raced, run):
    library, remote, other, races = raced
    note = library / ENG_001
    note.write_text(note.read_text(encoding="utf-8") + "\nEdit: local\n", encoding="utf-8")
    local = commit_all(library, "fix(ENG-001): local only")
    races.write_text("1\n")
    before = tree_state(library)

    result = sopgit(run, library, "release", "--push", "--date", "2025-05-01", expect=2)

    assert result.stderr.splitlines()[-1] == (
        f"sopgit: {library}: main has commits that origin/main lacks, and origin/main moved "
        "on; nothing was released; bring them together (git pull) and release again"
    )
    assert git(library, "rev-parse", "HEAD").strip() == local
    after = tree_state(library)
    assert after["files"] == before["files"]
    assert after["index"] == before["index"]
    assert remote_tags(library / ".git") == remote_tags(remote)


# The other clone releases too (another run of the release workflow, a day later, so
# its commit differs) and wins the race: its release commit and tags are there first.
RELEASE_RACE_HOOK = r"""#!/bin/sh
[ "$1" = committed ] || exit 0
input=$(cat)
echo "$input" | grep -q ' refs/heads/main$' || exit 0
echo "$input" | grep -q '^0\{{40\}} [0-9a-f]\{{40\}} refs/tags/' || exit 0
[ -e "{done}" ] && exit 0
: > "{done}"
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_PREFIX SOPGIT_RELEASE
cd "{other}" || exit 1
git pull -q --ff-only origin main
"{python}" -m sopgit release --push --date 2025-05-02 >/dev/null 2>&1
"""


def test_another_release_that_won_the_race_leaves_nothing_to_release(raced, run, tmp_path):
    import sys

    library, remote, other, _ = raced
    hook = library / ".git" / "hooks" / "reference-transaction"
    hook.write_text(
        RELEASE_RACE_HOOK.format(done=tmp_path / "done", other=other, python=sys.executable),
        encoding="utf-8",
    )

    result = sopgit(run, library, "release", "--push", "--date", "2025-05-01")

    theirs = git(other, "rev-parse", "HEAD").strip()
    assert git(other, "log", "-1", "--format=%s") == "release: ENG-001 v1.0.1\n"
    assert git(remote, "rev-parse", "main").strip() == theirs
    assert git(library, "rev-parse", "HEAD").strip() == theirs  # fast-forwarded to theirs
    assert (
        git(remote, "rev-parse", "ENG-001/v1.0.1").strip()
        == git(library, "rev-parse", "ENG-001/v1.0.1").strip()
    )  # their tag, fetched; ours was taken back
    assert remote_tags(remote) == remote_tags(library / ".git")
    assert git(library, "status", "--porcelain") == ""
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"origin/main moved on to {theirs[:10]} before the push; the release is taken back "
        "here and computed again on it (attempt 2 of 3)",
        "nothing to release: no SOP has changes since its last release",
    ]
