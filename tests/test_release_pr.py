"""Releases on a protected branch: `release --pull-request` puts the release commit on
`sopgit/release` and opens (or updates) the pull request; once it is merged (merge
commit, squash or rebase, as GitHub does them), `release --tag-merged` makes the very
tags a direct release would have made. GitHub is a local HTTP server answering the
REST API's documented shapes; git is real, with a bare repository as the remote.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import commit_all, git
from werkzeug import Request, Response

ENG_001 = "sops/engineering/ENG-001-deployment-process.md"
ENG_002 = "sops/engineering/ENG-002-code-review-standards.md"
DATE = "2025-05-01"


def sopgit(run, root: Path, *args: str, expect: int = 0):
    return run("-C", str(root), *args, expect=expect)


def edit(root: Path, relative: str, message: str) -> str:
    path = root / relative
    path.write_text(path.read_text(encoding="utf-8") + f"\nEdit: {message}\n", encoding="utf-8")
    return commit_all(root, message)


def refs(repo: Path, prefix: str) -> dict[str, str]:
    listing = git(repo, "for-each-ref", "--format=%(refname:strip=2) %(objectname)", prefix)
    return dict(line.split() for line in listing.splitlines())


def tag_message(repo: Path, name: str) -> str:
    return git(repo, "for-each-ref", "--format=%(contents)", f"refs/tags/{name}")


class FakeGitHub:
    """The pull request endpoints sopgit uses, with one pull request's state."""

    def __init__(self) -> None:
        self.pull: dict | None = None
        self.calls: list[tuple[str, str, dict | None]] = []

    def __call__(self, request: Request) -> Response:
        body = json.loads(request.data) if request.data else None
        self.calls.append((request.method, request.full_path.rstrip("?"), body))
        if re.fullmatch(r"/repos/acme/sops/commits/\w+/pulls", request.path):
            return self.json([])  # pushed to main directly: no pull request
        if request.path == "/repos/acme/sops/pulls" and request.method == "GET":
            assert request.args["state"] == "open"
            assert request.args["head"] == "acme:sopgit/release"
            return self.json([self.pull] if self.pull else [])
        if request.path == "/repos/acme/sops/pulls" and request.method == "POST":
            assert self.pull is None
            self.pull = {
                "number": 7,
                "state": "open",
                "html_url": "https://github.com/acme/sops/pull/7",
                "title": body["title"],
                "body": body["body"],
                "head": {"ref": body["head"], "sha": "0" * 40, "label": "acme:sopgit/release"},
                "base": {"ref": body["base"], "sha": "0" * 40, "label": "acme:main"},
                "merged_at": None,
                "draft": False,
            }
            return self.json(self.pull, 201)
        if request.path == "/repos/acme/sops/pulls/7" and request.method == "PATCH":
            assert self.pull is not None
            self.pull.update(body)
            return self.json(self.pull)
        return self.json({"message": "Not Found"}, 404)

    @staticmethod
    def json(data: object, status: int = 200) -> Response:
        return Response(json.dumps(data), status=status, content_type="application/json")


@pytest.fixture
def github(httpserver, monkeypatch) -> FakeGitHub:
    monkeypatch.setenv("GITHUB_API_URL", httpserver.url_for("").rstrip("/"))
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_test")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/sops")
    for name in ("GITHUB_STEP_SUMMARY", "GITHUB_EVENT_PATH", "GITHUB_BASE_REF", "GITHUB_REF"):
        monkeypatch.delenv(name, raising=False)
    fake = FakeGitHub()
    httpserver.expect_request(re.compile(r"^/repos/")).respond_with_handler(fake)
    return fake


