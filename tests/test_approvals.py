"""Approvals: the policy on plain records, and on real repositories with merge and squash
histories, offline approval commits (signed with ssh), release enforcement, CODEOWNERS.

What an auditor checks: who approved which version in what role, when and through
which pull request, from git alone; that an author never approves their own change;
that a release without the approvals the policy requires is refused and changes nothing.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest
from conftest import commit_all, git, tree_state

from sopgit.core.approvals import (
    Approval,
    Authors,
    Contents,
    Policy,
    Review,
    Signature,
    Signer,
    approval_commit_signoffs,
    bind,
    evaluate,
    iso_utc,
    parse_signoff,
    policy_for,
    review_signoffs,
)
from sopgit.core.history import row_from_tag
from sopgit.core.model import Commit, Tag
from sopgit.repo.config import parse_config

ENG_001 = "sops/engineering/ENG-001-deployment-process.md"
ENG_002 = "sops/engineering/ENG-002-code-review-standards.md"
CMP_001 = "sops/compliance/CMP-001-incident-response.md"
START = "<!-- sopgit:revision-history:start -->"
END = "<!-- sopgit:revision-history:end -->"

BEN = {"GIT_AUTHOR_NAME": "Ben Ode", "GIT_AUTHOR_EMAIL": "ben@acme.example"}
LEE = {"GIT_AUTHOR_NAME": "Lee Chen", "GIT_AUTHOR_EMAIL": "lee@acme.example"}
KIM = {"GIT_AUTHOR_NAME": "Kim Park", "GIT_AUTHOR_EMAIL": "kim@acme.example"}

POLICY = """
[approval]
required = ["peer", "manager"]

[approval.roles]
peer = ["*"]
manager = ["lee@acme.example", "@acme/eng-managers"]
compliance = ["kim@acme.example", "kim-park"]

[approval.departments.CMP]
required = ["compliance"]
"""


@pytest.fixture(autouse=True)
def _no_github(monkeypatch):
    """Nothing here talks to GitHub, whatever the machine's environment holds."""
    for name in ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("GITHUB_EVENT_PATH", raising=False)
    monkeypatch.delenv("GITHUB_BASE_REF", raising=False)


# --- the policy on plain records -------------------------------------------------------

LEE_S = Signer("Lee Chen", "lee@acme.example")
KIM_S = Signer("Kim Park", "kim@acme.example")
ANA_S = Signer("Ana Ruiz", "ana@acme.example")
T = "2026-03-02T10:14:00Z"
ROLES = {
    "peer": ("*",),
    "manager": ("lee@acme.example", "@acme/eng-managers"),
    "compliance": ("kim@acme.example",),
}
ANA_AUTHORS = Authors(
    frozenset({"ana@acme.example"}), frozenset({"ana-r"}), frozenset({"ana ruiz"})
)


def approved(signer: Signer, role: str | None = None, source: str = "trailer", **kw) -> Approval:
    return Approval(signer, role, "approved", kw.pop("time", T), source, **kw)


def judge(signoffs, required=("peer", "manager"), teams=None, signed=False, authors=ANA_AUTHORS):
    policy = Policy(tuple(required), ROLES, signed)
    return evaluate("ENG-001", policy, signoffs, authors, teams or {})


def test_an_author_never_approves_their_own_change():
    outcome = judge([approved(ANA_S, "manager"), approved(ANA_S)])
    assert outcome.missing == ("peer", "manager")
    assert outcome.approvals == ()
    assert {why for _, why in outcome.ignored} == {"an author of the change cannot sign for it"}
    # By login too: a GitHub review from the author's account.
    outcome = judge([approved(Signer(login="Ana-R"), source="github")])
    assert outcome.missing == ("peer", "manager")


def test_star_is_anyone_but_an_author_and_listed_emails_hold_their_role():
    outcome = judge([approved(KIM_S), approved(LEE_S)])
    assert outcome.missing == ()
    assert [(a.signer.name, a.role) for a in outcome.approvals] == [
        ("Kim Park", "peer"),
        ("Lee Chen", "manager"),
    ]


def test_each_required_role_needs_its_own_signer():
    """Lee holds peer (`*`) and manager, but one person does not fill both."""
    outcome = judge([approved(LEE_S)])
    assert outcome.missing == ("peer",)
    assert [a.role for a in outcome.approvals] == ["manager"]
    outcome = judge(
        [approved(LEE_S, "manager"), approved(LEE_S, "peer", time="2026-03-03T00:00:00Z")]
    )
    assert len(outcome.missing) == 1


