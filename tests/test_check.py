"""`sopgit check`: each rule on a real library, in every output format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import commit_all, git, tree_state

from sopgit.core.rules import RULES

ENG1 = "sops/engineering/ENG-001-deployment-process.md"
ENG2 = "sops/engineering/ENG-002-code-review-standards.md"


def diagnostics(run, root: Path, *paths: str, expect: int = 1) -> list[dict]:
    result = run("-C", str(root), "check", "--format", "json", *paths, expect=expect)
    return json.loads(result.stdout)["diagnostics"]


def edit(root: Path, path: str, old: str, new: str, count: int = 1) -> None:
    file = root / path
    text = file.read_text()
    assert old in text, f"{old!r} not in {path}"
    file.write_text(text.replace(old, new, count))


def test_the_example_library_is_clean(run, library: Path):
    result = run("-C", str(library), "check")
    assert result.stdout == ""
    assert "14 files checked: 0 errors, 0 warnings" in result.stderr


@pytest.mark.parametrize(
    ("old", "new", "rule", "line", "words"),
    [
        ("sop_id: ENG-001\n", "", "required-key", 1, "frontmatter has no 'sop_id'"),
        ("lastUpdated: 2025-03-13", "lastUpdated: March 13, 2025", "key-type", 5, "YYYY-MM-DD"),
        ("version: 0.0.0", "version: 1.0", "key-type", 6, "semantic version like 1.0.0"),
        ("version: 0.0.0", "version: 1.2.0", "version", 6, "has no release tag"),
        ("status: draft", "status: final", "status", 9, "one of draft, effective, retired"),
        ("sop_id: ENG-001", "sop_id: ENG-1", "id-format", 3, "not an id like ENG-001"),
        ("sop_id: ENG-001", "sop_id: ENG-077", "id-filename", 3, "should start with 'ENG-077-'"),
        ("sop_id: ENG-001", "sop_id: HRX-001", "unknown-department", 3, "add [departments.HRX]"),
        ("sop_id: ENG-001", "sop_id: ENG-002", "duplicate-id", 3, ENG2),
        ("## Scope\n", "## Scop\n", "missing-section", None, "'## Scope' is missing"),
        ("### 2. ", "### 3. ", "step-numbering", None, "### 2. ..."),
        ("<!-- sopgit:revision-history:end -->\n", "", "markers", None, "one '<!--"),
        ("| Version | Date |", "| Ver | Date |", "history-table", None, "| Version | Date |"),
        (
            "# Deployment Process\n",
            "# Deployment Process\n\nSee [the plan](missing-plan.md).\n",
            "broken-link",
            None,
            "'missing-plan.md' does not exist",
        ),
    ],
)
def test_each_rule_reports_file_line_and_fix(run, library, old, new, rule, line, words):
    edit(library, ENG1, old, new)
    found = [d for d in diagnostics(run, library, ENG1) if d["rule"] == rule]
    assert found, f"no {rule} diagnostic"
    assert found[0]["path"] == ENG1
    assert words in found[0]["message"]
    assert found[0]["severity"] == "error"
    if line is not None:
        assert found[0]["line"] == line


def test_sections_out_of_order(run, library):
    text = (library / ENG1).read_text()
    purpose = text.index("## Purpose")
    scope = text.index("## Scope")
    responsibilities = text.index("## Responsibilities")
    swapped = (
        text[:purpose]
        + text[scope:responsibilities]
        + text[purpose:scope]
        + text[responsibilities:]
    )
    (library / ENG1).write_text(swapped)
    found = [d for d in diagnostics(run, library, ENG1) if d["rule"] == "section-order"]
    assert found[0]["message"].startswith("'## Scope' is out of order; sections go Purpose, Scope")


def test_title_heading_is_a_warning_that_does_not_fail(run, library):
    edit(library, ENG1, "# Deployment Process\n", "# Deployments\n")
    result = run("-C", str(library), "check", ENG1, expect=0)
    assert (
        "warning [title-heading] the first heading should be '# Deployment Process'"
        in result.stdout
    )


def test_malformed_yaml_is_a_diagnostic_with_its_line(run, library):
    edit(library, ENG1, "tags: ['sop', 'engineering', 'deployment']", "tags: ['sop', 'engineering'")
    result = run("-C", str(library), "check", expect=1)
    assert result.stdout.startswith(f"{ENG1}:8: error [frontmatter] frontmatter YAML")
    assert "Traceback" not in result.stdout + result.stderr


def test_file_in_the_wrong_folder_and_outside_the_root(run, library):
    moved = "sops/operations/ENG-001-deployment-process.md"
    git(library, "mv", ENG1, moved)
    found = diagnostics(run, library, moved)
    assert "folder" in [d["rule"] for d in found]
    outside = library / "docs" / "ENG-099-stray.md"
    outside.parent.mkdir()
    outside.write_text((library / moved).read_text())
    found = diagnostics(run, library, "docs/ENG-099-stray.md")
    assert found == [
        {
            "path": "docs/ENG-099-stray.md",
            "line": 1,
            "rule": "outside-root",
            "severity": "error",
            "message": "SOP files belong under 'sops/'; move it there",
        }
    ]


def test_links_to_other_sops_and_anchors_resolve(run, library):
    edit(
        library,
        ENG1,
        "# Deployment Process\n",
        "# Deployment Process\n\n[a](ENG-002-code-review-standards.md#scope) [b](#purpose) "
        "[c](../compliance/CMP-001-incident-response.md) [d](https://example.com/x.md) "
        "`[e](not-a-link.md)`\n",
    )
    assert diagnostics(run, library, ENG1, expect=0) == []


def test_version_must_match_the_latest_tag(run, library):
    edit(library, ENG1, "version: 0.0.0", "version: 1.1.0")
    commit_all(library, "release ENG-001")
    git(library, "tag", "-a", "ENG-001/v1.0.0", "-m", "ENG-001 1.0.0")
    git(library, "tag", "-a", "ENG-001/v1.1.0", "-m", "ENG-001 1.1.0")
    git(library, "tag", "-a", "ENG-001/v2.0.0-draft.1", "-m", "a prerelease is not a release")
    assert diagnostics(run, library, ENG1, expect=0) == []
    edit(library, ENG1, "version: 1.1.0", "version: 1.2.0")
    found = diagnostics(run, library, ENG1)
    assert found[0]["rule"] == "version"
    assert "the latest release of ENG-001 is 1.1.0; set it back to 1.1.0" in found[0]["message"]


def test_github_format_writes_workflow_annotations(run, library):
    edit(library, ENG1, "status: draft", "status: final")
    result = run("-C", str(library), "check", "--format", "github", expect=1)
    assert result.stdout.splitlines() == [
        f"::error file={ENG1},line=9,title=sopgit status::"
        "'status' must be one of draft, effective, retired, not 'final'"
    ]


def test_text_format_and_summary(run, library):
    edit(library, ENG1, "status: draft", "status: final")
    result = run("-C", str(library), "check", expect=1)
    assert result.stdout == (
        f"{ENG1}:9: error [status] 'status' must be one of draft, effective, retired, not 'final'\n"
    )
    assert result.stderr == "14 files checked: 1 error, 0 warnings\n"


def test_check_writes_nothing(run, library):
    edit(library, ENG1, "## Scope\n", "")
    before = tree_state(library)
    run("-C", str(library), "check", expect=1)
    assert tree_state(library) == before


def test_a_path_that_does_not_exist_is_a_usage_error(run, library):
    result = run("-C", str(library), "check", "sops/nope.md", expect=2)
    assert result.stderr.startswith("sopgit: ")
    assert "nope.md: does not exist" in result.stderr


def test_list_rules_names_every_rule(run):
    result = run("check", "--list-rules")
    assert [line.split()[0] for line in result.stdout.splitlines()] == list(RULES)
