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

from sopgit.commands.adopt import generalise
from sopgit.core.formats import Format, HistoryFormat, loose_version
from sopgit.repo.config import load_config
from sopgit.repo.docformat import rewrite_history
from sopgit.repo.document import Document

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


# --- the corpus: shapes of public SOP and QMS repositories --------------------------------
#
# Each library of tests/adopt_fixtures.py's corpus is adopted with no edit at all: the
# proposal (a golden file) loads, check reports exactly the defects planted in it, status
# states every version the files state, a baseline tags them, and a release after one
# change writes a golden diff in the library's own format. Then changelog, index and
# build run on it.

CORPUS = {
    "gdi": {
        "build": shapes.gdi_library,
        "versions": {"GDI-SOP0008": "1.0.3", "GDI-SOP0009": "1.0.0"},
        "defects": [("docs/GDI-SOP0009_dataset-withdrawal.md", "broken-link")],
        "change": (
            "docs/GDI-SOP0008_node-helpdesk-ticket-classification.md",
            "Tickets first.",
            "Tickets first, then questions.",
            "fix(GDI-SOP0008): questions come after tickets",
        ),
    },
    "demo": {
        "build": shapes.demo_library,
        "versions": {"sop-hr-004": "1.2.0", "sop-hr-005": "1.1.0", "sop-it-001": "2.0.0"},
        "defects": [("sops/it/sop-it-001-password-reset.md", "broken-link")],
        "change": (
            "sops/hr/sop-hr-004-employee-onboarding.md",
            "Welcome them.",
            "Welcome them at the door.",
            "feat(sop-hr-004): a welcome at the door",
        ),
    },
    "qms": {
        "build": shapes.qms_library,
        "versions": {
            "QMS-FM-004": "1.1.0",
            "QMS-IS-002": "1.0.0",
            "QMS-PO-001": "3.0.0",
            "QMS-PR-013": "2.1.2",
            "QMS-PR-014": "2.0.1",
        },
        "defects": [("qms/procedures/QMS-PR-014-change-control.md", "broken-link")],
        "change": (
            "qms/procedures/QMS-PR-013-document-control.md",
            "Records are kept.",
            "Records are kept for ten years.",
            "fix(QMS-PR-013): the retention period",
        ),
    },
    "lab": {
        "build": shapes.lab_library,
        "versions": {"LAB-SOP0012": "2.0.0", "LAB-SOP0015": "1.0.0"},
        "defects": [("protocols/LAB-SOP0015_buffer-preparation.md", "broken-link")],
        "change": (
            "protocols/LAB-SOP0012_pipette-calibration.md",
            "Calibrate monthly.",
            "Calibrate every month.",
            "fix(LAB-SOP0012): wording",
        ),
    },
    "rdm": {
        "build": shapes.rdm_library,
        "versions": {"SDMR-001": None, "SDMR-002": None},
        "defects": [("documents/SDMR-002-release-record.md", "broken-link")],
        "change": (
            "documents/SDMR-001-development-record.md",
            "Each one is verified.",
            "Each one is verified before release.",
            "fix(SDMR-001): verified before release",
        ),
    },
    "pipe": {
        "build": shapes.pipe_library,
        "versions": {"GOV-00-004": None, "GOV-00-005": None},
        "defects": [],
        "change": (
            "docs/00-governance/gov-00-005-management-review.md",
            "Use the templates.",
            "Use the current templates.",
            "fix(GOV-00-005): the current templates",
        ),
    },
}


