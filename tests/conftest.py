"""Real git repositories in tmp_path with a fixed identity and fixed dates."""

from __future__ import annotations

import os
import subprocess
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sopgit.cli.main import cli

FIXED_ENV = {
    "GIT_AUTHOR_NAME": "Ana Ruiz",
    "GIT_AUTHOR_EMAIL": "ana@acme.example",
    "GIT_COMMITTER_NAME": "Ana Ruiz",
    "GIT_COMMITTER_EMAIL": "ana@acme.example",
    "GIT_AUTHOR_DATE": "2025-03-13T09:00:00+00:00",
    "GIT_COMMITTER_DATE": "2025-03-13T09:00:00+00:00",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@pytest.fixture(autouse=True)
def _isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """No user or system git config leaks in; every commit has the same identity and date."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for key, value in FIXED_ENV.items():
        monkeypatch.setenv(key, value)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Ana Ruiz\n\temail = ana@acme.example\n"
        "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n"
    )


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run git in CWD and return stdout; fail the test loudly on error."""
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, f"git {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


def commit_all(cwd: Path, message: str, date: str | None = None) -> str:
    env = {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date} if date else None
    git(cwd, "add", "-A")
    git(cwd, "commit", "-q", "--no-verify", "-m", message, env=env)
    return git(cwd, "rev-parse", "HEAD").strip()


@pytest.fixture
def run() -> Callable[..., Result]:
    """Invoke the CLI in-process; on an unexpected exit code, show what happened."""

    def invoke(*args: str, expect: int = 0, input: str | None = None) -> Result:
        result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=True)
        if result.exit_code != expect:
            details = (
                "".join(traceback.format_exception(*result.exc_info)) if result.exc_info else ""
            )
            pytest.fail(
                f"sopgit {' '.join(args)} exited {result.exit_code}, expected {expect}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}\n{details}"
            )
        return result

    return invoke


@pytest.fixture
def library(tmp_path: Path, run: Callable[..., Result]) -> Path:
    """A new library holding the 14 example SOPs as unreleased drafts, in one commit on main."""
    from sopgit.commands.scaffold import example_sops

    root = tmp_path / "lib"
    run("init", str(root))
    for relative, text in example_sops().items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for keep in root.glob("sops/*/.gitkeep"):
        keep.unlink()
    commit_all(root, "chore: start the library")
    return root


@pytest.fixture
def example(tmp_path: Path, run: Callable[..., Result]) -> Path:
    """The example library with its history, as `sopgit init --example` makes it."""
    root = tmp_path / "example"
    run("init", "--example", str(root))
    return root


def tree_state(root: Path) -> dict[str, object]:
    """Everything a failed command must leave alone: files, index, refs, HEAD."""
    files = {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }
    return {
        "files": files,
        "index": git(root, "ls-files", "-s"),
        "refs": git(root, "for-each-ref"),
        "head": git(root, "symbolic-ref", "-q", "HEAD"),
    }
