"""`sopgit build`: the static site, checked as files and in a real headless browser.

The browser is Debian's chromium driven by Selenium through Debian's chromedriver
(given explicitly, so Selenium Manager never downloads anything). The site is served
by a local http.server on 127.0.0.1, and one page is also opened from disk (file://).
The library is the example one plus a hostile edit: a title, owner, tag, body and
commit subject that try to inject HTML and script.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
import yaml
from click.testing import CliRunner
from conftest import FIXED_ENV, commit_all, git, tree_state

from sopgit.cli.main import cli
from sopgit.core.history import HistoryRow
from sopgit.publish import site as site_module
from sopgit.publish.site import LABEL_WIDTH, css_string, render_body, safe_link, timeline

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SHOTS = Path("/tmp/sopgit-shots")
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(1)>"
SCRIPTS = ("assets/site.js", "assets/vendor/minisearch.js")
AXE = Path(__file__).with_name("axe.min.js")  # axe-core 4.14.1 from npm (MPL-2.0), test-only
ENG_002 = "sops/engineering/ENG-002-code-review-standards.md"
TODAY = "2026-07-10"

needs_browser = pytest.mark.skipif(
    not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)),
    reason="Debian's chromium and chromedriver are not installed "
    "(apt-get install chromium chromium-driver; .ci/run does it)",
)


def invoke(*args: str, expect: int = 0):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == expect, result.output + result.stderr
    return result


def make_hostile(root: Path) -> None:
    """ENG-002 gets hostile text everywhere a user or a commit can put it."""
    path = root / ENG_002
    text = path.read_text(encoding="utf-8")
    text = text.replace("title: Code Review Standards", f"title: '{HOSTILE}'")
    text = text.replace("# Code Review Standards", f"# {HOSTILE}", 1)
    text = re.sub(r"owner: .*", f"owner: 'Eve {HOSTILE}'", text, count=1)
    text = text.replace("tags: [", "tags: ['<b>tag</b>', ", 1)
    text = text.replace(
        "## Purpose\n",
        "## Purpose\n\n<script>alert(2)</script>\n\n<div onclick=alert(3)>raw html</div>\n\n"
        "[click me](javascript:alert(4)) [data](data:text/html,<script>alert(5)</script>) "
        "[ok](https://example.org/ok)\n",
        1,
    )
    path.write_text(text, encoding="utf-8")
    commit_all(root, f"fix(ENG-002): {HOSTILE}")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The example library with the hostile edit, built once for the module: its root."""
    home = tmp_path_factory.mktemp("site-home")
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Ana Ruiz\n\temail = ana@acme.example\n"
        "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n"
    )
    root = tmp_path_factory.mktemp("site") / "example"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
        patch.setenv("SOPGIT_TODAY", TODAY)
        for key, value in FIXED_ENV.items():
            patch.setenv(key, value)
        invoke("init", "--example", str(root))
        make_hostile(root)
        invoke("-C", str(root), "build")
        yield root


