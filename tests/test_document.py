"""The SOP document model: parsing, and updates that change only sopgit's lines."""

from __future__ import annotations

import datetime as dt
import difflib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sopgit.core.formats import SEED_FORMAT, table_cell
from sopgit.errors import DocumentError
from sopgit.repo.docformat import update_sop
from sopgit.repo.document import (
    FAST_LOADER,
    REVISION_HISTORY,
    _CheckedLoader,
    managed_region,
    parse_document,
    set_frontmatter_value,
)

SEED = """---
title: Deployment Process
sop_id: ENG-001
description: Step-by-step guide for deploying applications to production
lastUpdated: 2025-03-13
version: 1.0.0
owner: Engineering / Release Manager
tags: ['sop', 'engineering', 'deployment']
status: effective
---

# Deployment Process

## Revision History
<!-- sopgit:revision-history:start -->
| Version | Date | Description | Author | Approved by |
|---------|------|-------------|--------|-------------|
| 1.0.0 | 2025-03-13 | Initial version | Ana Ruiz | Lee Chen (manager) |
<!-- sopgit:revision-history:end -->
"""


def update_document(text: str, *, last_updated: str | None = None, **changes) -> str:
    """What a release writes into TEXT in the seed format (sopgit.repo.docformat.update_sop)."""
    date = dt.date.fromisoformat(last_updated) if last_updated else None
    return update_sop(parse_document(text), SEED_FORMAT, last_updated=date, **changes)


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.ndiff(before.splitlines(True), after.splitlines(True))
        if line[:1] in "+-"
    ]


def test_parse_reads_frontmatter_and_headings():
    doc = parse_document(SEED, "sops/engineering/ENG-001-deployment-process.md")
    assert doc.meta["sop_id"] == "ENG-001"
    assert doc.meta["lastUpdated"] == dt.date(2025, 3, 13)
    assert doc.meta["tags"] == ["sop", "engineering", "deployment"]
    assert doc.meta_lines["version"] == 6
    assert [(h.level, h.title, h.line) for h in doc.headings] == [
        (1, "Deployment Process", 12),
        (2, "Revision History", 14),
    ]


def test_headings_inside_code_blocks_are_not_sections():
    text = SEED.replace(
        "# Deployment Process\n", "# Deployment Process\n\n```\n## Not a heading\n```\n"
    )
    titles = [h.title for h in parse_document(text).headings]
    assert "Not a heading" not in titles


def test_update_changes_only_version_date_and_table():
    after = update_document(
        SEED,
        version="1.1.0",
        last_updated="2026-11-22",
        revision_table=["| Version | Date |", "|---|---|", "| 1.1.0 | 2026-11-22 |"],
    )
    assert sorted(changed_lines(SEED, after)) == sorted(
        [
            "- lastUpdated: 2025-03-13\n",
            "- version: 1.0.0\n",
            "+ lastUpdated: 2026-11-22\n",
            "+ version: 1.1.0\n",
            "- | Version | Date | Description | Author | Approved by |\n",
            "- |---------|------|-------------|--------|-------------|\n",
            "- | 1.0.0 | 2025-03-13 | Initial version | Ana Ruiz | Lee Chen (manager) |\n",
            "+ | Version | Date |\n",
            "+ |---|---|\n",
            "+ | 1.1.0 | 2026-11-22 |\n",
        ]
    )


def test_update_keeps_quotes_comments_and_crlf():
    text = (
        '---\r\ntitle: "A: B"\r\nversion: "1.0.0"  # set by sopgit\r\n'
        "lastUpdated: '2025-03-13'\r\n---\r\nbody\r\n"
    )
    after = update_document(text, version="2.0.0", last_updated="2026-01-02")
    assert after == (
        '---\r\ntitle: "A: B"\r\nversion: "2.0.0"  # set by sopgit\r\n'
        "lastUpdated: '2026-01-02'\r\n---\r\nbody\r\n"
    )


def test_missing_key_is_added_at_the_end_of_the_frontmatter():
    after = set_frontmatter_value("---\ntitle: T\n---\nbody", "status", "effective")
    assert after == "---\ntitle: T\nstatus: effective\n---\nbody"


def test_a_multi_line_value_is_refused_not_mangled():
    text = "---\nversion: >\n  1.0.0\n---\n"
    with pytest.raises(DocumentError, match="one-line value") as err:
        set_frontmatter_value(text, "version", "2.0.0", "x.md")
    assert err.value.line == 2


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("no frontmatter\n", 1, "no frontmatter"),
        ("---\ntitle: x\n", 1, "not closed"),
        ("---\ntitle: x\ntags: [a, b\nversion: 1\n---\n", 3, "YAML"),
        ("---\ntitle: x\n  bad: indent\n---\n", 3, "YAML"),
        ("---\n- a list\n---\n", 2, "mapping"),
    ],
)
def test_malformed_frontmatter_names_the_line(text: str, line: int, words: str):
    with pytest.raises(DocumentError, match=words) as err:
        parse_document(text, "sops/x.md")
    assert err.value.line == line
    assert str(err.value).startswith(f"sops/x.md:{line}: ")


def test_yaml_is_loaded_safely():
    text = "---\ntitle: !!python/object/apply:os.system ['echo hacked']\n---\n"
    with pytest.raises(DocumentError):
        parse_document(text)


def test_libyaml_reads_frontmatter_when_pyyaml_has_it():
    import yaml

    assert (FAST_LOADER is not None) == yaml.__with_libyaml__


BLOCK_NESTED = "".join("  " * i + f"k{i}:\n" for i in range(40)) + "  " * 40 + "x: 1\n"
REFUSED = [
    (BLOCK_NESTED, "deeper than 32"),
    ("title: a\ntitle: b\n", "key 'title' twice"),
    ("a: " + "[" * 40 + "]" * 40 + "\n", "deeper than 32"),
]


