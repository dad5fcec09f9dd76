"""The pure core, without git: commit messages, versions from tags, pending changes.

Every history here is built by hand from `Commit` and `Tag` records, listed newest first
as `git log` gives them.
"""

from __future__ import annotations

import datetime as dt

import pytest
import semver
from hypothesis import given
from hypothesis import strategies as st
from records import ENG1, ENG2, T0, add, build, commit, mod, release_message, sha, shas, tag

from sopgit.core.attribution import attribute
from sopgit.core.commits import (
    Header,
    bump_for,
    is_release,
    parse_message,
    pull_request_number,
)
from sopgit.core.history import (
    TABLE_HEADER,
    TABLE_RULE,
    Ancestry,
    History,
    HistoryRow,
    history_rows,
    release_tags,
    row_from_tag,
    table_lines,
)
from sopgit.core.model import Commit, FileChange, Tag
from sopgit.core.settings import Config
from sopgit.core.versioning import (
    current_versions,
    draft_version,
    largest_bump,
    next_version,
    released_versions,
    tag_name,
    tag_pattern,
)

DEFAULT_RULES = {"breaking": "major", "feat": "minor", "default": "patch"}

# --- commits.parse_message --------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "header"),
    [
        ("feat: add rollback step", Header("feat", (), False, "add rollback step")),
        (
            "fix(ENG-001): correct the command",
            Header("fix", ("ENG-001",), False, "correct the command"),
        ),
        (
            "docs(ENG-001, ENG-002): link the two",
            Header("docs", ("ENG-001", "ENG-002"), False, "link the two"),
        ),
        ("docs(ENG-001,ENG-002): x", Header("docs", ("ENG-001", "ENG-002"), False, "x")),
        ("feat!: drop manual approval", Header("feat", (), True, "drop manual approval")),
        ("feat(ENG-001)!: new flow", Header("feat", ("ENG-001",), True, "new flow")),
        ("FEAT(ENG-001): shouting", Header("feat", ("ENG-001",), False, "shouting")),
        ("chore(): empty scope", Header("chore", (), False, "empty scope")),
        ("feat: subject  \n\nbody", Header("feat", (), False, "subject")),
    ],
)
def test_conventional_headers(message, header):
    parsed = parse_message(message)
    assert parsed.header == header
    assert parsed.type == header.type
    assert parsed.breaking is header.breaking


@pytest.mark.parametrize(
    "message",
    [
        "Update the deploy SOP",
        "feat:no space after the colon",
        "feat: ",
        "feat add step",
        "(ENG-001): no type",
        "fe at: a space in the type",
        "feat(ENG-001: unclosed scope",
        "Merge pull request #12 from acme/draft/ENG-001",
        'Revert "feat: add step"',
    ],
)
def test_non_conventional_messages_are_still_messages(message):
    parsed = parse_message(message)
    assert parsed.header is None
    assert parsed.type is None
    assert parsed.subject == message.strip()
    assert parsed.breaking is False
    assert parsed.description[:1] == message.strip()[:1].upper()


def test_description_is_the_capitalised_subject():
    assert parse_message("fix(ENG-001): correct the command").description == "Correct the command"
    assert parse_message("tidy up wording").description == "Tidy up wording"
    assert parse_message("").description == ""


def test_empty_message():
    for text in ("", "\n", "\n\n\n", "\r\n"):
        parsed = parse_message(text)
        assert parsed.subject == ""
        assert parsed.header is None
        assert parsed.body == ""
        assert parsed.trailers == ()
        assert parsed.breaking is False


@pytest.mark.parametrize(
    ("message", "body", "trailers"),
    [
        (
            "feat(ENG-001): add step\n\nWhy it matters.\n\n"
            "Reviewed-by: Bo Li <bo@acme.example>\n"
            "Approved-by: Lee Chen <lee@acme.example> (manager)\nRefs: #12\n",
            "Why it matters.",
            (
                ("Reviewed-by", "Bo Li <bo@acme.example>"),
                ("Approved-by", "Lee Chen <lee@acme.example> (manager)"),
                ("Refs", "#12"),
            ),
        ),
        # `Token #value`, as git-interpret-trailers allows.
        ("fix: x\n\nRefs #12", "", (("Refs", "12"),)),
        # Only the last paragraph holds trailers.
        (
            "fix: x\n\nSee: the first paragraph\n\nBody text.",
            "See: the first paragraph\n\nBody text.",
            (),
        ),
        # One line that is not a trailer makes the paragraph a body paragraph.
        (
            "fix: x\n\nRefs: #1\nand some prose",
            "Refs: #1\nand some prose",
            (),
        ),
        # Folded continuation lines join the trailer above them.
        (
            "fix: x\n\nBody.\n\nApproved-by: Lee Chen\n  <lee@acme.example>\n\t(manager)\nRefs: #3",
            "Body.",
            (("Approved-by", "Lee Chen <lee@acme.example> (manager)"), ("Refs", "#3")),
        ),
        # Paragraphs split on blank lines holding only spaces too.
        ("fix: x\n\nBody.\n   \nRefs: #4", "Body.", (("Refs", "#4"),)),
        # A subject alone has no trailers, even when it looks like one.
        ("Refs: #12", "", ()),
    ],
)
def test_trailers_are_the_last_paragraph(message, body, trailers):
    parsed = parse_message(message)
    assert parsed.body == body
    assert parsed.trailers == trailers


def test_trailer_values_are_case_insensitive_and_in_order():
    parsed = parse_message(
        "fix: x\n\nApproved-by: Lee Chen (manager)\napproved-BY: Bo Li (peer)\nRefs: #1"
    )
    assert parsed.trailer_values("Approved-By") == ["Lee Chen (manager)", "Bo Li (peer)"]
    assert parsed.trailer_values("refs") == ["#1"]
    assert parsed.trailer_values("Signed-off-by") == []


