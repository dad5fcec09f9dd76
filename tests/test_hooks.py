"""`sopgit hooks install` and the hooks at work: real `git commit`s through them."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import commit_all, git, tree_state

from sopgit.cli.main import cli
from sopgit.commands.hooks import MARKER, install_hooks
from sopgit.repo.git import GitRepo

ENG_001 = "sops/engineering/ENG-001-deployment-process.md"
VENV_BIN = str(Path(sys.executable).parent)
REPO = Path(__file__).resolve().parents[1]


def hook_env() -> dict[str, str]:
    return {**os.environ, "PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", "")}


def git_commit(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`git commit` with the hooks active, as a user would run it."""
    return subprocess.run(
        ["git", "commit", *args], cwd=root, capture_output=True, text=True, env=hook_env()
    )


def edit(root: Path, relative: str, old: str, new: str) -> str:
    path = root / relative
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return text


def set_commit_msg_mode(root: Path, mode: str) -> None:
    edit(root, "sopgit.toml", 'commit_msg = "warn"', f'commit_msg = "{mode}"')
    commit_all(root, f"chore: commit messages {mode}")


@pytest.fixture
def hooked(library: Path, run) -> Path:
    """The example library with sopgit's hooks installed."""
    run("-C", str(library), "hooks", "install")
    return library


# --- install ------------------------------------------------------------------------


def test_install_writes_executable_hooks_that_name_this_interpreter(library, run):
    result = run("-C", str(library), "hooks", "install")

    for hook in ("pre-commit", "commit-msg"):
        path = library / ".git/hooks" / hook
        assert f"installed {path}" in result.stdout
        assert path.stat().st_mode & stat.S_IXUSR
        assert os.access(path, os.X_OK)
        text = path.read_text(encoding="utf-8")
        assert MARKER in text
        assert f"'{sys.executable}'" in text
        assert "@SOPGIT_PYTHON@" not in text
        assert not (library / ".git/hooks" / f"{hook}.legacy").exists()


def test_reinstall_is_idempotent(library, run):
    run("-C", str(library), "hooks", "install")
    hooks = library / ".git/hooks"
    first = {p.name: p.read_bytes() for p in hooks.iterdir()}

    result = run("-C", str(library), "hooks", "install")

    assert {p.name: p.read_bytes() for p in hooks.iterdir()} == first
    assert "legacy" not in result.stdout


