"""The .pre-commit-hooks.yaml manifest, run by the real pre-commit framework.

The hook repository is a local git copy of this project (its working tree, so the
manifest under test is the one here); pre-commit installs sopgit from it with pip
as the machine's pip configuration says, no other network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import commit_all, git

PROJECT = Path(__file__).resolve().parent.parent
MANIFEST = PROJECT / ".pre-commit-hooks.yaml"


def test_the_manifest_is_valid_and_says_what_users_expect():
    done = subprocess.run(
        ["pre-commit", "validate-manifest", str(MANIFEST)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    hooks = {hook["id"]: hook for hook in yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))}
    assert hooks["sopgit-check"]["stages"] == ["pre-commit"]
    assert hooks["sopgit-check"]["require_serial"] is True
    assert hooks["sopgit-commit-msg"]["stages"] == ["commit-msg"]
    assert hooks["sopgit-commit-msg"]["verbose"] is True


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory) -> tuple[Path, str]:
    """A git repository holding this project's files as they are in the working tree."""
    if not (PROJECT / ".git").exists():
        pytest.skip("needs the project's git checkout to copy")
    repo = tmp_path_factory.mktemp("hookrepo") / "sopgit"
    listed = subprocess.run(
        ["git", "-C", str(PROJECT), "ls-files", "-co", "--exclude-standard", "-z"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = PROJECT / name
        if source.is_file() and not name.startswith((".venv", "benchmarks/")):
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "--no-verify", "-m", "sopgit"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)
    sha = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return repo, sha


@pytest.fixture
def with_pre_commit(library, hook_repo, tmp_path_factory, monkeypatch) -> Path:
    """The library with both sopgit hooks installed through pre-commit."""
    repo, sha = hook_repo
    # One pre-commit cache for the module: the hook environment is built once.
    cache = Path(str(tmp_path_factory.getbasetemp())) / "pre-commit-cache"
    monkeypatch.setenv("PRE_COMMIT_HOME", str(cache))
    monkeypatch.delenv("PRE_COMMIT_NO_CONCURRENCY", raising=False)
    config = {
        "default_install_hook_types": ["pre-commit", "commit-msg"],
        "repos": [
            {
                "repo": str(repo),
                "rev": sha,
                "hooks": [{"id": "sopgit-check"}, {"id": "sopgit-commit-msg"}],
            }
        ],
    }
    (library / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    commit_all(library, "chore: use sopgit through pre-commit")
    done = subprocess.run(
        ["pre-commit", "install", "--install-hooks"], cwd=library, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return library


def commit(root: Path, message: str) -> subprocess.CompletedProcess[str]:
    git(root, "add", "-A")
    return subprocess.run(
        ["git", "commit", "-m", message], cwd=root, capture_output=True, text=True
    )


def test_commit_msg_warning_shows_and_the_check_hook_stays_out_of_that_stage(with_pre_commit):
    root = with_pre_commit
    sop = root / "sops/engineering/ENG-001-deployment-process.md"
    sop.write_text(sop.read_text(encoding="utf-8") + "\nOne more line.\n", encoding="utf-8")

    done = commit(root, "tweak the deployment process")

    out = done.stdout + done.stderr
    assert done.returncode == 0, out  # "warn" (the default) lets the commit through
    assert "sopgit commit message" in out
    assert "sopgit: warning: the message is not a Conventional Commit" in out
    assert out.count("sopgit check") == 1  # at pre-commit only, never "Skipped" at commit-msg
    assert "Skipped" not in out
    assert git(root, "log", "-1", "--format=%s").strip() == "tweak the deployment process"


def test_the_check_runs_once_over_all_files_and_stops_the_commit(with_pre_commit):
    root = with_pre_commit
    sops = sorted((root / "sops").rglob("*.md"))
    for sop in sops:  # more files than one chunk per core: still one run, one summary
        text = sop.read_text(encoding="utf-8")
        sop.write_text(text.replace("## Scope", "## Scoop", 1), encoding="utf-8")

    done = commit(root, "docs(ENG-001): rename a section")

    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "sopgit check" in out
    assert "Failed" in out
    assert out.count(f"{len(sops)} files checked:") == 1
    assert "sopgit: commit stopped" in out
