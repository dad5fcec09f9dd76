"""GitHub: pull request reviews approve SOP releases, against a real local HTTP server that
answers with the REST API's documented JSON shapes, headers and Link pagination.

The end-to-end flow: a draft branch, a review round reported on the pull request (one
comment, updated in place, and the job summary), the merge, then a release that records
who approved, in what role, when, through which pull request. Errors (401, 403 rate
limit, 404, 5xx) are one line, exit 2, and nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from conftest import commit_all, git, tree_state
from test_approvals import (
    BEN,
    ENG_001,
    ENG_002,
    POLICY,
    commit_as,
    edit,
    merge_pr,
    table,
    tag_message,
)
from werkzeug import Request, Response

from sopgit.github.client import GitHubClient, GitHubError, Repository, parse_remote

TOKEN = "ghs_fake0123456789"
REVIEWS_12 = "/repos/acme/sops/pulls/12/reviews"
ON_REVIEWS = f"GET {REVIEWS_12}"
COMMITS_12 = "/repos/acme/sops/pulls/12/commits"
COMMENTS_12 = "/repos/acme/sops/issues/12/comments"
MANAGERS = "/orgs/acme/teams/eng-managers/memberships"
HEADERS = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
    "Authorization": f"Bearer {TOKEN}",
}
UNKNOWN = "ecdd80bb57125d7ba9641ffaa4d7d2c19d3f3091"  # a commit no repository here has
NOT_FOUND = {
    "message": "Not Found",
    "documentation_url": "https://docs.github.com/rest",
    "status": "404",
}


def review(
    number: int, login: str, state: str, when: str, pr: int = 12, commit: str = UNKNOWN
) -> dict:
    """A review as `GET /repos/{o}/{r}/pulls/{n}/reviews` lists it, given on COMMIT."""
    return {
        "id": number,
        "node_id": f"PRR_kwDO{number}",
        "user": {"login": login, "id": number * 7, "type": "User"},
        "body": "",
        "state": state,
        "html_url": f"https://github.com/acme/sops/pull/{pr}#pullrequestreview-{number}",
        "pull_request_url": f"https://api.github.com/repos/acme/sops/pulls/{pr}",
        "_links": {
            "html": {"href": f"https://github.com/acme/sops/pull/{pr}#pullrequestreview-{number}"},
            "pull_request": {"href": f"https://api.github.com/repos/acme/sops/pulls/{pr}"},
        },
        "submitted_at": when,
        "commit_id": commit,
        "author_association": "MEMBER",
    }


def pr_commit(sha: str, login: str) -> dict:
    """An item of `GET /repos/{o}/{r}/pulls/{n}/commits`."""
    return {
        "sha": sha,
        "commit": {
            "author": {"name": "Ben Ode", "email": "ben@acme.example", "date": "2026-03-01"},
            "message": "feat(ENG-001): add a rollback deadline",
        },
        "author": {"login": login, "id": 11, "type": "User"},
        "committer": {"login": "web-flow", "id": 19864447, "type": "User"},
        "parents": [],
    }


def membership(login: str) -> dict:
    return {
        "url": f"https://api.github.com/teams/1/memberships/{login}",
        "role": "member",
        "state": "active",
    }


@pytest.fixture
def api(httpserver, monkeypatch):
    """The fake GitHub, and the environment of an Actions run pointing at it."""
    monkeypatch.setenv("GITHUB_API_URL", httpserver.url_for("").rstrip("/"))
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/sops")
    for name in ("GITHUB_STEP_SUMMARY", "GITHUB_EVENT_PATH", "GITHUB_BASE_REF", "GITHUB_REF"):
        monkeypatch.delenv(name, raising=False)

    def expect(path: str, method: str = "GET", query: str | None = None, **kw):
        if method == "GET" and query is None:
            query = "per_page=100"
        return httpserver.expect_request(
            path, method=method, query_string=query, headers=HEADERS, **kw
        )

    httpserver.expect = expect
    yield httpserver
    httpserver.check_assertions()  # no request went unanswered


def sopgit(run, root: Path, *args: str, expect: int = 0):
    return run("-C", str(root), *args, expect=expect)


@pytest.fixture
def governed(library: Path, run, monkeypatch) -> Path:
    """The example SOPs released as 1.0.0 (before GitHub is in play), then the policy on."""
    monkeypatch.setenv("SOPGIT_TODAY", "2026-04-01")
    for name in ("GITHUB_TOKEN", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(name, raising=False)
    sopgit(run, library, "release", "--date", "2025-04-01")
    (library / "sopgit.toml").write_text(PEER_AND_MANAGER, encoding="utf-8")
    commit_all(library, "chore: require peer and manager approval")
    return library


def draft(root: Path) -> str:
    git(root, "checkout", "-q", "-b", "draft/ENG-001-deployment-process")
    edit(root, ENG_001, "Roll back within 10 minutes.")
    return commit_as(root, BEN, "feat(ENG-001): add a rollback deadline", "2026-03-01T09:00:00Z")


# --- the client ------------------------------------------------------------------------


def test_client_pins_the_api_version_and_follows_link_pagination(api):
    client = GitHubClient(TOKEN, Repository("acme", "sops"), api.url_for("").rstrip("/"))
    # Real next links use another path form; they are followed verbatim.
    second = api.url_for("/repositories/1300192/pulls/12/reviews") + "?per_page=100&page=2"
    api.expect(REVIEWS_12).respond_with_json(
        [review(1, "kim-park", "COMMENTED", "2026-03-01T10:00:00Z")],
        headers={"Link": f'<{second}>; rel="next", <{second}>; rel="last"'},
    )
    api.expect(
        "/repositories/1300192/pulls/12/reviews", query="per_page=100&page=2"
    ).respond_with_json([review(2, "lee-chen", "APPROVED", "2026-03-02T10:14:00Z")])

    found = client.reviews(12)

    assert [(r.login, r.state, r.pull_request) for r in found] == [
        ("kim-park", "COMMENTED", 12),
        ("lee-chen", "APPROVED", 12),
    ]
    assert client.requests == 2
    (agent,) = {request.headers["User-Agent"] for request, _ in api.log}
    assert agent.startswith("sopgit/")


def test_the_token_never_leaves_the_api_host(api):
    """A next link or a redirect to another host gets no token."""
    client = GitHubClient(TOKEN, Repository("acme", "sops"), api.url_for("").rstrip("/"))
    elsewhere = "http://127.0.0.2:9/steal?page=2"
    api.expect(REVIEWS_12).respond_with_json([], headers={"Link": f'<{elsewhere}>; rel="next"'})
    with pytest.raises(GitHubError, match="pointed at http://127.0.0.2:9"):
        client.reviews(12)
    # A redirect is followed, but without the Authorization header.
    api.expect(COMMITS_12).respond_with_data(
        "", status=302, headers={"Location": api.url_for("/moved") + "?per_page=100"}
    )
    api.expect_request("/moved", query_string="per_page=100").respond_with_json([])
    assert client.pull_commit_logins(12) == set()
    moved = [request for request, _ in api.log if request.path == "/moved"]
    assert moved
    assert "Authorization" not in moved[0].headers


def test_a_short_rate_limit_is_waited_out_and_a_long_one_is_an_error(api):
    waits: list[float] = []
    now = 1_767_225_600.0  # the client's clock, fixed: no answer depends on the suite's speed
    client = GitHubClient(
        TOKEN,
        Repository("acme", "sops"),
        api.url_for("").rstrip("/"),
        sleep=waits.append,
        clock=lambda: now,
    )
    limited = {"message": "You have exceeded a secondary rate limit."}
    api.expect_oneshot_request(REVIEWS_12, query_string="per_page=100").respond_with_json(
        limited, status=403, headers={"Retry-After": "2"}
    )
    api.expect(REVIEWS_12).respond_with_json([])
    assert client.reviews(12) == []
    assert waits == [2.0]

    reset = str(int(now) + 3600)
    api.expect(COMMITS_12).respond_with_json(
        {"message": "API rate limit exceeded for installation ID 1."},
        status=403,
        headers={
            "x-ratelimit-limit": "1000",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": reset,
        },
    )
    with pytest.raises(GitHubError) as err:
        client.pull_commit_logins(12)
    assert "rate limit is reached (GET /repos/acme/sops/pulls/12/commits)" in str(err.value)
    assert "resets in about 60 minute(s)" in str(err.value)
    assert waits == [2.0]  # an hour is not waited for


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/acme/sops.git", ("github.com", "acme/sops")),
        ("git@github.com:acme/sops.git", ("github.com", "acme/sops")),
        ("ssh://git@ghe.acme.example:2222/qa/sop-library", ("ghe.acme.example", "qa/sop-library")),
        ("/srv/git/sops.git", None),
    ],
)
def test_the_repository_comes_from_the_remote_url(url, expected):
    parsed = parse_remote(url)
    assert (parsed and (parsed[0], parsed[1].full_name)) == expected


# --- the approval flow, end to end -------------------------------------------------------


def test_pull_request_reviews_approve_the_release_end_to_end(
    governed, run, api, tmp_path, monkeypatch
):
    change = draft(governed)
    # The round on the pull request: only a comment so far, and the author's own approval.
    api.expect(REVIEWS_12).respond_with_json(
        [
            review(1, "kim-park", "COMMENTED", "2026-03-01T10:00:00Z", commit=change),
            review(2, "ben-ode", "APPROVED", "2026-03-01T10:30:00Z", commit=change),
        ]
    )
    api.expect(COMMITS_12).respond_with_json([pr_commit(change, "ben-ode")])
    api.expect(COMMENTS_12).respond_with_json([])
    api.expect(COMMENTS_12, method="POST").respond_with_json(
        {"id": 501, "html_url": "https://github.com/acme/sops/pull/12#issuecomment-501"}, status=201
    )
    summary = tmp_path / "summary.md"
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "submitted", "pull_request": {"number": 12}}))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))

    result = sopgit(run, governed, "review-round", "--comment", "--format", "json")

    report = json.loads(result.stdout)
    assert report["pull_request"] == 12
    (sop,) = report["sops"]
    assert (sop["id"], sop["next_version"], sop["missing"]) == (
        "ENG-001",
        "1.1.0",
        ["peer", "manager"],
    )
    assert [(i["signer"], i["reason"]) for i in sop["ignored"]] == [
        ("@ben-ode", "an author of the change cannot sign for it")
    ]
    posted = json.loads(api.log[-1][0].get_data())
    assert posted["body"].startswith("<!-- sopgit:review-round -->\n")
    assert "Not ready to release" in posted["body"]
    assert summary.read_text(encoding="utf-8") == posted["body"]
    assert (
        "review round posted: https://github.com/acme/sops/pull/12#issuecomment-501"
        in result.stderr
    )

    # Lee (in @acme/eng-managers) approves; Kim's comment turns into an approval.
    api.clear_all_handlers()
    api.expect(REVIEWS_12).respond_with_json(
        [
            review(1, "kim-park", "COMMENTED", "2026-03-01T10:00:00Z", commit=change),
            review(2, "ben-ode", "APPROVED", "2026-03-01T10:30:00Z", commit=change),
            review(3, "lee-chen", "APPROVED", "2026-03-02T10:14:00Z", commit=change),
            review(4, "kim-park", "APPROVED", "2026-03-02T11:00:00Z", commit=change),
        ]
    )
    api.expect(COMMITS_12).respond_with_json([pr_commit(change, "ben-ode")])
    api.expect(f"{MANAGERS}/lee-chen", query="").respond_with_json(membership("lee-chen"))
    api.expect(f"{MANAGERS}/kim-park", query="").respond_with_json(NOT_FOUND, status=404)
    api.expect(COMMENTS_12).respond_with_json(
        [
            {"id": 499, "body": "LGTM", "html_url": "x"},
            {
                "id": 501,
                "body": posted["body"],
                "html_url": "https://github.com/acme/sops/pull/12#issuecomment-501",
            },
        ]
    )
    api.expect("/repos/acme/sops/issues/comments/501", method="PATCH").respond_with_json(
        {"id": 501, "html_url": "https://github.com/acme/sops/pull/12#issuecomment-501"}
    )

    markdown = sopgit(run, governed, "review-round", "--comment", "--format", "markdown").stdout

    assert "Ready to release: every required approval is in." in markdown
    assert (
        "| ENG-001 Deployment Process | 1.0.0 → 1.1.0 | minor "
        "| peer: `@kim-park`, manager: `@lee-chen` | – |" in markdown
    )
    patched = json.loads(api.log[-1][0].get_data())
    assert api.log[-1][0].method == "PATCH"
    assert patched["body"] == markdown
    assert not any(request.method == "POST" for request, _ in api.log[-4:])

    # Merged on GitHub (a merge commit); the release workflow cuts the version.
    merge = merge_pr(governed, "draft/ENG-001-deployment-process", 12, "2026-03-02T12:00:00Z")
    monkeypatch.delenv("GITHUB_EVENT_PATH")
    sopgit(run, governed, "release", "--date", "2026-03-03")

    message = tag_message(governed, "ENG-001/v1.1.0")
    assert message.endswith(
        "Author: Ben Ode <ben@acme.example>\n"
        "Pull-Request: #12\n"
        "Approval-Required: peer, manager\n"
        f"Approved-by: @kim-park (peer; commit {change[:10]}) 2026-03-02T11:00:00Z\n"
        f"Approved-by: @lee-chen (manager; commit {change[:10]}) 2026-03-02T10:14:00Z\n\n"
    )
    assert (
        "- manager: @lee-chen, approved 2026-03-02T10:14:00Z, GitHub review of pull request #12"
        f" on commit {change[:10]}\n" in message
    )
    assert "ben-ode" not in message
    assert merge != change
    assert table(governed, ENG_001) == [
        "| 1.0.0 | 2025-04-01 | Initial version | Ana Ruiz |  |",
        "| 1.1.0 | 2026-03-03 | Add a rollback deadline | Ben Ode "
        "| @kim-park (peer), @lee-chen (manager) |",
    ]
    history = json.loads(sopgit(run, governed, "history", "ENG-001", "--format", "json").stdout)
    assert history["releases"][-1]["approved_by"] == "@kim-park (peer), @lee-chen (manager)"
    assert history["releases"][-1]["pull_requests"] == [12]


def test_without_approvals_the_release_is_refused_and_nothing_changes(governed, run, api):
    change = draft(governed)
    merge_pr(governed, "draft/ENG-001-deployment-process", 12, "2026-03-02T12:00:00Z")
    api.expect(REVIEWS_12).respond_with_json(
        [
            review(1, "lee-chen", "APPROVED", "2026-03-02T10:00:00Z"),
            review(2, "lee-chen", "DISMISSED", "2026-03-02T11:00:00Z"),
        ]
    )
    api.expect(COMMITS_12).respond_with_json([pr_commit(change, "ben-ode")])
    before = tree_state(governed)

    result = sopgit(run, governed, "release", expect=1)

    assert result.stderr.count("\n") == 1
    assert "release refused: ENG-001 lacks approval as peer, manager." in result.stderr
    assert tree_state(governed) == before


def test_a_rebase_merge_is_traced_to_its_pull_request_through_the_api(governed, run, api):
    edit(governed, ENG_001, "Rebased in.")
    sha = commit_as(governed, BEN, "fix(ENG-001): rebased in", "2026-03-01T09:00:00Z")
    api.expect(f"/repos/acme/sops/commits/{sha}/pulls").respond_with_json(
        [
            {
                "number": 15,
                "state": "closed",
                "title": "ENG-001: rebased in",
                "user": {"login": "ben-ode"},
                "merged_at": "2026-03-02T12:00:00Z",
                "merge_commit_sha": sha,
                "head": {"ref": "draft/x", "sha": sha},
                "base": {"ref": "main", "sha": sha},
            }
        ]
    )
    api.expect("/repos/acme/sops/pulls/15/reviews").respond_with_json(
        [
            review(1, "lee-chen", "APPROVED", "2026-03-02T10:14:00Z", pr=15, commit=sha),
            review(2, "kim-park", "APPROVED", "2026-03-02T10:15:00Z", pr=15, commit=sha),
        ]
    )
    api.expect("/repos/acme/sops/pulls/15/commits").respond_with_json([pr_commit(sha, "ben-ode")])
    api.expect(f"{MANAGERS}/lee-chen", query="").respond_with_json(membership("lee-chen"))
    api.expect(f"{MANAGERS}/kim-park", query="").respond_with_json(NOT_FOUND, status=404)

    sopgit(run, governed, "release", "--date", "2026-03-03")

    message = tag_message(governed, "ENG-001/v1.0.1")
    assert "Pull-Request: #15\n" in message
    assert f"Approved-by: @lee-chen (manager; commit {sha[:10]}) 2026-03-02T10:14:00Z\n" in message


# --- errors: one line, exit 2, nothing written ------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "headers", "says"),
    [
        (
            401,
            {
                "message": "Bad credentials",
                "documentation_url": "https://docs.github.com/rest",
                "status": "401",
            },
            {},
            f"GitHub refused the token (401 Bad credentials) on {ON_REVIEWS}; "
            "check GITHUB_TOKEN or --github-token",
        ),
        (
            403,
            {"message": "API rate limit exceeded for installation ID 1."},
            # Retry-After, not a reset time: the wait must not depend on the wall clock.
            {"x-ratelimit-limit": "1000", "x-ratelimit-remaining": "0", "retry-after": "3600"},
            f"GitHub's rate limit is reached ({ON_REVIEWS}); it resets in "
            "about 60 minute(s): try again then",
        ),
        (
            404,
            NOT_FOUND,
            {},
            f"GitHub has no {REVIEWS_12} (404); check GITHUB_REPOSITORY=acme/sops",
        ),
        (
            500,
            {"message": "Server Error"},
            {},
            f"GitHub failed {ON_REVIEWS} (500: Server Error); try again later",
        ),
    ],
)
def test_github_errors_are_one_line_exit_2_and_write_nothing(
    governed, run, api, tmp_path, monkeypatch, status, body, headers, says
):
    draft(governed)
    merge_pr(governed, "draft/ENG-001-deployment-process", 12, "2026-03-02T12:00:00Z")
    api.expect(REVIEWS_12).respond_with_json(body, status=status, headers=headers)
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    before = tree_state(governed)

    for args in (["release"], ["review-round", "--pr", "12", "--comment", "--base", "HEAD~1"]):
        result = sopgit(run, governed, *args, expect=2)
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith(f"sopgit: {says}"), result.stderr
        assert tree_state(governed) == before
        assert not summary.exists()


# --- an approval binds to the commit it was given on ------------------------------------


def approve_at(api, head: str, pr_commits: list[str], lee: str = "2026-03-01T12:00:00Z") -> None:
    """Lee (a manager, through @acme/eng-managers) and Kim approve pull request #12 at HEAD."""
    api.expect(REVIEWS_12).respond_with_json(
        [
            review(1, "lee-chen", "APPROVED", lee, commit=head),
            review(2, "kim-park", "APPROVED", "2026-03-01T12:30:00Z", commit=head),
        ]
    )
    api.expect(COMMITS_12).respond_with_json([pr_commit(sha, "ben-ode") for sha in pr_commits])
    api.expect(f"{MANAGERS}/lee-chen", query="").respond_with_json(membership("lee-chen"))
    api.expect(f"{MANAGERS}/kim-park", query="").respond_with_json(NOT_FOUND, status=404)


