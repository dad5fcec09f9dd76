"""The check rules by name, with what each asks of an SOP (pure data)."""

from __future__ import annotations

RULES: dict[str, str] = {
    "frontmatter": "the file starts with a closed YAML frontmatter block that parses",
    "symlink": "an SOP file is a file, not a symbolic link (sopgit follows no link)",
    "required-key": "every frontmatter key of the template is present",
    "key-type": "keys have the right type: dates YYYY-MM-DD, version semver, tags a list",
    "status": "status is draft, effective or retired",
    "id-format": "sop_id is DEPT-NNN",
    "unknown-department": "the id's prefix is a department in sopgit.toml",
    "id-filename": "the file name starts with the sop_id",
    "folder": "the file sits in its department's folder under the root",
    "duplicate-id": "no two SOP files share an id",
    "outside-root": "SOP files live under the library root",
    "title-heading": "the first heading repeats the title (warning)",
    "missing-section": "the seven sections are present",
    "section-order": "the sections are in the template's order",
    "step-numbering": "procedure steps are '### N. Step', numbered 1, 2, 3...",
    "markers": "the managed revision-history markers are present once, in order",
    "history-table": "the revision-history table has the managed columns",
    "broken-link": "relative links point at files that exist",
    "version": "the version is 0.0.0 until released, then the latest tag's version",
    "retired-link": "active SOPs do not link to retired ones",
    "review-overdue": "with --fail-on-overdue: no released SOP is past its periodic review",
}
