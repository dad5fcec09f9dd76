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


# === The corpus: shapes seen in public SOP and QMS repositories ==========================
#
# Each library below is modelled on one public repository (named in its docstring), with
# that repository's quirks kept: how it writes ids, versions, dates, statuses and history,
# and which of its Markdown files are not SOPs. Each has a planted real defect or two
# that check must report, and nothing else. Every library is a git repository of a few
# commits with fixed dates.

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def corpus_repo(
    root: Path,
    files: dict[str, str | bytes],
    edits: list[tuple[str, str, str]],
    branch: str = "main",
) -> Path:
    """FILES imported in one commit, then one commit per edit (path, anchor, sentence)."""
    git(root, "init", "-q", "-b", branch)
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
    commit_all(root, "Import the documents", when(0))
    for step, (relative, anchor, sentence) in enumerate(edits, 1):
        touch(root, relative, anchor, sentence)
        commit_all(root, f"Update {Path(relative).stem[:24]} ({step})", when(step))
    return root


# --- GenomicDataInfrastructure/standard-operating-procedures --------------------------------


def _gdi_sop(sop_id: str, title: str, meta_version: str, rows: list[str], extra: str) -> str:
    table = "\n".join(rows)
    return f"""# European GDI - {title}

| Metadata | Value |
|---|---|
| Template SOP number | ``{sop_id}`` |
| Template SOP version |  ``{meta_version}``  |
| Topic                | Helpdesk & operations |
| Template SOP Type | Node-specific SOP |
| GDI Node |  |
| Instance version |  |

## Index

1. [Document History](#1-document-history)
2. [Purpose](#2-purpose)
3. [Procedure](#3-procedure)

### 1. Document History

| Template Version | Instance version | Author(s) | Description of changes | Date |
|---|---|---|---|---|
{table}

### 2. Purpose

The node helpdesk handles {title.lower()} the same way everywhere.

### 3. Procedure

{extra}
"""


GDI_FILES: dict[str, str | bytes] = {
    "README.md": (
        "# GDI standard operating procedures\n\nSee [the charter](docs/GDI-SOP_charter.md).\n"
    ),
    "docs/GDI-SOP_charter.md": (
        "# GDI SOP charter\n\n| Term | Definition |\n|---|---|\n"
        "| SOP | Standard Operating Procedure |\n"
    ),
    "docs/GDI-SOP0008_node-helpdesk-ticket-classification.md": _gdi_sop(
        "GDI-SOP0008",
        "Node Helpdesk Ticket Classification",
        "v1",
        [
            "| ``v1.0.3``  |  | Marcos Casado | Added withdrawal tags | ``2024.11.11`` |",
            "|  ``v1.0.0``  |  | Elisavet Torstensson | Clarified key points | ``2024.04.14`` |",
            "|  ``v0.0.0``  |  | Elisavet Torstensson | Created the first version "
            "| ``2024.02.04`` |",
        ],
        "![Ticket workflow](images/ticket-workflow.png)\n\nSee the [charter](GDI-SOP_charter.md).",
    ),
    "docs/GDI-SOP0009_dataset-withdrawal.md": _gdi_sop(
        "GDI-SOP0009",
        "Dataset Withdrawal",
        "v1.0.0",
        ["| ``v1.0.0`` |  | Silvia Bahena | First version | ``2024.06.01`` |"],
        "Follow the [roles document](GDI-SOP_roles.md).",  # planted: no such file
    ),
    "docs/images/ticket-workflow.png": PNG,
    "templates/GDI-SOP_template.md": (
        "# European GDI - SOP title\n\n| Metadata | Value |\n|---|---|\n"
        "| Template SOP number | _< ``GDI-SOP000...``. The number should be unique >_ |\n"
        "| Template SOP version | ``v0`` |\n"
    ),
}


