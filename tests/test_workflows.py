"""The GitHub Actions files sopgit ships: every workflow `sopgit init` writes, and the
composite action.yml, validated against the official schemas (check-jsonschema bundles
SchemaStore's, offline), and wired the way the approval process needs."""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def workflows(tmp_path_factory) -> dict[str, Path]:
    """The workflows `sopgit init` renders into a new library."""
    root = tmp_path_factory.mktemp("wf") / "lib"
    done = subprocess.run(
        [sys.executable, "-m", "sopgit", "init", str(root)], capture_output=True, text=True
    )
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
    assert any('pip install --quiet "$GITHUB_ACTION_PATH"' in run for run in runs)
    assert all("shell" in step for step in action["runs"]["steps"] if "run" in step)
    env = action["runs"]["steps"][-1]["env"]
    assert env["GITHUB_TOKEN"] == "${{ inputs.token }}"


def test_the_validator_rejects_a_broken_workflow(tmp_path, workflows):
    broken = tmp_path / "broken.yml"
    text = workflows["sopgit-check.yml"].read_text(encoding="utf-8")
    broken.write_text(text.replace("runs-on:", "runs_on:"), encoding="utf-8")
    assert validate("vendor.github-workflows", broken).returncode == 1


def test_pull_requests_get_annotations_and_the_review_round(workflows):
    flow = load(workflows["sopgit-check.yml"])
    assert flow["on"]["pull_request"]["types"] == ["opened", "synchronize", "reopened"]
    assert flow["on"]["pull_request_review"]["types"] == ["submitted", "dismissed"]
    assert flow["permissions"] == {"contents": "read", "pull-requests": "write"}
    runs = [step.get("run", "") for step in steps(flow)]
    assert "sopgit check --format github" in runs
    (round_step,) = [s for s in steps(flow) if "review-round" in s.get("run", "")]
    assert round_step["run"] == 'sopgit review-round --pr "$PR" --base "$BASE" $COMMENT'
    assert round_step["env"]["GITHUB_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"
    assert "'--comment'" in round_step["env"]["COMMENT"]


def test_a_push_to_main_releases_with_full_history_and_the_token(workflows):
    flow = load(workflows["sopgit-release.yml"])
    assert flow["on"]["push"]["branches"] == ["main"]
    assert flow["permissions"] == {"contents": "write", "pull-requests": "read"}
    (checkout,) = [s for s in steps(flow) if s.get("uses", "").startswith("actions/checkout")]
    assert checkout["with"]["fetch-depth"] == 0
    (release,) = [s for s in steps(flow) if "sopgit release" in s.get("run", "")]
    assert "sopgit release --push" in release["run"]
    assert release["env"]["GITHUB_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"


def test_workflows_check_out_with_checkout_v5(workflows):
    for path in workflows.values():
        for step in steps(load(path)):
            if step.get("uses", "").startswith("actions/checkout"):
                assert step["uses"] == "actions/checkout@v5", path.name


def test_a_weekly_job_keeps_the_review_issue(workflows):
    flow = load(workflows["sopgit-review.yml"])
    assert flow["permissions"]["issues"] == "write"
    script = flow["jobs"]["review"]["steps"][-1]["run"]
    assert "sopgit review --within 30 --format markdown" in script
    assert "gh issue edit" in script
    assert "gh issue create" in script


def test_the_release_job_commits_the_changelog_and_index(workflows):
    steps = load(workflows["sopgit-release.yml"])["jobs"]["release"]["steps"]
    assert "sopgit changelog" in steps[-1]["run"]
    assert "sopgit index" in steps[-1]["run"]
