"""The GitHub REST API, as much as sopgit needs, over the standard library's urllib.

Five endpoints (commit -> pull requests, reviews, pull request commits, team
membership, issue comments) do not justify a client library and its dependency
tree; urllib gives full control of the pinned API version, of Link pagination and of
rate limits. Every failure is a GitHubError: one line saying what to do, exit 2.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sopgit.core.approvals import Review
from sopgit.errors import SopgitError

API_VERSION = "2022-11-28"
DEFAULT_API = "https://api.github.com"
MAX_WAIT = 60.0  # seconds: a longer rate-limit wait is an error, not a hang
RETRIES = 3
TIMEOUT = 30.0
NEXT_LINK = re.compile(r'<(?P<url>[^>]+)>\s*;\s*rel="?next"?')
# git@host:owner/name(.git), ssh://git@host[:port]/owner/name, https://host/owner/name
REMOTE = re.compile(
    r"^(?:(?:https?|ssh|git)://(?:[^@/]+@)?(?P<host>[^/:]+)(?::\d+)?/|(?:[^@/]+@)?(?P<scp>[^/:]+):)"
    r"(?P<owner>[\w.-]+)/(?P<name>[\w.-]+?)(?:\.git)?/?$"
)


class GitHubError(SopgitError):
    """GitHub refused or failed a request (exit 2)."""


class RequestCapReached(GitHubError):
    """The command made as many requests as `[github] max_requests` allows."""


@dataclass(frozen=True)
class Repository:
    owner: str
    name: str

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


def parse_remote(url: str) -> tuple[str, Repository] | None:
    """(host, owner/name) of a git remote URL, or None for a local path."""
    match = REMOTE.match(url.strip())
    if not match:
        return None
    host = match.group("host") or match.group("scp")
    return host.lower(), Repository(match.group("owner"), match.group("name"))


def from_environment(
    env: Mapping[str, str],
    token: str | None = None,
    remote_url: str | None = None,
    max_requests: int | None = None,
) -> GitHubClient | None:
    """A client when a token is given (TOKEN or GITHUB_TOKEN), else None.

    The repository is GITHUB_REPOSITORY, else the remote's, when that is on GitHub (or
    GITHUB_API_URL says where a GitHub Enterprise server is). A token from the
    environment with no GitHub repository in sight means "not on GitHub": no client.
    """
    explicit = bool(token)
    token = token or env.get("GITHUB_TOKEN", "")
    if not token:
        return None
    api = env.get("GITHUB_API_URL", "").rstrip("/")
    repository = None
    if env.get("GITHUB_REPOSITORY"):
        owner, _, name = env["GITHUB_REPOSITORY"].partition("/")
        if not owner or not name:
            raise GitHubError(f"GITHUB_REPOSITORY={env['GITHUB_REPOSITORY']!r} is not owner/name")
        repository = Repository(owner, name)
    elif remote_url:
        parsed = parse_remote(remote_url)
        if parsed and (parsed[0] == "github.com" or api):
            repository = parsed[1]
    if repository is None:
        if explicit:
            raise GitHubError(
                "cannot tell the GitHub repository; set GITHUB_REPOSITORY=owner/name "
                "or use a remote on GitHub"
            )
        return None
    return GitHubClient(token, repository, api or DEFAULT_API, max_requests=max_requests)


class GitHubClient:
    def __init__(
        self,
        token: str,
        repository: Repository,
        api_url: str = DEFAULT_API,
        *,
        max_wait: float = MAX_WAIT,
        sleep: Callable[[float], None] = time.sleep,
        max_requests: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = token
        self.repository = repository
        self.api_url = api_url.rstrip("/")
        self.max_wait = max_wait
        self.sleep = sleep
        self.clock = clock  # now, in seconds since the epoch (a rate limit's reset time)
        self.requests = 0  # how many were made, for tests and progress
        self.max_requests = max_requests  # past it, request() raises RequestCapReached

    # --- the endpoints ------------------------------------------------------------

    @property
    def _repo(self) -> str:
        return f"/repos/{_quote(self.repository.owner)}/{_quote(self.repository.name)}"

    def pulls_for_commit(self, sha: str) -> list[dict[str, Any]]:
        """The pull requests that brought SHA in (merged, or open for a branch commit)."""
        # 422: GitHub does not know the commit (not pushed, or a local merge): none then.
        return list(self.paginate(f"{self._repo}/commits/{_quote(sha)}/pulls", tolerate=(422,)))

    def reviews(self, number: int) -> list[Review]:
        return [
            Review(
                login=str((item.get("user") or {}).get("login") or ""),
                state=str(item.get("state") or ""),
                submitted_at=item.get("submitted_at"),
                pull_request=number,
                commit_id=item.get("commit_id"),
            )
            for item in self.paginate(f"{self._repo}/pulls/{number}/reviews")
            if (item.get("user") or {}).get("login")
        ]

    def tree_blobs(self, commit: str) -> dict[str, str] | None:
        """Path -> blob id of every file at COMMIT (None when GitHub does not know it).

        For a reviewed commit this clone lacks: a squash-merged pull request's head."""
        path = f"{self._repo}/git/trees/{_quote(commit)}?recursive=1"
        status, _, data = self.request("GET", path, tolerate=(404, 409, 422))
        if status != 200 or not isinstance(data, dict) or data.get("truncated"):
            return None
        return {
            str(item["path"]): str(item["sha"])
            for item in data.get("tree") or []
            if isinstance(item, dict) and item.get("type") == "blob" and item.get("path")
        }

    def pull_commit_logins(self, number: int) -> set[str]:
        """GitHub logins of the authors of a pull request's commits (API limit: 250)."""
        return {
            str(item["author"]["login"])
            for item in self.paginate(f"{self._repo}/pulls/{number}/commits")
            if isinstance(item.get("author"), dict) and item["author"].get("login")
        }

    def is_team_member(self, team: str, login: str) -> bool:
        """Is LOGIN an active member of TEAM (`@org/team-slug`)? 404 means no."""
        org, _, slug = team.lstrip("@").partition("/")
        path = f"/orgs/{_quote(org)}/teams/{_quote(slug)}/memberships/{_quote(login)}"
        status, _, data = self.request("GET", path, tolerate=(404,))
        return status == 200 and isinstance(data, dict) and data.get("state") == "active"

    def upsert_comment(self, number: int, body: str, marker: str, *, create: bool = True) -> str:
        """Update the pull request's comment holding MARKER, else post one (if CREATE).

        Returns the comment's URL ("" when none was posted).
        """
        for comment in self.paginate(f"{self._repo}/issues/{number}/comments"):
            if marker in str(comment.get("body") or ""):
                if comment.get("body") == body:
                    return str(comment.get("html_url") or "")  # nothing new: no edit
                path = f"{self._repo}/issues/comments/{int(comment['id'])}"
                _, _, data = self.request("PATCH", path, {"body": body})
                return str((data or {}).get("html_url") or "")
        if not create:
            return ""
        _, _, data = self.request("POST", f"{self._repo}/issues/{number}/comments", {"body": body})
        return str((data or {}).get("html_url") or "")

    def release_pull_request(
        self, branch: str, base: str, title: str, body: str
    ) -> tuple[int, str, bool]:
        """Open the pull request of BRANCH into BASE, or update the open one: (number,
        URL, whether it was opened now)."""
        query = {
            "state": "open",
            "head": f"{self.repository.owner}:{branch}",
            "base": base,
            "per_page": "100",
        }
        _, _, found = self.request("GET", self._url(f"{self._repo}/pulls", query))
        for pull in found if isinstance(found, list) else []:
            if isinstance(pull, dict) and isinstance(pull.get("number"), int):
                number = int(pull["number"])
                if pull.get("title") != title or pull.get("body") != body:
                    self.request(
                        "PATCH", f"{self._repo}/pulls/{number}", {"title": title, "body": body}
                    )
                return number, str(pull.get("html_url") or ""), False
        _, _, made = self.request(
            "POST",
            f"{self._repo}/pulls",
            {"title": title, "head": branch, "base": base, "body": body},
        )
        if not isinstance(made, dict) or not isinstance(made.get("number"), int):
            raise GitHubError(f"GitHub answered POST {self._repo}/pulls with no pull request")
        return int(made["number"]), str(made.get("html_url") or ""), True

    # --- the transport ------------------------------------------------------------

    def paginate(self, path: str, *, tolerate: tuple[int, ...] = ()) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, following the Link header's next URL verbatim."""
        url: str | None = self._url(path, {"per_page": "100"})
        while url:
            status, headers, data = self.request("GET", url, tolerate=tolerate)
            if status in tolerate:
                return
            if not isinstance(data, list):
                raise GitHubError(f"GitHub answered GET {_path(url)} with no list; is it a list?")
            yield from (item for item in data if isinstance(item, dict))
            url = _next_link(headers.get("link", ""))

    def request(
        self, method: str, path: str, body: Any = None, *, tolerate: tuple[int, ...] = ()
    ) -> tuple[int, Mapping[str, str], Any]:
        """One API call: (status, headers lower-cased, JSON). Waits out short rate limits.

        A status in TOLERATE is an answer (with no data), not an error.
        """
        url = path if path.startswith(("http://", "https://")) else self._url(path)
        if _origin(url) != _origin(self.api_url):  # never send the token elsewhere
            raise GitHubError(f"GitHub pointed at {_origin(url)}, not {_origin(self.api_url)}")
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(RETRIES + 1):
            if self.max_requests is not None and self.requests >= self.max_requests:
                raise RequestCapReached(
                    f"stopped asking GitHub after {self.requests} requests ([github] max_requests)"
                )
            req = urllib.request.Request(url, data=data, method=method, headers=self._headers())
            # Not copied onto a redirect: the token only ever goes to the API's host.
            req.add_unredirected_header("Authorization", f"Bearer {self.token}")
            self.requests += 1
            try:
                with urllib.request.urlopen(req, timeout=TIMEOUT) as response:
                    headers = {k.lower(): v for k, v in response.headers.items()}
                    return response.status, headers, _json(response.read(), method, url)
            except urllib.error.HTTPError as err:
                headers = {k.lower(): v for k, v in err.headers.items()}
                text = err.read()
                if err.code in tolerate:
                    return err.code, headers, None
                wait = _rate_limit_wait(err.code, headers, self.clock())
                if wait is not None and wait <= self.max_wait and attempt < RETRIES:
                    self.sleep(max(wait, 1.0))
                    continue
                raise self._error(method, url, err.code, headers, text, wait) from None
            except (urllib.error.URLError, TimeoutError, OSError) as err:
                reason = getattr(err, "reason", err)
                raise GitHubError(
                    f"cannot reach GitHub at {self.api_url} ({reason}); check the network "
                    "or GITHUB_API_URL"
                ) from None
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _url(self, path: str, query: Mapping[str, str] | None = None) -> str:
        suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
        return f"{self.api_url}{path}{suffix}"

    def _headers(self) -> dict[str, str]:
        from importlib.metadata import PackageNotFoundError, version

        try:
            agent = f"sopgit/{version('sopgit')}"
        except PackageNotFoundError:  # pragma: no cover - a checkout that is not installed
            agent = "sopgit"
        return {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": agent,
            "Content-Type": "application/json",
        }

    def _error(
        self,
        method: str,
        url: str,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        wait: float | None,
    ) -> GitHubError:
        where = f"{method} {_path(url)}"
        said = _message(body)
        if wait is not None:
            minutes = max(1, round(wait / 60))
            return GitHubError(
                f"GitHub's rate limit is reached ({where}); it resets in about {minutes} "
                f"minute(s): try again then{said and f' ({said})'}"
            )
        if status == 401:
            return GitHubError(
                f"GitHub refused the token ({status} {said or 'Bad credentials'}) on {where}; "
                "check GITHUB_TOKEN or --github-token"
            )
        if status == 403:
            return GitHubError(
                f"GitHub denied {where} ({status}{said and f': {said}'}); the token needs "
                "contents: read and pull-requests: read (write to comment)"
            )
        if status == 404:
            return GitHubError(
                f"GitHub has no {_path(url)} (404); check GITHUB_REPOSITORY="
                f"{self.repository.full_name} and that the token can see it"
            )
        return GitHubError(
            f"GitHub failed {where} ({status}{said and f': {said}'}); try again later"
        )