def test_a_review_of_an_older_head_does_not_approve_what_was_pushed_after_it(governed, run, api):
    first = draft(governed)
    edit(governed, ENG_001, "Tell the on-call engineer before rolling back.")
    second = commit_as(governed, BEN, "fix(ENG-001): tell on-call", "2026-03-02T09:00:00Z")
    approve_at(api, first, [first, second])

    text = sopgit(run, governed, "review-round", "--pr", "12").stdout

    stale = f"approved an earlier version (commit {first[:10]}): GitHub review of pull request #12"
    assert f"  stale    @kim-park {stale}, 2026-03-01T12:30:00Z\n" in text
    assert f"  stale    @lee-chen {stale}, 2026-03-01T12:00:00Z\n" in text
    assert "  missing  peer, manager" in text
    assert "approved @" not in text
    markdown = sopgit(run, governed, "review-round", "--pr", "12", "--format", "markdown").stdout
    assert (
        f"- Stale, not counted: `@lee-chen` approved an earlier version (commit {first[:10]}), "
        "GitHub review of pull request #12\n" in markdown
    )
    assert "| **peer**, **manager** |" in markdown
    report = json.loads(
        sopgit(run, governed, "review-round", "--pr", "12", "--format", "json").stdout
    )
    (sop,) = report["sops"]
    assert [(s["signer"], s["approved_commit"], s["counted"]) for s in sop["stale"]] == [
        ("@lee-chen", first, False),
        ("@kim-park", first, False),
    ]

    merge_pr(governed, "draft/ENG-001-deployment-process", 12, "2026-03-02T12:00:00Z")
    before = tree_state(governed)
    result = sopgit(run, governed, "release", expect=1)
    assert result.stderr == (
        "sopgit: release refused: ENG-001 lacks approval as peer, manager [not counted: "
        f"@lee-chen approved an earlier version (commit {first[:10]}); "
        f"@kim-park approved an earlier version (commit {first[:10]})]. Approve in the pull "
        "request or with 'sopgit approve ID --role ROLE', or pass --allow-unapproved "
        "--reason TEXT\n"
    )
    assert tree_state(governed) == before