def test_a_named_role_must_be_held_and_defined():
    outcome = judge([approved(KIM_S, "manager"), approved(LEE_S, "boss")])
    reasons = sorted(why for _, why in outcome.ignored)
    assert reasons == [
        "names the role 'boss', which [approval.roles] does not define",
        "not listed for the role 'manager' in [approval.roles]",
    ]
    assert outcome.missing == ("peer", "manager")


def test_team_entries_count_only_for_known_active_members():
    reviewer = approved(Signer(login="lee-chen"), source="github", pull_request=12)
    assert judge([reviewer], required=["manager"]).missing == ("manager",)
    teams = {"@acme/eng-managers": frozenset({"lee-chen"})}
    outcome = judge([reviewer], required=["manager"], teams=teams)
    assert outcome.missing == ()
    assert outcome.approvals[0].trailer() == f"Approved-by: @lee-chen (manager) {T}"


def test_reviewed_by_records_a_review_and_fills_no_role():
    review = Approval(KIM_S, None, "reviewed", T, "trailer")
    outcome = judge([review], required=["peer"])
    assert outcome.missing == ("peer",)
    assert outcome.approvals == (review,)
    assert review.trailer() == f"Reviewed-by: Kim Park <kim@acme.example> {T}"


def test_per_department_and_per_tag_requirements():
    config = parse_config(
        {
            "approval": {
                "required": ["peer"],
                "roles": {"manager": ["lee@acme.example"], "compliance": ["kim@acme.example"]},
                "departments": {"CMP": {"required": ["manager"]}},
                "tags": {"compliance": {"required": ["compliance", "peer"]}},
            }
        }
    )
    assert policy_for(config, "ENG-001", ["sop"]).required == ("peer",)
    assert policy_for(config, "CMP-002", []).required == ("peer", "manager")
    assert policy_for(config, "ENG-004", ["compliance"]).required == ("peer", "compliance")
    assert policy_for(config, "CMP-001", ["compliance"]).required == (
        "peer",
        "manager",
        "compliance",
    )


def test_require_signed_counts_only_github_reviews_and_good_signatures():
    commit = Commit(
        "a" * 40,
        (),
        "Lee Chen",
        "lee@acme.example",
        0,
        1772446440,
        f"chore(ENG-001): approve\n\nApproved-by: Lee Chen <lee@acme.example> (manager) {T}\n"
        "Sop-Id: ENG-001\n",
    )
    good = approval_commit_signoffs([commit], {commit.sha: Signature("G", "lee@acme.example")})
    unsigned = approval_commit_signoffs([commit], {})
    other_key = approval_commit_signoffs([commit], {commit.sha: Signature("G", "kim@acme.example")})
    assert good[0].source == "signed-commit"
    assert unsigned[0].source == other_key[0].source == "trailer"
    required = ["manager"]
    assert judge(good, required, signed=True).missing == ()
    assert judge(unsigned, required, signed=False).missing == ()
    refused = judge(unsigned, required, signed=True)
    assert refused.missing == ("manager",)
    assert "has no good signature (N)" in refused.ignored[0][1]
    assert (
        "signed by kim@acme.example, not by the approver"
        in (judge(other_key, required, signed=True).ignored[0][1])
    )
    plain = judge([approved(LEE_S, "manager")], required, signed=True)
    assert plain.missing == ("manager",)
    github = judge([approved(Signer(login="lee"), source="github")], ["peer"], signed=True)
    assert github.missing == ()


@pytest.mark.parametrize(
    ("states", "approves"),
    [
        (["APPROVED"], True),
        (["APPROVED", "COMMENTED"], True),
        (["APPROVED", "PENDING"], True),
        (["APPROVED", "DISMISSED"], False),
        (["APPROVED", "CHANGES_REQUESTED"], False),
        (["CHANGES_REQUESTED", "APPROVED"], True),
        (["COMMENTED"], False),
    ],
)
def test_the_latest_verdict_of_each_reviewer_counts(states, approves):
    reviews = [Review("lee", s, f"2026-03-0{i + 1}T10:00:00Z", 12) for i, s in enumerate(states)]
    found = review_signoffs(reviews)
    assert bool(found) == approves
    if found:
        assert found[0].pull_request == 12
        last = max(i for i, state in enumerate(states) if state == "APPROVED")
        assert found[0].time == f"2026-03-0{last + 1}T10:00:00Z"


