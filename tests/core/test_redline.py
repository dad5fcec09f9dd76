"""The redline core over hand-made version pairs; golden files in tests/golden/redline/.

Each case NAME has NAME.old.md and NAME.new.md; its redline as plain text and as JSON
(and, for the hostile case, Markdown and HTML) are golden files. To regenerate after an
intended change: SOPGIT_UPDATE_GOLDEN=1 pytest tests/core/test_redline.py, then read the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sopgit.core.redline import (
    redline,
    render_html,
    render_markdown,
    render_text,
    sections_of,
    terminal_safe,
    words,
)

GOLDEN = Path(__file__).parent.parent / "golden" / "redline"
CASES = ["words", "moved", "renamed", "table", "hostile"]


def golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("SOPGIT_UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert path.is_file(), f"no golden {path}; run with SOPGIT_UPDATE_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def pair(name: str):
    old = (GOLDEN / f"{name}.old.md").read_text(encoding="utf-8")
    new = (GOLDEN / f"{name}.new.md").read_text(encoding="utf-8")
    return redline(old, new, f"{name} v1", f"{name} v2")


@pytest.mark.parametrize("name", CASES)
def test_golden_text_and_json(name):
    line = pair(name)
    golden(f"{name}.txt", render_text(line))
    golden(f"{name}.json", json.dumps(line.as_dict(), indent=2, ensure_ascii=False) + "\n")


def shown(name):
    return {s.title: s for s in pair(name).sections if s.shown}


def test_words_changed_inside_paragraphs_and_blocks_added_and_removed():
    sections = shown("words")
    purpose = sections["Purpose"].blocks[0]
    assert purpose.op == "change"
    assert [(p.op, p.text) for p in purpose.pieces if p.op != "equal"] == [
        ("insert", ", predictably"),
        ("delete", "predictably"),
        ("insert", "reversibly"),
    ]
    prepare = [b for b in sections["1. Prepare"].blocks if b.op != "equal"]
    assert [b.op for b in prepare] == ["change", "insert"]
    assert prepare[1].new == "- Run the database migration dry run."
    deploy = {b.op: b for b in sections["2. Deploy"].blocks if b.op != "equal"}
    assert deploy["delete"].old == "This paragraph goes away in the new version."
    assert deploy["insert"].new == "A new closing paragraph: stop if any alert fires."
    assert "Deployment Process" not in sections  # unchanged sections are not shown


def test_a_moved_section_is_named_as_moved_not_as_removed_and_added():
    sections = shown("moved")
    assert list(sections) == ["Escalation"]  # two swapped: the later one is named as moved
    assert sections["Escalation"].moved_after == "## Communication"
    assert sections["Escalation"].status == "unchanged"
    assert '## Escalation  [moved after "## Communication"]' in render_text(pair("moved"))


def test_a_renamed_heading_is_named_with_its_old_title():
    sections = shown("renamed")
    drills = sections["Recovery drills"]
    assert drills.old_title == "Restore testing"
    assert drills.status == "changed"  # and its text changed a little
    step = sections["4. Verify the restore"]
    assert step.old_title == "3. Verify the restore"
    assert step.status == "unchanged"
    assert not any(s.status in ("added", "removed") for s in sections.values())


def test_a_changed_table_row_is_one_changed_row_and_an_added_row():
    (section,) = shown("table").values()
    changes = [b for b in section.blocks if b.op != "equal"]
    assert [b.op for b in changes] == ["change", "insert"]
    assert [(p.op, p.text) for p in changes[0].pieces if p.op != "equal"] == [
        ("delete", "Quarterly"),
        ("insert", "Monthly"),
    ]
    assert changes[1].new == "| Security | Reviews privileged roles | Quarterly |"


def test_hostile_text_is_shown_as_text_in_every_format():
    line = pair("hostile")
    text = render_text(line)
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\u202e" not in text
    assert "\\x1b[31mgreen" in text
    assert "\\u202e" in text
    colored = render_text(line, color=True)
    assert "\x1b[31m" in colored  # our own colours only: the SOP's escape stays escaped
    assert "\\x1b[31mgreen" in colored
    assert "\x07" not in colored
    page = render_html(line)
    assert "\x1b" not in page
    assert "\x07" not in page
    assert "\\x1b[31mgreen" in page
    assert "<img" not in page
    assert "<script" not in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    markdown = render_markdown(line)
    assert not re.search(r"(?<!\\)<img", markdown)
    assert "\\<img" in markdown
    assert "\\| pipe \\*bold\\*" in markdown
    golden("hostile.md", markdown)
    golden("hostile.html", page)


def test_same_text_has_no_changes():
    text = (GOLDEN / "words.old.md").read_text(encoding="utf-8")
    line = redline(text, text.replace("\n", "\r\n"))
    assert not line.changed
    assert line.summary() == "no changes"


def test_headings_inside_code_fences_are_not_sections():
    text = "# T\n\n## A\n\n```\n# not a heading\n```\n\n## B\n\nx\n"
    assert [s.title for s in sections_of(text)] == ["T", "A", "B"]


def test_terminal_safe_keeps_newlines_and_tabs():
    assert terminal_safe("a\tb\nc\x1b[2Jd\x9b") == "a\tb\nc\\x1b[2Jd\\x9b"


WORDS = st.lists(st.sampled_from(["alpha", "beta", "gamma", "7", "x-1", ",", "."]), max_size=12)


@given(WORDS, WORDS)
def test_words_rebuild_both_sides(old, new):
    a, b = " ".join(old), " ".join(new)
    pieces = words(a, b)
    assert "".join(p.text for p in pieces if p.op != "insert") == a
    assert "".join(p.text for p in pieces if p.op != "delete") == b