@pytest.fixture(scope="module")
def server(built: Path) -> Iterator[str]:
    """The built site over HTTP on 127.0.0.1: its base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(built / "_site"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.skip("Debian's chromium and chromedriver are not installed")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="sopgit-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_window_size(1280, 900)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def no_alert(driver) -> bool:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        driver.switch_to.alert  # noqa: B018 - raises when there is none
    except NoAlertPresentException:
        return True
    return False


def visible_rows(driver) -> list:
    from selenium.webdriver.common.by import By

    return [
        row for row in driver.find_elements(By.CSS_SELECTOR, "tr.sop-row") if row.is_displayed()
    ]


# --- the files ---------------------------------------------------------------------------


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        for name, value in attrs:
            if name in ("href", "src") and value is not None:
                self.urls.append(value)


def expected_pages(root: Path) -> list[str]:
    """What a reader needs, from status and the tags: each SOP's page, a page per
    released version, a draft page where changes are pending, the changelog by year."""
    rows = json.loads(invoke("-C", str(root), "status", "--format", "json").stdout)
    tags = git(root, "for-each-ref", "--format=%(refname:strip=2) %(contents)", "refs/tags")
    years = set(re.findall(r"Release-Date: (\d{4})-", tags))
    pages = ["index.html", "changelog.html", *(f"changelog/{y}.html" for y in years)]
    if any(row["pending"] for row in rows):
        pages.append("changelog/unreleased.html")
    for row in rows:
        pages.append(f"sops/{row['id']}.html")
        if row["pending"] and row["version"]:
            pages.append(f"sops/{row['id']}/draft.html")
    released: dict[str, list[str]] = {}
    for name in git(root, "tag", "--list").split():
        sop_id, _, version = name.partition("/v")
        pages.append(f"sops/{sop_id}/{version}.html")
        released.setdefault(sop_id, []).append(version)
    for sop_id, versions in released.items():  # every release but the first: its changes
        versions.sort(key=lambda v: tuple(int(n) for n in v.split(".")))
        pages += [f"sops/{sop_id}/{version}-changes.html" for version in versions[1:]]
    return sorted(pages)


def test_build_writes_every_page_with_relative_links_only(built):
    site = built / "_site"
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    assert pages == expected_pages(built)
    assert "sops/ENG-001/1.0.0.html" in pages
    assert "sops/OPS-002/draft.html" in pages
    assert (site / "assets/site.css").is_file()
    assert (site / "assets/site.js").is_file()
    assert (site / "assets/vendor/minisearch.js").is_file()
    assert (site / "assets/vendor/minisearch.LICENSE.txt").is_file()
    for page in site.rglob("*.html"):
        parser = Links()
        parser.feed(page.read_text(encoding="utf-8"))
        for url in parser.urls:
            parsed = urlparse(url)
            if parsed.scheme in ("http", "https"):  # only what an author linked to
                assert url == "https://example.org/ok", (page, url)
                continue
            if parsed.scheme == "data":  # the empty favicon: no request at all
                continue
            assert parsed.scheme == "", (page, url)
            assert not url.startswith("/"), (page, url)  # relative: works from any folder
            if parsed.path:
                target = (page.parent / parsed.path).resolve()
                assert target.is_file(), (page, url)
    css = (site / "assets/site.css").read_text(encoding="utf-8")
    assert "@import" not in css
    assert "url(" not in css
    assert "@media print" in css
    assert "break-inside: avoid" in css


def status_ids(root: Path) -> str:
    result = invoke("-C", str(root), "status", "--format", "json")
    return json.dumps([row["id"] for row in json.loads(result.stdout)])


def test_hostile_text_is_escaped_in_every_page(built):
    for page in (built / "_site").rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        parser = Links()
        parser.feed(html)
        for tag, attrs in parser.tags:  # what a browser would build from the page
            assert tag not in ("img", "b", "div") or tag == "div" and "onclick" not in attrs
            assert tag != "script" or attrs.get("src", "").endswith(SCRIPTS), page
            assert not any(name.startswith("on") for name in attrs), (page, tag, attrs)
            href = (attrs.get("href") or "").lower()
            assert not href.startswith(("javascript", "data:text")), (page, href)
    # the hostile edit is not released: it shows on the draft page only
    effective = (built / "_site/sops/ENG-002.html").read_text(encoding="utf-8")
    assert "alert" not in effective
    sop = (built / "_site/sops/ENG-002/draft.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in sop
    assert "[click me](javascript:alert(4))" in sop  # left as text, not a link
    assert '<a href="https://example.org/ok">ok</a>' in sop


def test_build_refuses_a_folder_it_did_not_build(example, run, tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me", encoding="utf-8")

    result = run("-C", str(example), "build", "--output", str(target), expect=2)

    assert "did not build" in result.stderr
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    result = run("-C", str(example), "build", "--output", str(example), expect=2)
    assert "is the library" in result.stderr


def test_a_build_without_its_record_replaces_its_own_site_whole(example, run):
    """With nothing kept of the last build (--no-cache here), which files it wrote is not
    known: the folder sopgit built is replaced whole. (With the record, only the files
    sopgit wrote are replaced or removed: see test_site_incremental.py.)"""
    run("-C", str(example), "build")
    stale = example / "_site/sops/OLD-001.html"
    stale.write_text("old", encoding="utf-8")

    run("-C", str(example), "--no-cache", "build")

    assert not stale.exists()
    assert (example / "_site/sops/ENG-001.html").is_file()
    assert not [p for p in example.iterdir() if p.name.startswith("._site-")]  # no leftovers


def test_build_dry_run_lists_the_pages_and_writes_nothing(example, run):
    before = tree_state(example)
    result = run("-C", str(example), "build", "--dry-run")
    assert tree_state(example) == before
    assert not (example / "_site").exists()
    assert "index.html" in result.stdout
    assert "sops/ENG-001.html" in result.stdout


def test_build_reads_git_once(example, run, tmp_path, monkeypatch):
    """One history scan and one tag listing, whatever the number of pages."""
    log = tmp_path / "git.log"
    shim = tmp_path / "bin"
    shim.mkdir()
    real = shutil.which("git")
    (shim / "git").write_text(f'#!/bin/sh\necho "$1" >> "{log}"\nexec "{real}" "$@"\n')
    (shim / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")

    run("-C", str(example), "build")

    calls = log.read_text().split()
    assert calls.count("log") == 1
    assert calls.count("for-each-ref") == 1
    assert calls.count("cat-file") == 1  # every released text and draft in one process
    assert len(calls) <= 9, calls


def test_library_site_templates_and_static_files_override(example, run):
    folder = example / "templates/site"
    (folder / "static").mkdir(parents=True)
    (folder / "index.html.j2").write_text(
        '{% extends "base.html.j2" %}{% block main %}<p id="custom">{{ index.count }} '
        "{{ site.name }} {{ '<i>' }}</p>{% endblock %}",
        encoding="utf-8",
    )
    (folder / "static/site.css").write_text("body { color: teal; }\n", encoding="utf-8")

    run("-C", str(example), "build")

    home = (example / "_site/index.html").read_text(encoding="utf-8")
    assert '<p id="custom">14 Acme SOP Library &lt;i&gt;</p>' in home  # still escaped
    assert (example / "_site/assets/site.css").read_text() == "body { color: teal; }\n"
    assert (example / "_site/assets/site.js").is_file()  # the packaged one, not overridden


def test_init_writes_a_pages_workflow(tmp_path, run):
    root = tmp_path / "lib"
    run("init", str(root))

    flow = yaml.safe_load((root / ".github/workflows/sopgit-site.yml").read_text())

    triggers = flow[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["push"]["branches"] == ["main"]
    assert "workflow_dispatch" in triggers
    assert flow["jobs"]["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    steps = flow["jobs"]["build"]["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["uses"] == "actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8"
    assert checkout["with"]["fetch-depth"] == 0
    assert any(s.get("with", {}).get("args", "").startswith("build ") for s in steps)
    assert any(s.get("uses", "").startswith("actions/upload-pages-artifact@") for s in steps)
    deploy = flow["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert deploy["steps"][0]["uses"].startswith("actions/deploy-pages@")


# --- the pure parts -----------------------------------------------------------------------


def test_markdown_is_rendered_safely():
    body = (
        "# Title\n\n## Purpose\n\nText <b>bold</b> and <!-- c -->\n\n"
        "<script>alert(1)</script>\n\n"
        "[a](javascript:alert(1)) [b](JaVaScRiPt:x) [c](vbscript:x) [d](data:text/html,x) "
        "[e](file:///etc/passwd) [f](https://ok.example) [g](mailto:q@x.example) "
        "[h](ENG-002-code-review-standards.md#scope) [i](../other/file.md)\n\n"
        "![img](javascript:alert(1))\n\n"
        "## Procedure\n\n### 1. First\n\n- one\n\n### 2. Second\n\n| a | b |\n|---|---|\n"
        "| 1 | 2 |\n\n## Revision History\n\n<!-- sopgit:revision-history:start -->\n"
        "| Version | Date |\n|---|---|\n| 1.0.0 | 2025-01-01 |\n"
        "<!-- sopgit:revision-history:end -->\n"
    )
    links = {"sops/engineering/ENG-002-code-review-standards.md": "ENG-002.html"}

    out = render_body(body, "Title", links, "sops/engineering/ENG-001-x.md")
    html = str(out.html)

    assert "<h1" not in html  # the page shows the title itself
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "&lt;script&gt;" in html
    for bad in ("javascript", "JaVaScRiPt", "vbscript", "data:text", "file:///"):
        assert f'href="{bad}' not in html
    assert '<a href="https://ok.example">f</a>' in html
    assert '<a href="mailto:q@x.example">g</a>' in html
    assert '<a href="ENG-002.html#scope">h</a>' in html  # another SOP: its page
    assert '<a href="../other/file.md">i</a>' in html
    assert "<img" not in html
    assert html.count('<section class="step">') == 2
    assert "<table>" in html
    assert "Revision History" not in html
    assert "sopgit:revision-history" not in html
    assert out.contents == (("purpose", "Purpose"), ("procedure", "Procedure"))
    assert safe_link("https://x")
    assert safe_link("page.html")
    assert not safe_link(" javascript:x")


def test_timeline_places_releases_by_date_and_keeps_labels_apart():
    def row(version: str, date: str) -> HistoryRow:
        return HistoryRow(version, date, "", "", "", (), f"X-001/v{version}")

    rows = [row("1.0.0", "2025-01-01"), row("1.0.1", "2025-01-02"), row("2.0.0", "2026-01-01")]
    data = timeline(rows, {"1.0.0": "initial", "2.0.0": "major"})

    xs = [p["x"] for p in data["points"]]
    assert xs[0] == data["left"]
    assert xs[-1] <= data["right"]
    assert xs[1] - xs[0] >= 50  # a day apart, still readable
    assert [p["above"] for p in data["points"]] == [False, True, False]
    assert [p["bump"] for p in data["points"]] == ["initial", "patch", "major"]
    single = timeline([row("1.0.0", "2025-01-01")], {})
    assert single["points"][0]["x"] == (single["left"] + single["right"]) / 2
    assert timeline([], {})["points"] == []


# --- in the browser -------------------------------------------------------------------------


@needs_browser
def test_pages_load_without_console_errors(browser, server, built):
    for page in expected_pages(built):
        browser.get(urljoin(server, page))
        assert browser.find_element("css selector", "h1").text
        assert console_errors(browser) == [], page
        assert no_alert(browser), page


@needs_browser
def test_a_page_opened_from_disk_works(browser, built):
    browser.get((built / "_site/index.html").as_uri())
    assert console_errors(browser) == []
    assert browser.find_element("id", "filters").is_displayed()  # the script ran
    browser.find_element("css selector", 'a[href="sops/ENG-001.html"]').click()
    assert browser.current_url.endswith("/_site/sops/ENG-001.html")
    css = browser.execute_script("return getComputedStyle(document.body).fontFamily")
    assert "system-ui" in css  # the stylesheet loaded from disk
    assert console_errors(browser) == []


@needs_browser
def test_filter_narrows_the_list(browser, server, built):
    from selenium.webdriver.support.ui import Select

    states = {
        row["id"]: row["state"]
        for row in json.loads(invoke("-C", str(built), "status", "--format", "json").stdout)
    }
    browser.get(urljoin(server, "index.html"))
    total = len(visible_rows(browser))
    assert total == len(states)

    search = browser.find_element("id", "filter-text")
    search.send_keys("Deployment Process")  # every word must match
    assert "Deployment Process" in visible_rows(browser)[0].text
    shown = len(visible_rows(browser))
    assert browser.find_element("id", "filter-count").text == (
        f"Showing {shown} of {total} procedures"
    )
    search.clear()
    search.send_keys("ENG-00")  # by id; the SOPs whose text cites them show too
    wait_for(browser, lambda d: d.find_elements("css selector", "#passages .passage"))
    ids = [r.find_element("css selector", ".sop-id").text for r in visible_rows(browser)]
    assert {f"ENG-00{i}" for i in range(1, 6)} <= set(ids)
    search.clear()
    search.send_keys("no such procedure anywhere")
    assert visible_rows(browser) == []
    assert browser.find_element("id", "no-match").is_displayed()
    search.clear()

    Select(browser.find_element("id", "filter-state")).select_by_value("changed")
    changed = sorted(i for i, s in states.items() if s == "changed")  # pending changes
    shown = visible_rows(browser)
    assert 0 < len(shown) < total
    assert sorted(r.find_element("css selector", ".sop-id").text for r in shown) == changed
    assert "status=changed" in browser.current_url  # shareable

    Select(browser.find_element("id", "filter-dept")).select_by_value("OPS")
    assert all(r.get_attribute("data-dept") == "OPS" for r in visible_rows(browser))
    assert not browser.find_element("id", "dept-ENG").is_displayed()  # empty groups hide

    browser.find_element("id", "filter-reset").click()
    Select(browser.find_element("id", "filter-tag")).select_by_value("audit")
    assert [r.find_element("css selector", ".sop-id").text for r in visible_rows(browser)] == [
        "CMP-002"
    ]
    browser.find_element("id", "filter-reset").click()
    assert len(visible_rows(browser)) == total

    # a summary count links to its filtered list; "in force" holds the changed ones too
    browser.find_element("css selector", '[data-state-link="changed"]').click()
    assert len(visible_rows(browser)) == len(changed)
    browser.find_element("css selector", '[data-state-link="in-force"]').click()
    in_force = [i for i, s in states.items() if s in ("effective", "changed", "review-due")]
    assert len(visible_rows(browser)) == len(in_force) == total
    assert console_errors(browser) == []


@needs_browser
def test_links_between_pages_resolve(browser, server):
    from selenium.webdriver.common.by import By

    browser.get(urljoin(server, "index.html"))
    browser.find_element(By.CSS_SELECTOR, 'a[href="sops/ENG-001.html"]').click()
    assert browser.current_url == urljoin(server, "sops/ENG-001.html")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Deployment Process"
    # a link in the procedure to another SOP's file opens that SOP's page
    browser.find_element(By.LINK_TEXT, "Incident Management").click()
    assert browser.current_url == urljoin(server, "sops/ENG-003.html")
    browser.find_element(By.CSS_SELECTOR, ".breadcrumb a").click()
    assert browser.current_url == urljoin(server, "index.html")
    browser.find_element(By.LINK_TEXT, "Changelog").click()
    assert browser.find_element(By.TAG_NAME, "h1").text == "Changelog"
    browser.find_element(By.LINK_TEXT, "2026").click()
    assert browser.current_url == urljoin(server, "changelog/2026.html")
    # an entry opens the permanent page of that very version
    browser.find_element(By.CSS_SELECTOR, '.entry a[href="../sops/CMP-001/2.0.0.html"]').click()
    assert browser.find_element(By.TAG_NAME, "h1").text == "Incident Response"
    assert "v2.0.0" in browser.find_element(By.CSS_SELECTOR, ".sop-badges").text
    browser.find_element(By.CSS_SELECTOR, ".brand").click()
    assert browser.current_url == urljoin(server, "index.html")

    # every relative link on every page answers 200
    seen: set[str] = set()
    for page in [
        "index.html",
        "changelog.html",
        "changelog/2025.html",
        "sops/ENG-001.html",
        "sops/OPS-002.html",
        "sops/OPS-002/draft.html",
        "sops/ENG-001/1.0.0.html",
    ]:
        browser.get(urljoin(server, page))
        for anchor in browser.find_elements(By.CSS_SELECTOR, "a[href], link[href], script[src]"):
            url = anchor.get_attribute("href") or anchor.get_attribute("src")
            if url.startswith(server):
                seen.add(url.split("#")[0])
    for url in sorted(seen):
        with urllib.request.urlopen(url) as response:
            assert response.status == 200, url
    assert console_errors(browser) == []


@needs_browser
def test_hostile_text_shows_as_text(browser, server):
    from selenium.webdriver.common.by import By

    for page in ["sops/ENG-002/draft.html", "index.html", "changelog/unreleased.html"]:
        browser.get(urljoin(server, page))
        assert no_alert(browser), page
        injected = browser.execute_script(
            "return [document.querySelectorAll('img[src=\"x\"], [onerror], [onclick]').length,"
            " Array.from(document.scripts).filter(s => !s.src).length,"
            ' document.querySelectorAll(\'a[href^="javascript"], a[href^="data"]\').length]'
        )
        assert injected == [0, 0, 0], page
        assert HOSTILE in browser.find_element(By.TAG_NAME, "body").text, page
        assert console_errors(browser) == [], page
    browser.get(urljoin(server, "sops/ENG-002/draft.html"))
    assert browser.find_element(By.TAG_NAME, "h1").text == HOSTILE
    assert browser.title.startswith(f"ENG-002 {HOSTILE}")
    body = browser.find_element(By.CSS_SELECTOR, ".prose").text
    assert "<script>alert(2)</script>" in body
    assert "<div onclick=alert(3)>raw html</div>" in body


@needs_browser
def test_print_is_an_audit_ready_document(browser, server):
    browser.get(urljoin(server, "sops/ENG-001.html"))
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        shown = browser.execute_script(
            "const d = s => getComputedStyle(document.querySelector(s)).display;"
            "return [d('.site-header'), d('.print-header'), d('.toc'),"
            " getComputedStyle(document.querySelector('.step')).breakInside]"
        )
        assert shown == ["none", "block", "none", "avoid"]
        header = browser.find_element("css selector", ".print-header").text
        assert header.startswith("ENG-001 · Version 1.1.0 · Effective 2026-05-07")
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    pdf = browser.execute_cdp_cmd("Page.printToPDF", {"printBackground": True})
    data = base64.b64decode(pdf["data"])
    assert data.startswith(b"%PDF")
    assert data.count(b"/Type /Page") > 2


@needs_browser
def test_narrow_screens_need_no_sideways_scrolling(browser, server):
    browser.set_window_size(390, 844)
    try:
        for page in [
            "index.html",
            "sops/ENG-001.html",
            "sops/OPS-002/draft.html",
            "changelog/2025.html",
        ]:
            browser.get(urljoin(server, page))
            wide = browser.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert wide <= 0, page
    finally:
        browser.set_window_size(1280, 900)


# --- effective text, versions and drafts -------------------------------------------------

PENDING_WORDS = "page the engineering on-call within 15 minutes"  # OPS-002, not released
RELEASED_WORDS = "page the engineering on-call immediately"
ENG_001_1_1 = "fixing forward needs the Engineering Manager"  # new in ENG-001 v1.1.0


def page(built: Path, name: str) -> str:
    return (built / "_site" / name).read_text(encoding="utf-8")


def printed_as(text: str) -> str:
    """TEXT as a printed page's margin says it (a CSS string)."""
    return str(css_string(text))


