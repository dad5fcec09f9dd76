"""actionlint (with shellcheck) over every workflow sopgit ships, and over action.yml.

The init templates are rendered by `sopgit init` into a scratch git repository, the
project's own CI workflow is copied beside them, and action.yml is placed in a local
action folder that a workflow uses, so actionlint checks every `with:` against its
inputs. Each workflow is linted twice: as generated (the sopgit action pinned by
commit) and with that action pointed at the local folder. actionlint does not read an
action's own `run:` scripts, so those go to shellcheck directly.

Prints what the tools print; exits non-zero on any finding. Usage:
    python .ci/lint_workflows.py
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_ACTION = "acme/sopgit@" + "0123456789abcdef" * 2 + "01234567"
LOCAL = "./sopgit-action"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)


def render(scratch: Path) -> list[Path]:
    library = scratch / "library"
    done = run(
        sys.executable, "-m", "sopgit", "init", str(library), "--action", EXAMPLE_ACTION, cwd=ROOT
    )
    if done.returncode != 0:
        sys.exit(f"sopgit init failed:\n{done.stderr}")
    flows = scratch / ".github" / "workflows"
    flows.mkdir(parents=True)
    written = []
    for path in sorted((library / ".github" / "workflows").glob("*.yml")):
        text = path.read_text(encoding="utf-8")
        (flows / path.name).write_text(text, encoding="utf-8")
        local = re.sub(r"uses: acme/sopgit@[0-9a-f]{40} # v\S+", f"uses: {LOCAL}", text)
        assert local != text, f"{path.name} does not use the sopgit action"
        (flows / f"local-{path.name}").write_text(local, encoding="utf-8")
        written += [flows / path.name, flows / f"local-{path.name}"]
    shutil.copy(ROOT / ".github" / "workflows" / "ci.yml", flows / "project-ci.yml")
    (scratch / "sopgit-action").mkdir()
    shutil.copy(ROOT / "action.yml", scratch / "sopgit-action" / "action.yml")
    return [*written, flows / "project-ci.yml"]


def action_scripts(scratch: Path) -> list[Path]:
    """action.yml's run: scripts as files, each ${{ expression }} as a quoted word."""
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    scripts = []
    for number, step in enumerate(action["runs"]["steps"]):
        if "run" not in step:
            continue
        if step.get("shell") != "bash":
            sys.exit(f"action.yml step {number}: a run step must say shell: bash")
        body = re.sub(r"\$\{\{.*?\}\}", "EXPRESSION", step["run"])
        path = scratch / f"action-step-{number}.sh"
        path.write_text("#!/usr/bin/env bash\n" + body + "\n", encoding="utf-8")
        scripts.append(path)
    return scripts


def main() -> int:
    for tool in ("actionlint", "shellcheck"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed: pip install '.[test]'")
    with tempfile.TemporaryDirectory(prefix="sopgit-lint-") as name:
        scratch = Path(name)
        run("git", "init", "-q", ".", cwd=scratch)  # actionlint finds local actions from here
        flows = render(scratch)
        print(run("actionlint", "-version", cwd=scratch).stdout.splitlines()[0])
        print(run("shellcheck", "--version", cwd=scratch).stdout.splitlines()[1])
        lint = run(
            "actionlint", "-no-color", *(str(p.relative_to(scratch)) for p in flows), cwd=scratch
        )
        print(f"actionlint over {len(flows)} workflows: exit {lint.returncode}")
        print(lint.stdout + lint.stderr, end="")
        scripts = action_scripts(scratch)
        check = run("shellcheck", "--shell=bash", *map(str, scripts), cwd=scratch)
        print(f"shellcheck over action.yml's {len(scripts)} run scripts: exit {check.returncode}")
        print(check.stdout + check.stderr, end="")
        return 1 if lint.returncode or check.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
