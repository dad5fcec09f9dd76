"""`sopgit changelog` and `sopgit index`: golden files on the example library, options,
stability, template overrides, escaping; and the pure models from plain records.

Goldens live in tests/golden/. Commit ids depend on every file `init` writes (another
workflow template changes them all), so they are replaced by stable placeholders before
comparing; everything else must match byte for byte. To regenerate after an intended
change: SOPGIT_UPDATE_GOLDEN=1 pytest tests/test_changelog.py, then review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import semver
from conftest import commit_all, git, tree_state
from markdown_it import MarkdownIt

from sopgit.core.catalog import IndexItem, index_context, long_date, relative_link
from sopgit.core.changelog import (
    ChangeRecord,
    SelectionError,
    build_changelog,
    github_base,
    select,
)
from sopgit.core.model import Tag
from sopgit.core.settings import DEFAULT_DEPARTMENTS
from sopgit.repo.templates import md_escape

GOLDEN = Path(__file__).parent / "golden"
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(1)>"
SHA = re.compile(r"(?<![0-9A-Za-z])[0-9a-f]{10}(?:[0-9a-f]{30})?(?![0-9A-Za-z])")


def sopgit(run, root: Path, *args: str, expect: int = 0):
    return run("-C", str(root), *args, expect=expect)


def normalized(text: str) -> str:
    """Commit ids -> <commit-N>, numbered in order of appearance (a short id and its
    full id get the same number)."""
    seen: dict[str, str] = {}

    def label(match: re.Match[str]) -> str:
        key = match.group(0)[:10]
        seen.setdefault(key, f"<commit-{len(seen) + 1}>")
        return seen[key]

    return SHA.sub(label, text)


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    text = normalized(text)
    if os.environ.get("SOPGIT_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
    assert path.is_file(), f"no golden {path}; run with SOPGIT_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden"


# --- changelog: the example library -----------------------------------------------------


def test_changelog_writes_changelog_md_matching_the_golden(example, run):
    result = sopgit(run, example, "changelog")

    assert result.stdout == "created CHANGELOG.md\n"
    text = (example / "CHANGELOG.md").read_text(encoding="utf-8")
    assert_golden("CHANGELOG.md", text)
    # newest first, grouped by release date, the Unreleased part on top
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == ["## Unreleased", "## 2026-06-13", "## 2026-05-07", "## 2025-09-15"]
    assert "### CMP-001 Incident Response: 1.0.0 → 2.0.0 (major)" in text
    assert "### OPS-002 Support Escalation: 1.0.0 → 1.0.1 (patch)" in text
    # no remote: pull requests are plain numbers
    assert ", #3)" in text
    assert "https://" not in text


def test_changelog_regenerated_without_new_history_changes_nothing(example, run):
    sopgit(run, example, "changelog")
    path = example / "CHANGELOG.md"
    first, stamp = path.read_bytes(), path.stat().st_mtime_ns

    again = sopgit(run, example, "changelog")

    assert again.stdout == "unchanged CHANGELOG.md\n"
    assert path.read_bytes() == first
    assert path.stat().st_mtime_ns == stamp  # not even rewritten
    assert sopgit(run, example, "changelog", "-o", "-").stdout.encode() == first


def test_changelog_json_matches_the_golden_and_the_markdown(example, run):
    result = sopgit(run, example, "changelog", "--format", "json")

    data = json.loads(result.stdout)
    assert_golden("changelog.json", result.stdout)
    assert not (example / "CHANGELOG.md").exists()  # json goes to stdout by default
    assert [r["date"] for r in data["releases"]] == ["2026-06-13", "2026-05-07", "2025-09-15"]
    first = data["releases"][-1]
    assert len(first["sops"]) == 14
    assert len(first["tags"]) == 14
    eng = next(s for s in data["releases"][1]["sops"] if s["id"] == "ENG-001")
    assert eng["previous_version"] == "1.0.0"
    assert eng["version"] == "1.1.0"
    assert eng["bump"] == "minor"
    assert eng["tag"] == "ENG-001/v1.1.0"
    assert eng["changes"][0]["pull_request"] == {"number": 1, "url": None}
    assert eng["changes"][0]["author"] == "Ben Ode"
    pending = {s["id"]: s for s in data["unreleased"]}
    assert pending["OPS-002"]["version"] == "1.0.1"
    assert [c["subject"] for c in pending["OPS-002"]["changes"]] == [
        "refactor(OPS-002): name the file after the tier model",
        "fix(OPS-002): page engineering within 15 minutes, not immediately",
    ]


def test_changelog_id_keeps_one_sop(example, run):
    text = sopgit(run, example, "changelog", "--id", "eng-001", "-o", "-").stdout

    assert "### ENG-001 Deployment Process: 1.0.0 → 1.1.0 (minor)" in text
    assert "### ENG-001 Deployment Process: new → 1.0.0 (initial)" in text
    assert "CMP-" not in text
    assert "OPS-" not in text
    assert "## Unreleased" not in text  # ENG-001 has nothing pending
    assert "## 2026-06-13" not in text  # a release without ENG-001


def test_changelog_id_unknown_is_a_clear_error(example, run):
    result = sopgit(run, example, "changelog", "--id", "ENG-999", expect=2)
    assert "no SOP with id ENG-999" in result.stderr
    result = sopgit(run, example, "changelog", "--id", "nonsense", expect=2)
    assert "not an SOP id" in result.stderr


@pytest.mark.parametrize(
    ("since", "dates"),
    [
        ("ENG-001/v1.1.0", ["2026-06-13"]),  # a tag: the releases after its release
        ("CMP-002/v1.0.1", ["2026-06-13"]),  # any tag of that release means the same
        ("CMP-001/v2.0.0", []),
        ("2026-05-07", ["2026-06-13", "2026-05-07"]),  # a date: releases on or after it
        ("2026-05-08", ["2026-06-13"]),
        ("2020-01-01", ["2026-06-13", "2026-05-07", "2025-09-15"]),
    ],
)
def test_changelog_since(example, run, since, dates):
    data = json.loads(
        sopgit(run, example, "changelog", "--format", "json", "--since", since).stdout
    )

    assert [r["date"] for r in data["releases"]] == dates
    assert data["unreleased"]  # unreleased changes are always after SINCE


def test_changelog_since_an_unknown_tag_is_a_clear_error(example, run):
    result = sopgit(run, example, "changelog", "--since", "ENG-001/v9.9.9", expect=2)
    assert result.stderr.startswith("sopgit: --since ENG-001/v9.9.9: no release tag")
    assert not (example / "CHANGELOG.md").exists()


def test_changelog_dry_run_prints_the_diff_and_writes_nothing(example, run):
    before = tree_state(example)

    result = sopgit(run, example, "changelog", "--dry-run")

    assert tree_state(example) == before
    assert result.stdout.startswith("--- /dev/null\n+++ b/CHANGELOG.md\n")
    assert "+## 2026-06-13" in result.stdout
    assert "would create CHANGELOG.md" in result.stderr
    sopgit(run, example, "changelog")
    assert sopgit(run, example, "changelog", "--dry-run").stdout == "unchanged CHANGELOG.md\n"


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme/sops.git",
        "https://github.com/acme/sops",
        "https://x-access-token:secret@github.com/acme/sops.git",
        "git@github.com:acme/sops.git",
        "ssh://git@github.com/acme/sops.git",
        "ssh://git@github.com:22/acme/sops",
    ],
)
def test_github_remote_forms(url):
    assert github_base(url) == "https://github.com/acme/sops"


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "/srv/git/sops.git",
        "https://gitlab.com/acme/sops.git",
        "https://github.com.evil.example/acme/sops",
        "https://github.com/acme",
        'https://github.com/acme/"><script>',
    ],
)
def test_non_github_remotes_give_no_links(url):
    assert github_base(url) is None


def test_changelog_links_pull_requests_on_a_github_origin(example, run):
    git(example, "remote", "add", "origin", "git@github.com:acme/sops.git")

    text = sopgit(run, example, "changelog", "-o", "-").stdout

    assert "[#3](https://github.com/acme/sops/pull/3)" in text
    assert "[#1](https://github.com/acme/sops/pull/1)" in text
    assert "[#2](https://github.com/acme/sops/pull/2)" in text


def test_changelog_output_file_relative_to_dash_c(example, run, tmp_path):
    sopgit(run, example, "changelog", "--output", "docs/CHANGES.md")
    assert (example / "docs/CHANGES.md").read_text(encoding="utf-8").startswith("# Changelog")
    sopgit(run, example, "changelog", "--format", "json", "--output", str(tmp_path / "c.json"))
    assert json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))["releases"]


def test_changelog_library_template_overrides_the_packaged_one(example, run):
    (example / "templates").mkdir()
    (example / "templates/changelog.md.j2").write_text(
        "# {{ library }} changes\n{% for r in releases %}\n* {{ r.date }}: "
        "{% for s in r.sops %}{{ s.id }} {{ s.version }}{{ ', ' if not loop.last }}"
        "{% endfor %}{% endfor %}\n",
        encoding="utf-8",
    )

    text = sopgit(run, example, "changelog", "-o", "-").stdout

    assert text.splitlines()[:3] == [
        "# Acme SOP Library changes",
        "",
        "* 2026-06-13: CMP-001 2.0.0",
    ]


def test_changelog_template_with_an_unknown_variable_is_a_clear_error(example, run):
    (example / "templates").mkdir()
    (example / "templates/changelog.md.j2").write_text("{{ relases }}\n", encoding="utf-8")

    result = sopgit(run, example, "changelog", expect=2)

    assert "unknown variable" in result.stderr
    assert "relases" in result.stderr
    assert not (example / "CHANGELOG.md").exists()


def test_changelog_on_a_library_without_releases(library, run):
    text = sopgit(run, library, "changelog", "-o", "-").stdout
    assert "## Unreleased" in text
    assert "### ENG-001 Deployment Process: new → 1.0.0 (initial)" in text


def test_hostile_commit_subject_is_escaped_in_the_markdown(example, run):
    path = example / "sops/engineering/ENG-002-code-review-standards.md"
    path.write_text(path.read_text(encoding="utf-8") + "\nMore.\n", encoding="utf-8")
    commit_all(example, f"fix(ENG-002): {HOSTILE} [x](javascript:alert(1)) *bold*")

    text = sopgit(run, example, "changelog", "-o", "-").stdout

    line = next(line for line in text.splitlines() if "ENG-002): " in line)
    assert "\\<script\\>" in line
    assert "\\[x\\]" in line
    assert "\\*bold\\*" in line
    # rendered like GitHub would (raw HTML allowed), it is still only text
    html = MarkdownIt("commonmark", {"html": True}).render(text)
    assert "<script" not in html
    assert "<img" not in html
    assert 'href="javascript' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- changelog: the pure model ----------------------------------------------------------


def tag(name: str, target: str, message: str, time: int = 1_700_000_000) -> Tag:
    return Tag(name, target, True, "Lee Chen", "lee@acme.example", time, message)


def tag_message(sop_id: str, version: str, date: str, changes: list[str], trailers: str) -> str:
    lines = "\n".join(changes)
    return (
        f"{sop_id} v{version}\n\nDeployment v{version}: What changed.\n\n"
        f"Changes:\n{lines}\n\nSop-Id: {sop_id}\nSop-Version: {version}\n"
        f"Release-Date: {date}\n{trailers}"
    )


def test_model_groups_tags_on_one_commit_into_one_release_newest_first():
    v = semver.Version.parse
    a1 = tag("A-001/v1.0.0", "c1", tag_message("A-001", "1.0.0", "2025-01-02", [], "Bump: initial"))
    b1 = tag("B-001/v1.0.0", "c1", tag_message("B-001", "1.0.0", "2025-01-02", [], ""))
    a2 = tag(
        "A-001/v2.0.0",
        "c2",
        tag_message(
            "A-001",
            "2.0.0",
            "2025-03-04",
            ["- feat!: new flow (0123456789, Kim Park)", "- fix: typo (#7) (abcdef0123, Ana)"],
            "Bump: major\nPull-Request: #7\nPull-Request: #9\nApproved-by: Lee <l@x> (manager)",
        ),
    )
    released = {"A-001": [(v("2.0.0"), a2), (v("1.0.0"), a1)], "B-001": [(v("1.0.0"), b1)]}

    changelog = build_changelog(released, [])

    assert [(r.date, r.commit, r.tags) for r in changelog.releases] == [
        ("2025-03-04", "c2", ["A-001/v2.0.0"]),
        ("2025-01-02", "c1", ["A-001/v1.0.0", "B-001/v1.0.0"]),
    ]
    entry = changelog.releases[0].entries[0]
    assert (entry.previous, entry.version, entry.bump) == ("1.0.0", "2.0.0", "major")
    assert entry.title == "Deployment"
    assert entry.description == "What changed"
    assert entry.approved_by == "Lee (manager)"
    # a squash subject names its PR; the one PR left over goes to the one change left
    assert entry.changes == (
        ChangeRecord("feat!: new flow", "0123456789", "Kim Park", 9),
        ChangeRecord("fix: typo (#7)", "abcdef0123", "Ana", 7),
    )
    # B-001's tag has no Bump trailer: the bump comes from the versions
    assert changelog.releases[1].entries[1].bump == "initial"


def test_model_select_rejects_an_unknown_tag():
    with pytest.raises(SelectionError):
        select(build_changelog({}, []), since="X-001/v1.0.0")


# --- index -----------------------------------------------------------------------------


def test_index_writes_sops_md_matching_the_golden(example, run):
    result = sopgit(run, example, "index")

    assert result.stdout == "created SOPS.md\n"
    text = (example / "SOPS.md").read_text(encoding="utf-8")
    assert_golden("SOPS.md", text)
    assert text.startswith("# Acme SOP Library\n\n## Overview\n")
    assert "| Procedure | Description | Version | Last Updated |" in text
    assert (
        "| [Deployment Process](sops/engineering/ENG-001-deployment-process.md) | "
        "Step-by-step guide for deploying applications to production | 1.1.0 | May 7, 2026 |"
    ) in text
    # departments in sopgit.toml's order
    assert text.index("## Engineering") < text.index("## Compliance") < text.index("## Operations")
    assert "Retired" not in text
    # every link resolves from where the index is
    for link in re.findall(r"\]\(([^)]+)\)", text):
        assert (example / link).is_file(), link


def test_index_regenerated_without_changes_is_byte_identical(example, run):
    sopgit(run, example, "index")
    first = (example / "SOPS.md").read_bytes()
    assert sopgit(run, example, "index").stdout == "unchanged SOPS.md\n"
    assert (example / "SOPS.md").read_bytes() == first


def test_index_json_matches_the_golden(example, run):
    result = sopgit(run, example, "index", "--format", "json")

    assert_golden("index.json", result.stdout)
    data = json.loads(result.stdout)
    assert [d["code"] for d in data["departments"]] == ["ENG", "CMP", "OPS"]
    assert data["count"] == 14
    assert data["retired"] == []


def test_index_links_are_relative_to_the_output_file(example, run):
    sopgit(run, example, "index", "--output", "docs/SOPS.md")

    text = (example / "docs/SOPS.md").read_text(encoding="utf-8")
    assert "](../sops/engineering/ENG-001-deployment-process.md)" in text
    for link in re.findall(r"\]\(([^)]+)\)", text):
        assert (example / "docs" / link).is_file(), link


def test_index_lists_retired_sops_apart_and_escapes_cells(example, run):
    path = example / "sops/operations/OPS-003-vendor-management.md"
    text = path.read_text(encoding="utf-8").replace("status: effective", "status: retired")
    text = text.replace(
        "description: Procedures for managing vendor relationships",
        "description: 'Vendors | suppliers <b>old</b>'",
    )
    path.write_text(text, encoding="utf-8")
    commit_all(example, "docs(OPS-003): retire the vendor procedure")

    index = sopgit(run, example, "index", "-o", "-").stdout

    operations = index[index.index("## Operations") : index.index("## Retired procedures")]
    assert "OPS-003" not in operations
    retired = index[index.index("## Retired procedures") :]
    assert (
        "| [Vendor Management](sops/operations/OPS-003-vendor-management.md) | OPS | "
        "Vendors \\| suppliers \\<b\\>old\\</b\\> | 1.0.0 | September 15, 2025 |"
    ) in retired
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(index)
    assert "<b>" not in html


def test_index_library_template_overrides_the_packaged_one(example, run):
    (example / "templates").mkdir()
    (example / "templates/index.md.j2").write_text(
        "{% for d in departments %}{{ d.code }}={{ d.sops|length }};{% endfor %}\n",
        encoding="utf-8",
    )
    assert sopgit(run, example, "index", "-o", "-").stdout == "ENG=5;CMP=5;OPS=4;\n"


def test_index_dry_run_writes_nothing(example, run):
    before = tree_state(example)
    result = sopgit(run, example, "index", "--dry-run")
    assert tree_state(example) == before
    assert "+## Engineering" in result.stdout


def test_index_model_from_plain_records():
    item = IndexItem(
        "ZZZ-001",
        "Odd one",
        "d",
        "sops/zzz/ZZZ-001-odd one.md",
        None,
        "2025-03-13",
        "draft",
        "o",
        (),
    )
    context = index_context("Lib", DEFAULT_DEPARTMENTS, [item], "docs")
    assert [d["code"] for d in context["departments"]] == ["ENG", "CMP", "OPS", "ZZZ"]
    row = context["departments"][-1]["sops"][0]
    assert row["link"] == "../sops/zzz/ZZZ-001-odd%20one.md"
    assert row["last_updated_long"] == "March 13, 2025"
    assert context["departments"][0]["sops"] == []


def test_long_dates_and_links():
    assert long_date("2025-03-13") == "March 13, 2025"
    assert long_date("2026-12-01") == "December 1, 2026"
    assert long_date("soon") == "soon"
    assert relative_link("sops/a/x.md", "") == "sops/a/x.md"
    assert relative_link("sops/a/x.md", "sops/b") == "../a/x.md"


def test_md_escape_leaves_words_alone():
    assert md_escape("snake_case and (#12) and 50% & more") == (
        "snake_case and (#12) and 50% \\& more"
    )
    assert md_escape("_em_ *st* `c` [l](u) <b> a|b ~s~ \\") == (
        "\\_em\\_ \\*st\\* \\`c\\` \\[l\\](u) \\<b\\> a\\|b \\~s\\~ \\\\"
    )
    assert md_escape("two\nlines") == "two lines"