@pytest.mark.parametrize(
    ("message", "breaking"),
    [
        ("feat(ENG-001): new flow\n\nBREAKING CHANGE: staff must be retrained", True),
        ("feat(ENG-001): new flow\n\nBREAKING-CHANGE: staff must be retrained", True),
        ("fix: x\n\nBody.\n\nRefs: #1\nBREAKING CHANGE: retrain", True),
        ("docs: x\n\nBREAKING CHANGE: retrain\n\nRefs: #1", True),
        ("fix!: x", True),
        ("Update the SOP\n\nBREAKING CHANGE: not conventional, still breaking", True),
        ("fix: x\n\nThis is not a BREAKING CHANGE: it only fixes a typo.", False),
        ("fix: x\n\nNo BREAKING-CHANGE: here either", False),
        ("fix: x\n\nbreaking change: lower case is not the footer", False),
        ("fix: x\n\n  BREAKING CHANGE: indented is not a footer", False),
        ("BREAKING CHANGE: in the subject", False),
        ("fix: mention BREAKING CHANGE in the subject", False),
        ("fix: x\n\nBREAKING CHANGES: plural is a different token", False),
    ],
)
def test_breaking_changes(message, breaking):
    assert parse_message(message).breaking is breaking


def test_breaking_footer_with_folded_value_is_breaking():
    parsed = parse_message("feat: new flow\n\nBREAKING CHANGE:\n  the old step is gone")
    assert parsed.trailer_values("BREAKING CHANGE")
    assert parsed.breaking is True


def test_folded_trailer_with_empty_first_line_has_no_leading_space():
    parsed = parse_message("fix: x\n\nApproved-by:\n  Lee Chen (manager)")
    assert parsed.trailers == (("Approved-by", "Lee Chen (manager)"),)


def test_crlf_messages_parse_like_lf_ones():
    lf = (
        "feat(ENG-001): add step\n\nWhy.\n\nMore why.\n\n"
        "BREAKING CHANGE: retrain\nApproved-by: Lee Chen\n  (manager)\nRefs: #12\n"
    )
    crlf = parse_message(lf.replace("\n", "\r\n"))
    assert crlf == parse_message(lf)
    assert crlf.subject == "feat(ENG-001): add step"
    assert crlf.body == "Why.\n\nMore why."
    assert crlf.breaking is True
    assert crlf.trailer_values("Approved-by") == ["Lee Chen (manager)"]
    assert crlf.trailer_values("Refs") == ["#12"]


def test_release_commits_are_known_by_their_trailer():
    assert is_release(parse_message(release_message("ENG-001 v1.0.0")))
    assert is_release(parse_message("release: x\n\nsopgit-release: ENG-001 v1.0.0"))
    assert not is_release(parse_message("release: ENG-001 v1.0.0"))
    assert not is_release(parse_message("fix: x\n\nSopgit-Release: mentioned\n\nBody after."))


# --- commits.bump_for, pull_request_number ----------------------------------------


@pytest.mark.parametrize(
    ("message", "default", "custom"),
    [
        ("feat(ENG-001): add step", "minor", "minor"),
        ("fix(ENG-001): typo", "patch", "patch"),
        ("docs(ENG-001): reword", "patch", "minor"),
        ("chore: tidy", "patch", "patch"),
        ("Update the deploy SOP", "patch", "patch"),
        ("", "patch", "patch"),
        ("feat!: new flow", "major", "major"),
        ("docs!: new flow", "major", "major"),
        ("fix: x\n\nBREAKING CHANGE: retrain", "major", "major"),
        ("FEAT: loud", "minor", "minor"),
        # The rule names are not commit types.
        ("breaking: not a footer", "patch", "patch"),
        ("default: not the fallback key", "patch", "patch"),
    ],
)
def test_bump_for(message, default, custom):
    parsed = parse_message(message)
    assert bump_for(parsed, DEFAULT_RULES) == default
    assert bump_for(parsed, dict(Config().bump)) == default
    assert bump_for(parsed, {**DEFAULT_RULES, "docs": "minor"}) == custom


def test_bump_for_custom_breaking_and_default_rules():
    rules = {"breaking": "minor", "feat": "patch", "style": "patch", "default": "minor"}
    assert bump_for(parse_message("feat!: x"), rules) == "minor"
    assert bump_for(parse_message("feat: x"), rules) == "patch"
    assert bump_for(parse_message("fix: x"), rules) == "minor"
    assert bump_for(parse_message("no header"), rules) == "minor"
    # Without the keys, breaking is major and everything else a patch.
    assert bump_for(parse_message("fix!: x"), {}) == "major"
    assert bump_for(parse_message("feat: x"), {}) == "patch"


@pytest.mark.parametrize(
    ("subject", "number"),
    [
        ("Merge pull request #12 from acme/draft/ENG-001-rollback", 12),
        ("Add rollback step (#34)", 34),
        ("feat(ENG-001): add rollback step (#34)  ", 34),
        ("Add rollback step", None),
        ("Merge branch 'draft/ENG-001' into main", None),
        ("Fix #12 in the rollback step", None),
        ("Add (#34) in the middle", None),
        ("Merge pull request #x from acme/b", None),
        ("", None),
    ],
)
def test_pull_request_number(subject, number):
    assert pull_request_number(subject) == number


# --- versioning -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "name", "parts"),
    [
        ("{id}/v{version}", "ENG-001/v1.2.0", ("ENG-001", "1.2.0")),
        ("{id}/v{version}", "COMPLY-1234/v10.20.30", ("COMPLY-1234", "10.20.30")),
        ("{id}/v{version}", "ENG-001/v1.2.0-rc.1", ("ENG-001", "1.2.0-rc.1")),
        ("{id}/v{version}", "ENG-001/v1.2.0+build.7", ("ENG-001", "1.2.0+build.7")),
        ("{id}/v{version}", "ENG-001/1.2.0", None),
        ("{id}/v{version}", "eng-001/v1.2.0", None),
        ("{id}/v{version}", "ENG-01/v1.2.0", None),
        ("{id}/v{version}", "ENG-001/v1.2", None),
        ("{id}/v{version}", "v1.2.0", None),
        ("{id}/v{version}", "x/ENG-001/v1.2.0", None),
        ("{id}/v{version}", "ENG-001/v1.2.0/x", None),
        ("sop/{id}@{version}", "sop/ENG-001@1.2.0", ("ENG-001", "1.2.0")),
        ("sop/{id}@{version}", "ENG-001/v1.2.0", None),
        ("rel.{id}+{version}", "rel.ENG-001+1.2.0", ("ENG-001", "1.2.0")),
        # `.` and `+` are literal, not regex operators.
        ("rel.{id}+{version}", "relXENG-001+1.2.0", None),
        ("rel.{id}+{version}", "rel.ENG-001++1.2.0", None),
        ("[{id}]({version})", "[ENG-001](1.2.0)", ("ENG-001", "1.2.0")),
        ("{version}^{id}$", "1.2.0^ENG-001$", ("ENG-001", "1.2.0")),
    ],
)
def test_tag_pattern(fmt, name, parts):
    match = tag_pattern(fmt).match(name)
    if parts is None:
        assert match is None
    else:
        assert match is not None
        assert (match.group("id"), match.group("version")) == parts