@pytest.mark.parametrize(
    ("value", "signer", "role", "time"),
    [
        (f"Lee Chen <lee@acme.example> (manager) {T}", LEE_S, "manager", T),
        ("Lee Chen <lee@acme.example>", LEE_S, None, "2025-03-13T09:00:00Z"),
        (
            "lee@acme.example (peer)",
            Signer(email="lee@acme.example"),
            "peer",
            "2025-03-13T09:00:00Z",
        ),
        ("@lee-chen (manager) 2026-03-02T11:14:00+01:00", Signer(login="lee-chen"), "manager", T),
        ("Lee Chen", Signer("Lee Chen"), None, "2025-03-13T09:00:00Z"),
    ],
)
def test_sign_off_trailers_parse(value, signer, role, time):
    found = parse_signoff("Approved-by", value, default_time=1741856400)
    assert found is not None
    assert (found.signer, found.role, found.time, found.meaning) == (signer, role, time, "approved")


def test_times_are_utc_and_the_trailer_reads_back_as_the_column():
    assert iso_utc("2026-03-02T11:14:00+01:00") == T
    assert iso_utc("not a time") is None
    approval = approved(LEE_S, "manager")
    tag = Tag("ENG-001/v1.1.0", "c", True, "Lee", "", 0, f"x\n\nBody.\n\n{approval.trailer()}\n")
    assert row_from_tag("1.1.0", tag).approved_by == approval.column() == "Lee Chen (manager)"


# --- real repositories ---------------------------------------------------------------


def sopgit(run, root: Path, *args: str, expect: int = 0):
    return run("-C", str(root), *args, expect=expect)


def tag_message(root: Path, name: str) -> str:
    return git(root, "for-each-ref", "--format=%(contents)", f"refs/tags/{name}")


def table(root: Path, relative: str) -> list[str]:
    lines = (root / relative).read_text(encoding="utf-8").splitlines()
    return lines[lines.index(START) + 3 : lines.index(END)]


def edit(root: Path, relative: str, text: str) -> None:
    path = root / relative
    body = path.read_text(encoding="utf-8")
    path.write_text(
        body.replace("## Purpose\n\n", f"## Purpose\n\n{text}\n\n", 1), encoding="utf-8"
    )