def test_a_review_of_the_head_approves_and_the_tag_names_the_commit(governed, run, api):
    draft(governed)
    edit(governed, ENG_001, "Tell the on-call engineer before rolling back.")
    head = commit_as(governed, BEN, "fix(ENG-001): tell on-call", "2026-03-02T09:00:00Z")
    approve_at(api, head, [head])
    merge_pr(governed, "draft/ENG-001-deployment-process", 12, "2026-03-02T12:00:00Z")

    sopgit(run, governed, "release", "--date", "2026-03-03")

    message = tag_message(governed, "ENG-001/v1.1.0")
    assert message.endswith(
        "Approval-Required: peer, manager\n"
        f"Approved-by: @kim-park (peer; commit {head[:10]}) 2026-03-01T12:30:00Z\n"
        f"Approved-by: @lee-chen (manager; commit {head[:10]}) 2026-03-01T12:00:00Z\n\n"
    )
    assert "Stale-" not in message
    assert "Approval-Stale" not in message
    assert table(governed, ENG_001)[-1].endswith("| @kim-park (peer), @lee-chen (manager) |")


def test_a_push_that_changes_only_another_sop_keeps_the_approval(governed, run, api):
    """Reviewed at FIRST; the push after it changes ENG-002 only: ENG-001's text is the
    one approved, ENG-002's is not."""
    first = draft(governed)
    edit(governed, ENG_002, "Two reviewers for risky changes.")
    second = commit_as(governed, BEN, "fix(ENG-002): two reviewers", "2026-03-02T09:00:00Z")
    approve_at(api, first, [first, second])
    merge_pr(governed, "draft/ENG-001-deployment-process", 12, "2026-03-02T12:00:00Z")

    result = sopgit(run, governed, "release", expect=1)
    assert "ENG-002 lacks approval as peer, manager [not counted: @lee-chen approved an " in (
        result.stderr
    )
    assert "ENG-001" not in result.stderr

    sopgit(run, governed, "release", "ENG-001", "--date", "2026-03-03")
    message = tag_message(governed, "ENG-001/v1.1.0")
    assert f"Approved-by: @lee-chen (manager; commit {first[:10]}) 2026-03-01T12:00:00Z\n" in (
        message
    )


