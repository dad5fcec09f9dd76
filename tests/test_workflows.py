"""The GitHub Actions files sopgit ships: every workflow `sopgit init` writes, and the
composite action.yml, validated against the official schemas (check-jsonschema bundles
SchemaStore's, offline), and wired the way the approval process needs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ACTION = Path(__file__).resolve().parent.parent / "action.yml"


def validate(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
    )


ACTION_SHA = "4f1c2d3e" * 5
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def init(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sopgit", "init", str(root), *args], capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def workflows(tmp_path_factory) -> dict[str, Path]:
    """The workflows `sopgit init` renders into a new library."""
    root = tmp_path_factory.mktemp("wf") / "lib"
    done = init(root, "--action", f"acme/sopgit@{ACTION_SHA}")
    assert done.returncode == 0, done.stderr
    found = {p.name: p for p in sorted((root / ".github/workflows").glob("*.yml"))}
    assert {"sopgit-check.yml", "sopgit-release.yml"} <= set(found)
    return found


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["on"] = data.pop(True)  # YAML 1.1 reads the key `on` as True
    return data


def steps(flow: dict) -> list[dict]:
    return [step for job in flow["jobs"].values() for step in job["steps"]]


def test_every_shipped_workflow_is_valid(workflows):
    done = validate("vendor.github-workflows", *workflows.values())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok -- validation done" in done.stdout


def test_action_yml_is_a_valid_composite_action():
    done = validate("vendor.github-actions", ACTION)
    assert done.returncode == 0, done.stdout + done.stderr
    action = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) >= {"args", "token"}
    runs = [step.get("run", "") for step in action["runs"]["steps"]]
    # sopgit comes from the action's own folder: the commit the workflow pins.
    assert 'python -m pip install --quiet "${{ github.action_path }}"' in runs
    assert all("shell" in step for step in action["runs"]["steps"] if "run" in step)
    assert not any("eval" in run for run in runs)
    last = action["runs"]["steps"][-1]
    assert last["run"] == "sopgit run-args"
    assert last["env"] == {
        "GITHUB_TOKEN": "${{ inputs.token }}",
        "SOPGIT_ARGS": "${{ inputs.args }}",
    }
    (setup,) = [step["uses"] for step in action["runs"]["steps"] if "uses" in step]
    assert setup.startswith("actions/setup-python@e797f83bcb11b83ae66e0230d6156d7c80228e7c")


def test_the_validator_rejects_a_broken_workflow(tmp_path, workflows):
    broken = tmp_path / "broken.yml"
    text = workflows["sopgit-check.yml"].read_text(encoding="utf-8")
    broken.write_text(text.replace("runs-on:", "runs_on:"), encoding="utf-8")
    assert validate("vendor.github-workflows", broken).returncode == 1


def test_pull_requests_get_annotations_and_the_review_round(workflows):
    flow = load(workflows["sopgit-check.yml"])
    assert flow["on"]["pull_request"]["types"] == ["opened", "synchronize", "reopened"]
    assert flow["on"]["pull_request_review"]["types"] == ["submitted", "dismissed"]
    assert flow["permissions"] == {}
    assert flow["jobs"]["check"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    (check,) = [s for s in steps(flow) if s.get("uses", "").startswith("acme/sopgit@")]
    assert check["with"] == {"args": "check --format github"}
    (round_step,) = [s for s in steps(flow) if "review-round" in s.get("run", "")]
    assert '--pr "$PR" --base "$BASE" --comment' in round_step["run"]
    assert round_step["env"]["GITHUB_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"
    assert "github.repository" in round_step["env"]["SAME_REPO"]


def test_a_push_to_main_releases_with_full_history_and_the_token(workflows):
    flow = load(workflows["sopgit-release.yml"])
    assert flow["on"]["push"]["branches"] == ["main"]
    assert flow["permissions"] == {}
    job = flow["jobs"]["release"]
    assert job["permissions"] == {"contents": "write", "pull-requests": "read"}
    (checkout,) = [s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout")]
    assert checkout["with"]["fetch-depth"] == 0
    (release,) = [s for s in job["steps"] if "sopgit release" in s.get("run", "")]
    assert "sopgit release --push" in release["run"]
    assert release["env"]["GITHUB_TOKEN"] == "${{ github.token }}"
    # A token that may bypass branch protection pushes, when the library stores one.
    assert checkout["with"]["token"] == "${{ secrets.SOPGIT_RELEASE_TOKEN || github.token }}"


def test_the_release_pull_request_mode_tags_merged_releases_then_opens_the_next(workflows):
    flow = load(workflows["sopgit-release.yml"])
    jobs = flow["jobs"]
    assert jobs["release"]["if"] == "vars.SOPGIT_RELEASE_MODE != 'pull-request'"
    for name in ("tag-merged", "release-pull-request"):
        assert jobs[name]["if"] == "vars.SOPGIT_RELEASE_MODE == 'pull-request'"
        (checkout,) = [s for s in jobs[name]["steps"] if s.get("uses", "").startswith("actions/")]
        assert checkout["with"]["fetch-depth"] == 0
    tag = jobs["tag-merged"]
    assert tag["permissions"] == {"contents": "write", "pull-requests": "read"}
    assert tag["steps"][-1]["with"]["args"] == "release --tag-merged --push"
    opener = jobs["release-pull-request"]
    assert opener["needs"] == "tag-merged"  # computed once the merged release is tagged
    assert opener["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert opener["steps"][-1]["run"] == "sopgit release --pull-request"
    assert "GITHUB_TOKEN" in opener["steps"][-1]["env"]


def test_every_action_is_pinned_by_commit_with_its_version(workflows):
    for path in [*workflows.values(), ACTION, ACTION.parent / ".github/workflows/ci.yml"]:
        uses = re.findall(r"^\s*(?:- )?uses: (.+)$", path.read_text(encoding="utf-8"), re.M)
        assert uses, path.name
        for value in uses:
            assert PINNED.match(value), f"{path.name}: {value}"
        assert "actions/checkout@v" not in path.read_text(encoding="utf-8")


def test_workflows_use_the_sopgit_action_never_a_package_name(workflows):
    for path in workflows.values():
        text = path.read_text(encoding="utf-8")
        assert "pip install" not in text, path.name
        assert f"uses: acme/sopgit@{ACTION_SHA} # v" in text, path.name


def test_least_privilege_timeouts_and_concurrency(workflows):
    for path in [*workflows.values(), ACTION.parent / ".github/workflows/ci.yml"]:
        flow = load(path)
        assert flow["permissions"] == {}, path.name  # nothing granted workflow-wide
        assert "group" in flow["concurrency"], path.name
        for name, job in flow["jobs"].items():
            assert "permissions" in job, f"{path.name} {name}"
            assert 0 < job["timeout-minutes"] <= 30, f"{path.name} {name}"
            for step in job["steps"]:
                if step.get("uses", "").startswith("actions/checkout@"):
                    pushes = name in ("release", "tag-merged", "release-pull-request")
                    assert step["with"].get("persist-credentials", True) is pushes, path.name
    site = load(workflows["sopgit-site.yml"])
    assert site["jobs"]["build"]["permissions"] == {"contents": "read", "pages": "read"}
    assert site["jobs"]["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}


def test_init_reads_the_owner_from_a_github_remote(tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(
        ["git", "-C", str(root), "remote", "add", "origin", "git@github.com:acme-corp/sops.git"],
        check=True,
    )
    done = init(root)
    assert done.returncode == 0, done.stderr
    text = (root / ".github/workflows/sopgit-check.yml").read_text(encoding="utf-8")
    assert re.search(r"uses: acme-corp/sopgit@(\S+) # v\d", text)


def test_init_without_a_github_remote_writes_a_clear_placeholder(tmp_path):
    root = tmp_path / "lib"
    done = init(root)
    assert done.returncode == 0, done.stderr
    text = (root / ".github/workflows/sopgit-release.yml").read_text(encoding="utf-8")
    assert "uses: YOUR-GITHUB-ORG/sopgit@" in text
    assert "YOUR-GITHUB-ORG" in done.stderr
    assert "--action OWNER/REPO@SHA" in done.stderr


def test_init_refuses_an_action_not_pinned_by_full_commit(tmp_path):
    done = init(tmp_path / "lib", "--action", "acme/sopgit@v1")
    assert done.returncode == 2
    assert "full 40-character commit" in done.stderr
    assert not (tmp_path / "lib").exists()


def test_actionlint_and_shellcheck_are_clean_over_everything_shipped():
    done = subprocess.run(
        [sys.executable, str(ACTION.parent / ".ci/lint_workflows.py")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "actionlint over 9 workflows: exit 0" in done.stdout
    assert "shellcheck over action.yml's 2 run scripts: exit 0" in done.stdout


def test_actionlint_catches_an_unquoted_variable(tmp_path):
    flows = tmp_path / ".github/workflows"
    flows.mkdir(parents=True)
    (flows / "bad.yml").write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: sopgit review-round $COMMENT\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        ["actionlint", "-no-color", ".github/workflows/bad.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "SC2086" in done.stdout


def test_the_action_runs_its_arguments_without_a_shell(example, run, monkeypatch):
    monkeypatch.chdir(example)
    monkeypatch.setenv("SOPGIT_ARGS", "history OPS-001 --format 'json'")
    result = run("run-args")
    assert '"id": "OPS-001"' in result.stdout
    monkeypatch.setenv("SOPGIT_ARGS", "status; touch pwned")
    run("run-args", expect=2)
    assert not (example / "pwned").exists()
    monkeypatch.setenv("SOPGIT_ARGS", 'check "unclosed')
    assert "cannot be split" in run("run-args", expect=2).stderr


def test_a_weekly_job_keeps_the_review_issue(workflows):
    flow = load(workflows["sopgit-review.yml"])
    assert flow["jobs"]["review"]["permissions"] == {"contents": "read", "issues": "write"}
    script = flow["jobs"]["review"]["steps"][-1]["run"]
    (due,) = [s for s in flow["jobs"]["review"]["steps"] if "args" in s.get("with", {})]
    assert due["with"]["args"] == "review --within 30 --format markdown --output review.md"
    assert "gh issue edit" in script
    assert "gh issue create" in script


def test_the_release_job_commits_the_changelog_and_index(workflows):
    steps = load(workflows["sopgit-release.yml"])["jobs"]["release"]["steps"]
    assert "sopgit changelog" in steps[-1]["run"]
    assert "sopgit index" in steps[-1]["run"]
