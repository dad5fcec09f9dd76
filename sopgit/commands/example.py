"""The example library's history: drafts, reviewed pull requests, releases.

A fixed story with fixed people and dates, so every `sopgit init --example` gives the
same commits and tags and status, history and release have something real to show.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sopgit.commands.release_plan import apply_release, plan_release
from sopgit.repo.git import GitRepo, Identity
from sopgit.repo.snapshot import load_snapshot
from sopgit.repo.workspace import Library

ANA = Identity("Ana Ruiz", "ana.ruiz@acme.example")  # process owner, engineering
BEN = Identity("Ben Ode", "ben.ode@acme.example")  # release manager
KIM = Identity("Kim Park", "kim.park@acme.example")  # compliance officer
LEE = Identity("Lee Chen", "lee.chen@acme.example")  # quality lead, publishes releases
SAM = Identity("Sam Osei", "sam.osei@acme.example")  # support lead

ENG_001 = "sops/engineering/ENG-001-deployment-process.md"
ENG_003 = "sops/engineering/ENG-003-incident-management.md"
CMP_001 = "sops/compliance/CMP-001-incident-response.md"
CMP_002 = "sops/compliance/CMP-002-audit-procedures.md"
OPS_002 = "sops/operations/OPS-002-support-escalation.md"
OPS_002_RENAMED = "sops/operations/OPS-002-support-escalation-tiers.md"


@dataclass(frozen=True)
class Edit:
    path: str
    after: str  # insert NEW after this exact line...
    new: str  # ...or, when REPLACE, put NEW in its place
    replace: bool = False


def _edit(root: Path, edit: Edit) -> None:
    file = root / edit.path
    text = file.read_text(encoding="utf-8")
    assert edit.after in text, f"example story out of date: {edit.after!r} not in {edit.path}"
    replacement = edit.new if edit.replace else f"{edit.after}\n{edit.new}"
    file.write_text(text.replace(edit.after, replacement, 1), encoding="utf-8")


def _commit(repo: GitRepo, who: Identity, date: str, message: str, *edits: Edit) -> None:
    repo.acting_as(who, f"{date}T10:00:00+00:00")
    for edit in edits:
        _edit(repo.root, edit)
    repo.commit_paths(sorted({e.path for e in edits}) or ["."], message, verify=False)


def _merge(repo: GitRepo, branch: str, number: int, date: str, approver: Identity) -> None:
    repo.acting_as(LEE, f"{date}T15:00:00+00:00")
    repo.run("checkout", "--quiet", "main")
    message = (
        f"Merge pull request #{number} from acme/{branch}\n\n"
        f"Approved-by: {approver.name} <{approver.email}>\n"
    )
    repo.run("merge", "--quiet", "--no-ff", "-m", message, branch)
    repo.run("branch", "--quiet", "-d", branch)


def _release(lib: Library, date: str) -> None:
    lib.repo.acting_as(LEE, f"{date}T16:00:00+00:00")
    snapshot = load_snapshot(lib)
    plan = plan_release(snapshot, [], date=dt.date.fromisoformat(date))
    apply_release(snapshot, plan)


def write_history(lib: Library) -> None:
    """Play the story on a library holding the freshly written example files."""
    repo = lib.repo
    _commit(repo, ANA, "2025-09-01", "chore: start the Acme SOP library")
    _release(lib, "2025-09-15")

    # A substantive addition, reviewed and merged through pull request #1.
    repo.acting_as(BEN, "2026-05-02T10:00:00+00:00")
    repo.create_branch("draft/ENG-001-deployment-process")
    _commit(
        repo,
        BEN,
        "2026-05-02",
        "feat(ENG-001): decide on rollback within 10 minutes of a failed smoke check",
        Edit(
            ENG_001,
            "- Update the change ticket with the completion time and verification results.",
            "- If any smoke check fails, the Release Manager decides within 10 minutes whether "
            "to roll back under step 7; fixing forward needs the Engineering Manager's consent.",
        ),
    )
    _merge(repo, "draft/ENG-001-deployment-process", 1, "2026-05-05", ANA)

    # An editorial fix, squash-merged as pull request #2.
    _commit(
        repo,
        KIM,
        "2026-05-06",
        "docs(CMP-002): say which date range evidence labels give (#2)",
        Edit(
            CMP_002,
            "- Label each item with the control reference, date range and owner.",
            "- Label each item with the control reference, the audit-period dates it covers "
            "and its owner.",
            replace=True,
        ),
    )
    _release(lib, "2026-05-07")

    # A changed procedure: staff must be retrained (major).
    repo.create_branch("draft/CMP-001-incident-response")
    _commit(
        repo,
        KIM,
        "2026-06-10",
        "feat(CMP-001)!: route every regulator notification through Legal Counsel\n\n"
        "BREAKING CHANGE: staff who notified regulators directly must be retrained.",
        Edit(
            CMP_001,
            "- Record the decision and reasoning, including decisions not to notify.",
            "- Every notification to a regulator is filed by Legal Counsel on the DPO's "
            "instruction; no other role contacts a regulator directly.",
        ),
    )
    _merge(repo, "draft/CMP-001-incident-response", 3, "2026-06-12", LEE)
    _release(lib, "2026-06-13")

    # Not released yet: a renamed file with a fix (pending patch)...
    repo.acting_as(SAM, "2026-07-01T10:00:00+00:00")
    repo.run("mv", "--", OPS_002, OPS_002_RENAMED)
    old_name, new_name = Path(OPS_002).name, Path(OPS_002_RENAMED).name
    followers = [*sorted((repo.root / "sops").rglob("*.md")), repo.root / ".github/CODEOWNERS"]
    for file in followers:  # links and review routing follow the rename
        text = file.read_text(encoding="utf-8")
        if old_name in text:
            file.write_text(text.replace(old_name, new_name), encoding="utf-8")
    repo.commit_paths(
        ["sops", ".github"], "refactor(OPS-002): name the file after the tier model", verify=False
    )
    _commit(
        repo,
        SAM,
        "2026-07-02",
        "fix(OPS-002): page engineering within 15 minutes, not immediately",
        Edit(
            OPS_002_RENAMED,
            "page the engineering on-call immediately",
            "page the engineering on-call within 15 minutes",
            replace=True,
        ),
    )
    # ...and a draft still under review on its own branch (pull request #4).
    repo.create_branch("draft/ENG-003-incident-management")
    _commit(
        repo,
        ANA,
        "2026-07-08",
        "feat(ENG-003): post SEV3 updates every four hours",
        Edit(
            ENG_003,
            "- Post internal updates every 30 minutes for SEV1 and every 60 minutes for SEV2, "
            "even if nothing has changed.",
            "- Post internal updates every four hours for SEV3 until it is resolved.",
        ),
    )
    repo.run("checkout", "--quiet", "main")
    repo.env = {}
