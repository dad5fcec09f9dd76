"""Which sopgit action the generated workflows use: `OWNER/sopgit@<commit> # v<version>`.

The workflows install sopgit from the action's own repository at the commit they pin
(action.yml runs `pip install` on its own folder), never from a package name. The
owner comes from `--action`, else the library's GitHub remote, else a placeholder the
user replaces; the commit is the one this sopgit was built from, when it is known.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from sopgit.errors import UsageError
from sopgit.resources import PACKAGE, resource_dir

OWNER_PLACEHOLDER = "YOUR-GITHUB-ORG"
COMMIT_PLACEHOLDER = "SOPGIT-COMMIT-SHA"
ACTION_NAME = "sopgit"
FULL_SHA = re.compile(r"[0-9a-f]{40}")
OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
SPEC = re.compile(r"(?P<owner>[\w.-]+)/(?P<name>[\w.-]+)@(?P<sha>[0-9a-fA-F]+)")


@dataclass(frozen=True)
class ActionRef:
    owner: str
    name: str
    commit: str
    version: str

    @property
    def uses(self) -> str:
        """The `uses:` value with its version comment."""
        return f"{self.owner}/{self.name}@{self.commit} # v{self.version}"

    @property
    def placeholders(self) -> list[str]:
        """The parts the user still has to fill in."""
        found = [OWNER_PLACEHOLDER] if self.owner == OWNER_PLACEHOLDER else []
        return found + ([COMMIT_PLACEHOLDER] if self.commit == COMMIT_PLACEHOLDER else [])


def package_version() -> str:
    try:
        return metadata.version("sopgit")
    except metadata.PackageNotFoundError:  # a checkout that is not installed
        return "0.1.0"


def parse_action(spec: str) -> ActionRef:
    """`OWNER/REPO@SHA` from --action: a full 40-hex commit, nothing movable."""
    match = SPEC.fullmatch(spec.strip())
    if not match or not FULL_SHA.fullmatch(match.group("sha").lower()):
        raise UsageError(
            f"--action {spec!r} is not OWNER/REPO@COMMIT with a full 40-character commit; "
            "pin the sopgit action by commit, e.g. acme/sopgit@<sha>"
        )
    return ActionRef(
        match.group("owner"), match.group("name"), match.group("sha").lower(), package_version()
    )


def owner_from_remote(url: str | None) -> str | None:
    """The owner of a github.com remote URL, else None."""
    from sopgit.github.client import parse_remote

    parsed = parse_remote(url) if url else None
    if parsed is None or parsed[0] != "github.com":
        return None
    owner = parsed[1].owner
    return owner if OWNER.fullmatch(owner) else None


def source_commit() -> str | None:
    """The sopgit commit this installation was built from, when it is known.

    A wheel built from a git checkout records it (hatch_build.py); pip records the
    commit of a `git+https://...@sha` install; a checkout answers with its HEAD.
    """
    record = resource_dir("templates").parent / "source.json"
    if record.is_file():
        commit = json.loads(record.read_text(encoding="utf-8")).get("commit", "")
        if FULL_SHA.fullmatch(commit):
            return str(commit)
    try:
        direct = metadata.distribution("sopgit").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        direct = None
    if direct:
        commit = json.loads(direct).get("vcs_info", {}).get("commit_id", "")
        if FULL_SHA.fullmatch(commit):
            return str(commit)
    return _checkout_head(PACKAGE.parent)


def _checkout_head(folder: Path) -> str | None:
    if not (folder / ".git").exists() or not (folder / "action.yml").is_file():
        return None
    done = subprocess.run(
        ["git", "-C", str(folder), "rev-parse", "--verify", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and FULL_SHA.fullmatch(commit) else None


def resolve_action(spec: str | None, remote_url: str | None) -> ActionRef:
    """The action the workflows pin: --action, else the remote's owner and this build."""
    if spec:
        return parse_action(spec)
    return ActionRef(
        owner_from_remote(remote_url) or OWNER_PLACEHOLDER,
        ACTION_NAME,
        source_commit() or COMMIT_PLACEHOLDER,
        package_version(),
    )


# Third-party actions, pinned by full commit with the release in a comment; each runs
# on node24 (upload-pages-artifact is a composite action over upload-artifact).
PINNED = {
    "checkout": "actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5.0.0",
    "setup_python": "actions/setup-python@e797f83bcb11b83ae66e0230d6156d7c80228e7c # v6.0.0",
    "configure_pages": "actions/configure-pages@45bfe0192ca1faeb007ade9deae92b16b8254a0d # v6.0.0",
    "upload_pages_artifact": (
        "actions/upload-pages-artifact@fc324d3547104276b827a68afc52ff2a11cc49c9 # v5.0.0"
    ),
    "deploy_pages": "actions/deploy-pages@cd2ce8fcbc39b97be8ca5fce6e763baed58fa128 # v5.0.0",
}