def commit_as(root: Path, who: dict[str, str], message: str, date: str) -> str:
    env = {**who, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-verify", "-m", message, env=env)
    return git(root, "rev-parse", "HEAD").strip()


def merge_pr(root: Path, branch: str, number: int, date: str, trailers: str = "") -> str:
    git(root, "checkout", "-q", "main")
    message = f"Merge pull request #{number} from acme/{branch}\n\n{trailers}".strip() + "\n"
    env = {**LEE, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    git(root, "merge", "-q", "--no-ff", "-m", message, branch, env=env)
    return git(root, "rev-parse", "HEAD").strip()


@pytest.fixture
def governed(library: Path, run, monkeypatch) -> Path:
    """The example SOPs released as 1.0.0, then the approval policy switched on."""
    monkeypatch.setenv("SOPGIT_TODAY", "2026-04-01")
    sopgit(run, library, "release", "--date", "2025-04-01")
    (library / "sopgit.toml").write_text(POLICY, encoding="utf-8")
    commit_all(library, "chore: require peer and manager approval")
    return library


def test_merge_trailers_approve_and_the_tag_records_who_what_when_and_which_pr(governed, run):
    git(governed, "checkout", "-q", "-b", "draft/ENG-001-deployment-process")
    edit(governed, ENG_001, "Roll back within 10 minutes.")
    change = commit_as(
        governed, BEN, "feat(ENG-001): add a rollback deadline", "2026-03-01T09:00:00Z"
    )
    merge = merge_pr(
        governed,
        "draft/ENG-001-deployment-process",
        7,
        "2026-03-02T10:14:00Z",
        "Approved-by: Lee Chen <lee@acme.example> (manager)\n"
        "Approved-by: Kim Park <kim@acme.example>\n"
        "Approved-by: Ben Ode <ben@acme.example> (peer)\n"
        "Reviewed-by: Sam Osei <sam@acme.example>\n",
    )

    sopgit(run, governed, "release", "ENG-001", "--date", "2026-03-03")

    message = tag_message(governed, "ENG-001/v1.1.0")
    where = f"trailer on commit {merge[:10]} of pull request #7"
    assert message.split("\n\n", 3)[3].rstrip("\n") + "\n" == (
        "Approvals:\n"
        f"- peer: Kim Park <kim@acme.example>, approved {T}, {where}\n"
        f"- manager: Lee Chen <lee@acme.example>, approved {T}, {where}\n"
        f"- reviewed: Sam Osei <sam@acme.example>, reviewed {T}, {where}\n"
        "\n"
        "Sop-Id: ENG-001\n"
        "Sop-Version: 1.1.0\n"
        "Previous-Version: 1.0.0\n"
        "Bump: minor\n"
        "Release-Date: 2026-03-03\n"
        "Author: Ben Ode <ben@acme.example>\n"
        "Pull-Request: #7\n"
        "Approval-Required: peer, manager\n"
        f"Approved-by: Kim Park <kim@acme.example> (peer; commit {merge[:10]}) {T}\n"
        f"Approved-by: Lee Chen <lee@acme.example> (manager; commit {merge[:10]}) {T}\n"
        f"Reviewed-by: Sam Osei <sam@acme.example> (commit {merge[:10]}) {T}\n"
    )
    assert "Author: Ben Ode <ben@acme.example>" in message
    assert "Ben Ode <ben@acme.example> (peer)" not in message  # the author's own approval
    assert f"trailer on commit {merge[:10]} of pull request #7" in message
    assert change[:10] in message
    assert table(governed, ENG_001)[-1] == (
        "| 1.1.0 | 2026-03-03 | Add a rollback deadline | Ben Ode | "
        "Kim Park (peer), Lee Chen (manager) |"
    )
    history = sopgit(run, governed, "history", "ENG-001", "--format", "json").stdout
    assert '"approved_by": "Kim Park (peer), Lee Chen (manager)"' in history
    assert '"pull_requests": [\n        7\n      ]' in history


def test_squash_subject_names_the_pr_and_its_trailers_approve(governed, run):
    edit(governed, ENG_002, "Two reviewers for risky changes.")
    squash = commit_as(
        governed,
        BEN,
        "fix(ENG-002): two reviewers for risky changes (#8)\n\n"
        "Approved-by: Lee Chen <lee@acme.example> (manager) 2026-03-02T09:00:00+01:00\n"
        "Approved-by: Kim Park <kim@acme.example> (peer) 2026-03-02T08:30:00Z\n",
        "2026-03-02T12:00:00Z",
    )
    sopgit(run, governed, "release", "--date", "2026-03-03")
    message = tag_message(governed, "ENG-002/v1.0.1")
    assert "Pull-Request: #8\n" in message
    assert (
        f"Approved-by: Lee Chen <lee@acme.example> (manager; commit {squash[:10]}) "
        "2026-03-02T08:00:00Z\n" in message
    )
    assert table(governed, ENG_002)[-1].endswith(
        "| Ben Ode | Kim Park (peer), Lee Chen (manager) |"
    )


def test_missing_approval_refuses_the_release_and_changes_nothing(governed, run):
    edit(governed, ENG_001, "A change.")
    commit_as(governed, BEN, "fix(ENG-001): a change", "2026-03-01T09:00:00Z")
    edit(governed, CMP_001, "Another.")
    commit_as(
        governed,
        BEN,
        "fix(CMP-001): another\n\nApproved-by: Lee Chen <lee@acme.example>\n",
        "2026-03-01T10:00:00Z",
    )
    before = tree_state(governed)

    result = sopgit(run, governed, "release", expect=1)

    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert (
        "release refused: CMP-001 lacks approval as peer, compliance; "
        "ENG-001 lacks approval as peer, manager." in result.stderr
    )
    assert tree_state(governed) == before
    sopgit(run, governed, "release", "--dry-run", expect=1)
    assert tree_state(governed) == before


def test_allow_unapproved_records_the_override_and_its_reason(governed, run):
    edit(governed, ENG_001, "Urgent.")
    commit_as(governed, BEN, "fix(ENG-001): urgent fix", "2026-03-01T09:00:00Z")
    result = sopgit(run, governed, "release", "--allow-unapproved", expect=2)
    assert "--allow-unapproved and --reason TEXT go together" in result.stderr

    sopgit(run, governed, "release", "--allow-unapproved", "--reason", "outage\nhotfix, INC-42")

    message = tag_message(governed, "ENG-001/v1.0.1")
    assert "Allow-Unapproved: outage hotfix, INC-42\n" in message
    assert "Missing-Approval: peer\nMissing-Approval: manager\n" in message
    assert table(governed, ENG_001)[-1].endswith("| Ben Ode |  |")


def test_review_round_reports_versions_reasons_and_missing_roles(governed, run):
    git(governed, "checkout", "-q", "-b", "draft/ENG-001-deployment-process")
    edit(governed, ENG_001, "Canary first.")
    commit_as(governed, BEN, "feat(ENG-001): add a canary stage", "2026-03-01T09:00:00Z")
    edit(governed, ENG_001, "Canary first, always.")
    message = "fix(ENG-001): typo\n\nApproved-by: Lee Chen <lee@acme.example>"
    commit_as(governed, KIM, message, "2026-03-01T10:00:00Z")

    text = sopgit(run, governed, "review-round").stdout
    assert "branch draft/ENG-001-deployment-process against main: 1 SOP(s) change" in text
    assert "version  1.0.0 -> 1.1.0 (minor)" in text
    assert "because  feat(ENG-001): add a canary stage" in text
    assert "approved Lee Chen <lee@acme.example> as manager" in text
    assert "missing  peer" in text

    import json

    data = json.loads(sopgit(run, governed, "review-round", "--format", "json").stdout)
    assert data["ready"] is False
    (sop,) = data["sops"]
    assert (sop["id"], sop["version"], sop["next_version"], sop["bump"]) == (
        "ENG-001",
        "1.0.0",
        "1.1.0",
        "minor",
    )
    assert sop["shown_version"] == "1.1.0-draft.2"
    assert sop["approved"] == {"manager": ["Lee Chen <lee@acme.example>"]}
    assert sop["missing"] == ["peer"]

    markdown = sopgit(run, governed, "review-round", "--format", "markdown").stdout
    assert markdown.startswith("<!-- sopgit:review-round -->\n")
    assert (
        "| ENG-001 Deployment Process | 1.0.0 → 1.1.0 | minor "
        "| manager: `Lee Chen <lee@acme.example>` | **peer** |" in markdown
    )


# --- offline approvals: `sopgit approve` ------------------------------------------------


def test_approve_records_an_empty_commit_that_counts(governed, run, monkeypatch):
    edit(governed, ENG_001, "Canary first.")
    change = commit_as(governed, BEN, "feat(ENG-001): add a canary stage", "2026-03-01T09:00:00Z")
    before = tree_state(governed)

    monkeypatch.setenv("GIT_AUTHOR_NAME", "Ben Ode")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "ben@acme.example")
    result = sopgit(run, governed, "approve", "ENG-001", "--role", "peer", expect=2)
    assert "is an author of a pending change of ENG-001" in result.stderr
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Kim Park")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "kim@acme.example")
    result = sopgit(run, governed, "approve", "ENG-001", "--role", "boss", expect=2)
    assert "unknown role 'boss'" in result.stderr
    result = sopgit(run, governed, "approve", "ENG-001", "--role", "manager", expect=2)
    assert "kim@acme.example is not listed for the role 'manager'" in result.stderr
    sopgit(run, governed, "approve", "ENG-001", expect=2)
    assert tree_state(governed) == before

    monkeypatch.setenv("GIT_AUTHOR_DATE", "2026-03-02T10:14:00Z")
    dry = sopgit(run, governed, "approve", "ENG-001", "--role", "peer", "--dry-run").stdout
    assert tree_state(governed) == before
    assert "Approved-by: Kim Park <kim@acme.example> (peer) 2026-03-02T10:14:00Z\n" in dry
    out = sopgit(run, governed, "approve", "ENG-001", "--role", "peer").stdout
    kim = git(governed, "rev-parse", "HEAD").strip()
    assert out.startswith("ENG-001: approved as peer by Kim Park <kim@acme.example> (")
    assert git(governed, "log", "-1", "--format=%B") == dry + "\n"
    assert git(governed, "show", "--name-only", "--format=", "HEAD").strip() == ""  # empty

    # Still missing the manager: refused. Lee approves; the release goes through.
    result = sopgit(run, governed, "release", "ENG-001", expect=1)
    assert "ENG-001 lacks approval as manager" in result.stderr
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Lee Chen")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "lee@acme.example")
    sopgit(run, governed, "approve", "ENG-001", "--role", "manager")
    lee = git(governed, "rev-parse", "HEAD").strip()
    sopgit(run, governed, "release", "ENG-001", "--date", "2026-03-03")
    message = tag_message(governed, "ENG-001/v1.1.0")
    assert f"Approved-by: Kim Park <kim@acme.example> (peer; commit {kim[:10]}) {T}\n" in message
    assert f"Approved-by: Lee Chen <lee@acme.example> (manager; commit {lee[:10]}) {T}\n" in message
    assert change[:10] in message
    # Released: nothing left to approve.
    result = sopgit(run, governed, "approve", "ENG-001", "--role", "manager", expect=2)
    assert "no changes since its last release" in result.stderr


def test_an_approval_does_not_cover_a_change_made_after_it(governed, run, monkeypatch):
    edit(governed, ENG_001, "First.")
    commit_as(governed, BEN, "fix(ENG-001): first", "2026-03-01T09:00:00Z")
    for who in (LEE, KIM):
        monkeypatch.setenv("GIT_AUTHOR_NAME", who["GIT_AUTHOR_NAME"])
        monkeypatch.setenv("GIT_AUTHOR_EMAIL", who["GIT_AUTHOR_EMAIL"])
        sopgit(run, governed, "approve", "ENG-001", "--role", "manager" if who is LEE else "peer")
    edit(governed, ENG_001, "Second, unreviewed.")
    commit_as(governed, BEN, "fix(ENG-001): second", "2026-03-04T09:00:00Z")
    result = sopgit(run, governed, "release", "ENG-001", expect=1)
    assert "ENG-001 lacks approval as peer, manager" in result.stderr


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")
def test_require_signed_counts_only_approvals_signed_by_the_approver(governed, run, monkeypatch):
    keys = governed.parent / "keys"
    keys.mkdir()
    subprocess_run = __import__("subprocess").run
    for who in ("lee", "kim"):
        subprocess_run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who, "-f", str(keys / who)],
            check=True,
        )
    allowed = keys / "allowed_signers"
    allowed.write_text(
        "".join(
            f'{who}@acme.example namespaces="git" {(keys / f"{who}.pub").read_text().strip()}\n'
            for who in ("lee", "kim")
        )
    )
    git(governed, "config", "gpg.format", "ssh")
    git(governed, "config", "gpg.ssh.allowedSignersFile", str(allowed))
    text = POLICY.replace(
        'required = ["peer", "manager"]', 'required = ["manager"]\nrequire_signed = true'
    )
    (governed / "sopgit.toml").write_text(text, encoding="utf-8")
    commit_all(governed, "chore: signed approvals")
    edit(governed, ENG_001, "Signed.")
    commit_as(governed, BEN, "fix(ENG-001): signed", "2026-03-01T09:00:00Z")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Lee Chen")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "lee@acme.example")

    # Unsigned, and signed with Kim's key: neither counts.
    sopgit(run, governed, "approve", "ENG-001", "--role", "manager")
    git(governed, "config", "user.signingkey", str(keys / "kim"))
    sopgit(run, governed, "approve", "ENG-001", "--role", "manager", "--sign")
    result = sopgit(run, governed, "release", "ENG-001", expect=1)
    assert "ENG-001 lacks approval as manager" in result.stderr
    report = sopgit(run, governed, "review-round").stdout
    assert "has no good signature (N)" in report
    assert "signed by kim@acme.example, not by the approver" in report

    git(governed, "config", "user.signingkey", str(keys / "lee"))
    sopgit(run, governed, "approve", "ENG-001", "--role", "manager", "--sign")
    assert git(governed, "log", "-1", "--format=%G? %GS").strip() == "G lee@acme.example"
    sopgit(run, governed, "release", "ENG-001", "--date", "2026-03-03")
    message = tag_message(governed, "ENG-001/v1.0.1")
    assert message.count("Approved-by: ") == 1
    assert "signed approval commit" in message