@pytest.mark.parametrize("fmt", ["{id}/v{version}", "sop/{id}@{version}", "rel.{id}+{version}"])
def test_tag_name_round_trips_through_tag_pattern(fmt):
    name = tag_name(fmt, "OPS-042", "2.3.4")
    match = tag_pattern(fmt).match(name)
    assert match is not None
    assert (match.group("id"), match.group("version")) == ("OPS-042", "2.3.4")


TAGS = [
    "ENG-001/v1.9.0",
    "ENG-001/v1.10.0",
    "ENG-001/v1.0.0",
    "ENG-001/v2.0.0-rc.1",  # prerelease: not a release
    "ENG-001/v1.11.0-draft.3",
    "ENG-001/v01.0.0",  # not semver
    "ENG-002/v0.1.0",
    "v3.0.0",  # foreign
    "release-2026",
    "eng-001/v4.0.0",
    "sop/OPS-001@5.0.0",  # another format
]


def test_released_versions_ignore_prereleases_and_foreign_tags():
    assert released_versions(TAGS, "{id}/v{version}") == {
        "ENG-001": [semver.Version(1, 10, 0), semver.Version(1, 9, 0), semver.Version(1, 0, 0)],
        "ENG-002": [semver.Version(0, 1, 0)],
    }
    assert released_versions(TAGS, "sop/{id}@{version}") == {"OPS-001": [semver.Version(5, 0, 0)]}
    assert released_versions([], "{id}/v{version}") == {}


def test_current_version_is_the_highest_semver_not_the_highest_string():
    current = current_versions(TAGS, "{id}/v{version}")
    assert current == {"ENG-001": semver.Version(1, 10, 0), "ENG-002": semver.Version(0, 1, 0)}
    only_prereleases = current_versions(["ENG-003/v1.0.0-rc.1"], "{id}/v{version}")
    assert only_prereleases == {}


def test_release_tags_on_tag_records():
    records = [tag(name, "c1") for name in TAGS]
    found = release_tags(records, "{id}/v{version}")
    assert [(str(v), t.name) for v, t in found["ENG-001"]] == [
        ("1.10.0", "ENG-001/v1.10.0"),
        ("1.9.0", "ENG-001/v1.9.0"),
        ("1.0.0", "ENG-001/v1.0.0"),
    ]
    assert set(found) == {"ENG-001", "ENG-002"}


@pytest.mark.parametrize(
    ("bumps", "largest"),
    [
        ([], None),
        (["patch"], "patch"),
        (["patch", "minor", "patch"], "minor"),
        (["minor", "major", "patch"], "major"),
        (iter(["patch", "major"]), "major"),
    ],
)
def test_largest_bump(bumps, largest):
    assert largest_bump(bumps) == largest


@pytest.mark.parametrize(
    ("current", "bump", "expected"),
    [
        (None, "major", "1.0.0"),
        (None, "patch", "1.0.0"),
        (None, "initial", "1.0.0"),
        ("1.0.0", "patch", "1.0.1"),
        ("1.0.3", "minor", "1.1.0"),
        ("1.4.3", "major", "2.0.0"),
        ("1.9.0", "minor", "1.10.0"),
        ("0.1.0", "major", "1.0.0"),
        ("1.2.3+build.4", "patch", "1.2.4"),
    ],
)
def test_next_version(current, bump, expected):
    parsed = semver.Version.parse(current) if current else None
    assert str(next_version(parsed, bump, "1.0.0")) == expected


def test_next_version_uses_the_configured_initial_version():
    assert str(next_version(None, "minor", "0.1.0")) == "0.1.0"


@pytest.mark.parametrize(
    ("next_", "pending", "shown"),
    [("1.1.0", 2, "1.1.0-draft.2"), ("1.0.0", 1, "1.0.0-draft.1"), ("2.0.0", 10, "2.0.0-draft.10")],
)
def test_draft_version(next_, pending, shown):
    draft = draft_version(semver.Version.parse(next_), pending)
    assert str(draft) == shown
    assert draft < semver.Version.parse(next_)


def test_draft_versions_sort_by_pending_count():
    nine = draft_version(semver.Version(1, 1, 0), 9)
    ten = draft_version(semver.Version(1, 1, 0), 10)
    assert nine < ten


# --- attribution (linear histories; tests/test_attribution.py has the graphs) ----------


def commits_by_path(commits: list[Commit], paths: dict[str, str]) -> dict[str, list[Commit]]:
    """The commits (newest first, the first being HEAD) that changed each SOP."""
    return attribute(commits, commits[0].sha if commits else None, paths)


def test_commits_by_path_follows_renames_backwards():
    old = "sops/engineering/ENG-001-deploy-old.md"
    commits = [
        commit("c4", "c3", message="fix: after the move", changes=mod(ENG1)),
        commit("c3", "c2", message="chore: move", changes=(FileChange("R", ENG1, old),)),
        commit("c2", "c1", message="fix: before the move", changes=mod(old)),
        commit("c1", message="feat: add", changes=add(old)),
    ]
    touched = commits_by_path(commits, {ENG1: "ENG-001"})
    assert shas(touched["ENG-001"]) == [sha("c4"), sha("c3"), sha("c2"), sha("c1")]