@pytest.mark.parametrize(("source", "words"), REFUSED)
def test_both_yaml_parsers_refuse_the_same_frontmatter(source: str, words: str):
    import yaml

    for loader_class in [_CheckedLoader] + ([FAST_LOADER] if FAST_LOADER else []):
        with pytest.raises(yaml.YAMLError, match=words):
            loader_class(source).get_single_data()
    with pytest.raises(DocumentError, match=words):
        parse_document(f"---\n{source}---\n", "sops/x.md")


def test_an_anchor_never_reaches_libyaml():
    with pytest.raises(DocumentError, match="anchor or alias"):
        parse_document("---\na: &x [1]\nb: *x\n---\n", "sops/x.md")


def test_both_yaml_parsers_read_the_same_values():
    source = (
        "title: A & B\nsop_id: ENG-001\nlastUpdated: 2024-02-30\nday: 2024-02-28\n"
        "tags: ['a', b]\nowner: {team: ops, n: [1, 2.5, null, true]}\n"
    )
    plain = source.replace(" & ", " and ")
    for text in (source, plain):
        values = [loader(text).get_single_data() for loader in (_CheckedLoader, FAST_LOADER)]
        assert values[0] == values[1] or FAST_LOADER is None
    assert _CheckedLoader(plain).get_single_data()["lastUpdated"] == "2024-02-30"


def test_managed_region_requires_one_pair_of_markers():
    broken = SEED.replace("<!-- sopgit:revision-history:end -->\n", "")
    with pytest.raises(DocumentError, match="exactly one"):
        managed_region(broken, REVISION_HISTORY)


def test_table_cell_escapes_pipes_and_newlines():
    assert table_cell("a | b\nc") == "a \\| b c"
    assert table_cell("back\\slash") == "back\\\\slash"


# --- property tests -------------------------------------------------------------

keys = st.from_regex(r"[a-z][a-zA-Z_]{0,10}", fullmatch=True).filter(
    lambda k: k not in ("version", "lastUpdated", "status")
)
plain = st.from_regex(r"[A-Za-z][A-Za-z0-9 ,.()/-]{0,30}", fullmatch=True).map(str.strip)


@st.composite
def frontmatter_lines(draw: st.DrawFn) -> list[str]:
    """Author-written frontmatter: any key order, quoting, flow lists and comments."""
    lines = []
    for key in draw(st.lists(keys, unique=True, max_size=6)):
        value = draw(
            st.one_of(
                plain,
                plain.map(lambda v: f"'{v}'"),
                plain.map(lambda v: f'"{v}"'),
                st.lists(plain.filter(bool), max_size=3).map(
                    lambda vs: "[" + ", ".join(f"'{v}'" for v in vs) + "]"
                ),
            )
        )
        comment = draw(st.sampled_from(["", "  # note", " # keep: me"]))
        lines.append(f"{key}: {value}{comment}")
    managed = {
        "version": draw(st.sampled_from(["0.0.0", "'1.2.3'", '"1.0.0"', "1.0.0 # sopgit"])),
        "lastUpdated": draw(st.sampled_from(["2025-03-13", "'2025-03-13'"])),
    }
    for key, value in managed.items():
        lines.insert(draw(st.integers(0, len(lines))), f"{key}: {value}")
    return lines


body_lines = st.lists(
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40), max_size=8
)


@settings(max_examples=200, deadline=None)
@given(
    fm=frontmatter_lines(),
    before=body_lines,
    table=body_lines,
    after=body_lines,
    eol=st.sampled_from(["\n", "\r\n"]),
    final_newline=st.booleans(),
    version=st.from_regex(r"(0|[1-9][0-9]{0,2})(\.(0|[1-9][0-9]{0,2})){2}", fullmatch=True),
    rows=st.lists(
        st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30), max_size=4
    ),
)
def test_update_touches_only_sopgit_lines(
    fm, before, table, after, eol, final_newline, version, rows
):
    start, end = "<!-- sopgit:revision-history:start -->", "<!-- sopgit:revision-history:end -->"
    lines = ["---", *fm, "---", *before, start, *table, end, *after]
    lines = [line for line in lines if "sopgit:" not in line or line in (start, end)]
    text = eol.join(lines) + (eol if final_newline else "")
    try:
        original = parse_document(text)
    except DocumentError:
        return  # generated YAML that does not parse is not what this property is about
    new_rows = [table_cell(row) for row in rows]
    updated = update_document(
        text, version=version, last_updated="2026-11-22", revision_table=new_rows
    )
    doc = parse_document(updated)

    # sopgit's values are set...
    assert doc.meta["version"] == version
    assert str(doc.meta["lastUpdated"]) == "2026-11-22"
    # ...every other key reads back the same...
    assert {k: v for k, v in doc.meta.items() if k not in ("version", "lastUpdated")} == {
        k: v for k, v in original.meta.items() if k not in ("version", "lastUpdated")
    }
    # ...and every byte outside those two lines and the managed region is untouched.
    old, new = text.splitlines(True), updated.splitlines(True)
    old_start, old_end = managed_region(text, REVISION_HISTORY)
    new_start, new_end = managed_region(updated, REVISION_HISTORY)
    assert new[new_start + 1 : new_end] == [row + eol for row in new_rows]
    assert old[old_end:] == new[new_end:]
    touched = {original.meta_lines["version"] - 1, original.meta_lines["lastUpdated"] - 1}
    for index in range(old_start + 1):
        if index not in touched:
            assert old[index] == new[index]
        else:
            assert old[index].endswith(eol) == new[index].endswith(eol)