def test_stale_keep_counts_an_earlier_approval_and_the_tag_records_it(governed, run, api):
    (governed / "sopgit.toml").write_text(
        POLICY.replace("[approval]\n", '[approval]\nstale = "keep"\n'), encoding="utf-8"
    )
    commit_all(governed, "chore: keep approvals of earlier versions, as GitHub does")
    first = draft(governed)
    edit(governed, ENG_001, "Tell the on-call engineer before rolling back.")
    second = commit_as(governed, BEN, "fix(ENG-001): tell on-call", "2026-03-02T09:00:00Z")
    approve_at(api, first, [first, second])

    text = sopgit(run, governed, "review-round", "--pr", "12").stdout
    assert (
        "  approved @lee-chen as manager, 2026-03-01T12:00:00Z, GitHub review of pull request "
        f"#12 on commit {first[:10]} (an earlier version; counted: stale = keep)\n" in text
    )
    assert "  missing  nothing" in text

    merge_pr(governed, "draft/ENG-001-deployment-process", 12, "2026-03-02T12:00:00Z")
    sopgit(run, governed, "release", "--date", "2026-03-03")

    message = tag_message(governed, "ENG-001/v1.1.0")
    assert message.endswith(
        "Approval-Required: peer, manager\n"
        f"Approved-by: @kim-park (peer; commit {first[:10]}; earlier version) "
        "2026-03-01T12:30:00Z\n"
        f"Approved-by: @lee-chen (manager; commit {first[:10]}; earlier version) "
        "2026-03-01T12:00:00Z\n"
        "Approval-Stale: keep\n\n"
    )
    assert "(an earlier version; counted under stale = keep)\n" in message
    # The history table names people and roles; the tag keeps the commits.
    assert table(governed, ENG_001)[-1].endswith("| @kim-park (peer), @lee-chen (manager) |")
    audit = json.loads(sopgit(run, governed, "audit", "ENG-001", "--format", "json").stdout)
    latest = audit["versions"][-1]
    assert latest["stale_policy"] == "keep"
    assert [(a["signer"], a["role"], a["approved_commit"]) for a in latest["approvals"]] == [
        ("@kim-park", "peer", first[:10]),
        ("@lee-chen", "manager", first[:10]),
    ]
    assert [s["reason"] for s in latest["stale_approvals"]] == [
        f"approved an earlier version (commit {first[:10]}); counted under stale = keep"
    ] * 2
    markdown = sopgit(run, governed, "audit", "ENG-001").stdout
    assert "| Signer | Role | Meaning | Time | Approved commit |" in markdown
    assert f"| @lee-chen | manager | approved | 2026-03-01T12:00:00Z | `{first[:10]}` |" in markdown
    assert 'Stale approvals (of an earlier text of the SOP; stale = "keep"):' in markdown