def test_commits_by_path_follows_a_chain_of_renames_and_a_rename_back():
    a, b, c = "sops/a/ENG-001.md", "sops/b/ENG-001.md", "sops/c/ENG-001.md"
    commits = [
        commit("c5", "c4", changes=(FileChange("R", a, c),)),
        commit("c4", "c3", changes=mod(c)),
        commit("c3", "c2", changes=(FileChange("R", c, b),)),
        commit("c2", "c1", changes=(FileChange("R", b, a),)),
        commit("c1", changes=add(a)),
    ]
    touched = commits_by_path(commits, {a: "ENG-001"})
    assert shas(touched["ENG-001"]) == [sha(f"c{i}") for i in (5, 4, 3, 2, 1)]


def test_commits_by_path_ignores_deleted_and_unknown_files():
    gone = "sops/engineering/ENG-009-retired.md"
    commits = [
        commit("c4", "c3", changes=(FileChange("D", gone),)),
        commit("c3", "c2", changes=mod("README.md")),
        commit("c2", "c1", changes=(FileChange("M", gone), FileChange("M", ENG1))),
        commit("c1", changes=(FileChange("A", gone), FileChange("A", ENG1))),
    ]
    touched = commits_by_path(commits, {ENG1: "ENG-001"})
    assert touched == {"ENG-001": [commits[2], commits[3]]}


def test_commits_by_path_two_sops_in_one_commit_and_untouched_sops():
    both = commit("c2", "c1", changes=(FileChange("M", ENG1), FileChange("M", ENG2)))
    first = commit("c1", changes=add(ENG1) + add(ENG2))
    touched = commits_by_path([both, first], {ENG1: "ENG-001", ENG2: "ENG-002", "x.md": "OPS-001"})
    assert shas(touched["ENG-001"]) == [sha("c2"), sha("c1")]
    assert shas(touched["ENG-002"]) == [sha("c2"), sha("c1")]
    assert touched["OPS-001"] == []


def test_commits_by_path_a_commit_counts_once_per_sop():
    old = "sops/old.md"
    twice = commit("c1", changes=(FileChange("R", ENG1, old), FileChange("M", ENG1)))
    assert commits_by_path([twice], {ENG1: "ENG-001"}) == {"ENG-001": [twice]}


def test_commits_by_path_does_not_follow_copies():
    source = "sops/engineering/ENG-002-rollback.md"
    commits = [
        commit("c2", "c1", changes=(FileChange("C", ENG1, source),)),
        commit("c1", changes=add(source)),
    ]
    assert shas(commits_by_path(commits, {ENG1: "ENG-001"})["ENG-001"]) == [sha("c2")]


def test_commits_by_path_a_reused_path_before_a_rename_is_not_the_sop():
    old = "sops/engineering/ENG-001-draft.md"
    commits = [
        commit("c4", "c3", changes=(FileChange("R", ENG1, old),)),
        commit("c3", "c2", changes=add(old)),
        commit("c2", "c1", changes=(FileChange("D", ENG1),)),  # another file, deleted
        commit("c1", changes=add(ENG1)),
    ]
    touched = commits_by_path(commits, {ENG1: "ENG-001"})
    assert shas(touched["ENG-001"]) == [sha("c4"), sha("c3")]


# --- history.Ancestry -------------------------------------------------------------


def linear(n: int) -> list[Commit]:
    """m{n}..m1, newest first, each the parent of the next."""
    return [commit(f"m{i}", *([f"m{i - 1}"] if i > 1 else [])) for i in range(n, 0, -1)]


def test_ancestry_linear_history():
    ancestry = Ancestry(linear(4), sha("m4"))
    assert ancestry.mainline == [sha("m1"), sha("m2"), sha("m3"), sha("m4")]
    for i in range(1, 5):
        for j in range(1, 5):
            assert ancestry.is_ancestor(sha(f"m{i}"), sha(f"m{j}")) is (i <= j)
        assert ancestry.reachable(sha(f"m{i}"))
        assert ancestry.merge_that_brought(sha(f"m{i}")) is None
    assert not ancestry.reachable(sha("zz"))
    assert not ancestry.is_ancestor(sha("zz"), sha("m4"))


def test_ancestry_from_a_head_in_the_middle():
    ancestry = Ancestry(linear(4), sha("m2"))
    assert ancestry.mainline == [sha("m1"), sha("m2")]
    assert not ancestry.reachable(sha("m3"))


def test_ancestry_without_head():
    ancestry = Ancestry([], None)
    assert ancestry.mainline == []
    assert ancestry.is_ancestor(sha("a"), sha("a"))
    assert not ancestry.is_ancestor(sha("a"), sha("b"))
    assert ancestry.merge_that_brought(sha("a")) is None


def side_branch() -> list[Commit]:
    """
    m1 - m2 - m3 ---- m4 (merge of b2) - m5
      \\            /
       b1 ------ b2
    """
    return [
        commit("m5", "m4"),
        commit("m4", "m3", "b2", message="Merge pull request #12 from acme/draft/ENG-001"),
        commit("b2", "b1"),
        commit("m3", "m2"),
        commit("b1", "m1"),
        commit("m2", "m1"),
        commit("m1"),
    ]


def test_ancestry_merge_of_a_side_branch():
    ancestry = Ancestry(side_branch(), sha("m5"))
    assert ancestry.mainline == [sha(f"m{i}") for i in range(1, 6)]
    for branch in ("b1", "b2"):
        assert ancestry.reachable(sha(branch))
        assert ancestry.is_ancestor(sha(branch), sha("m4"))
        assert ancestry.is_ancestor(sha(branch), sha("m5"))
        assert not ancestry.is_ancestor(sha(branch), sha("m3"))
        assert not ancestry.is_ancestor(sha(branch), sha("m2"))
        assert ancestry.merge_that_brought(sha(branch)) == sha("m4")
    assert ancestry.is_ancestor(sha("m1"), sha("b1"))
    assert ancestry.is_ancestor(sha("b1"), sha("b2"))
    assert not ancestry.is_ancestor(sha("m2"), sha("b2"))
    assert not ancestry.is_ancestor(sha("b2"), sha("b1"))
    assert ancestry.merge_that_brought(sha("m4")) is None


