"""`sopgit build`: the static site, checked as files and in a real headless browser.

The browser is Debian's chromium driven by Selenium through Debian's chromedriver
(given explicitly, so Selenium Manager never downloads anything). The site is served
by a local http.server on 127.0.0.1, and one page is also opened from disk (file://).
The library is the example one plus a hostile edit: a title, owner, tag, body and
commit subject that try to inject HTML and script.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import re
import shutil
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
from conftest import FIXED_ENV, commit_all, tree_state

from sopgit.cli import cli
from sopgit.history import HistoryRow
from sopgit.site import render_body, safe_link, timeline

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SHOTS = Path("/tmp/sopgit-shots")
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(1)>"
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


def test_build_writes_every_page_with_relative_links_only(built):
    site = built / "_site"
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    assert pages == [
        "changelog.html",
        "index.html",
        *sorted(f"sops/{i}.html" for i in json.loads(status_ids(built))),
    ]
    assert (site / "assets/site.css").is_file()
    assert (site / "assets/site.js").is_file()
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
            assert tag != "script" or attrs.get("src") == "assets/site.js", page
            assert not any(name.startswith("on") for name in attrs), (page, tag, attrs)
            href = (attrs.get("href") or "").lower()
            assert not href.startswith(("javascript", "data:text")), (page, href)
    sop = (built / "_site/sops/ENG-002.html").read_text(encoding="utf-8")
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


def test_rebuild_replaces_its_own_site_and_drops_stale_pages(example, run):
    run("-C", str(example), "build")
    stale = example / "_site/sops/OLD-001.html"
    stale.write_text("old", encoding="utf-8")

    run("-C", str(example), "build")

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
    assert len(calls) <= 8, calls


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
    pages = ["index.html", "changelog.html"] + [
        f"sops/{i}.html" for i in json.loads(status_ids(built))
    ]
    for page in pages:
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
    search.send_keys("deploying production")  # every word must match
    assert [r.get_attribute("data-state") for r in visible_rows(browser)] == ["effective"]
    assert "Deployment Process" in visible_rows(browser)[0].text
    assert browser.find_element("id", "filter-count").text == f"Showing 1 of {total} procedures"
    search.clear()
    search.send_keys("ENG-00")
    assert len(visible_rows(browser)) == 5
    search.clear()
    search.send_keys("no such procedure anywhere")
    assert visible_rows(browser) == []
    assert browser.find_element("id", "no-match").is_displayed()
    search.clear()

    Select(browser.find_element("id", "filter-state")).select_by_value("changed")
    changed = sorted(i for i, s in states.items() if s == "changed")
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

    # a summary count links to its filtered list
    browser.find_element("css selector", '[data-state-link="changed"]').click()
    assert len(visible_rows(browser)) == len(changed)
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
    browser.find_element(By.CSS_SELECTOR, '.entry a[href="sops/CMP-001.html"]').click()
    assert browser.find_element(By.TAG_NAME, "h1").text == "Incident Response"
    browser.find_element(By.CSS_SELECTOR, ".brand").click()
    assert browser.current_url == urljoin(server, "index.html")

    # every relative link on every page answers 200
    seen: set[str] = set()
    for page in ["index.html", "changelog.html", "sops/ENG-001.html", "sops/OPS-002.html"]:
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

    for page in ["sops/ENG-002.html", "index.html", "changelog.html"]:
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
    browser.get(urljoin(server, "sops/ENG-002.html"))
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
        for page in ["index.html", "sops/ENG-001.html", "changelog.html"]:
            browser.get(urljoin(server, page))
            wide = browser.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert wide <= 0, page
    finally:
        browser.set_window_size(1280, 900)


@needs_browser
def test_screenshots_of_the_home_and_an_sop_page(browser, server):
    """For people to look at (see the report); the test checks they were taken."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for page, name in [("index.html", "home"), ("sops/ENG-001.html", "sop-eng-001")]:
        browser.get(urljoin(server, page))
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1280, min(height + 200, 6000))
        assert browser.save_screenshot(str(SHOTS / f"{name}.png"))
        assert (SHOTS / f"{name}.png").stat().st_size > 10_000
    browser.set_window_size(1280, 900)