def test_a_squash_merged_head_this_clone_lacks_is_described_by_github(governed, run, api):
    """GitHub reviews the pull request's head; a squash merge leaves it out of main's
    history. GitHub's tree of that commit says which text was approved (one request)."""
    git(governed, "checkout", "-q", "-b", "draft/ENG-001-deployment-process")
    edit(governed, ENG_001, "Roll back within 10 minutes.")
    head = commit_as(
        governed, BEN, "feat(ENG-001): add a rollback deadline", "2026-03-01T09:00:00Z"
    )
    blob = git(governed, "rev-parse", f"HEAD:{ENG_001}").strip()
    other = git(governed, "rev-parse", f"HEAD:{ENG_002}").strip()
    git(governed, "checkout", "-q", "main")
    git(governed, "merge", "-q", "--squash", "draft/ENG-001-deployment-process")
    commit_as(governed, BEN, "feat(ENG-001): add a rollback deadline (#12)", "2026-03-02T12:00:00Z")
    git(governed, "branch", "-q", "-D", "draft/ENG-001-deployment-process")
    git(governed, "reflog", "expire", "--expire=now", "--all")
    git(governed, "gc", "-q", "--prune=now")
    gone = subprocess.run(["git", "cat-file", "-e", head], cwd=governed, capture_output=True)
    assert gone.returncode != 0  # this clone does not have the reviewed commit
    approve_at(api, head, [head])
    api.expect(f"/repos/acme/sops/git/trees/{head}", query="recursive=1").respond_with_json(
        {
            "sha": "9fb037999f264ba9a7fc6274d15fa3ae2ab98312",
            "url": f"https://api.github.com/repos/acme/sops/git/trees/{head}",
            "tree": [
                {"path": "sops", "mode": "040000", "type": "tree", "sha": "1" * 40},
                {"path": ENG_001, "mode": "100644", "type": "blob", "sha": blob, "size": 9},
                {"path": ENG_002, "mode": "100644", "type": "blob", "sha": other, "size": 9},
            ],
            "truncated": False,
        }
    )

    sopgit(run, governed, "release", "--date", "2026-03-03")

    message = tag_message(governed, "ENG-001/v1.1.0")
    assert f"Approved-by: @lee-chen (manager; commit {head[:10]}) 2026-03-01T12:00:00Z\n" in (
        message
    )
    trees = [r for r, _ in api.log if "/git/trees/" in r.path]
    assert len(trees) == 1


