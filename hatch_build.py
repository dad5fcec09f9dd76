"""Build hook: record the git commit a wheel is built from in sopgit/_data/source.json.

`sopgit init` pins the generated workflows to that commit of the sopgit action, so a
library's workflows run the very sopgit that wrote them. A build outside a git
checkout (an sdist) records nothing, and init writes a placeholder instead.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class SourceCommitHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        done = subprocess.run(
            ["git", "-C", self.root, "rev-parse", "--verify", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        )
        commit = done.stdout.strip()
        if done.returncode != 0 or not re.fullmatch(r"[0-9a-f]{40}", commit):
            return
        folder = Path(tempfile.mkdtemp(prefix="sopgit-build-"))
        record = folder / "source.json"
        record.write_text(json.dumps({"commit": commit}) + "\n", encoding="utf-8")
        build_data["force_include"][str(record)] = "sopgit/_data/source.json"