def test_the_effective_page_shows_the_released_text_and_the_draft_is_apart(built):
    effective = page(built, "sops/OPS-002.html")
    draft = page(built, "sops/OPS-002/draft.html")

    assert RELEASED_WORDS in effective
    assert PENDING_WORDS not in effective
    assert "within 15 minutes" not in effective  # not even as a pending commit's subject
    assert printed_as("Printed copy of OPS-002 v1.0.0;")[:-1] in effective
    assert 'href="../sops/OPS-002/draft.html"' in effective  # the draft is one click away
    assert PENDING_WORDS in draft
    assert RELEASED_WORDS not in draft
    assert "Draft of the next version, not approved." in draft  # the banner
    assert 'content: "Draft of the next version, not approved' in draft  # printed margins
    assert "Printed copy" not in draft
    # the file was renamed after v1.0.0: the released text is read under its old name
    assert "at tag <code>OPS-002/v1.0.0</code>" in effective
    assert "OPS-002-support-escalation.md" in effective
    assert "OPS-002-support-escalation-tiers.md" in draft


def test_every_released_version_keeps_a_page_of_its_own(built):
    current = page(built, "sops/ENG-001.html")
    latest = page(built, "sops/ENG-001/1.1.0.html")
    first = page(built, "sops/ENG-001/1.0.0.html")

    assert ENG_001_1_1 in current
    assert ENG_001_1_1 in latest
    assert ENG_001_1_1 not in first
    assert "Approved by</dt><dd>Ana Ruiz (peer)" in current  # from the release tag
    assert '<time datetime="2026-05-07">May 7, 2026</time>' in current
    assert "Superseded version." in first
    assert printed_as("Printed copy of ENG-001 v1.0.0 (superseded);")[:-1] in first
    assert printed_as("Printed copy of ENG-001 v1.1.0;")[:-1] in latest
    # each version's page shows the history as it stood then
    assert first.count('<tr>\n            <td class="nowrap">') == 1
    assert latest.count('<tr>\n            <td class="nowrap">') == 2
    assert not (built / "_site/sops/ENG-001/draft.html").exists()  # nothing pending