def gdi_library(root: Path) -> Path:
    return corpus_repo(
        root,
        GDI_FILES,
        [
            (
                "docs/GDI-SOP0008_node-helpdesk-ticket-classification.md",
                "The node helpdesk handles node helpdesk ticket classification the same way "
                "everywhere.",
                "Tickets first.",
            ),
            (
                "docs/GDI-SOP0009_dataset-withdrawal.md",
                "The node helpdesk handles dataset withdrawal the same way everywhere.",
                "Withdrawals are logged.",
            ),
        ],
    )


# --- Chunkys0up7/SOPDemo ---------------------------------------------------------------------


def _demo_sop(sop_id: str, title: str, version: str, status: str, reviewed: str, extra: str) -> str:
    return f"""---
id: {sop_id}
type: sop
version: {version}
status: {status}
title: {title}
owner: HR Operations
lastReviewed: {reviewed}
nextReview: 2025-03-01
tags: [hr, onboarding]
---

# {title}

## Purpose

How we handle {title.lower()}.

## Procedure

### 1. Prepare

Gather what is needed.

### 2. Carry out

{extra}

## Revision History

| Version | Date | Author | Changes |
|---------|------|--------|---------|
| 1.0.0 | 2023-01-10 | J. Doe | Initial release |
| {version} | {reviewed} | J. Doe | Remote work |
"""


DEMO_FILES: dict[str, str | bytes] = {
    "README.md": "# SOP demo\n\nStandard operating procedures as Markdown.\n",
    "sops/hr/sop-hr-004-employee-onboarding.md": _demo_sop(
        "sop-hr-004", "Employee Onboarding", "1.2.0", "active", "2024-03-01", "Welcome them."
    ),
    "sops/hr/sop-hr-005-leave-requests.md": _demo_sop(
        "sop-hr-005", "Leave Requests", "1.1.0", "in-review", "2024-02-01", "Approve the leave."
    ),
    "sops/it/sop-it-001-password-reset.md": _demo_sop(
        "sop-it-001",
        "Password Reset",
        "2.0.0",
        "archived",
        "2023-06-01",
        "See [offboarding](../hr/sop-hr-009-offboarding.md).",  # planted: no such file
    ),
    "templates/sop-template.md": (
        "---\nid: sop-[dept-abbrev]-[number]  # Example: sop-it-001\nversion: 1.0.0\n"
        "status: [draft|in-review|approved|active|archived]\nlastReviewed: [YYYY-MM-DD]\n---\n\n"
        "# [Descriptive SOP Title]\n"
    ),
}


def demo_library(root: Path) -> Path:
    return corpus_repo(
        root,
        DEMO_FILES,
        [
            ("sops/hr/sop-hr-004-employee-onboarding.md", "Gather", "Order the laptop."),
            ("sops/hr/sop-hr-005-leave-requests.md", "Gather", "Check the balance."),
        ],
    )


# --- innolitics/rdm and TheAxonLab/hcph-protocol: document types, a hand-kept changelog -------


def _qms_doc(
    key: str, sop_id: str, title: str, version: str, status: str, body: str, rows: list[str]
) -> str:
    table = "\n".join(rows)
    return f"""---
doc_id: {sop_id}
title: {title}
{key}: {version}
status: {status}
last_reviewed: 2024-05-02
---

# {title}

{body}

## Purpose

Why {title.lower()} exists.

## Revision History

| Revision | Date | Description | Approved by |
|----------|------|-------------|-------------|
{table}
"""


def _procedure(sop_id: str, title: str, version: str, extra: str = "") -> str:
    body = (
        "| Field | Value |\n|-------|-------|\n"
        f"| **Document ID** | {sop_id} |\n"
        f"| **SOP Revision** | {version} |\n"
        "| **Owner** | Quality Manager |"
    )
    return _qms_doc(
        "sop_version",
        sop_id,
        title,
        version,
        "approved",
        body + extra,
        [
            "| 2.0.0 | 2023-02-01 | Rewritten | A. Lee |",
            f"| {version} | 2024-05-02 | Clarified | A. Lee |",
        ],
    )


