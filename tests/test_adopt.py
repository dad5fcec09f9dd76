"""`sopgit init --adopt` on repositories kept by hand, then the whole round trip.

Each shape of tests/adopt_fixtures.py is adopted (the proposed sopgit.toml is a golden
file), checked, released after one change (the release commit's diff is a golden file:
only the version and date lines and one new history row, in the library's own keys,
columns, order and dates), and published. Bad input stops adoption with one line per
problem naming file and line, and leaves the repository exactly as it was.

Goldens live in tests/golden/adopt/. To regenerate after an intended change:
SOPGIT_UPDATE_GOLDEN=1 pytest tests/test_adopt.py, then review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import adopt_fixtures as shapes
import pytest
from conftest import commit_all, git, tree_state

from sopgit.adopt import generalise
from sopgit.config import load_config
from sopgit.docformat import Format, HistoryFormat, loose_version, rewrite_history
from sopgit.document import Document

GOLDEN = Path(__file__).parent / "golden" / "adopt"
TODAY = "2025-01-20"
BUILDERS = {
    "frontmatter": shapes.frontmatter_library,
    "filename": shapes.filename_library,
    "table": shapes.table_library,
    "tagged": shapes.tagged_library,
}
# One change per shape, committed before the release: (file, old line, new line, message)
CHANGES = {
    "frontmatter": (
        "procedures/QMS-014-supplier-qualification.md",
        "All sites.",
        "All sites and warehouses.",
        "feat(QMS-014): cover the warehouses",
    ),
    "filename": (
        "sops/CSC-PR-013-Document-Record-Control.md",
        "Log it.",
        "Log it in the register.",
        "fix(CSC-PR-013): name the register",
    ),
    "table": (
        "lab/LAB-007-balance-calibration.md",
        "Lab staff.",
        "Lab staff and students.",
        "fix(LAB-007): students calibrate too",
    ),
    "tagged": (
        "docs/GDI-SOP0003_1+mg-dac-recommendation-approval.md",
        "Send the form.",
        "Send the signed form.",
        "fix(GDI-SOP0003): the form is signed",
    ),
}


def sopgit(run, root: Path, *args: str, expect: int = 0):
    return run("-C", str(root), *args, expect=expect)


def status_of(run, root: Path) -> dict[str, dict]:
    rows = json.loads(sopgit(run, root, "status", "--format", "json").stdout)
    return {row["id"]: row for row in rows}


def golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("SOPGIT_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.is_file(), f"no golden {path}; run with SOPGIT_UPDATE_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def release_diff(root: Path) -> str:
    """The release commit's diff, without the blob ids."""
    text = git(root, "show", "--format=", "--no-color", "HEAD")
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("index "))


def edit(root: Path, relative: str, old: str, new: str) -> None:
    path = root / relative
    text = path.read_text(encoding="utf-8")
    assert f"\n{old}\n" in text, f"{old!r} not in {relative}"
    path.write_text(text.replace(f"\n{old}\n", f"\n{new}\n", 1), encoding="utf-8")