def test_retired_and_never_released_sops(example, run):
    run(
        "-C",
        str(example),
        "retire",
        "ENG-005",
        "--reason",
        "Replaced by the platform runbook",
        "--date",
        "2026-06-20",
        "--allow-unapproved",
        "--because",
        "test library",
    )
    run("-C", str(example), "new", "Night Shift Handover", "--dept", "OPS", "--no-branch")
    commit_all(example, "docs(OPS-005): the handover checklist")
    run("-C", str(example), "build")
    site = example / "_site"

    retired = (site / "sops/ENG-005.html").read_text(encoding="utf-8")
    assert "Retired.</strong> This procedure is no longer in force" in retired
    assert printed_as("Printed copy of ENG-005 v2.0.0 (retired);")[:-1] in retired
    assert (site / "sops/ENG-005/2.0.0.html").is_file()
    assert (site / "sops/ENG-005/1.0.0.html").is_file()
    assert not (site / "sops/ENG-005/draft.html").exists()

    new = site / "sops/OPS-005.html"
    text = new.read_text(encoding="utf-8")
    assert "<h1>Night Shift Handover</h1>" in text
    assert "Draft of the next version, not approved." in text
    assert "has never been released" in text
    assert "Printed copy" not in text
    assert not (site / "sops" / new.stem).exists()  # no version pages, no second draft page
    data = (site / "search-data.js").read_text(encoding="utf-8")
    assert f'"sop":"{new.stem}"' not in data  # only effective text is searched