def _rate_limit_wait(status: int, headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait before retrying a rate-limited request; None if it is not one."""
    if status not in (403, 429):
        return None
    retry_after = headers.get("retry-after", "")
    if retry_after.strip().isdigit():
        return float(retry_after)
    if headers.get("x-ratelimit-remaining") == "0":
        reset = headers.get("x-ratelimit-reset", "")
        return max(0.0, float(reset) - now) if reset.strip().isdigit() else 60.0
    return 60.0 if status == 429 else None


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _next_link(header: str) -> str | None:
    for part in header.split(","):
        match = NEXT_LINK.search(part)
        if match:
            return match.group("url")
    return None


def _json(raw: bytes, method: str, url: str) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise GitHubError(f"GitHub answered {method} {_path(url)} with no JSON") from None


def _message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    return " ".join(str(data.get("message", "")).split()) if isinstance(data, dict) else ""


def _path(url: str) -> str:
    return urllib.parse.urlsplit(url).path or url


def _quote(part: str) -> str:
    return urllib.parse.quote(part, safe="")


# --- GitHub Actions ---------------------------------------------------------------


def event_pull_request(env: Mapping[str, str]) -> int | None:
    """The pull request an Actions run is about: the event payload's, else GITHUB_REF's."""
    path = env.get("GITHUB_EVENT_PATH")
    if path and os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as handle:
                event = json.load(handle)
        except (OSError, ValueError):
            event = {}
        pull = event.get("pull_request") if isinstance(event, dict) else None
        number = pull.get("number") if isinstance(pull, dict) else None
        if isinstance(number, int):
            return number
    match = re.match(r"^refs/pull/(\d+)/", env.get("GITHUB_REF", ""))
    return int(match.group(1)) if match else None


def append_step_summary(env: Mapping[str, str], markdown: str) -> bool:
    """Append MARKDOWN to the job summary when GITHUB_STEP_SUMMARY names the file."""
    path = env.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(markdown if markdown.endswith("\n") else markdown + "\n")
    return True