@pytest.fixture
def today(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SOPGIT_TODAY", TODAY)
    return TODAY


def build(tmp_path: Path, shape: str) -> Path:
    root = tmp_path / shape
    root.mkdir()
    return BUILDERS[shape](root)


# --- adopting ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", list(BUILDERS))
def test_adopt_proposes_a_config_that_fits_and_touches_nothing(run, tmp_path, shape, today):
    root = build(tmp_path, shape)
    assert len(git(root, "rev-list", "HEAD").split()) >= 25  # a few dozen commits
    before = tree_state(root)

    result = sopgit(run, root, "init", "--adopt", "--dry-run")

    golden(f"{shape}.toml", result.stdout)
    assert tree_state(root) == before
    assert "2 SOP files identified" in result.stderr

    result = sopgit(run, root, "init", "--adopt")
    written = (root / "sopgit.toml").read_text(encoding="utf-8")
    assert written == (GOLDEN / f"{shape}.toml").read_text(encoding="utf-8")
    assert "created   sopgit.toml" in result.stderr
    after = tree_state(root)
    assert {k: v for k, v in after["files"].items() if k != "sopgit.toml"} == before["files"]
    assert after["refs"] == before["refs"]  # no tag without --baseline
    assert after["index"] == before["index"]


def test_adopt_reports_what_does_not_fit(run, tmp_path, today):
    root = build(tmp_path, "filename")
    result = sopgit(run, root, "init", "--adopt", "--dry-run")
    assert (
        "sopgit: sops/notes.md:1: note: no SOP id in its name or metadata; left out of the "
        "library (listed under [format] exclude)"
    ) in result.stderr
    tagged = build(tmp_path, "tagged")
    result = sopgit(run, tagged, "init", "--adopt", "--dry-run")
    assert (
        "sopgit: note: tags v1.0.0, v1.1.0 are not per-SOP release tags ({id}/v{version}); "
        "left alone"
    ) in result.stderr
    assert (
        "sopgit: docs/GDI-SOP0001_data-access-request.md:3: note: revision C is kept as a "
        "legacy label; the first release will be [versioning] initial_version (1.0.0)"
    ) in result.stderr


def test_adopt_never_overwrites_a_config(run, tmp_path, today):
    root = build(tmp_path, "frontmatter")
    (root / "sopgit.toml").write_text('[library]\nname = "Mine"\n', encoding="utf-8")
    result = sopgit(run, root, "init", "--adopt")
    assert "skipped   sopgit.toml" in result.stderr
    assert (root / "sopgit.toml").read_text(encoding="utf-8") == '[library]\nname = "Mine"\n'


# --- the round trip ----------------------------------------------------------------------


def adopted(run, tmp_path: Path, shape: str, *flags: str) -> Path:
    root = build(tmp_path, shape)
    sopgit(run, root, "init", "--adopt", *flags)
    commit_all(root, "chore: adopt sopgit", shapes.when(40))
    return root


@pytest.mark.parametrize("shape", list(BUILDERS))
def test_round_trip_release_is_a_minimal_diff_in_the_library_format(run, tmp_path, shape, today):
    root = adopted(run, tmp_path, shape, "--baseline")
    check = sopgit(run, root, "check")
    assert "2 files checked: 0 errors, 0 warnings" in check.stderr
    path, old, new, message = CHANGES[shape]
    edit(root, path, old, new)
    commit_all(root, message, shapes.when(41))

    sopgit(run, root, "release", "--date", TODAY)

    golden(f"{shape}.diff", release_diff(root))
    assert "2 files checked: 0 errors, 0 warnings" in sopgit(run, root, "check").stderr
    for command in (["changelog"], ["index"], ["build", "--output", str(tmp_path / "site")]):
        sopgit(run, root, *command)
    assert (tmp_path / "site" / "index.html").is_file()
    assert "## " in (root / "CHANGELOG.md").read_text(encoding="utf-8")


def test_baseline_tags_the_stated_versions_and_leaves_other_tags_alone(run, tmp_path, today):
    root = build(tmp_path, "tagged")
    before = set(git(root, "tag", "--list").split())

    result = sopgit(run, root, "init", "--adopt", "--baseline")

    assert "tagged GDI-SOP0003/v1.2.0 (baseline)" in result.stderr
    assert "GDI-SOP0001 states no version" in result.stderr  # a letter revision: no baseline
    assert set(git(root, "tag", "--list").split()) == before | {"GDI-SOP0003/v1.2.0"}
    head = git(root, "rev-parse", "HEAD").strip()
    assert git(root, "rev-parse", "GDI-SOP0003/v1.2.0^{commit}").strip() == head
    message = git(root, "for-each-ref", "--format=%(contents)", "refs/tags/GDI-SOP0003/v1.2.0")
    assert "Bump: baseline\nBaseline: true\nRelease-Date: 2024-09-01\n" in message
    commit_all(root, "chore: adopt sopgit", shapes.when(40))
    status = status_of(run, root)
    assert status["GDI-SOP0003"]["version"] == "1.2.0"
    assert status["GDI-SOP0003"]["state"] == "effective"  # counted from the baseline
    assert status["GDI-SOP0003"]["pending"] == 0
    assert status["GDI-SOP0001"]["next_version"] == "1.0.0"
    # the repository-wide tags are not releases of any SOP
    data = json.loads(sopgit(run, root, "changelog", "--format", "json").stdout)
    assert [t for r in data["releases"] for t in r["tags"]] == ["GDI-SOP0003/v1.2.0"]


def test_without_baseline_the_first_release_continues_the_typed_version(run, tmp_path, today):
    root = adopted(run, tmp_path, "frontmatter")
    status = status_of(run, root)
    assert status["QMS-014"]["version"] == "2.1.2"
    assert status["QMS-014"]["next_version"] == "2.1.3"  # every commit so far is a patch
    edit(root, *CHANGES["frontmatter"][:3])
    commit_all(root, "feat!: a new procedure for the warehouses", shapes.when(41))
    result = sopgit(run, root, "release", "QMS-014", "--date", TODAY)
    assert "QMS-014 2.1.2 -> 3.0.0 (major)  tag QMS-014/v3.0.0" in result.stdout
    message = git(root, "for-each-ref", "--format=%(contents)", "refs/tags/QMS-014/v3.0.0")
    assert "Previous-Version: 2.1.2\nBump: major\n" in message


def test_history_marks_the_rows_typed_by_hand(run, tmp_path, today):
    root = adopted(run, tmp_path, "table", "--baseline")
    edit(root, *CHANGES["table"][:3])
    commit_all(root, CHANGES["table"][3], shapes.when(41))
    sopgit(run, root, "release", "--date", TODAY)

    data = json.loads(sopgit(run, root, "history", "LAB-007", "--format", "json").stdout)
    assert [(r["version"], r["date"], r["recorded_by_hand"]) for r in data["releases"]] == [
        ("2.0.0", "2021-07-01", True),
        ("3.0.0", "2023-02-14", True),
        ("3.0.1", "2024-10-31", True),
        ("3.0.2", TODAY, False),
    ]
    text = sopgit(run, root, "history", "LAB-007").stdout
    assert "3.0.1 *  2024-10-31  Corrected tolerance" in text
    assert "* recorded by hand in the file's history table, before sopgit" in text
    table = sopgit(run, root, "history", "LAB-007", "--format", "markdown").stdout
    assert table.splitlines()[:4] == [
        "| Date | Version | Description of Change | Changed By | Approved By |",
        "|---|---|---|---|---|",
        "| 2025.01.20 | 3.0.2 | Students calibrate too | Ana Ruiz |  |",
        "| 2024.10.31 | 3.0.1 | Corrected tolerance | R. Osei | K. Lund |",
    ]


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "path", "old", "new", "expected"),
    [
        (
            "frontmatter",
            "procedures/QMS-015-internal-audit.md",
            "doc_id: QMS-015",
            "doc_id: QMS-014",
            "procedures/QMS-014-supplier-qualification.md:2: error: QMS-014 is also the id of "
            "procedures/QMS-015-internal-audit.md; give one of them a new id, then adopt again",
        ),
        (
            "table",
            "lab/LAB-008-sample-storage.md",
            "| 2022.11.20 | 1.0.0 | First issue | R. Osei | K. Lund |",
            "| 2022.11.20 | 1.0.0 | First issue | R. Osei |",
            "lab/LAB-008-sample-storage.md:{line}: error: history row has 4 cells, the header 5; "
            "give every row one cell per column",
        ),
        (
            "table",
            "lab/LAB-008-sample-storage.md",
            "| 2022.11.20 | 1.0.0 | First issue | R. Osei | K. Lund |",
            "| 20.11.2022 | 1.0.0 | First issue | R. Osei | K. Lund |",
            "lab/LAB-008-sample-storage.md:{line}: error: history row date '20.11.2022' is not "
            "a date like 2024.10.31 (%Y.%m.%d); correct the row",
        ),
        (
            "frontmatter",
            "procedures/QMS-015-internal-audit.md",
            "sop_version: 1.3.0",
            "sop_version: TBD",
            "procedures/QMS-015-internal-audit.md:4: error: 'sop_version' is 'TBD', which is not "
            "a version; write a version like 2.1.2 (or a letter revision like C), then adopt again",
        ),
    ],
)
def test_bad_input_stops_adoption_and_writes_nothing(
    run, tmp_path, shape, path, old, new, expected, today
):
    root = build(tmp_path, shape)
    edit(root, path, old, new)
    commit_all(root, "Edit by hand", shapes.when(40))
    before = tree_state(root)

    result = sopgit(run, root, "init", "--adopt", "--baseline", expect=1)

    lines = (root / path).read_text(encoding="utf-8").splitlines()
    expected = expected.replace("{line}", str(lines.index(new) + 1))
    assert f"sopgit: {expected}" in result.stderr.splitlines()
    assert result.stderr.splitlines()[-1].endswith("nothing was written")
    assert tree_state(root) == before