def test_an_adopted_sop_without_a_release_tag_shows_its_file_as_a_draft(tmp_path, run):
    from adopt_fixtures import frontmatter_library

    root = tmp_path / "qms"
    root.mkdir()
    frontmatter_library(root)
    run("-C", str(root), "init", "--adopt")
    commit_all(root, "chore: adopt the library")
    run("-C", str(root), "build")
    rows = json.loads(run("-C", str(root), "status", "--format", "json").stdout)
    row = next(r for r in rows if r["version"])
    text = (root / f"_site/sops/{row['id']}.html").read_text(encoding="utf-8")

    assert "Draft of the next version, not approved." in text
    assert f"Version {row['version']} was recorded by hand before sopgit" in text
    assert "Printed copy" not in text
    assert not (root / f"_site/sops/{row['id']}").exists()  # no tag, no version page


@pytest.mark.parametrize("today", [TODAY, "2026-12-01"])
def test_home_cards_count_what_a_manager_asks(built, tmp_path, monkeypatch, today):
    monkeypatch.setenv("SOPGIT_TODAY", today)
    rows = json.loads(invoke("-C", str(built), "status", "--format", "json").stdout)
    invoke("-C", str(built), "build", "--output", str(tmp_path / "site"))
    home = (tmp_path / "site/index.html").read_text(encoding="utf-8")
    cards = {
        state: int(count)
        for state, count in re.findall(
            r'data-state-link="([a-z-]+)">\s*<span class="stat-count">(\d+)</span>', home
        )
    }
    in_force = [r for r in rows if r["version"] and r["state"] != "retired"]
    assert cards == {
        "in-force": len(in_force),
        "changed": sum(1 for r in in_force if r["pending"]),
        "draft": sum(1 for r in rows if r["state"] == "draft"),
        "review-due": sum(1 for r in in_force if r["review_due"] <= today),
        "retired": sum(1 for r in rows if r["state"] == "retired"),
    }
    # in force counts every released SOP: the changed ones and those due for review too
    assert cards["in-force"] == 14
    assert cards["changed"] == 5
    assert cards["review-due"] == (0 if today == TODAY else 11)