# --- CODEOWNERS ----------------------------------------------------------------------


def test_codeowners_routes_reviews_to_owners_and_role_lists(governed, run):
    text = POLICY + '\n[approval.tags.deployment]\nrequired = ["compliance"]\n'
    (governed / "sopgit.toml").write_text(text, encoding="utf-8")
    path = governed / ".github/CODEOWNERS"

    dry = sopgit(run, governed, "codeowners", "--dry-run")
    assert "would update .github/CODEOWNERS" in dry.stderr
    lines = [line for line in dry.stdout.splitlines() if not line.startswith("#")]
    managers = "lee@acme.example @acme/eng-managers"
    assert lines[:3] == [
        f"/sops/engineering/ {managers}",
        f"/sops/compliance/ {managers} kim@acme.example @kim-park",
        f"/sops/operations/ {managers}",
    ]
    # The last matching line wins: each SOP's line repeats its folder's reviewers, and
    # adds those its tags require (ENG-001 is tagged deployment: compliance).
    assert f"/{ENG_001} @acme/release-managers {managers} kim@acme.example @kim-park" in lines
    assert f"/{ENG_002} @acme/engineering-leads {managers}" in lines
    assert len(lines) == 3 + 14
    assert path.read_text(encoding="utf-8") != dry.stdout  # a dry run writes nothing

    result = sopgit(run, governed, "codeowners")
    assert "updated .github/CODEOWNERS" in result.stderr
    assert path.read_text(encoding="utf-8") == dry.stdout
    assert "unchanged .github/CODEOWNERS" in sopgit(run, governed, "codeowners").stderr

    path.write_text("* @someone\n", encoding="utf-8")
    result = sopgit(run, governed, "codeowners")
    assert "skipped   .github/CODEOWNERS (not generated by sopgit" in result.stderr
    assert path.read_text(encoding="utf-8") == "* @someone\n"