@pytest.fixture
def protected(library: Path, run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """(library, remote): released once, pushed; then ENG-001 changed and merged."""
    monkeypatch.setenv("SOPGIT_TODAY", "2025-06-01")
    sopgit(run, library, "release", "--date", "2025-04-01")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(library, "remote", "add", "origin", str(remote))
    edit(library, ENG_001, "fix(ENG-001): typo")
    git(library, "push", "-q", "origin", "main", "--tags")
    return library, remote


def direct_release_tag(library: Path, run, tmp_path: Path, name: str) -> str:
    """The message of tag NAME as a direct `release` on the same commit makes it."""
    copy = tmp_path / "direct"
    shutil.copytree(library, copy, symlinks=True)
    sopgit(run, copy, "release", "--date", DATE)
    return tag_message(copy, name)


def test_pull_request_mode_pushes_the_release_branch_and_opens_the_pull_request(
    protected, run, github
):
    library, remote = protected
    head = git(library, "rev-parse", "HEAD").strip()
    tags_before = refs(library, "refs/tags")

    result = sopgit(run, library, "release", "--pull-request", "--date", DATE)

    branch = refs(remote, "refs/heads")
    assert branch["main"] == head  # the protected branch is not pushed to
    release = branch["sopgit/release"]
    assert git(library, "rev-parse", "HEAD").strip() == head
    assert git(library, "rev-parse", "sopgit/release").strip() == release
    assert git(library, "rev-parse", f"{release}^").strip() == head
    assert git(library, "status", "--porcelain") == ""
    assert refs(library, "refs/tags") == tags_before  # no tag before the merge
    assert refs(remote, "refs/tags") == tags_before
    assert git(library, "log", "-1", "--format=%B", release) == (
        "release: ENG-001 v1.0.1\n\nSopgit-Release: ENG-001 v1.0.1\n"
        f"Sopgit-Release-Date: {DATE}\n\n"
    )
    shown = git(library, "show", f"{release}:{ENG_001}")
    assert "version: 1.0.1\n" in shown
    posted = [c for c in github.calls if c[0] == "POST"]
    assert len(posted) == 1
    assert posted[0][2]["title"] == "release: ENG-001 v1.0.1"
    assert posted[0][2]["head"] == "sopgit/release"
    assert posted[0][2]["base"] == "main"
    assert posted[0][2]["body"].endswith(
        f"Sopgit-Release: ENG-001 v1.0.1\nSopgit-Release-Date: {DATE}\n"
    )
    assert "| ENG-001 | 1.0.0 | 1.0.1 | patch | `ENG-001/v1.0.1` |" in posted[0][2]["body"]
    assert result.stdout == "ENG-001 1.0.0 -> 1.0.1 (patch)  tag ENG-001/v1.0.1\n"
    assert result.stderr.splitlines()[-1] == (
        "opened pull request #7 https://github.com/acme/sops/pull/7 "
        f"(release commit {release[:10]} on sopgit/release; tags after the merge)"
    )


def test_a_second_run_replaces_the_branch_and_updates_the_pull_request(protected, run, github):
    library, remote = protected
    sopgit(run, library, "release", "--pull-request", "--date", DATE)
    first = refs(remote, "refs/heads")["sopgit/release"]
    edit(library, ENG_002, "feat(ENG-002): a new step")
    git(library, "push", "-q", "origin", "main")

    result = sopgit(run, library, "release", "--pull-request", "--date", DATE)

    second = refs(remote, "refs/heads")["sopgit/release"]
    assert second != first
    assert (
        git(library, "rev-parse", f"{second}^").strip() == git(library, "rev-parse", "main").strip()
    )
    assert [c[0] for c in github.calls if c[0] != "GET"] == ["POST", "PATCH"]
    assert github.pull["title"] == "release: ENG-001 v1.0.1, ENG-002 v1.1.0"
    assert "updated pull request #7" in result.stderr


def merge_as_github(library: Path, how: str) -> str:
    """Merge sopgit/release into main as GitHub's merge button would; the new main."""
    if how == "merge":
        git(
            library,
            "merge",
            "-q",
            "--no-ff",
            "sopgit/release",
            "-m",
            "Merge pull request #7 from acme/sopgit/release\n\nrelease: ENG-001 v1.0.1",
        )
    elif how == "squash":
        body = git(library, "log", "-1", "--format=%b", "sopgit/release")
        git(library, "merge", "-q", "--squash", "sopgit/release")
        git(library, "commit", "-q", "--no-verify", "-m", f"release: ENG-001 v1.0.1 (#7)\n\n{body}")
    else:  # rebase: the same message, a new committer date, a new commit
        git(
            library,
            "cherry-pick",
            "sopgit/release",
            env={"GIT_COMMITTER_DATE": "2025-05-02T10:00:00+00:00"},
        )
    return git(library, "rev-parse", "HEAD").strip()


@pytest.mark.parametrize("how", ["merge", "squash", "rebase"])
def test_tag_merged_makes_the_tags_a_direct_release_makes(protected, run, github, tmp_path, how):
    library, remote = protected
    expected = direct_release_tag(library, run, tmp_path, "ENG-001/v1.0.1")
    sopgit(run, library, "release", "--pull-request", "--date", DATE)
    release = git(library, "rev-parse", "sopgit/release").strip()
    main = merge_as_github(library, how)
    git(library, "push", "-q", "origin", "main")

    result = sopgit(run, library, "release", "--tag-merged", "--push")

    target = release if how == "merge" else main
    assert git(library, "rev-parse", "ENG-001/v1.0.1^{commit}").strip() == target
    assert git(remote, "rev-parse", "ENG-001/v1.0.1^{commit}").strip() == target
    assert tag_message(library, "ENG-001/v1.0.1") == expected
    assert refs(remote, "refs/tags") == refs(library, "refs/tags")
    assert result.stdout == "ENG-001 1.0.0 -> 1.0.1 (patch)  tag ENG-001/v1.0.1\n"
    assert result.stderr.splitlines()[-1] == "pushed 1 tag(s) to origin"
    # Idempotent: nothing more to tag, and nothing pending any more.
    tags_now = refs(library, "refs/tags")
    again = sopgit(run, library, "release", "--tag-merged", "--push")
    assert again.stdout == ""
    assert again.stderr == f"nothing to tag: release commit {target[:10]} is tagged already\n"
    assert refs(library, "refs/tags") == tags_now
    nothing = sopgit(run, library, "release", "--pull-request", "--date", DATE)
    assert nothing.stderr == "nothing to release: no SOP has changes since its last release\n"


def test_tag_merged_with_no_release_commit_tags_nothing(library, run):
    result = sopgit(run, library, "release", "--tag-merged")
    assert result.stderr == "nothing to tag: no release commit in the history of HEAD\n"
    assert git(library, "tag", "--list") == ""


def test_a_squash_with_a_hand_edit_on_the_release_branch_is_not_tagged(protected, run, github):
    library, remote = protected
    sopgit(run, library, "release", "--pull-request", "--date", DATE)
    git(library, "checkout", "-q", "sopgit/release")
    edit(library, ENG_001, "docs: a hand edit on the release branch")
    git(library, "checkout", "-q", "main")
    parent = git(library, "rev-parse", "HEAD").strip()
    messages = git(library, "log", "--reverse", "--format=* %B", "main..sopgit/release")
    git(library, "merge", "-q", "--squash", "sopgit/release")
    git(library, "commit", "-q", "--no-verify", "-m", f"release: ENG-001 v1.0.1 (#7)\n\n{messages}")
    squash = git(library, "rev-parse", "HEAD").strip()
    tags_before = refs(library, "refs/tags")

    result = sopgit(run, library, "release", "--tag-merged", expect=1)

    assert result.stderr == (
        f"sopgit: release commit {squash[:10]} is not what releasing its parent {parent[:10]} "
        f"gives now (other bytes in {ENG_001}); nothing was tagged; release the SOPs again "
        "(sopgit release --pull-request)\n"
    )
    assert refs(library, "refs/tags") == tags_before
    assert git(library, "status", "--porcelain") == ""
    assert git(library, "worktree", "list").count("\n") == 1  # the scratch one is gone


def test_pull_request_mode_without_github_is_one_line_exit_2(protected, run, monkeypatch):
    library, _ = protected
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    result = sopgit(run, library, "release", "--pull-request", expect=2)
    assert result.stderr == (
        "sopgit: --pull-request needs a GitHub token (GITHUB_TOKEN or --github-token) and "
        "the repository (GITHUB_REPOSITORY, or a remote on GitHub)\n"
    )
    assert refs(library, "refs/heads") == {"main": git(library, "rev-parse", "main").strip()}


@pytest.mark.parametrize(
    "args",
    [("--pull-request", "--tag-merged"), ("--tag-merged", "--major"), ("--tag-merged", "ENG-001")],
)
def test_tag_merged_takes_no_release_choices(library, run, args):
    result = sopgit(run, library, "release", *args, expect=2)
    assert result.stderr.startswith("sopgit: ")
    assert len(result.stderr.splitlines()) == 1


def test_a_dry_run_of_the_pull_request_writes_and_asks_nothing(protected, run, monkeypatch):
    library, remote = protected
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    heads = refs(library, "refs/heads")

    result = sopgit(run, library, "release", "--pull-request", "--dry-run", "--date", DATE)

    assert "commit:\n    release: ENG-001 v1.0.1\n" in result.stdout
    assert "tag ENG-001/v1.0.1:\n" in result.stdout
    assert refs(library, "refs/heads") == heads
    assert "sopgit/release" not in refs(remote, "refs/heads")