def search_documents(built: Path) -> list[dict]:
    text = page(built, "search-data.js")
    assert text.startswith("window.SOPGIT_SEARCH = ")
    assert text.endswith(";\n")
    return json.loads(text.removeprefix("window.SOPGIT_SEARCH = ").removesuffix(";\n"))


def test_search_data_holds_each_effective_text_by_heading(built):
    documents = search_documents(built)
    rollback = [d for d in documents if "rollback" in d["text"].lower()]
    assert {d["sop"] for d in rollback} >= {"ENG-001"}
    assert not [d for d in documents if PENDING_WORDS in d["text"]]
    assert [d for d in documents if RELEASED_WORDS in d["text"]]
    assert not [d for d in documents if "alert(" in d["text"]]  # ENG-002's draft only
    for document in documents:
        name, _, anchor = document["url"].partition("#")
        html = page(built, name)
        assert f'id="{anchor}"' in html, document["url"]
        assert document["version"] in html


def test_previous_and_next_within_a_department(built):
    first = page(built, "sops/ENG-001.html")
    second = page(built, "sops/ENG-002.html")
    assert 'href="../sops/ENG-002.html" rel="next"' in first
    assert 'rel="prev"' not in first  # the first of its department
    assert 'href="../sops/ENG-001.html" rel="prev"' in second
    assert "Next in Engineering" in first


def test_headings_get_permalinks_and_search_sections():
    out = render_body(
        "# T\n\nIntro words.\n\n## Purpose\n\nWhy *we* do it.\n\n### 1. Step\n\n```\nrun it\n```\n",
        "T",
    )
    html = str(out.html)
    assert '<h2 id="purpose">Purpose <a class="permalink" href="#purpose" ' in html
    assert 'aria-label="Permalink to this section: Purpose">#</a></h2>' in html
    assert '<a class="permalink" href="#1-step"' in html
    assert [(s.anchor, s.heading, s.text) for s in out.sections] == [
        ("", "", "Intro words."),
        ("purpose", "Purpose", "Why we do it."),
        ("1-step", "1. Step", "run it"),
    ]


# --- scale ----------------------------------------------------------------------------------


def rows_of(count: int) -> list[HistoryRow]:
    first = dt.date(2020, 1, 1)
    return [
        HistoryRow(
            f"1.{i}.0",
            (first + dt.timedelta(days=9 * i)).isoformat(),
            "",
            "",
            "",
            (),
            f"X-001/v1.{i}.0",
        )
        for i in range(count)
    ]


def test_the_timeline_stays_readable_at_200_versions():
    bumps = {f"1.{i}.0": "major" if i % 40 == 0 else "minor" for i in range(200)}
    data = timeline(rows_of(200), bumps)

    assert data["dense"]
    labelled = [p for p in data["points"] if p["label"]]
    xs = sorted(p["x"] for p in labelled)
    assert all(b - a >= LABEL_WIDTH for a, b in zip(xs, xs[1:], strict=False))
    assert data["points"][0]["label"]
    assert data["points"][-1]["label"]
    assert 4 <= len(labelled) <= (data["right"] - data["left"]) // LABEL_WIDTH + 1
    assert all(data["left"] <= p["x"] <= data["right"] for p in data["points"])
    # a few releases keep every label
    few = timeline(rows_of(DENSE := site_module.DENSE), {})
    assert not few["dense"]
    assert all(p["label"] for p in few["points"])
    assert DENSE == 10


def add_releases(root: Path, sop_id: str, count: int) -> None:
    """COUNT more releases of SOP_ID, each an empty commit on main with its annotated
    tag, every four days from 2025-09-16: one git fast-import for all of them."""
    head = git(root, "rev-parse", "HEAD").strip()
    stream = []
    for i in range(1, count + 1):
        when = 1758000000 + i * 345600
        date = dt.datetime.fromtimestamp(when, dt.UTC).date()
        subject = f"release: {sop_id} v1.0.{i}\n".encode()
        message = (
            f"{sop_id} v1.0.{i}\n\nTesting Protocols v1.0.{i}: wording {i}.\n\n"
            f"Sop-Id: {sop_id}\nSop-Version: 1.0.{i}\nBump: patch\nRelease-Date: {date}\n"
        ).encode()
        stream.append(
            f"commit refs/heads/main\nmark :{i}\n"
            f"committer Ana Ruiz <ana@acme.example> {when} +0000\n"
            f"data {len(subject)}\n".encode()
            + subject
            + (f"from {head}\n" if i == 1 else "").encode()
            + b"\n"
        )
        stream.append(
            f"tag {sop_id}/v1.0.{i}\nfrom :{i}\n"
            f"tagger Ana Ruiz <ana@acme.example> {when} +0000\n"
            f"data {len(message)}\n".encode()
            + message
            + b"\n"
        )
    done = subprocess.run(["git", "fast-import", "--quiet"], cwd=root, input=b"".join(stream))
    assert done.returncode == 0
    git(root, "reset", "--hard", "-q", "main")