# --- bounded API use: 50 SOPs, 500 pending commits ----------------------------------------

MAIN = "refs/heads/main"
PEER_AND_MANAGER = POLICY.split("[approval.departments.CMP]")[0]  # for every department


class History:
    """Builds commits with one `git fast-import` stream: hundreds of commits in one process."""

    def __init__(self, root: Path, files: dict[str, str]) -> None:
        self.root = root
        self.files = dict(files)  # path -> text on main, as the stream goes
        self.lines: list[bytes] = []
        self.marks = 0
        self.time = 1772355600  # 2026-03-01T09:00:00Z, a minute more per commit
        self.main = git(root, "rev-parse", "HEAD").strip()

    def commit(self, ref: str, message: str, parent: str, changes: dict[str, str], merge=None):
        self.marks += 1
        self.time += 60
        who = f"Ben Ode <ben@acme.example> {self.time} +0000"
        data = message.encode()
        self.lines += [
            f"commit {ref}\nmark :{self.marks}\nauthor {who}\ncommitter {who}\n".encode(),
            f"data {len(data)}\n".encode() + data + b"\n",
            f"from {parent}\n".encode(),
            *([f"merge {merge}\n".encode()] if merge else []),
        ]
        for path, text in changes.items():
            body = text.encode()
            self.lines.append(f"M 100644 inline {path}\ndata {len(body)}\n".encode() + body + b"\n")
        self.lines.append(b"\n")
        return f":{self.marks}"

    def run(self) -> dict[str, str]:
        """Import the stream; check main out; return mark -> commit id."""
        marks = self.root.parent / "marks"
        done = subprocess.run(
            ["git", "fast-import", "--quiet", f"--export-marks={marks}"],
            cwd=self.root,
            input=b"".join(self.lines),
            capture_output=True,
        )
        assert done.returncode == 0, done.stderr.decode()
        git(self.root, "reset", "-q", "--hard", "main")
        return dict(line.split() for line in marks.read_text().splitlines())


def blob_id(text: str) -> str:
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def revised(text: str, line: str) -> str:
    return text.replace("## Purpose\n\n", f"## Purpose\n\n{line}\n\n", 1)