QMS_CHANGELOG = """# Changelog

Changes to the quality system, written by the quality manager.

<!-- insertion marker -->
## 2024-05-02

- QMS-PR-013 revised after the audit.
"""

QMS_FILES: dict[str, str | bytes] = {
    "README.md": "# Quality management system\n\nProcedures, forms, policies and info sheets.\n",
    "CHANGELOG.md": QMS_CHANGELOG,
    "qms/procedures/QMS-PR-013-document-control.md": _procedure(
        "QMS-PR-013", "Document Control", "2.1.2"
    ),
    "qms/procedures/QMS-PR-014-change-control.md": _procedure(
        "QMS-PR-014",
        "Change Control",
        "2.0.1",
        "\n\nSee [the old procedure](QMS-PR-099-obsolete.md).",  # planted: no such file
    ),
    "qms/forms/QMS-FM-004-change-request-form.md": _qms_doc(
        "template_version",
        "QMS-FM-004",
        "Change Request Form",
        "1.1.0",
        "approved",
        "| Field | Entry |\n|---|---|\n| Change request | [{{cr.id}}]({{cr.url}}) |\n"
        "| Date raised | 01/01/2000 |",
        ["| 1.1.0 | 2024-01-15 | Added the link field | A. Lee |"],
    ),
    "qms/policies/QMS-PO-001-quality-policy.md": _qms_doc(
        "policy_version",
        "QMS-PO-001",
        "Quality Policy",
        "3.0.0",
        "obsolete",
        "Superseded by the 2024 policy.",
        ["| 3.0.0 | 2022-09-01 | Annual update | B. Chen |"],
    ),
    "qms/info/QMS-IS-002-audit-calendar.md": _qms_doc(
        "info_version",
        "QMS-IS-002",
        "Audit Calendar",
        "1.0.0",
        "in review",
        "Audits run each quarter.",
        ["| 1.0.0 | 2024-03-01 | First issue | B. Chen |"],
    ),
}


def qms_library(root: Path) -> Path:
    return corpus_repo(
        root,
        QMS_FILES,
        [
            (
                "qms/procedures/QMS-PR-013-document-control.md",
                "Why document control exists.",
                "Records are kept.",
            ),
            (
                "qms/forms/QMS-FM-004-change-request-form.md",
                "Why change request form exists.",
                "One form per change.",
            ),
        ],
        branch="master",
    )


# --- benjbuch/lab-protocols: major-only versions (SOP0101-v1), dates 31/10/2024 ---------------


def _lab_sop(sop_id: str, title: str, version: str, date: str, rows: list[str]) -> str:
    table = "\n".join(rows)
    return f"""---
sop_number: {sop_id}
title: {title}
version: {version}
effective_date: {date}
---

# {title}

## Purpose

Keep {title.lower()} reproducible.

## Protocol

### 1. Prepare

Clean the bench.

### 2. Run

Follow the steps.

## Revision history

| Version | Date | Change |
|---------|------|--------|
{table}
"""


LAB_FILES: dict[str, str | bytes] = {
    "README.md": "# Lab protocols\n\nCite a protocol by its identifier, e.g. LAB-SOP0012-v2.\n",
    "protocols/LAB-SOP0012_pipette-calibration.md": _lab_sop(
        "LAB-SOP0012",
        "Pipette Calibration",
        "v2",
        "12/03/2024",
        ["| v1 | 01/02/2022 | First protocol |", "| v2 | 12/03/2024 | Gravimetric check |"],
    ),
    "protocols/LAB-SOP0015_buffer-preparation.md": _lab_sop(
        "LAB-SOP0015",
        "Buffer Preparation",
        "v1",
        "05/05/2023",
        ["| v1 | 05/05/2023 | First protocol |"],
    ),
    "protocols/notes/bench-notes.md": "# Bench notes\n\nSee [the forms](../forms/LAB-F01.md).\n",
}