def test_a_200_version_sop_and_a_split_changelog(example, run, monkeypatch):
    add_releases(example, "ENG-004", 199)  # 1.0.0 was released already: 200 versions
    monkeypatch.setattr(site_module, "CHANGELOG_PAGE_BYTES", 30_000)
    run("-C", str(example), "build")
    site = example / "_site"

    versions = sorted((site / "sops/ENG-004").glob("*.html"))
    changes = [p for p in versions if p.name.endswith("-changes.html")]
    assert len(versions) - len(changes) == 200
    assert len(changes) == 199  # every release but the first has its changes page
    current = (site / "sops/ENG-004.html").read_text(encoding="utf-8")
    assert "v1.0.199" in current
    assert "200 versions" in current
    xs = sorted(float(x) for x in re.findall(r'<text class="tl-version" x="([\d.]+)"', current))
    assert 2 <= len(xs) < 12
    assert all(b - a >= LABEL_WIDTH for a, b in zip(xs, xs[1:], strict=False))
    assert current.count('class="version-chip"') >= 200  # the table lists every version

    index = (site / "changelog.html").read_text(encoding="utf-8")
    parts = re.findall(r'<li><a href="(changelog/[^"]+)">', index)
    assert sorted(parts) == sorted(
        p.relative_to(site).as_posix() for p in (site / "changelog").glob("*.html")
    )
    assert len(parts) > 8  # 2025, 2026 and unreleased, split further by month and in halves
    tags_shown = set()
    for part in parts:
        html = (site / part).read_text(encoding="utf-8")
        releases = html.count('<section class="release"')
        assert len(html.encode()) <= 30_000, (part, releases)
        tags_shown |= set(re.findall(r"Tag <code>([^<]+)</code>", html))
    assert tags_shown == set(git(example, "tag", "--list").split())
    for html in site.rglob("*.html"):
        assert html.stat().st_size < 200_000 or html.parent.name == "ENG-004", html


# --- in the browser: effective text, search, permalinks, dark mode, accessibility ------------


def wait_for(driver, condition, timeout: float = 10):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: condition(d))


@needs_browser
def test_effective_and_pending_text_in_the_browser(browser, server):
    from selenium.webdriver.common.by import By

    browser.get(urljoin(server, "sops/OPS-002.html"))
    body = browser.find_element(By.TAG_NAME, "body").text
    assert RELEASED_WORDS in body
    assert "within 15 minutes" not in body
    assert browser.find_elements(By.CSS_SELECTOR, ".notice-draft") == []

    browser.find_element(By.LINK_TEXT, "read the draft of the next version").click()
    assert browser.current_url == urljoin(server, "sops/OPS-002/draft.html")
    banner = browser.find_element(By.CSS_SELECTOR, ".notice-draft")
    assert banner.text.startswith("Draft of the next version, not approved.")
    assert PENDING_WORDS in browser.find_element(By.CSS_SELECTOR, ".prose").text
    # the banner stays on screen wherever one reads
    browser.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    top = browser.execute_script(
        "return document.querySelector('.notice-draft').getBoundingClientRect().top"
    )
    assert 0 <= top < 50
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        header = browser.find_element(By.CSS_SELECTOR, ".print-header").text
        assert header.startswith("OPS-002 · Draft of the next version, not approved")
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    browser.find_element(By.LINK_TEXT, "v1.0.0").click()
    assert browser.current_url == urljoin(server, "sops/OPS-002.html")
    assert console_errors(browser) == []


def search_for(browser, words: str) -> list:
    from selenium.webdriver.common.by import By

    box = browser.find_element(By.ID, "filter-text")
    box.clear()
    box.send_keys(words)
    wait_for(
        browser,
        lambda d: (
            d.find_elements(By.CSS_SELECTOR, "#passages .passage")
            or "No passage" in d.find_element(By.ID, "search-note").text
        ),
    )
    return browser.find_elements(By.CSS_SELECTOR, "#passages .passage")


@needs_browser
@pytest.mark.parametrize("how", ["http", "file"])
def test_search_finds_words_of_the_body_and_shows_the_passage(browser, server, built, how):
    from selenium.webdriver.common.by import By

    home = urljoin(server, "index.html") if how == "http" else (built / "_site/index.html").as_uri()
    browser.get(home)
    found = search_for(browser, "rollback")

    assert found
    first = found[0]
    assert first.find_element(By.CSS_SELECTOR, ".sop-id").text == "ENG-001"
    marks = [m.text.lower() for m in first.find_elements(By.TAG_NAME, "mark")]
    assert "rollback" in marks
    assert "rollback" in first.find_element(By.CSS_SELECTOR, ".passage-text").text.lower()
    shown = {r.find_element(By.CSS_SELECTOR, ".sop-id").text for r in visible_rows(browser)}
    assert "ENG-001" in shown  # the list narrows to the procedures that say it
    assert "rollback" in browser.current_url  # shareable
    link = first.find_element(By.TAG_NAME, "a").get_attribute("href")
    first.find_element(By.TAG_NAME, "a").click()
    wait_for(browser, lambda d: d.current_url == link)
    assert "#" in link
    anchor = link.split("#", 1)[1]
    assert browser.find_element(By.ID, anchor).tag_name in ("h2", "h3")

    browser.get(home)
    # Every passage found says the word itself: none is a near miss such as "fallback".
    for passage in search_for(browser, "rollback"):
        assert "rollback" in passage.find_element(By.CSS_SELECTOR, ".passage-text").text.lower()
    # One typo is forgiven.
    typo = search_for(browser, "rollbak")
    assert typo
    assert typo[0].find_element(By.CSS_SELECTOR, ".sop-id").text == "ENG-001"

    browser.get(home)
    assert search_for(browser, "zzqx nothing says this") == []
    assert "No passage" in browser.find_element(By.ID, "search-note").text
    assert console_errors(browser) == []