# --- an approval binds to the text it approved ----------------------------------------

APPROVALS = (
    "Approved-by: Lee Chen <lee@acme.example> (manager)\n"
    "Approved-by: Kim Park <kim@acme.example> (peer)\n"
)


def test_a_trailer_approval_followed_by_an_edit_is_stale(governed, run):
    edit(governed, ENG_001, "Canary first.")
    approved_at = commit_as(
        governed, BEN, f"feat(ENG-001): add a canary stage\n\n{APPROVALS}", "2026-03-01T09:00:00Z"
    )
    edit(governed, ENG_001, "Canary first, then everyone.")
    commit_as(governed, BEN, "fix(ENG-001): widen the canary", "2026-03-02T09:00:00Z")
    before = tree_state(governed)

    result = sopgit(run, governed, "release", expect=1)

    earlier = f"approved an earlier version (commit {approved_at[:10]})"
    assert result.stderr.startswith(
        "sopgit: release refused: ENG-001 lacks approval as peer, manager [not counted: "
        f"Kim Park <kim@acme.example> {earlier}; Lee Chen <lee@acme.example> {earlier}]. "
    )
    assert tree_state(governed) == before
    text = sopgit(run, governed, "review-round").stdout
    where = f"trailer on commit {approved_at[:10]}, 2026-03-01T09:00:00Z"  # the commit's time
    assert f"  stale    Lee Chen <lee@acme.example> {earlier}: {where}\n" in text
    assert f"  stale    Kim Park <kim@acme.example> {earlier}: {where}\n" in text
    assert "  missing  peer, manager" in text