def test_ancestry_target_off_the_first_parent_chain_walks():
    """HEAD is a draft branch that merged main in: main's commits are second parents."""
    commits = [
        commit("d3", "d2", "m3", message="Merge branch 'main' into draft/ENG-001"),
        commit("m3", "m2"),
        commit("d2", "d1"),
        commit("m2", "m1"),
        commit("d1", "m1"),
        commit("m1"),
    ]
    ancestry = Ancestry(commits, sha("d3"))
    assert ancestry.mainline == [sha("m1"), sha("d1"), sha("d2"), sha("d3")]
    # m2 and m3 are not on the first-parent chain: is_ancestor falls back to a walk.
    assert ancestry.is_ancestor(sha("m1"), sha("m3"))
    assert ancestry.is_ancestor(sha("m2"), sha("m3"))
    assert ancestry.is_ancestor(sha("m3"), sha("m3"))
    assert not ancestry.is_ancestor(sha("d1"), sha("m3"))
    assert not ancestry.is_ancestor(sha("d2"), sha("m2"))
    assert not ancestry.is_ancestor(sha("m3"), sha("m2"))
    # And asked again (the walk is cached), the answers hold.
    assert ancestry.is_ancestor(sha("m2"), sha("m3"))
    assert not ancestry.is_ancestor(sha("d1"), sha("m3"))
    assert ancestry.merge_that_brought(sha("m3")) == sha("d3")


def test_ancestry_outside_graph_for_a_target_not_reachable_from_head():
    """A tag on a branch HEAD does not contain: its commits come from OUTSIDE."""
    commits = linear(3)  # m3 - m2 - m1
    outside = {sha("r2"): (sha("r1"),), sha("r1"): (sha("m2"),)}
    ancestry = Ancestry(commits, sha("m3"), outside)
    assert not ancestry.reachable(sha("r2"))
    assert ancestry.is_ancestor(sha("m1"), sha("r2"))
    assert ancestry.is_ancestor(sha("m2"), sha("r2"))
    assert ancestry.is_ancestor(sha("r1"), sha("r2"))
    assert not ancestry.is_ancestor(sha("m3"), sha("r2"))
    # Without the outside graph, nothing is known to be below the target.
    blind = Ancestry(commits, sha("m3"))
    assert not blind.is_ancestor(sha("m1"), sha("r2"))


def test_ancestry_outside_can_be_set_after_building():
    """load_snapshot sets OUTSIDE once it knows which tags are unreachable."""
    ancestry = Ancestry(linear(3), sha("m3"))
    ancestry.outside = {sha("r1"): (sha("m1"),)}
    assert ancestry.is_ancestor(sha("m1"), sha("r1"))
    assert not ancestry.is_ancestor(sha("m2"), sha("r1"))


def test_merge_that_brought_a_nested_merge():
    """A branch merged into a branch merged into main: the mainline merge brought both."""
    commits = [
        commit("m3", "m2", "f3", message="Merge pull request #20 from acme/feature"),
        commit("f3", "f2", "g1", message="Merge pull request #19 from acme/sub"),
        commit("g1", "f2"),
        commit("f2", "m1"),
        commit("m2", "m1"),
        commit("m1"),
    ]
    ancestry = Ancestry(commits, sha("m3"))
    for name in ("f2", "g1", "f3"):
        assert ancestry.merge_that_brought(sha(name)) == sha("m3")
    assert ancestry.merge_that_brought(sha("m2")) is None
    assert ancestry.merge_that_brought(sha("zz")) is None


# --- history.History.version ------------------------------------------------------


def test_unreleased_sop_first_release_is_initial():
    commits = [
        commit("c3", "c2", message="feat(ENG-001)!: change everything", changes=mod()),
        commit("c2", "c1", message="feat(ENG-001): add step", changes=mod()),
        commit("c1", message="docs(ENG-001): add the deploy SOP", changes=add()),
    ]
    version = build(commits).version("ENG-001")
    assert version.current is None
    assert version.releases == ()
    assert [c.commit.sha for c in version.pending] == [sha("c3"), sha("c2"), sha("c1")]
    assert [c.bump for c in version.pending] == ["major", "minor", "patch"]
    assert version.bump == "initial"
    assert str(version.next) == Config().initial_version == "1.0.0"
    assert version.shown(on_release_branch=True) is None
    assert version.shown(on_release_branch=False) == "1.0.0-draft.3"
    # A forced bump does not change the first release either.
    forced = build(commits).version("ENG-001", force="major")
    assert (forced.bump, str(forced.next)) == ("initial", "1.0.0")


def test_unknown_sop_has_nothing():
    version = build(linear(2)).version("OPS-404")
    assert (version.current, version.pending, version.bump, version.next) == (None, (), None, None)
    assert version.shown(on_release_branch=False) is None


def released_history() -> tuple[list[Commit], list[Tag]]:
    commits = [
        commit("c5", "c4", message="fix(ENG-001): typo", changes=mod(), author="Bo Li"),
        commit("c4", "c3", message="docs(ENG-002): unrelated", changes=mod(ENG2)),
        commit("c3", "c2", message="feat(ENG-001): add rollback step", changes=mod()),
        commit("c2", "c1", message=release_message("ENG-001 v1.0.0"), changes=mod()),
        commit("c1", message="docs(ENG-001): add", changes=add() + add(ENG2)),
    ]
    return commits, [tag("ENG-001/v1.0.0", "c2", "ENG-001 v1.0.0")]


def test_pending_is_the_commits_since_the_latest_tag():
    commits, tags = released_history()
    version = build(commits, tags, **{ENG1: "ENG-001", ENG2: "ENG-002"}).version("ENG-001")
    assert str(version.current) == "1.0.0"
    assert [t.name for _, t in version.releases] == ["ENG-001/v1.0.0"]
    assert [c.commit.sha for c in version.pending] == [sha("c5"), sha("c3")]
    assert version.bump == "minor"
    assert str(version.next) == "1.1.0"
    assert version.shown(on_release_branch=True) == "1.0.0"
    assert version.shown(on_release_branch=False) == "1.1.0-draft.2"
    assert version.authors == ["Ana Ruiz", "Bo Li"]