def test_install_dry_run_writes_nothing(library, run):
    hooks = library / ".git/hooks"
    (hooks / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    before = {p.name: p.read_bytes() for p in hooks.iterdir()}

    result = run("-C", str(library), "hooks", "install", "--dry-run")

    assert "would install" in result.stdout
    assert "pre-commit.legacy" in result.stdout
    assert {p.name: p.read_bytes() for p in hooks.iterdir()} == before


def test_foreign_hook_is_kept_as_legacy_and_still_runs(tmp_path, library, run):
    log = tmp_path / "legacy-ran.log"
    foreign = f"#!/bin/sh\necho legacy >> '{log}'\n"
    hook = library / ".git/hooks/pre-commit"
    hook.write_text(foreign)
    hook.chmod(0o755)

    result = run("-C", str(library), "hooks", "install")
    run("-C", str(library), "hooks", "install")  # a reinstall keeps it too

    assert "your hook kept as pre-commit.legacy" in result.stdout
    assert (library / ".git/hooks/pre-commit.legacy").read_text() == foreign
    assert MARKER in hook.read_text()
    edit(library, ENG_001, "Confirm release readiness", "Confirm the release is ready")
    git(library, "add", ENG_001)
    done = git_commit(library, "-q", "-m", "docs(ENG-001): reword step 1")
    assert done.returncode == 0, done.stderr
    assert log.read_text() == "legacy\n"


def test_failing_foreign_hook_still_stops_the_commit(library, run):
    hook = library / ".git/hooks/pre-commit"
    hook.write_text("#!/bin/sh\necho 'legacy says no' >&2\nexit 3\n")
    hook.chmod(0o755)
    run("-C", str(library), "hooks", "install")
    edit(library, ENG_001, "Confirm release readiness", "Confirm the release is ready")
    git(library, "add", ENG_001)
    head = git(library, "rev-parse", "HEAD")

    done = git_commit(library, "-q", "-m", "docs(ENG-001): reword step 1")

    assert done.returncode != 0
    assert "legacy says no" in done.stderr
    assert git(library, "rev-parse", "HEAD") == head


def test_install_refuses_when_hook_and_legacy_both_exist(library, run):
    hooks = library / ".git/hooks"
    (hooks / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    (hooks / "pre-commit.legacy").write_text("#!/bin/sh\nexit 0\n")
    before = {p.name: p.read_bytes() for p in hooks.iterdir()}

    result = run("-C", str(library), "hooks", "install", expect=2)

    assert result.stderr.startswith("sopgit:")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "pre-commit.legacy" in result.stderr
    assert {p.name: p.read_bytes() for p in hooks.iterdir()} == before


def test_install_honours_core_hooks_path(library, run):
    git(library, "config", "core.hooksPath", "custom-hooks")

    result = run("-C", str(library), "hooks", "install")

    for hook in ("pre-commit", "commit-msg"):
        assert f"installed {library / 'custom-hooks' / hook}" in result.stdout
        assert MARKER in (library / "custom-hooks" / hook).read_text()
        assert not (library / ".git/hooks" / hook).exists()
    edit(library, ENG_001, "## Scope\n", "")
    git(library, "add", ENG_001)
    done = git_commit(library, "-q", "-m", "docs(ENG-001): drop scope")
    assert done.returncode != 0  # git runs the hooks from there
    assert "missing-section" in done.stderr


def test_install_outside_a_repo_is_a_clean_error(tmp_path, run):
    result = run("-C", str(tmp_path), "hooks", "install", expect=2)

    assert result.stderr.startswith("sopgit:")
    assert "Traceback" not in result.stderr


def test_hook_works_when_the_interpreter_path_has_a_quote(tmp_path, library):
    """The interpreter's path is pasted into a shell script; a quote must not break it."""
    folder = tmp_path / "O'Brien's tools"
    folder.mkdir()
    log = tmp_path / "wrapper.log"
    wrapper = folder / "python"
    wrapper.write_text(f'#!/bin/sh\necho used >> "{log}"\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    install_hooks(GitRepo.open(library), python=str(wrapper))
    edit(library, ENG_001, "## Scope\n", "")
    git(library, "add", ENG_001)
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # no sopgit on PATH: the wrapper must run

    done = subprocess.run(
        ["git", "commit", "-q", "-m", "docs(ENG-001): drop scope"],
        cwd=library,
        capture_output=True,
        text=True,
        env=env,
    )

    assert done.returncode != 0
    assert "missing-section" in done.stderr
    assert "used" in log.read_text()


# --- pre-commit: staged SOPs are checked --------------------------------------------


def test_commit_with_a_missing_section_is_refused(hooked):
    edit(hooked, ENG_001, "## Scope\n", "")
    git(hooked, "add", ENG_001)
    head = git(hooked, "rev-parse", "HEAD")

    done = git_commit(hooked, "-m", "docs(ENG-001): drop scope")

    assert done.returncode != 0
    assert f"{ENG_001}:" in done.stderr
    assert "[missing-section]" in done.stderr
    assert "Scope" in done.stderr
    assert "commit stopped" in done.stderr
    assert git(hooked, "rev-parse", "HEAD") == head
    assert git(hooked, "diff", "--cached", "--name-only") == f"{ENG_001}\n"  # still staged


def test_valid_sop_change_commits(hooked):
    edit(hooked, ENG_001, "Confirm release readiness", "Confirm the release is ready")
    git(hooked, "add", ENG_001)

    done = git_commit(hooked, "-q", "-m", "docs(ENG-001): reword step 1")

    assert done.returncode == 0, done.stderr
    assert git(hooked, "log", "-1", "--format=%s") == "docs(ENG-001): reword step 1\n"
    assert git(hooked, "status", "--porcelain") == ""


def test_commit_all_checks_the_files_it_stages(hooked):
    edit(hooked, ENG_001, "## Scope\n", "")

    done = git_commit(hooked, "-a", "-m", "docs(ENG-001): drop scope")

    assert done.returncode != 0
    assert "[missing-section]" in done.stderr


def test_only_the_staged_content_counts_a_broken_stage_is_refused(hooked):
    original = edit(hooked, ENG_001, "## Scope\n", "")
    git(hooked, "add", ENG_001)
    (hooked / ENG_001).write_text(original, encoding="utf-8")  # fixed, but not staged

    done = git_commit(hooked, "-m", "docs(ENG-001): drop scope")

    assert done.returncode != 0
    assert "[missing-section]" in done.stderr


def test_only_the_staged_content_counts_a_good_stage_commits(hooked):
    edit(hooked, ENG_001, "Confirm release readiness", "Confirm the release is ready")
    git(hooked, "add", ENG_001)
    edit(hooked, ENG_001, "## Scope\n", "")  # broken, but not staged

    done = git_commit(hooked, "-q", "-m", "docs(ENG-001): reword step 1")

    assert done.returncode == 0, done.stderr
    assert "## Scope\n" in git(hooked, "show", f"HEAD:{ENG_001}")


def test_partial_commit_checks_only_what_it_commits(hooked):
    eng_002 = "sops/engineering/ENG-002-code-review-standards.md"
    edit(hooked, eng_002, "## Scope\n", "")
    git(hooked, "add", eng_002)  # broken and staged, but not part of this commit
    edit(hooked, ENG_001, "Confirm release readiness", "Confirm the release is ready")

    done = git_commit(hooked, "-q", "-m", "docs(ENG-001): reword step 1", "--", ENG_001)

    assert done.returncode == 0, done.stderr
    assert git(hooked, "show", "--name-only", "--format=", "HEAD") == f"{ENG_001}\n"


def test_hooks_run_in_a_linked_worktree(tmp_path, hooked):
    worktree = tmp_path / "wt"
    git(hooked, "worktree", "add", "-q", "-b", "draft/ENG-001-x", str(worktree))
    edit(worktree, ENG_001, "## Scope\n", "")

    done = git_commit(worktree / "sops", "-a", "-m", "docs(ENG-001): drop scope")

    assert done.returncode != 0
    assert f"{ENG_001}:" in done.stderr
    assert "[missing-section]" in done.stderr


def test_commit_touching_no_sop_is_not_checked(hooked):
    edit(hooked, ENG_001, "## Scope\n", "")  # broken in the work tree, never staged
    (hooked / "notes.txt").write_text("notes\n")
    git(hooked, "add", "notes.txt")

    done = git_commit(hooked, "-q", "-m", "notes")

    assert done.returncode == 0, done.stderr
    assert "sopgit" not in done.stderr


def test_staged_sop_deleted_from_the_work_tree_is_checked_from_the_index(hooked):
    text = (hooked / ENG_001).read_text(encoding="utf-8")
    new = "sops/engineering/ENG-006-rollback.md"
    (hooked / new).write_text(text.replace("ENG-001", "ENG-006"), encoding="utf-8")
    git(hooked, "add", new)
    (hooked / new).unlink()

    done = git_commit(hooked, "-q", "-m", "docs(ENG-006): add rollback")

    assert done.returncode == 0, done.stderr


# --- commit-msg ---------------------------------------------------------------------


def test_block_mode_refuses_a_message_that_does_not_name_the_sop(hooked):
    set_commit_msg_mode(hooked, "block")
    edit(hooked, ENG_001, "Confirm release readiness", "Confirm the release is ready")
    git(hooked, "add", ENG_001)
    head = git(hooked, "rev-parse", "HEAD")

    done = git_commit(hooked, "-m", "update stuff")

    assert done.returncode != 0
    assert "sopgit: commit stopped" in done.stderr
    assert "ENG-001" in done.stderr
    assert git(hooked, "rev-parse", "HEAD") == head

    done = git_commit(hooked, "-q", "-m", "docs(ENG-001): clarify step 2")

    assert done.returncode == 0, done.stderr
    assert git(hooked, "log", "-1", "--format=%s") == "docs(ENG-001): clarify step 2\n"


def test_warn_mode_commits_with_a_warning(hooked):
    edit(hooked, ENG_001, "Confirm release readiness", "Confirm the release is ready")
    git(hooked, "add", ENG_001)

    done = git_commit(hooked, "-q", "-m", "update stuff")

    assert done.returncode == 0, done.stderr
    assert "sopgit: warning:" in done.stderr
    assert "ENG-001" in done.stderr
    assert git(hooked, "log", "-1", "--format=%s") == "update stuff\n"


def test_block_mode_lets_a_merge_commit_through(hooked):
    set_commit_msg_mode(hooked, "block")
    git(hooked, "checkout", "-q", "-b", "draft/ENG-001-deployment-process")
    edit(hooked, ENG_001, "Confirm release readiness", "Confirm the release is ready")
    commit_all(hooked, "docs(ENG-001): reword step 1")
    git(hooked, "checkout", "-q", "main")
    (hooked / "notes.txt").write_text("notes\n")
    commit_all(hooked, "chore: notes")

    done = subprocess.run(
        ["git", "merge", "--no-ff", "--no-edit", "draft/ENG-001-deployment-process"],
        cwd=hooked,
        capture_output=True,
        text=True,
        env=hook_env(),
    )

    assert done.returncode == 0, done.stderr
    assert len(git(hooked, "log", "-1", "--format=%P").split()) == 2
    assert git(hooked, "log", "-1", "--format=%s").startswith("Merge branch")


def test_block_mode_never_checks_commits_without_sop_changes(hooked):
    set_commit_msg_mode(hooked, "block")
    (hooked / "notes.txt").write_text("notes\n")
    git(hooked, "add", "notes.txt")

    done = git_commit(hooked, "-q", "-m", "update stuff")

    assert done.returncode == 0, done.stderr
    assert "sopgit" not in done.stderr


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ("update stuff", "not a Conventional Commit"),
        ("docs: clarify step 2", "scope should name"),
        ("docs(ENG-002): clarify step 2", "scope should name"),
        ("docs(ENG-001): clarify step 2", None),
        ("docs(ENG-002, ENG-001): clarify both", None),
        ("feat(ENG-001)!: new approval step", None),
        ("Merge branch 'draft/ENG-001-x'", None),
        ("Merge pull request #12 from acme/draft/ENG-001-x", None),
        ('Revert "docs(ENG-001): clarify step 2"', None),
        ("fixup! docs(ENG-001): clarify step 2", None),
        ("# only a comment\n\ndocs(ENG-001): below a comment", None),
        (
            "docs(ENG-001): with the diff\n# ------------------------ >8 ------------------------\n"
            "update stuff",
            None,
        ),
    ],
)
def test_commit_msg_entry_point(hooked, run, message, problem):
    set_commit_msg_mode(hooked, "block")
    edit(hooked, ENG_001, "Confirm release readiness", "Confirm the release is ready")
    git(hooked, "add", ENG_001)
    message_file = hooked / ".git/COMMIT_EDITMSG"
    message_file.write_text(message + "\n", encoding="utf-8")

    result = run(
        "-C", str(hooked), "hook", "commit-msg", ".git/COMMIT_EDITMSG", expect=1 if problem else 0
    )

    if problem:
        assert problem in result.stderr
        assert "ENG-001" in result.stderr
    else:
        assert result.stderr == ""


def test_commit_msg_off_mode_checks_nothing(hooked, run):
    set_commit_msg_mode(hooked, "off")
    edit(hooked, ENG_001, "Confirm release readiness", "Confirm the release is ready")
    git(hooked, "add", ENG_001)

    done = git_commit(hooked, "-q", "-m", "update stuff")

    assert done.returncode == 0, done.stderr
    assert "sopgit" not in done.stderr


# --- the pre-commit framework's entry points ----------------------------------------


def framework_hooks() -> dict[str, dict]:
    entries = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    return {entry["id"]: entry for entry in entries}


def test_pre_commit_hooks_yaml_entries_are_real_sopgit_commands():
    hooks = framework_hooks()

    assert set(hooks) == {"sopgit-check", "sopgit-commit-msg"}
    assert hooks["sopgit-commit-msg"]["stages"] == ["commit-msg"]
    for entry in hooks.values():
        assert entry["language"] == "python"
        program, *args = shlex.split(entry["entry"])
        assert program == "sopgit"
        result = CliRunner().invoke(cli, [*args, "--help"])
        assert result.exit_code == 0, result.output


def run_entry(hook_id: str, root: Path, *files: str) -> subprocess.CompletedProcess[str]:
    """Run a hook's entry the way the pre-commit framework does: in the repo, files appended."""
    entry = shlex.split(framework_hooks()[hook_id]["entry"])
    return subprocess.run(
        [*entry, *files], cwd=root, capture_output=True, text=True, env=hook_env()
    )


def test_pre_commit_framework_entry_checks_the_files_it_is_given(library):
    good = run_entry(
        "sopgit-check", library, ENG_001, "sops/engineering/ENG-002-code-review-standards.md"
    )
    assert good.returncode == 0, good.stdout + good.stderr

    edit(library, ENG_001, "## Scope\n", "")
    bad = run_entry("sopgit-check", library, ENG_001)
    assert bad.returncode == 1
    assert f"{ENG_001}:" in bad.stdout
    assert "[missing-section]" in bad.stdout

    (library / "README.md").write_text("no frontmatter at all\n")
    outside = run_entry("sopgit-check", library, "README.md")
    assert outside.returncode == 0, outside.stdout + outside.stderr
    assert outside.stdout == ""


def test_pre_commit_framework_commit_msg_entry(library):
    set_commit_msg_mode(library, "block")
    edit(library, ENG_001, "Confirm release readiness", "Confirm the release is ready")
    git(library, "add", ENG_001)
    (library / ".git/COMMIT_EDITMSG").write_text("update stuff\n")

    done = run_entry("sopgit-commit-msg", library, ".git/COMMIT_EDITMSG")

    assert done.returncode == 1
    assert "ENG-001" in done.stderr


def test_hook_pre_commit_with_nothing_staged_passes(library, run):
    before = tree_state(library)

    result = run("-C", str(library), "hook", "pre-commit")

    assert result.stdout == ""
    assert tree_state(library) == before