def test_a_trailer_approval_survives_edits_of_other_sops_and_a_rename(governed, run):
    edit(governed, ENG_001, "Canary first.")
    approved_at = commit_as(
        governed, BEN, f"feat(ENG-001): add a canary stage\n\n{APPROVALS}", "2026-03-01T09:00:00Z"
    )
    edit(governed, ENG_002, "Two reviewers for risky changes.")
    commit_as(governed, BEN, "fix(ENG-002): two reviewers", "2026-03-02T09:00:00Z")
    renamed = "sops/engineering/ENG-001-deployments.md"
    git(governed, "mv", ENG_001, renamed)
    commit_as(governed, BEN, "chore(ENG-001): shorter file name", "2026-03-03T09:00:00Z")

    result = sopgit(run, governed, "release", "ENG-001", "--date", "2026-03-04")

    assert "ENG-001 1.0.0 -> 1.1.0 (minor)" in result.stdout
    message = tag_message(governed, "ENG-001/v1.1.0")
    commit = approved_at[:10]
    assert f"Approved-by: Lee Chen <lee@acme.example> (manager; commit {commit}) " in message
    assert f"Approved-by: Kim Park <kim@acme.example> (peer; commit {commit}) " in message
    # ENG-002 changed after no approval at all: refused, naming no stale approval.
    result = sopgit(run, governed, "release", expect=1)
    assert "ENG-002 lacks approval as peer, manager. Approve" in result.stderr


def test_an_approval_commit_before_a_later_edit_is_reported_stale(governed, run, monkeypatch):
    edit(governed, ENG_001, "First.")
    commit_as(governed, BEN, "fix(ENG-001): first", "2026-03-01T09:00:00Z")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Lee Chen")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "lee@acme.example")
    sopgit(run, governed, "approve", "ENG-001", "--role", "manager")
    approval = git(governed, "rev-parse", "HEAD").strip()
    edit(governed, ENG_001, "Second.")
    commit_as(governed, BEN, "fix(ENG-001): second", "2026-03-04T09:00:00Z")

    data = json.loads(sopgit(run, governed, "review-round", "--format", "json").stdout)

    (sop,) = data["sops"]
    assert sop["missing"] == ["peer", "manager"]
    assert [
        (s["signer"], s["source"], s["approved_commit"], s["reason"]) for s in sop["stale"]
    ] == [
        (
            "Lee Chen <lee@acme.example>",
            "trailer",
            approval,
            f"approved an earlier version (commit {approval[:10]})",
        )
    ]
    assert sop["stale_policy"] == "void"