def test_other_sops_in_the_same_history():
    commits, tags = released_history()
    version = build(commits, tags, **{ENG1: "ENG-001", ENG2: "ENG-002"}).version("ENG-002")
    assert version.current is None
    assert [c.commit.sha for c in version.pending] == [sha("c4"), sha("c1")]
    assert (version.bump, str(version.next)) == ("initial", "1.0.0")


@pytest.mark.parametrize(("force", "next_"), [("major", "2.0.0"), ("patch", "1.0.1")])
def test_forced_bump(force, next_):
    commits, tags = released_history()
    version = build(commits, tags).version("ENG-001", force=force)
    assert (version.bump, str(version.next)) == (force, next_)


def test_nothing_pending_after_a_release():
    commits, _ = released_history()
    tags = [tag("ENG-001/v1.0.0", "c2"), tag("ENG-001/v1.1.0", "c5")]
    version = build(commits, tags).version("ENG-001", force="major")
    assert str(version.current) == "1.1.0"
    assert (version.pending, version.bump, version.next) == ((), None, None)
    assert version.shown(on_release_branch=False) == "1.1.0"
    assert version.shown(on_release_branch=True) == "1.1.0"


def test_latest_tag_is_the_highest_version_not_the_newest_commit():
    commits, _ = released_history()
    # 1.10.0 is on c3, 1.9.0 (a patch line, say) on c5: pending is judged from 1.10.0's commit.
    tags = [tag("ENG-001/v1.9.0", "c5"), tag("ENG-001/v1.10.0", "c3")]
    version = build(commits, tags).version("ENG-001")
    assert str(version.current) == "1.10.0"
    assert [c.commit.sha for c in version.pending] == [sha("c5")]
    assert str(version.next) == "1.10.1"


def test_prerelease_tags_do_not_count():
    commits, _ = released_history()
    tags = [tag("ENG-001/v1.0.0", "c2"), tag("ENG-001/v2.0.0-rc.1", "c5")]
    version = build(commits, tags).version("ENG-001")
    assert str(version.current) == "1.0.0"
    assert len(version.pending) == 2


def test_release_commits_are_never_pending():
    commits = [
        commit("c3", "c2", message=release_message("ENG-001 v1.0.0"), changes=mod()),
        commit("c2", "c1", message="fix(ENG-001): x", changes=mod()),
        commit("c1", message="feat(ENG-001): add", changes=add()),
    ]
    # No tag (e.g. it was not fetched): the release commit is still not a change.
    version = build(commits).version("ENG-001")
    assert [c.commit.sha for c in version.pending] == [sha("c2"), sha("c1")]
    # Only release commits pending: nothing to cut.
    only = build(commits[:1] + [commit("c2", message=release_message("ENG-001 v1.0.0"))])
    assert only.version("ENG-001").bump is None


def test_pull_request_numbers_from_merges_and_squash_subjects():
    commits = [
        commit("m4", "m3", "b1", message="Merge pull request #12 from acme/draft/ENG-001"),
        commit("b1", "m1", message="feat(ENG-001): add rollback step", changes=mod()),
        commit("m3", "m2", message="fix(ENG-001): typo (#34)", changes=mod()),
        commit("m2", "m1", message="docs(ENG-001): reword", changes=mod()),
        commit("m1", message="docs(ENG-001): add", changes=add()),
    ]
    history = build(commits, [tag("ENG-001/v1.0.0", "m1")])
    version = history.version("ENG-001")
    numbers = {c.commit.sha: c.pull_request for c in version.pending}
    assert numbers == {sha("b1"): 12, sha("m3"): 34, sha("m2"): None}
    assert version.pull_requests == [12, 34]
    assert version.bump == "minor"


def test_a_commits_own_pr_number_wins_over_the_merge():
    commits = [
        commit("m2", "m1", "b1", message="Merge pull request #12 from acme/x"),
        commit("b1", "m1", message="fix(ENG-001): cherry-picked (#7)", changes=mod()),
        commit("m1", message="docs(ENG-001): add", changes=add()),
    ]
    version = build(commits, [tag("ENG-001/v1.0.0", "m1")]).version("ENG-001")
    assert [c.pull_request for c in version.pending] == [7]


def test_commit_from_a_draft_branch_created_before_the_tag_merged_after_is_pending():
    """The key subtlety: the draft commit is older than the tag but not below it."""
    commits = [
        commit("m4", "m3", "d1", message="Merge pull request #12 from acme/draft/ENG-001"),
        commit("m3", "m2", message="fix(ENG-001): typo", changes=mod(), when=T0 + 3),
        commit("m2", "m1", message=release_message("ENG-001 v1.0.0"), changes=mod(), when=T0 + 2),
        commit("d1", "m1", message="feat(ENG-001): add rollback", changes=mod(), when=T0 + 1),
        commit("m1", message="docs(ENG-001): add", changes=add()),
    ]
    version = build(commits, [tag("ENG-001/v1.0.0", "m2", "ENG-001 v1.0.0")]).version("ENG-001")
    assert [c.commit.sha for c in version.pending] == [sha("m3"), sha("d1")]
    assert version.bump == "minor"
    assert str(version.next) == "1.1.0"
    assert version.shown(on_release_branch=False) == "1.1.0-draft.2"
    assert [c.pull_request for c in version.pending] == [None, 12]


def test_draft_branch_not_merged_yet_counts_only_its_own_commits_on_it():
    """On the draft branch itself (HEAD = d2), main's later release is not yet in."""
    commits = [
        commit("d2", "d1", message="fix(ENG-001): wording", changes=mod()),
        commit("d1", "m1", message="feat(ENG-001): add rollback step", changes=mod()),
        commit("m1", message="docs(ENG-001): add", changes=add()),
    ]
    tags = [tag("ENG-001/v1.0.0", "m1")]
    version = build(commits, tags).version("ENG-001")
    assert version.shown(on_release_branch=False) == "1.1.0-draft.2"