@pytest.fixture
def big_library(library: Path, run, monkeypatch) -> Path:
    """50 SOPs released as 1.0.0, then peer and manager approval required."""
    monkeypatch.setenv("SOPGIT_TODAY", "2026-04-01")
    for name in ("GITHUB_TOKEN", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(name, raising=False)
    text = (library / ENG_002).read_text(encoding="utf-8")
    for n in range(101, 137):
        copy = text.replace("sop_id: ENG-002", f"sop_id: ENG-{n}")
        copy = copy.replace("Code Review Standards", f"Code Review Standards {n}")
        (library / f"sops/engineering/ENG-{n}-code-review-standards-{n}.md").write_text(
            copy, encoding="utf-8"
        )
    commit_all(library, "docs: 36 more code review standards")
    sopgit(run, library, "release", "--date", "2025-04-01")
    (library / "sopgit.toml").write_text(PEER_AND_MANAGER, encoding="utf-8")
    commit_all(library, "chore: require peer and manager approval")
    return library


def test_a_release_of_50_sops_and_500_commits_stays_under_the_request_cap(
    big_library, run, api, monkeypatch
):
    root = big_library
    paths = sorted(str(p.relative_to(root)) for p in (root / "sops").rglob("*.md"))
    assert len(paths) == 50
    files = {p: (root / p).read_text(encoding="utf-8") for p in paths}
    stream = History(root, files)
    heads: dict[int, str] = {}  # pull request -> the head its reviews were given on
    main = start = stream.main
    squashed: dict[int, str] = {}  # pull request -> its squash commit on main

    # 10 pull requests merged with merge commits, 40 commits each (5 SOPs, 8 edits each).
    for j in range(10):
        number, branch = 101 + j, f"refs/heads/pr-{101 + j}"
        tip = main
        for k in range(8):
            for path in paths[5 * j : 5 * j + 5]:
                stream.files[path] = revised(stream.files[path], f"Step {k} of #{number}.")
                change = {path: stream.files[path]}
                tip = stream.commit(branch, f"fix(ENG): step {k} of {path}", tip, change)
        heads[number] = tip
        message = f"Merge pull request #{number} from acme/pr-{number}\n\nSteps.\n"
        merged = {p: stream.files[p] for p in paths[5 * j : 5 * j + 5]}
        main = stream.commit(MAIN, message, main, merged, merge=tip)
    # 60 squash merges: SOPs 0-29 twice each; the pull request's head stays at refs/pull/N/head.
    for i in range(60):
        number, path = 301 + i, paths[i // 2]
        stream.files[path] = revised(stream.files[path], f"Squashed #{number}.")
        change = {path: stream.files[path]}
        heads[number] = stream.commit(
            f"refs/pull/{number}/head", f"fix(ENG): tighten {path}", main, change
        )
        main = stream.commit(MAIN, f"fix(ENG): tighten {path} (#{number})", main, change)
        squashed[number] = main
    # 4 rebase merges: 10 commits each on main, no pull request in any subject; the
    # reviewed heads were never fetched (GitHub describes them), nor were their trees.
    rebased: dict[str, int] = {}
    trees: dict[str, dict[str, str]] = {}
    for j in range(4):
        number = 401 + j
        for k in range(2):
            for path in paths[30 + 5 * j : 35 + 5 * j]:
                stream.files[path] = revised(stream.files[path], f"Rebased {k} of #{number}.")
                main = stream.commit(
                    MAIN, f"fix(ENG): rebased {k}", main, {path: stream.files[path]}
                )
                rebased[main] = number
        heads[number] = hashlib.sha1(f"head of #{number}".encode()).hexdigest()
        trees[heads[number]] = {p: blob_id(t) for p, t in stream.files.items()}
    marks = stream.run()
    heads = {n: marks.get(h, h) for n, h in heads.items()}
    pulls = {marks[m]: n for m, n in rebased.items()}
    pending = git(root, "rev-list", "--count", "--no-merges", "HEAD", f"^{start}")
    assert int(pending) == 500

    def github(request: Request) -> Response:
        path = request.path
        if match := re.fullmatch(r"/repos/acme/sops/pulls/(\d+)/reviews", path):
            head = heads[int(match.group(1))]
            pr = int(match.group(1))
            body: object = [
                review(1, "lee-chen", "APPROVED", "2026-03-02T10:00:00Z", pr, head),
                review(2, "kim-park", "APPROVED", "2026-03-02T10:05:00Z", pr, head),
            ]
        elif match := re.fullmatch(r"/repos/acme/sops/pulls/(\d+)/commits", path):
            body = [pr_commit(heads[int(match.group(1))], "ben-ode")]
        elif match := re.fullmatch(r"/repos/acme/sops/commits/(\w+)/pulls", path):
            number = pulls.get(match.group(1), 0)  # 0: pushed to main directly, no PR
            body = [
                {
                    "number": number,
                    "state": "closed",
                    "title": f"Rebased #{number}",
                    "user": {"login": "ben-ode"},
                    "merged_at": "2026-03-03T12:00:00Z",
                    "merge_commit_sha": match.group(1),
                }
            ][: 1 if number else 0]
        elif match := re.fullmatch(r"/repos/acme/sops/git/trees/(\w+)", path):
            listing = trees[match.group(1)]
            body = {
                "sha": "0" * 40,
                "url": f"https://api.github.com{path}",
                "tree": [
                    {"path": p, "mode": "100644", "type": "blob", "sha": s, "size": 1}
                    for p, s in sorted(listing.items())
                ],
                "truncated": False,
            }
        elif path == f"{MANAGERS}/lee-chen":
            body = membership("lee-chen")
        elif path == "/repos/acme/sops/issues/999/comments":
            body = {"id": 1, "html_url": "https://github.com/acme/sops/pull/999#issuecomment-1"}
            if request.method == "GET":
                body = []
        else:
            return Response(json.dumps(NOT_FOUND), status=404, content_type="application/json")
        return Response(json.dumps(body), content_type="application/json")

    api.expect_request(re.compile(r"^/(repos|orgs)/"), headers=HEADERS).respond_with_handler(github)

    # A cap of 60: the pull requests subjects name come first; then sopgit stops asking.
    low = PEER_AND_MANAGER + "\n[github]\nmax_requests = 60\n"
    (root / "sopgit.toml").write_text(low, encoding="utf-8")
    commit_all(root, "chore: a low request cap")
    before = tree_state(root)
    result = sopgit(run, root, "release", expect=1)
    assert len(api.log) == 60
    unattributed = sorted([*pulls, *(marks[squashed[n]] for n in range(321, 361))])
    warning, refusal = result.stderr.splitlines()
    assert warning == (
        "sopgit: warning: GitHub request cap reached ([github] max_requests = 60); "
        f"80 commit(s) not attributed to a pull request: "
        f"{', '.join(c[:10] for c in unattributed[:10])}, ..."
    )
    assert refusal.startswith("sopgit: release refused: ")
    assert refusal.count(" lacks approval as ") == 50
    # The 10 SOPs whose pull requests were all read: Kim is the peer; Lee's team was not
    # asked about (the cap), so nobody is the manager.
    assert refusal.count(" lacks approval as manager [not counted: ") == 10
    assert "ENG-001 lacks approval as manager [not counted: @lee-chen approved an " in refusal
    assert refusal.count("has 2 commit(s) not attributed to a pull request") == 40
    assert "ENG-001 has" not in refusal  # its pull requests (#102, #311, #312) were read
    assert "ENG-131 lacks approval as peer, manager, and ENG-131 has 2 commit(s)" in refusal
    assert tree_state(root) == before
    data = json.loads(sopgit(run, root, "review-round", "--format", "json").stdout)
    # The round asks first which pull request HEAD belongs to: one request less for #320.
    assert data["unattributed"] == sorted([*unattributed, marks[squashed[320]]])
    assert data["github_requests"] == 60
    assert data["ready"] is False
    # The cap bounds the look-ups; the report is still posted on the pull request.
    api.clear_log()
    result = sopgit(run, root, "review-round", "--pr", "999", "--comment", "--format", "json")
    assert json.loads(result.stdout)["unattributed"] == unattributed
    assert [(r.method, r.path) for r, _ in api.log[60:]] == [
        ("GET", "/repos/acme/sops/issues/999/comments"),
        ("POST", "/repos/acme/sops/issues/999/comments"),
    ]
    posted = json.loads(api.log[-1][0].get_data())["body"]
    assert "- No pull request known (GitHub request cap) for `" in posted

    # The default cap (200) is enough: every pull request and unnamed commit asked once.
    (root / "sopgit.toml").write_text(PEER_AND_MANAGER, encoding="utf-8")
    commit_all(root, "chore: the default request cap")
    api.clear_log()
    result = sopgit(run, root, "release", "--date", "2026-03-04")

    asked = [request.path for request, _ in api.log]
    assert len(asked) == len(set(asked)) == 194  # each thing asked once
    kinds = Counter(re.sub(r"[0-9a-f]{40}|\d+", "N", p) for p in asked)
    assert kinds == {
        "/repos/acme/sops/pulls/N/reviews": 74,  # 10 merges, 60 squashes, 4 rebase merges
        "/repos/acme/sops/pulls/N/commits": 74,
        "/repos/acme/sops/commits/N/pulls": 40,  # the commits no subject names
        "/repos/acme/sops/git/trees/N": 4,  # the rebase merges' heads, not in this clone
        "/orgs/acme/teams/eng-managers/memberships/lee-chen": 1,
        "/orgs/acme/teams/eng-managers/memberships/kim-park": 1,
    }
    assert result.stdout.count(" -> 1.0.1 (patch)") == 50
    assert "warning" not in result.stderr
    # ENG-001: reviewed in #102 (a merge) and #311, #312 (squashes); only #312 saw its text.
    last = tag_message(root, "ENG-001/v1.0.1")
    assert f"Approved-by: @lee-chen (manager; commit {heads[312][:10]}) " in last
    assert f"Stale-Approved-by: @lee-chen (commit {heads[102][:10]}) " in last
    assert f"Stale-Approved-by: @lee-chen (commit {heads[311][:10]}) " in last
    # ENG-131: rebase-merged in #403, whose head only GitHub knows.
    assert f"(manager; commit {heads[403][:10]})" in tag_message(root, "ENG-131/v1.0.1")


def test_past_the_cap_a_release_is_refused_and_an_override_records_the_commits(governed, run, api):
    (governed / "sopgit.toml").write_text(POLICY + "\n[github]\nmax_requests = 1\n", "utf-8")
    commit_all(governed, "chore: one GitHub request at most")
    edit(governed, ENG_001, "Rebased in.")
    sha = commit_as(governed, BEN, "fix(ENG-001): rebased in", "2026-03-01T09:00:00Z")
    api.expect(f"/repos/acme/sops/commits/{sha}/pulls").respond_with_json(
        [{"number": 15, "state": "closed", "user": {"login": "ben-ode"}, "merged_at": "x"}]
    )

    result = sopgit(run, governed, "release", expect=1)

    assert result.stderr.splitlines() == [
        "sopgit: warning: GitHub request cap reached ([github] max_requests = 1); "
        f"1 commit(s) not attributed to a pull request: {sha[:10]}",
        "sopgit: release refused: ENG-001 lacks approval as peer, manager, and ENG-001 has "
        f"1 commit(s) not attributed to a pull request ({sha[:10]}; the GitHub request cap "
        "was reached). Approve in the pull request or with 'sopgit approve ID --role ROLE', "
        "or pass --allow-unapproved --reason TEXT",
    ]
    assert len(api.log) == 1

    sopgit(run, governed, "release", "--allow-unapproved", "--reason", "INC-7 outage")

    message = tag_message(governed, "ENG-001/v1.0.1")
    assert message.endswith(
        "Approval-Required: peer, manager\n"
        f"Unattributed-Commit: {sha}\n"
        "Allow-Unapproved: INC-7 outage\n"
        "Missing-Approval: peer\n"
        "Missing-Approval: manager\n\n"
    )
