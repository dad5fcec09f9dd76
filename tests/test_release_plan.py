"""The release plan's tag message, read back by history: what release writes is what
history reads."""

from __future__ import annotations

import datetime as dt

import pytest
from records import ENG1, add, build, commit, mod, tag

from sopgit.commands.release_plan import _new_row, _tag_plan
from sopgit.core.history import row_from_tag
from sopgit.repo.snapshot import Sop


def released_version_with(subject: str):
    commits = [
        commit("c3", "c2", message=subject, changes=mod(), author="Bo Li", email="bo@acme.example"),
        commit("c2", "c1", message="fix(ENG-001): typo (#34)", changes=mod()),
        commit("c1", message="docs(ENG-001): add", changes=add()),
    ]
    return build(commits, [tag("ENG-001/v1.0.0", "c1")]).version("ENG-001")


@pytest.mark.parametrize(
    ("subject", "message"),
    [
        ("feat(ENG-001): add rollback step", None),
        ("feat(ENG-001): add a | pipe", None),
        ("feat(ENG-001): add rollback step", "Clarify the rollback step"),
    ],
)
def test_release_tag_message_round_trips_to_the_row(subject, message):
    """What release writes into the tag is what history reads back."""
    version = released_version_with(subject)
    sop = Sop("ENG-001", ENG1, "", None)
    new = _new_row(sop, version, message, dt.date(2026, 3, 2), "ENG-001/v1.1.0")
    plan = _tag_plan(sop, version, new)
    read = row_from_tag(version.next, tag(plan.name, "c9", plan.message))
    assert read == new
    assert read.pull_requests == (34,)
    assert read.author == "Ana Ruiz, Bo Li"


@pytest.mark.parametrize(
    ("subject", "message"),
    [
        ("feat(ENG-001): add the rollback step.", None),
        ("feat(ENG-001): add rollback step", "Clarify step 3."),
    ],
)
def test_release_tag_message_round_trips_a_final_period(subject, message):
    version = released_version_with(subject)
    sop = Sop("ENG-001", ENG1, "", None)
    new = _new_row(sop, version, message, dt.date(2026, 3, 2), "ENG-001/v1.1.0")
    plan = _tag_plan(sop, version, new)
    assert row_from_tag(version.next, tag(plan.name, "c9", plan.message)) == new