def test_latest_tag_not_reachable_from_head_uses_the_outside_graph():
    """The tag was cut on a branch that HEAD does not contain."""
    commits = [
        commit("m3", "m2", message="fix(ENG-001): after the branch point", changes=mod()),
        commit("m2", "m1", message="feat(ENG-001): before the branch point", changes=mod()),
        commit("m1", message="docs(ENG-001): add", changes=add()),
    ]
    tags = [tag("ENG-001/v1.0.0", "r1")]
    history = build(commits, tags)
    assert not history.ancestry.reachable(sha("r1"))
    history.ancestry.outside = {sha("r1"): (sha("m2"),)}
    version = history.version("ENG-001")
    assert [c.commit.sha for c in version.pending] == [sha("m3")]
    assert (version.bump, str(version.next)) == ("patch", "1.0.1")


def test_pending_follows_a_rename_since_the_tag():
    old = "sops/engineering/ENG-001-old.md"
    commits = [
        commit("c4", "c3", message="fix(ENG-001): after", changes=mod(ENG1)),
        commit("c3", "c2", message="chore(ENG-001): rename", changes=(FileChange("R", ENG1, old),)),
        commit("c2", "c1", message="feat(ENG-001): before", changes=mod(old)),
        commit("c1", message="docs(ENG-001): add", changes=add(old)),
    ]
    version = build(commits, [tag("ENG-001/v1.0.0", "c1")]).version("ENG-001")
    assert [c.commit.sha for c in version.pending] == [sha("c4"), sha("c3"), sha("c2")]
    assert str(version.next) == "1.1.0"


def test_custom_tag_format_and_bump_rules():
    config = Config(tag_format="sop/{id}@{version}", bump={"docs": "minor", "default": "patch"})
    commits = [
        commit("c2", "c1", message="docs(ENG-001): reword", changes=mod()),
        commit("c1", message="feat(ENG-001): add", changes=add()),
    ]
    tags = [tag("sop/ENG-001@1.0.0", "c1"), tag("ENG-001/v7.0.0", "c2")]
    history = History.build(config, commits, tags, {ENG1: "ENG-001"}, sha("c2"))
    version = history.version("ENG-001")
    assert str(version.current) == "1.0.0"
    assert (version.bump, str(version.next)) == ("minor", "1.1.0")


# --- history rows -----------------------------------------------------------------

RELEASE_TAG_MESSAGE = """ENG-001 v1.1.0

Deploy to Production v1.1.0: Add rollback step.

Changes:
- feat(ENG-001): add rollback step (aaaaaaaaaa, Ana Ruiz)
- fix(ENG-001): typo (#34) (bbbbbbbbbb, Bo Li)

Sop-Id: ENG-001
Sop-Version: 1.1.0
Previous-Version: 1.0.0
Bump: minor
Release-Date: 2026-03-02
Author: Ana Ruiz <ana@acme.example>
Author: Bo Li <bo@acme.example>
Pull-Request: #12
Pull-Request: #34
Approved-by: Lee Chen <lee@acme.example> (manager) 2026-03-02T10:14:00Z
Approved-by: Kim Park <kim@acme.example> (peer) 2026-03-01T16:00:00+01:00
"""


def test_row_from_a_release_tag_message():
    release = tag(
        "ENG-001/v1.1.0",
        "c9",
        RELEASE_TAG_MESSAGE,
        tagger_name="Release Bot",
        time=T0,
    )
    row = row_from_tag(semver.Version(1, 1, 0), release)
    assert row == HistoryRow(
        version="1.1.0",
        date="2026-03-02",
        description="Add rollback step",
        author="Ana Ruiz, Bo Li",
        approved_by="Lee Chen (manager), Kim Park (peer)",
        pull_requests=(12, 34),
        tag="ENG-001/v1.1.0",
    )
    assert row.as_dict()["pull_requests"] == [12, 34]


def test_row_from_a_crlf_tag_message():
    release = tag("ENG-001/v1.1.0", "c9", RELEASE_TAG_MESSAGE.replace("\n", "\r\n"))
    row = row_from_tag(semver.Version(1, 1, 0), release)
    assert (row.description, row.date, row.author) == (
        "Add rollback step",
        "2026-03-02",
        "Ana Ruiz, Bo Li",
    )


def test_row_from_a_tag_without_trailers_falls_back_to_the_tagger():
    # 2026-03-01 23:30 at UTC-5 is 2026-03-02 in UTC.
    utc_minus_5 = dt.timezone(dt.timedelta(hours=-5))
    when = int(dt.datetime(2026, 3, 1, 23, 30, tzinfo=utc_minus_5).timestamp())
    hand_made = tag(
        "ENG-001/v1.0.0", "c1", "First cut of the deploy SOP", tagger_name="Ana Ruiz", time=when
    )
    row = row_from_tag(semver.Version(1, 0, 0), hand_made)
    assert row == HistoryRow(
        version="1.0.0",
        date="2026-03-02",
        description="First cut of the deploy SOP",
        author="Ana Ruiz",
        approved_by="",
        pull_requests=(),
        tag="ENG-001/v1.0.0",
    )


def test_a_lightweight_tag_is_not_a_release():
    light = Tag("ENG-001/v1.0.0", sha("c1"), annotated=False)
    assert release_tags([light], "{id}/v{version}") == {}


def test_row_description_is_the_body_when_not_in_the_release_form():
    message = (
        "ENG-001 v1.0.0\n\nSome free text\nover two lines.\n\nMore.\n\nRelease-Date: 2026-01-05"
    )
    row = row_from_tag(semver.Version(1, 0, 0), tag("ENG-001/v1.0.0", "c1", message))
    assert row.description == "Some free text\nover two lines."
    assert row.date == "2026-01-05"


def test_history_rows_are_oldest_first():
    commits, _ = released_history()
    tags = [
        tag("ENG-001/v1.1.0", "c3", "ENG-001 v1.1.0\n\nDeploy v1.1.0: Add rollback step."),
        tag("ENG-001/v1.0.0", "c2", "ENG-001 v1.0.0\n\nDeploy v1.0.0: Initial version."),
        tag("ENG-001/v1.2.0-rc.1", "c5", "ENG-001 v1.2.0-rc.1\n\nDeploy v1.2.0-rc.1: rc."),
    ]
    version = build(commits, tags).version("ENG-001")
    rows = history_rows(version)
    assert [(r.version, r.description) for r in rows] == [
        ("1.0.0", "Initial version"),
        ("1.1.0", "Add rollback step"),
    ]
    assert history_rows(build(commits).version("ENG-001")) == []