def test_check_reports_a_malformed_history_row_after_adoption(run, tmp_path, today):
    root = adopted(run, tmp_path, "table")
    edit(
        root,
        "lab/LAB-008-sample-storage.md",
        "| 2022.11.20 | 1.0.0 | First issue | R. Osei | K. Lund |",
        "| 2022.11.20 | one | First issue | R. Osei | K. Lund |",
    )
    result = sopgit(run, root, "check", "--format", "json", expect=1)
    found = json.loads(result.stdout)["diagnostics"]
    lines = (root / "lab/LAB-008-sample-storage.md").read_text(encoding="utf-8").splitlines()
    assert found == [
        {
            "path": "lab/LAB-008-sample-storage.md",
            "line": lines.index("| 2022.11.20 | one | First issue | R. Osei | K. Lund |") + 1,
            "rule": "history-table",
            "severity": "error",
            "message": "history row version 'one' is not a version like 2.1.2 or a letter "
            "revision like C; correct the row",
        }
    ]


# --- the pure parts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ids", "pattern"),
    [
        (["ENG-001", "CMP-014"], r"[A-Z][A-Z0-9]{1,9}-\d{3,}"),
        (["CSC-PR-013", "CSC-PR-002"], r"CSC-PR-\d{3}"),
        (["GDI-SOP0003", "GDI-SOP0001"], r"GDI-SOP\d{4}"),
        (["QA-SOP-7", "HR-SOP-12"], r"[A-Z]{2,2}-SOP-\d+"),
    ],
)
def test_id_patterns_are_generalised_from_the_ids_found(ids, pattern):
    assert generalise(ids) == pattern