def test_old_tags_still_parse_and_new_trailers_read_back():
    old = parse_signoff("Approved-by", f"Lee Chen <lee@acme.example> (manager) {T}", default_time=0)
    assert old is not None
    assert (old.role, old.approved, old.stale) == ("manager", None, "")
    new = parse_signoff(
        "Approved-by",
        f"@lee-chen (manager; commit 0123456789; earlier version) {T}",
        default_time=0,
    )
    assert new is not None
    assert (new.signer.login, new.role, new.approved, new.time) == (
        "lee-chen",
        "manager",
        "0123456789",
        T,
    )
    assert new.stale == "approved an earlier version (commit 0123456789)"
    assert (
        new.trailer() == f"Approved-by: @lee-chen (manager; commit 0123456789; earlier version) {T}"
    )
    review = parse_signoff(
        "Reviewed-by", f"Sam Osei <sam@acme.example> (commit abcdef0123) {T}", default_time=0
    )
    assert review is not None
    assert (review.role, review.approved) == (None, "abcdef0123")
    tag = Tag("ENG-001/v1.1.0", "c", True, "Lee", "", 0, f"x\n\nBody.\n\n{new.trailer()}\n")
    assert row_from_tag("1.1.0", tag).approved_by == "@lee-chen (manager)"


def test_binding_on_plain_records():
    """bind() compares the SOP's blob at the approved commit with the released one."""
    a, b, gone = "a" * 40, "b" * 40, "c" * 40
    contents = Contents(
        released="blob2", at={a: "blob1", b: "blob2", gone: None}, absent=frozenset({gone})
    )
    signoffs = [
        approved(LEE_S, "manager", approved=a),
        approved(KIM_S, "peer", approved=b),
        approved(Signer(login="sam"), source="github", approved=gone),
        approved(Signer(login="max"), source="github", approved=None),
    ]
    current, stale = bind(signoffs, contents)
    assert [s.signer for s in current] == [KIM_S]
    assert [why for _, why in stale] == [
        f"approved an earlier version (commit {a[:10]})",
        f"approved commit {gone[:10]}, which this repository does not have "
        "(fetch it, or give sopgit a GitHub token)",
        "approved a commit GitHub no longer knows",
    ]
    kept, stale = bind(signoffs, contents, "keep")
    assert len(kept) == 4
    assert [bool(s.stale) for s in kept] == [True, False, True, True]
    outcome = judge(kept)
    assert outcome.missing == ()


@pytest.mark.parametrize(
    ("toml", "says"),
    [
        (
            '[approval]\nstale = "sometimes"\n',
            'sopgit.toml:2: key \'approval.stale\' must be one of "void", "keep"',
        ),
        (
            "[github]\nmax_requests = 0\n",
            "sopgit.toml:2: key 'github.max_requests' must be a whole number above 0",
        ),
        (
            "[github]\nmax_request = 10\n",
            "unknown key 'github.max_request'; did you mean 'max_requests'?",
        ),
    ],
)
def test_bad_stale_or_cap_settings_are_one_clear_line(governed, run, toml, says):
    (governed / "sopgit.toml").write_text(toml, encoding="utf-8")
    result = sopgit(run, governed, "status", expect=2)
    assert says in result.stderr
    assert result.stderr.count("\n") == 1


def test_init_writes_the_stale_and_cap_keys_commented(tmp_path, run):
    run("init", str(tmp_path / "new"))
    text = (tmp_path / "new" / "sopgit.toml").read_text(encoding="utf-8")
    assert '\n# stale = "void"' in text
    assert "\n# [github]\n# max_requests = 200" in text
    config = parse_config(
        tomllib.loads(
            text.replace("# stale", "stale").replace("# [github]\n# max", "[github]\nmax")
        )
    )
    assert (config.approval_stale, config.github_max_requests) == ("void", 200)


def test_binding_reads_git_in_a_fixed_number_of_processes(governed, run, monkeypatch, tmp_path):
    """One approved SOP or nine, each with its own approved commits: the same number of
    git processes (the blobs of every SOP at every approved commit in one cat-file)."""
    from test_release import git_processes

    found = (governed / "sops").rglob("*.md")
    paths = sorted(str(p.relative_to(governed)) for p in found if "compliance" not in p.parts)
    assert len(paths) >= 9
    counts = []
    for many in (False, True):
        root = tmp_path / ("many" if many else "one")
        shutil.copytree(governed, root)
        for n, path in enumerate(paths if many else paths[:1]):
            edit(root, path, f"Change {n}.")
            commit_as(root, BEN, f"fix: change {n}\n\n{APPROVALS}", f"2026-03-01T09:{n:02}:00Z")
        counts.append(
            [
                git_processes(run, root, monkeypatch, tmp_path / "t", "review-round"),
                git_processes(run, root, monkeypatch, tmp_path / "t", "release", "--dry-run"),
            ]
        )
    assert counts[0] == counts[1]