@needs_browser
def test_heading_permalinks(browser, server):
    from selenium.webdriver.common.by import By

    browser.get(urljoin(server, "sops/ENG-001.html"))
    headings = browser.find_elements(By.CSS_SELECTOR, ".prose h2, .prose h3")
    assert len(headings) > 5
    for heading in headings:
        link = heading.find_element(By.CSS_SELECTOR, "a.permalink")
        assert link.get_attribute("href").endswith("#" + heading.get_attribute("id"))
    target = headings[-1]
    anchor = target.get_attribute("id")
    target.find_element(By.CSS_SELECTOR, "a.permalink").click()
    assert browser.current_url.endswith("#" + anchor)
    browser.get(urljoin(server, "index.html"))
    browser.get(urljoin(server, "sops/ENG-001.html#" + anchor))
    top = browser.execute_script(
        "return document.getElementById(arguments[0]).getBoundingClientRect().top", anchor
    )
    assert 0 <= top < 200  # opening the link shows that heading


def luminance(css: str) -> float:
    r, g, b = (int(v) / 255 for v in re.findall(r"\d+", css)[:3])
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def color_scheme(browser, scheme: str) -> None:
    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
    )


@needs_browser
def test_dark_mode_follows_the_system_setting(browser, server):
    try:
        for scheme in ("dark", "light"):
            color_scheme(browser, scheme)
            for name in ["index.html", "sops/ENG-001.html", "sops/OPS-002/draft.html"]:
                browser.get(urljoin(server, name))
                bg, fg = browser.execute_script(
                    "const s = getComputedStyle(document.body); return [s.backgroundColor, s.color]"
                )
                if scheme == "dark":
                    assert luminance(bg) < 0.05, (name, bg)
                    assert luminance(fg) > 0.6, (name, fg)
                else:
                    assert luminance(bg) > 0.9, (name, bg)
                    assert luminance(fg) < 0.05, (name, fg)
    finally:
        color_scheme(browser, "light")


PAGE_TYPES = {
    "home": "index.html",
    "effective SOP": "sops/ENG-001.html",
    "pending (draft) page": "sops/OPS-002/draft.html",
    "version page": "sops/ENG-001/1.0.0.html",
    "changes from the previous version": "sops/ENG-001/1.1.0-changes.html",
    "changelog index": "changelog.html",
    "changelog part": "changelog/2025.html",
}


SERIOUS = ("serious", "critical")


def axe_violations(browser) -> list[dict]:
    browser.execute_script(AXE.read_text(encoding="utf-8"))
    return browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact,"
        " nodes: v.nodes.length}))), e => done([{id: String(e), impact: 'critical', nodes: 1}]));"
    )


@needs_browser
def test_axe_core_finds_no_violation_on_any_page_type(browser, server):
    counts: dict[str, dict[str, dict[str, int]]] = {}
    serious: list[tuple[str, str, dict]] = []
    browser.set_script_timeout(60)
    try:
        for scheme in ("light", "dark"):
            color_scheme(browser, scheme)
            for kind, name in PAGE_TYPES.items():
                browser.get(urljoin(server, name))
                if kind == "home":  # with search results shown
                    search_for(browser, "rollback")
                found = axe_violations(browser)
                tally = {"critical": 0, "serious": 0, "moderate": 0, "minor": 0}
                for violation in found:
                    tally[violation["impact"] or "minor"] += violation["nodes"]
                counts.setdefault(kind, {})[scheme] = tally
                serious += [(kind, scheme, v) for v in found if v["impact"] in SERIOUS]
    finally:
        color_scheme(browser, "light")
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "axe-counts.json").write_text(json.dumps(counts, indent=2), encoding="utf-8")
    assert serious == []
    assert set(counts) == set(PAGE_TYPES)
    # Not even a moderate or minor one (e.g. a heading level skipped).
    assert {
        kind: tally
        for kind, tally in counts.items()
        if any(any(t.values()) for t in tally.values())
    } == {}


@needs_browser
def test_screenshots_of_the_pages_people_read(browser, server):
    """For people to look at (see the report); the test checks they were taken."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    shots = [
        ("index.html", "home", None),
        ("sops/OPS-002.html", "effective-ops-002", None),
        ("sops/OPS-002/draft.html", "pending-ops-002", None),
        ("index.html", "search-rollback", "rollback"),
        ("sops/ENG-001.html", "dark-eng-001", "dark"),
    ]
    try:
        for name, shot, extra in shots:
            color_scheme(browser, "dark" if extra == "dark" else "light")
            browser.get(urljoin(server, name))
            if extra == "rollback":
                search_for(browser, extra)
            height = browser.execute_script("return document.documentElement.scrollHeight")
            browser.set_window_size(1280, min(height + 200, 3000))
            assert browser.save_screenshot(str(SHOTS / f"{shot}.png"))
            assert (SHOTS / f"{shot}.png").stat().st_size > 10_000
            browser.set_window_size(1280, 900)
    finally:
        color_scheme(browser, "light")
        browser.set_window_size(1280, 900)