def row(**kw: object) -> HistoryRow:
    fields = {
        "version": "1.0.0",
        "date": "2026-03-02",
        "description": "Initial version",
        "author": "Ana Ruiz",
        "approved_by": "Lee Chen (manager)",
        "pull_requests": (),
        "tag": "ENG-001/v1.0.0",
        **kw,
    }
    return HistoryRow(**fields)


def test_table_lines():
    assert table_lines([]) == [TABLE_HEADER, TABLE_RULE]
    second = row(version="1.1.0", description="Add step", author="", approved_by="")
    assert table_lines([row(), second]) == [
        TABLE_HEADER,
        TABLE_RULE,
        "| 1.0.0 | 2026-03-02 | Initial version | Ana Ruiz | Lee Chen (manager) |",
        "| 1.1.0 | 2026-03-02 | Add step |  |  |",
    ]


@pytest.mark.parametrize(
    ("description", "cell"),
    [
        ("Use a | b", "Use a \\| b"),
        ("Two\nlines", "Two lines"),
        ("Crlf\r\nlines", "Crlf lines"),
        ("A back\\slash", "A back\\\\slash"),
        ("Escaped \\| pipe", "Escaped \\\\\\| pipe"),
    ],
)
def test_table_cells_escape_pipes_and_newlines(description, cell):
    line = table_lines([row(description=description)])[-1]
    assert line == f"| 1.0.0 | 2026-03-02 | {cell} | Ana Ruiz | Lee Chen (manager) |"
    assert line.count("\n") == 0


# --- properties -------------------------------------------------------------------

BUMPS = st.sampled_from(["major", "minor", "patch"])
VERSIONS = st.builds(
    semver.Version,
    major=st.integers(0, 10**6),
    minor=st.integers(0, 10**6),
    patch=st.integers(0, 10**6),
    prerelease=st.sampled_from([None, "rc.1", "alpha", "draft.3", "0.a-b"]),
    build=st.sampled_from([None, "build.5", "sha.abc"]),
)
LINE = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1
).filter(lambda s: s.strip() != "")
TYPES = st.from_regex(r"\A[a-z][a-z-]{0,9}\Z")
SCOPES = st.one_of(st.just(""), st.from_regex(r"\A\([A-Z]{3}-\d{3}(,[A-Z]{3}-\d{3})*\)\Z"))


@given(st.text())
def test_parse_message_never_raises(text):
    parsed = parse_message(text)
    assert "\n" not in parsed.subject
    assert bump_for(parsed, DEFAULT_RULES) in ("major", "minor", "patch")


@given(st.text(alphabet=st.characters(blacklist_characters="\r")))
def test_crlf_never_changes_the_parse(text):
    assert parse_message(text.replace("\n", "\r\n")) == parse_message(text)


@given(st.text(), st.dictionaries(TYPES, BUMPS), st.sampled_from([{}, DEFAULT_RULES]))
def test_bump_is_always_a_bump_kind(text, custom, base):
    rules = {**base, **custom}
    assert bump_for(parse_message(text), rules) in ("major", "minor", "patch")


@given(st.lists(BUMPS), BUMPS)
def test_adding_a_bump_never_lowers_the_largest(bumps, extra):
    order = {None: 0, "patch": 1, "minor": 2, "major": 3}
    before, after = largest_bump(bumps), largest_bump([*bumps, extra])
    assert order[after] >= order[before]
    assert order[after] >= order[extra]


MESSAGES = st.one_of(
    st.builds("{}{}: {}".format, st.sampled_from(["feat", "fix", "docs"]), SCOPES, LINE),
    st.builds("{}{}!: {}".format, st.sampled_from(["feat", "fix"]), SCOPES, LINE),
    st.builds(lambda x: f"{x}\n\nBREAKING CHANGE: retrain", LINE),
    LINE,
)


@given(st.lists(MESSAGES, max_size=6), MESSAGES)
def test_pending_bump_never_drops_when_a_commit_is_added(messages, extra):
    """Through History: one more commit touching the SOP never lowers its bump."""
    order = {"patch": 1, "minor": 2, "major": 3}

    def bump_of(msgs: list[str]) -> str | None:
        commits = [commit("c0", message="docs(ENG-001): add", changes=add())]
        for i, text in enumerate(msgs, 1):
            commits.insert(0, commit(f"c{i}", f"c{i - 1}", message=text, changes=mod()))
        return build(commits, [tag("ENG-001/v1.0.0", "c0")]).version("ENG-001").bump

    before, after = bump_of(messages), bump_of([*messages, extra])
    assert after is not None
    assert before is None or order[after] >= order[before]


@given(VERSIONS, BUMPS)
def test_next_version_never_goes_backwards(current, bump):
    assert next_version(current, bump, "1.0.0") > current


@given(VERSIONS, BUMPS, st.integers(1, 1000))
def test_draft_of_the_next_version_is_above_the_current(current, bump, pending):
    assert draft_version(next_version(current, bump, "1.0.0"), pending) > current


@given(TYPES, SCOPES, LINE, st.lists(LINE, max_size=3))
def test_breaking_header_is_always_major(type_, scope, subject, body):
    message = "\n\n".join([f"{type_}{scope}!: {subject}", *body])
    assert bump_for(parse_message(message), DEFAULT_RULES) == "major"


@given(st.one_of(TYPES.map(lambda t: f"{t}: x"), LINE), st.lists(LINE, max_size=3), LINE)
def test_breaking_footer_is_always_major(subject, body, text):
    for token in ("BREAKING CHANGE", "BREAKING-CHANGE"):
        message = "\n\n".join([subject, *body, f"{token}: {text}"])
        assert bump_for(parse_message(message), DEFAULT_RULES) == "major"