@pytest.mark.parametrize(
    ("text", "version"),
    [("2.1.2", "2.1.2"), ("1.0", "1.0.0"), ("v3", "3.0.0"), ("Rev 2.1", "2.1.0"), (1.0, "1.0.0")],
)
def test_typed_versions_are_made_semver(text, version):
    assert str(loose_version(text)) == version


def test_letters_and_words_are_not_versions():
    assert loose_version("C") is None
    assert loose_version("TBD") is None


def test_a_table_without_rows_gets_its_first_row_under_the_rule():
    fmt = Format(
        metadata="frontmatter",
        history=HistoryFormat(heading="History", markers=False, order="newest-first"),
    )
    text = "---\ntitle: X\n---\n\n## History\n\n| Version | Date | Description |\n|--|--|--|\n"
    doc = Document("x.md", text, {"title": "X"}, {"title": 2}, 4)
    row = {"version": "1.0.0", "date": "2025-01-20", "description": "First", "author": "A"}
    after = rewrite_history(doc, fmt, [row], "x.md")
    assert after == text + "| 1.0.0 | 2025-01-20 | First |\n"


def test_the_proposal_reads_back_as_the_config(run, tmp_path, today):
    root = adopted(run, tmp_path, "tagged")
    config = load_config(root)
    assert config.format.id_pattern == r"GDI-SOP\d{4}"
    assert config.format.history.order == "newest-first"
    assert config.format.keys["version"] == "revision"
