"""Existing SOP repositories, written by hand before sopgit, as real git repositories.

Each builder writes one shape a team keeps its SOPs in, then gives it a few dozen
commits with fixed dates (the conftest environment fixes the identity):

- frontmatter_library: frontmatter with keys of its own (doc_id, sop_version, updated,
  doc_owner) and an oldest-first "Revision History" table with other column names;
- filename_library: ids only in file names (CSC-PR-013-Document-Record-Control.md),
  versions like `1.0`, a "Change Log" table with dates 31/10/2024, a stray notes file;
- table_library: no frontmatter, a metadata table in the body, and a newest-first
  "Document History" table with dates 2024.10.31 and five columns of its own;
- tagged_library: ids like GDI-SOP0003 in names with `_1+...` suffixes, sections
  "Role and Responsibilities" and "Glossary", a letter revision, and repository-wide
  release tags v1.0.0 and v1.1.0.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from conftest import commit_all, git

START = dt.datetime(2024, 1, 8, 9, 0, tzinfo=dt.UTC)


def when(step: int) -> str:
    return (START + dt.timedelta(days=3 * step)).isoformat()


def write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")


def touch(root: Path, relative: str, anchor: str, sentence: str) -> None:
    """Add SENTENCE as a new line after the line ANCHOR (an edit in the author's body)."""
    path = root / relative
    text = path.read_text(encoding="utf-8")
    assert anchor in text, f"{anchor!r} not in {relative}"
    path.write_text(text.replace(anchor, f"{anchor}\n{sentence}", 1), encoding="utf-8")


def history(root: Path, files: dict[str, str], anchor: str, commits: int = 24) -> None:
    """The initial commit, then COMMITS edits spread over the files, a few days apart."""
    git(root, "init", "-q", "-b", "main")
    write(root, files)
    commit_all(root, "Import the SOPs from the shared drive", when(0))
    paths = sorted(files)
    paths = [p for p in paths if p.endswith(".md") and "README" not in p and "notes" not in p]
    for step in range(1, commits + 1):
        path = paths[step % len(paths)]
        touch(root, path, anchor, f"Clarified point {step}.")
        commit_all(root, f"Update {Path(path).stem[:20]} wording ({step})", when(step))


# --- (a) frontmatter with keys of its own ----------------------------------------------


def _qms(sop_id: str, title: str, version: str, updated: str, rows: list[str]) -> str:
    table = "\n".join(rows)
    return f"""---
doc_id: {sop_id}
title: {title}
sop_version: {version}
updated: {updated}
doc_owner: Quality Manager
status: effective
---

# {title}

## Purpose

Why {title.lower()} matters.

## Scope

All sites.

## Procedure

### 1. Prepare

Gather the records.

### 2. Execute

Do the work.

## Revision History

| Version | Date | Change | Author |
|---------|------|--------|--------|
{table}
"""


FRONTMATTER_FILES = {
    "procedures/QMS-014-supplier-qualification.md": _qms(
        "QMS-014",
        "Supplier Qualification",
        "2.1.2",
        "2024-10-31",
        [
            "| 1.0.0 | 2022-01-10 | First issue | M. Weber |",
            "| 2.0.0 | 2023-05-02 | New supplier tiers | M. Weber |",
            "| 2.1.2 | 2024-10-31 | Typo fixes | J. Park |",
        ],
    ),
    "procedures/QMS-015-internal-audit.md": _qms(
        "QMS-015",
        "Internal Audit",
        "1.3.0",
        "2024-06-15",
        [
            "| 1.0.0 | 2021-03-01 | First issue | J. Park |",
            "| 1.3.0 | 2024-06-15 | Remote audits | J. Park |",
        ],
    ),
    "README.md": "# Quality procedures\n\nThe QMS procedures of Acme.\n",
}


def frontmatter_library(root: Path) -> Path:
    history(root, FRONTMATTER_FILES, "Why ")
    return root


# --- (b) ids only in file names ---------------------------------------------------------


def _csc(title: str, version: str, rows: list[str]) -> str:
    table = "\n".join(rows)
    return f"""---
title: {title}
version: {version}
owner: Document Control
---

# {title}

## Purpose

What {title.lower()} is for.

## Procedure

### 1. Receive

Log it.

## Change Log

| Rev | Date | Description |
|-----|------|-------------|
{table}
"""


FILENAME_FILES = {
    "sops/CSC-PR-013-Document-Record-Control.md": _csc(
        "Document Record Control",
        "2.3",
        ["| 1.0 | 14/02/2022 | Issued |", "| 2.3 | 31/10/2024 | Retention periods |"],
    ),
    "sops/CSC-PR-002-Training.md": _csc("Training", "1.0", ["| 1.0 | 20/09/2023 | Issued |"]),
    "sops/notes.md": "# Meeting notes\n\nNot a procedure.\n",
}


def filename_library(root: Path) -> Path:
    history(root, FILENAME_FILES, "What ")
    return root


# --- (c) a metadata table in the body, (d) a newest-first Document History ------------------


def _lab(sop_id: str, title: str, version: str, effective: str, rows: list[str]) -> str:
    table = "\n".join(rows)
    return f"""# {title}

| Field | Value |
|-------|-------|
| Document ID | {sop_id} |
| Version | {version} |
| Effective Date | {effective} |
| Owner | Lab Manager |

## Purpose

Why the lab does {title.lower()}.

## Responsibilities

Lab staff.

## Method

### 1. Calibrate

Use the reference.

### 2. Measure

Record the value.

## Document History

| Date | Version | Description of Change | Changed By | Approved By |
|------|---------|-----------------------|------------|-------------|
{table}
"""


TABLE_FILES = {
    "lab/LAB-007-balance-calibration.md": _lab(
        "LAB-007",
        "Balance Calibration",
        "3.0.1",
        "2024.10.31",
        [
            "| 2024.10.31 | 3.0.1 | Corrected tolerance | R. Osei | K. Lund |",
            "| 2023.02.14 | 3.0.0 | New balances | R. Osei | K. Lund |",
            "| 2021.07.01 | 2.0.0 | Rewritten | K. Lund | A. Berg |",
        ],
    ),
    "lab/LAB-008-sample-storage.md": _lab(
        "LAB-008",
        "Sample Storage",
        "1.1.0",
        "2024.03.05",
        [
            "| 2024.03.05 | 1.1.0 | Freezer log | R. Osei | K. Lund |",
            "| 2022.11.20 | 1.0.0 | First issue | R. Osei | K. Lund |",
        ],
    ),
}


def table_library(root: Path) -> Path:
    history(root, TABLE_FILES, "Why ")
    return root


# --- (b, e) GDI ids with suffixes, sections of its own, repository-wide tags ------------------


def _gdi(title: str, revision: str, rows: list[str]) -> str:
    table = "\n".join(rows)
    return f"""---
title: {title}
revision: {revision}
last_updated: 2024-09-01
---

# {title}

## Purpose

The purpose of {title.lower()}.

## Role and Responsibilities

The committee.

## Procedure

### 1. Submit

Send the form.

## Glossary

DAC: Data Access Committee.

## Document History

| Version | Date | Author | Summary |
|---------|------|--------|---------|
{table}
"""


TAGGED_FILES = {
    "docs/GDI-SOP0003_1+mg-dac-recommendation-approval.md": _gdi(
        "DAC Recommendation Approval",
        "1.2",
        [
            "| 1.2 | 2024.09.01 | M. Gruber | Quorum rule |",
            "| 1.0 | 2023.04.11 | M. Gruber | Issued |",
        ],
    ),
    "docs/GDI-SOP0001_data-access-request.md": _gdi(
        "Data Access Request",
        "C",
        ["| C | 2024.02.02 | L. Noor | Portal |", "| B | 2023.01.15 | L. Noor | Issued |"],
    ),
}


def tagged_library(root: Path) -> Path:
    history(root, TAGGED_FILES, "The purpose", commits=12)
    git(root, "tag", "-a", "-m", "Release 1.0.0 of the handbook", "v1.0.0")
    for step in range(13, 25):
        path = sorted(TAGGED_FILES)[step % 2]
        touch(root, path, "The purpose", f"Clarified point {step}.")
        commit_all(root, f"Update wording ({step})", when(step))
    git(root, "tag", "-a", "-m", "Release 1.1.0 of the handbook", "v1.1.0")
    return root