def corpus(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    root.mkdir()
    build = CORPUS[name]["build"] if name in CORPUS else shapes.noids_library
    return build(root)  # type: ignore[operator]


def check_findings(run, root: Path, defects: list[tuple[str, str]]) -> None:
    result = sopgit(run, root, "check", "--format", "json", expect=1 if defects else 0)
    found = json.loads(result.stdout)["diagnostics"]
    assert sorted((d["path"], d["rule"]) for d in found) == sorted(defects), found


@pytest.mark.parametrize("name", list(CORPUS))
def test_corpus_adopts_with_no_edits_and_states_every_version(run, tmp_path, name, today):
    spec = CORPUS[name]
    root = corpus(tmp_path, name)
    before = tree_state(root)

    result = sopgit(run, root, "init", "--adopt", "--dry-run")

    golden(f"corpus-{name}.toml", result.stdout)
    assert tree_state(root) == before
    sopgit(run, root, "init", "--adopt")
    assert load_config(root).format.legacy  # the proposal loads as written
    assert "'sopgit init --adopt --baseline' tags those versions" in result.stderr
    commit_all(root, "chore: adopt sopgit", shapes.when(40))
    check_findings(run, root, spec["defects"])  # type: ignore[arg-type]
    status = status_of(run, root)
    assert {i: row["version"] for i, row in status.items()} == spec["versions"]


@pytest.mark.parametrize("name", list(CORPUS))
def test_corpus_round_trip_from_a_baseline(run, tmp_path, name, today):
    spec = CORPUS[name]
    root = corpus(tmp_path, name)
    result = sopgit(run, root, "init", "--adopt", "--baseline")
    versions: dict[str, str] = spec["versions"]  # type: ignore[assignment]
    for sop_id, version in versions.items():
        if version is None:  # nothing stated: the first release is the initial version
            assert f"{sop_id} states no version; no baseline" in result.stderr
        else:
            assert f"tagged {sop_id}/v{version} (baseline)" in result.stderr
    commit_all(root, "chore: adopt sopgit", shapes.when(40))
    status = status_of(run, root)
    assert {i: r["version"] for i, r in status.items()} == versions
    assert all(status[i]["pending"] == 0 for i, v in versions.items() if v is not None)
    path, old, new, message = spec["change"]  # type: ignore[misc]
    edit(root, path, old, new)
    commit_all(root, message, shapes.when(41))
    sop_id = message.split("(")[1].split(")")[0]

    sopgit(run, root, "release", sop_id.upper(), "--date", TODAY)

    golden(f"corpus-{name}.diff", release_diff(root))
    check_findings(run, root, spec["defects"])  # type: ignore[arg-type]
    for command in (["changelog"], ["index"], ["build", "--output", str(tmp_path / "site")]):
        sopgit(run, root, *command)
    assert (tmp_path / "site" / "index.html").is_file()


def test_corpus_titles_review_dates_and_statuses_are_the_files_own(run, tmp_path, today):
    root = corpus(tmp_path, "demo")
    sopgit(run, root, "init", "--adopt", "--baseline")
    commit_all(root, "chore: adopt sopgit", shapes.when(40))
    status = status_of(run, root)
    assert status["sop-hr-004"]["review_due"] == "2025-03-01"  # nextReview, as the file says
    assert status["sop-hr-004"]["state"] == "effective"  # active
    assert status["sop-it-001"]["state"] == "retired"  # archived
    assert status["sop-hr-005"]["title"] == "Leave Requests"
    # ids as written, and in any case, on the command line
    assert "1.2.0" in sopgit(run, root, "history", "sop-hr-004").stdout
    assert "1.2.0" in sopgit(run, root, "history", "SOP-HR-004").stdout
    gdi = corpus(tmp_path, "gdi")
    sopgit(run, gdi, "init", "--adopt")
    commit_all(gdi, "chore: adopt sopgit", shapes.when(40))
    titles = {i: r["title"] for i, r in status_of(run, gdi).items()}
    assert titles["GDI-SOP0008"] == "European GDI - Node Helpdesk Ticket Classification"


def test_corpus_without_baseline_continues_from_the_stated_version(run, tmp_path, today):
    root = corpus(tmp_path, "qms")
    sopgit(run, root, "init", "--adopt")
    commit_all(root, "chore: adopt sopgit", shapes.when(40))
    sopgit(run, root, "index")
    index = (root / "SOPS.md").read_text(encoding="utf-8")
    assert "2.1.2" in index  # stated versions, before any tag
    assert "3.0.0" in index
    edit(root, *CORPUS["qms"]["change"][:3])  # type: ignore[misc]
    commit_all(root, "fix(QMS-PR-013): the retention period", shapes.when(41))

    result = sopgit(run, root, "release", "QMS-PR-013", "--date", TODAY)

    assert "QMS-PR-013 2.1.2 -> 2.1.3 (patch)" in result.stdout
    data = json.loads(sopgit(run, root, "changelog", "--format", "json").stdout)
    (release,) = [r for r in data["releases"] if r["sops"][0]["id"] == "QMS-PR-013"]
    # only what changed since the file last stated its version: not the import
    assert [c["subject"] for c in release["sops"][0]["changes"]] == [
        "Update QMS-PR-013-document-cont (1)",
        "fix(QMS-PR-013): the retention period",
    ]


def test_corpus_hand_written_changelog_is_kept_byte_for_byte(run, tmp_path, today):
    root = corpus(tmp_path, "qms")
    sopgit(run, root, "init", "--adopt")
    commit_all(root, "chore: adopt sopgit", shapes.when(40))

    sopgit(run, root, "changelog")

    text = (root / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("<!-- sopgit:changelog:start -->\n# Changelog\n")
    assert text.endswith("<!-- sopgit:changelog:end -->\n\n" + shapes.QMS_CHANGELOG)
    edit(root, *CORPUS["qms"]["change"][:3])  # type: ignore[misc]
    commit_all(root, "fix(QMS-PR-013): the retention period", shapes.when(41))
    sopgit(run, root, "release", "QMS-PR-013", "--date", TODAY)
    sopgit(run, root, "changelog")
    again = (root / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "QMS-PR-013" in again.split("<!-- sopgit:changelog:end -->")[0]
    assert again.endswith("<!-- sopgit:changelog:end -->\n\n" + shapes.QMS_CHANGELOG)
    assert again.count("<!-- sopgit:changelog:start -->") == 1


def test_corpus_site_copies_the_images_an_sop_shows(run, tmp_path, today):
    root = corpus(tmp_path, "gdi")
    sopgit(run, root, "init", "--adopt")
    commit_all(root, "chore: adopt sopgit", shapes.when(40))
    site = tmp_path / "site"

    sopgit(run, root, "build", "--output", str(site))

    copied = site / "files" / "docs" / "images" / "ticket-workflow.png"
    assert copied.read_bytes() == shapes.PNG
    page = (site / "sops" / "GDI-SOP0008.html").read_text(encoding="utf-8")
    assert 'src="../files/docs/images/ticket-workflow.png"' in page
    assert "v1.0.3" in (site / "index.html").read_text(encoding="utf-8") or "1.0.3" in (
        site / "index.html"
    ).read_text(encoding="utf-8")


def test_corpus_without_any_id_stops_with_guidance(run, tmp_path, today):
    root = corpus(tmp_path, "noids")
    before = tree_state(root)

    result = sopgit(run, root, "init", "--adopt", "--baseline", expect=1)

    assert "error: no document carries an id" in result.stderr
    assert "'| Document ID | QMS-001 |'" in result.stderr
    assert result.stderr.splitlines()[-1].endswith("nothing was written")
    assert tree_state(root) == before


def test_corpus_prints_what_it_is_unsure_of(run, tmp_path, today):
    root = corpus(tmp_path, "qms")
    result = sopgit(run, root, "init", "--adopt", "--dry-run")
    assert (
        "sopgit: unsure: versions are written under 'sop_version', 'template_version', "
        "'info_version', 'policy_version', 'SOP Revision'; each file's highest counts, and a "
        "release updates every one it has"
    ) in result.stderr
    assert "[format.statuses]" in result.stdout


def test_corpus_baseline_uses_an_existing_config_and_says_so(run, tmp_path, today):
    root = corpus(tmp_path, "demo")
    sopgit(run, root, "init", "--adopt")
    text = (root / "sopgit.toml").read_text(encoding="utf-8")
    commit_all(root, "chore: adopt sopgit", shapes.when(40))

    result = sopgit(run, root, "init", "--adopt", "--baseline")

    assert "baseline  uses the existing sopgit.toml, not the proposal" in result.stderr
    assert "tagged sop-hr-004/v1.2.0 (baseline)" in result.stderr
    assert (root / "sopgit.toml").read_text(encoding="utf-8") == text


def test_corpus_one_unparsable_document_does_not_block_the_others(run, tmp_path, today):
    root = corpus(tmp_path, "demo")
    sopgit(run, root, "init", "--adopt", "--baseline")
    commit_all(root, "chore: adopt sopgit", shapes.when(40))
    edit(root, "sops/hr/sop-hr-005-leave-requests.md", "type: sop", "type: [sop")
    edit(root, *CORPUS["demo"]["change"][:3])  # type: ignore[misc]
    commit_all(root, "feat(sop-hr-004): a welcome at the door", shapes.when(41))

    result = sopgit(run, root, "release", "sop-hr-004", "--date", TODAY)

    assert "sop-hr-004 1.2.0 -> 1.3.0 (minor)" in result.stdout
    assert git(root, "tag", "--list", "sop-hr-004/v1.3.0").strip() == "sop-hr-004/v1.3.0"


def test_plain_init_on_master_releases_from_master(run, tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    git(root, "init", "-q", "-b", "master")

    sopgit(run, root, "init")

    assert load_config(root).release_branch == "master"
    assert 'release_branch = "master"' in (root / "sopgit.toml").read_text(encoding="utf-8")