def lab_library(root: Path) -> Path:
    files = dict(LAB_FILES)
    # planted: a link to a form that was never added
    files["protocols/LAB-SOP0015_buffer-preparation.md"] = str(
        files["protocols/LAB-SOP0015_buffer-preparation.md"]
    ).replace("Follow the steps.", "Follow the steps on [the form](forms/LAB-F01.md).")
    return corpus_repo(
        root,
        files,
        [
            (
                "protocols/LAB-SOP0012_pipette-calibration.md",
                "Keep pipette calibration reproducible.",
                "Calibrate monthly.",
            ),
            (
                "protocols/LAB-SOP0015_buffer-preparation.md",
                "Keep buffer preparation reproducible.",
                "Label every bottle.",
            ),
        ],
    )


# --- openregulatory/templates: SOPs without ids -> nothing to adopt -------------------------

NOIDS_FILES: dict[str, str | bytes] = {
    "README.md": "# Templates\n\nFree QMS templates.\n",
    "qms/sop-document-record-control.md": (
        "# SOP Document and Record Control\n\n| ISO 13485:2016 Section | Document Section |\n"
        "| --- | --- |\n| 4.2.4 | (All) |\n\n## Summary\n\nHow documents are handled.\n"
    ),
    "qms/sop-capa.md": "# SOP CAPA\n\n## Summary\n\nCorrective and preventive actions.\n",
}


def noids_library(root: Path) -> Path:
    return corpus_repo(root, NOIDS_FILES, [("qms/sop-capa.md", "Corrective", "Every quarter.")])


# --- innolitics/rdm: records with ids but no version, Jinja placeholders ----------------------

RDM_FILES: dict[str, str | bytes] = {
    "README.md": "# Regulatory documentation\n\nRendered with rdm.\n",
    "documents/SDMR-001-development-record.md": """---
id: SDMR-001
title: Software Development and Maintenance Record
---

# Software Development and Maintenance Record

## Purpose

A record of the change requests implemented in release {{device.version}}.

## Change Requests

{% for cr in history.change_requests %}
**Identifier:** [{{cr.id}}]({{cr.url}})
{% endfor %}
""",
    "documents/SDMR-002-release-record.md": """---
id: SDMR-002
title: Release Record
---

# Release Record

## Purpose

What was released in {{device.name}} {{device.version}}.

## Change Requests

See [the plan](SDP-001-development-plan.md).
""",
}


def rdm_library(root: Path) -> Path:
    return corpus_repo(
        root,
        RDM_FILES,
        [
            (
                "documents/SDMR-001-development-record.md",
                "A record of the change requests implemented in release {{device.version}}.",
                "Each one is verified.",
            )
        ],
    )


# --- EMOSprings/PipeRacking: numbered sections, capitalised statuses, no versions -------------


def _gov(sop_id: str, title: str, status: str) -> str:
    return f"""---
title: {title}
id: {sop_id}
status: {status}
owner: The Business
approver: The Business
---

# {title}

## 1. Purpose

This procedure defines {title.lower()}.

## 2. Scope

All quality documents.

## 3. Procedure

### 3.1. Creation

Use the templates.
"""


PIPE_FILES: dict[str, str | bytes] = {
    "README.md": "# Digital OS\n\nThe business's procedures.\n",
    "docs/00-governance/gov-00-004-document-control.md": _gov(
        "GOV-00-004", "Document Control Procedure", "Draft"
    ),
    "docs/00-governance/gov-00-005-management-review.md": _gov(
        "GOV-00-005", "Management Review Procedure", "Approved"
    ),
    "docs/project_context.md": "# Project context\n\nEach document has a unique ID.\n",
}


def pipe_library(root: Path) -> Path:
    return corpus_repo(
        root,
        PIPE_FILES,
        [("docs/00-governance/gov-00-004-document-control.md", "Use the templates.", "Or copy.")],
    )
