"""init, init --example, new and draft, through the CLI on real git repositories."""

from __future__ import annotations

import dataclasses
import datetime as dt
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import commit_all, git, tree_state

from sopgit.core.settings import Config
from sopgit.repo.config import load_config
from sopgit.repo.document import parse_document

INIT_FILES = {
    "sopgit.toml",
    ".github/workflows/sopgit-check.yml",
    ".github/workflows/sopgit-release.yml",
    ".github/workflows/sopgit-site.yml",
    ".github/workflows/sopgit-review.yml",
    ".github/pull_request_template.md",
    ".github/CODEOWNERS",
    "sops/engineering/.gitkeep",
    "sops/compliance/.gitkeep",
    "sops/operations/.gitkeep",
}
EXAMPLE_SOPS = {
    "sops/compliance/CMP-001-incident-response.md",
    "sops/compliance/CMP-002-audit-procedures.md",
    "sops/compliance/CMP-003-risk-assessment.md",
    "sops/compliance/CMP-004-security-monitoring.md",
    "sops/compliance/CMP-005-training-requirements.md",
    "sops/engineering/ENG-001-deployment-process.md",
    "sops/engineering/ENG-002-code-review-standards.md",
    "sops/engineering/ENG-003-incident-management.md",
    "sops/engineering/ENG-004-testing-protocols.md",
    "sops/engineering/ENG-005-database-management.md",
    "sops/operations/OPS-001-customer-onboarding.md",
    "sops/operations/OPS-002-support-escalation.md",
    "sops/operations/OPS-003-vendor-management.md",
    "sops/operations/OPS-004-business-continuity.md",
}


def files_of(root: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def current_branch(root: Path) -> str:
    return git(root, "symbolic-ref", "--short", "HEAD").strip()


def assert_clean_error(result) -> None:
    """Exit 2 with exactly one line on stderr starting with 'sopgit:', no traceback."""
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sopgit:")
    assert "Traceback" not in result.stdout + result.stderr


def minimal_sop(sop_id: str, owner: str) -> str:
    """Enough of an SOP for the owner to be read (CODEOWNERS needs only the frontmatter)."""
    return f"---\ntitle: T\nsop_id: {sop_id}\nowner: {owner}\n---\n\n# T\n"


# --- init -------------------------------------------------------------------------


def test_init_empty_folder_creates_repo_on_main_with_exactly_the_library_files(tmp_path, run):
    root = tmp_path / "lib"
    root.mkdir()

    result = run("-C", str(root), "init")

    assert (root / ".git").is_dir()
    assert git(root, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert files_of(root) == INIT_FILES
    for path in INIT_FILES:
        assert f"created   {path}" in result.stdout
    for folder in ("engineering", "compliance", "operations"):
        assert (root / "sops" / folder / ".gitkeep").read_bytes() == b""
    assert git(root, "ls-files") == ""  # init stages and commits nothing


def test_init_config_parses_and_holds_the_defaults(tmp_path, run):
    root = tmp_path / "lib"
    run("init", str(root))

    data = tomllib.loads((root / "sopgit.toml").read_text(encoding="utf-8"))
    assert data["library"]["root"] == "sops"
    assert set(data["departments"]) == {"ENG", "CMP", "OPS"}
    config = load_config(root)
    defaults = Config()
    for field in dataclasses.fields(Config):
        if field.name in ("path", "approval_roles"):
            continue
        assert getattr(config, field.name) == getattr(defaults, field.name), field.name
    assert config.path == root / "sopgit.toml"
    # The file spells out the peer role that is implicit by default: anyone may sign.
    assert config.approval_roles in ({}, {"peer": ("*",)})
    assert config.approval_required == ()


def test_init_workflows_parse_and_run_check_and_release(tmp_path, run):
    root = tmp_path / "lib"
    run("init", str(root))

    def commands(name: str) -> list[str]:
        flow = yaml.safe_load((root / ".github/workflows" / name).read_text(encoding="utf-8"))
        return [
            step.get("run", "") or step.get("with", {}).get("args", "")
            for job in flow["jobs"].values()
            for step in job["steps"]
        ]

    check = yaml.safe_load((root / ".github/workflows/sopgit-check.yml").read_text())
    assert "pull_request" in check[True]  # YAML 1.1 reads the key `on` as True
    assert "check --format github" in commands("sopgit-check.yml")

    release = yaml.safe_load((root / ".github/workflows/sopgit-release.yml").read_text())
    assert release[True]["push"]["branches"] == ["main"]
    assert any("sopgit release --push" in cmd for cmd in commands("sopgit-release.yml"))


def test_init_pull_request_template_lists_the_review_steps(tmp_path, run):
    root = tmp_path / "lib"
    run("init", str(root))

    text = (root / ".github/pull_request_template.md").read_text(encoding="utf-8")
    for step in ("Peer Review", "Manager Review", "Compliance Review", "Final Approval"):
        assert step in text


def test_init_twice_reports_unchanged_and_writes_nothing(tmp_path, run):
    root = tmp_path / "lib"
    run("init", str(root))
    before = tree_state(root)

    result = run("init", str(root))

    assert "created" not in result.stdout
    for path in INIT_FILES:
        assert f"unchanged {path}" in result.stdout
    assert tree_state(root) == before


def test_init_leaves_a_file_the_user_edited_byte_identical(tmp_path, run):
    root = tmp_path / "lib"
    run("init", str(root))
    config = root / "sopgit.toml"
    edited = config.read_bytes().replace(b'name = "SOP Library"', b'name = "Our SOPs"')
    edited += b"# our own comment\r\n"
    config.write_bytes(edited)
    (root / "sops/engineering/.gitkeep").unlink()

    result = run("init", str(root))

    assert "skipped   sopgit.toml" in result.stdout
    assert config.read_bytes() == edited
    assert "created   sops/engineering/.gitkeep" in result.stdout  # a missing file comes back
    assert "unchanged .github/CODEOWNERS" in result.stdout


def test_init_dry_run_writes_nothing(tmp_path, run):
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = tmp_path / "missing"

    result = run("init", "--dry-run", str(empty))
    run("init", "--dry-run", str(missing))

    assert "would create   sopgit.toml" in result.stdout
    assert list(empty.iterdir()) == []
    assert not missing.exists()


def test_init_dry_run_in_a_library_changes_nothing(tmp_path, run):
    root = tmp_path / "lib"
    run("init", str(root))
    (root / "sopgit.toml").unlink()
    before = tree_state(root)

    result = run("init", "--dry-run", str(root))

    assert "would create   sopgit.toml" in result.stdout
    assert tree_state(root) == before


def test_init_adopts_an_existing_repo_without_touching_readme_or_committing(tmp_path, run):
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    readme = b"# Our procedures\n\nKept by hand.\n"
    (root / "README.md").write_bytes(readme)
    head = commit_all(root, "docs: readme")

    run("-C", str(root), "init")

    assert (root / "README.md").read_bytes() == readme
    assert git(root, "rev-parse", "HEAD").strip() == head
    assert git(root, "rev-list", "--count", "HEAD").strip() == "1"
    assert git(root, "ls-files") == "README.md\n"  # nothing staged either
    assert files_of(root) == INIT_FILES | {"README.md"}


def test_init_codeowners_routes_each_sop_to_the_handles_in_its_owner(tmp_path, run):
    root = tmp_path / "repo"
    sops = {
        "sops/engineering/ENG-001-deploy.md": minimal_sop(
            "ENG-001", "Engineering / Release Manager (@acme/release-managers)"
        ),
        "sops/engineering/ENG-002-review.md": minimal_sop("ENG-002", "'@lee'"),
        "sops/compliance/CMP-001-audit.md": minimal_sop("CMP-001", "Kim Park <kim@acme.example>"),
        "sops/operations/OPS-001-onboarding.md": minimal_sop("OPS-001", "Operations / Manager"),
        "sops/operations/OPS-002-escalation.md": minimal_sop(
            "OPS-002", "Support, run by @acme/support-leads. Ask kim@acme.example."
        ),
    }
    for path, text in sops.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")

    run("init", str(root))

    lines = (root / ".github/CODEOWNERS").read_text(encoding="utf-8").splitlines()
    rules = [line for line in lines if not line.startswith("#")]
    assert rules == [
        "/sops/compliance/CMP-001-audit.md kim@acme.example",
        "/sops/engineering/ENG-001-deploy.md @acme/release-managers",
        "/sops/engineering/ENG-002-review.md @lee",
        "/sops/operations/OPS-002-escalation.md @acme/support-leads kim@acme.example",
    ]
    # Folders that hold SOPs need no .gitkeep.
    assert not any(path.endswith(".gitkeep") for path in files_of(root))


def test_init_broken_config_is_a_clean_error(tmp_path, run):
    root = tmp_path / "lib"
    run("init", str(root))
    (root / "sopgit.toml").write_text('[library]\nnmae = "x"\n', encoding="utf-8")
    before = tree_state(root)

    result = run("init", str(root), expect=2)

    assert_clean_error(result)
    assert "sopgit.toml" in result.stderr
    assert "library.nmae" in result.stderr
    assert tree_state(root) == before


# --- init --example ---------------------------------------------------------------


def test_init_example_creates_the_14_sops_with_a_history_that_checks_clean(tmp_path, run):
    root = tmp_path / "demo"

    run("init", "--example", str(root))

    renamed = {
        p.replace("OPS-002-support-escalation", "OPS-002-support-escalation-tiers")
        for p in EXAMPLE_SOPS
    }
    assert {p for p in files_of(root) if p.endswith(".md") and p.startswith("sops/")} == renamed
    for path in renamed:
        sop_id = Path(path).name[:7]
        assert parse_document((root / path).read_text(encoding="utf-8")).meta["sop_id"] == sop_id
    assert current_branch(root) == "main"
    assert git(root, "status", "--porcelain") == ""
    # Three releases (14 initial versions, then 2, then 1), two merged pull requests,
    # and a draft still open on its own branch.
    assert len(git(root, "tag").split()) == 17
    merges = git(root, "log", "--merges", "--format=%s").splitlines()
    assert merges == [
        "Merge pull request #3 from acme/draft/CMP-001-incident-response",
        "Merge pull request #1 from acme/draft/ENG-001-deployment-process",
    ]
    assert "draft/ENG-003-incident-management" in git(root, "branch")
    result = run("-C", str(root), "check")
    assert "14 files checked: 0 errors" in result.stderr


def test_init_example_is_reproducible(tmp_path, run):
    run("init", "--example", str(tmp_path / "a"))
    run("init", "--example", str(tmp_path / "b"))
    assert git(tmp_path / "a", "rev-parse", "HEAD") == git(tmp_path / "b", "rev-parse", "HEAD")
    assert git(tmp_path / "a", "for-each-ref") == git(tmp_path / "b", "for-each-ref")


def test_init_example_codeowners_names_every_example_sop(example):
    text = (example / ".github/CODEOWNERS").read_text(encoding="utf-8")
    assert "/sops/engineering/ENG-001-deployment-process.md @acme/release-managers" in text
    assert len([line for line in text.splitlines() if line.startswith("/")]) == 14


def test_init_example_in_a_non_empty_folder_is_refused_and_changes_nothing(tmp_path, run):
    root = tmp_path / "busy"
    root.mkdir()
    (root / "notes.txt").write_text("mine\n")

    result = run("init", "--example", str(root), expect=2)

    assert_clean_error(result)
    assert files_of(root) == {"notes.txt"}
    assert (root / "notes.txt").read_text() == "mine\n"
    assert not (root / ".git").exists()


# --- new --------------------------------------------------------------------------


def test_new_allocates_the_next_id_on_a_draft_branch_and_prints_the_path(library, run):
    result = run(
        "-C",
        str(library),
        "new",
        "Release Rollback",
        "--dept",
        "eng",
        "--owner",
        "Engineering: Release Manager (@acme/release) #1",
        "--description",
        "How to roll back a release that's gone wrong",
        "--tag",
        "rollback",
        "--tag",
        "release, on-call",
    )

    path = "sops/engineering/ENG-006-release-rollback.md"
    assert result.stdout == f"{path}\n"
    assert "draft/ENG-006-release-rollback" in result.stderr
    assert current_branch(library) == "draft/ENG-006-release-rollback"
    assert git(library, "rev-parse", "draft/ENG-006-release-rollback") == git(
        library, "rev-parse", "main"
    )
    meta = parse_document((library / path).read_text(encoding="utf-8")).meta
    assert meta["sop_id"] == "ENG-006"
    assert meta["title"] == "Release Rollback"
    assert str(meta["version"]) == "0.0.0"
    assert meta["status"] == "draft"
    assert meta["owner"] == "Engineering: Release Manager (@acme/release) #1"
    assert meta["description"] == "How to roll back a release that's gone wrong"
    assert meta["tags"] == ["sop", "engineering", "rollback", "release", "on-call"]
    assert str(meta["lastUpdated"]) == dt.date.today().isoformat()
    assert git(library, "status", "--porcelain") == f"?? {path}\n"  # nothing committed
    run("-C", str(library), "check", path)


def test_new_with_defaults_passes_check(library, run):
    path = run("-C", str(library), "new", "Log Rotation", "--dept", "OPS").stdout.strip()

    assert path == "sops/operations/OPS-005-log-rotation.md"
    meta = parse_document((library / path).read_text(encoding="utf-8")).meta
    assert meta["owner"] == "Operations / Ana Ruiz"
    assert meta["tags"] == ["sop", "operations"]
    run("-C", str(library), "check", path)
    run("-C", str(library), "check")


def test_new_no_branch_stays_on_main(library, run):
    path = run("-C", str(library), "new", "Hotfix", "--dept", "ENG", "--no-branch").stdout.strip()

    assert current_branch(library) == "main"
    assert (library / path).is_file()
    assert "draft/" not in git(library, "branch", "--list")


def test_new_dry_run_writes_nothing_and_creates_no_branch(library, run):
    before = tree_state(library)

    result = run("-C", str(library), "new", "Hotfix", "--dept", "ENG", "--dry-run")

    assert result.stdout == "sops/engineering/ENG-006-hotfix.md\n"
    assert "would create branch draft/ENG-006-hotfix" in result.stderr
    assert tree_state(library) == before


def test_new_in_a_fresh_library_without_commits(tmp_path, run):
    root = tmp_path / "lib"
    run("init", str(root))

    path = run("-C", str(root), "new", "First Procedure", "--dept", "CMP").stdout.strip()

    assert path == "sops/compliance/CMP-001-first-procedure.md"
    assert current_branch(root) == "draft/CMP-001-first-procedure"
    run("-C", str(root), "check", path)


def test_new_counts_ids_on_other_branches_remotes_and_tags(tmp_path, library, run):
    sop = (library / "sops/engineering/ENG-001-deployment-process.md").read_text()

    def next_id() -> str:
        out = run("-C", str(library), "new", "Next", "--dept", "ENG", "--dry-run").stdout
        return Path(out.strip()).name[:7]

    # ENG-007 exists only on another local branch (whose name says nothing).
    git(library, "checkout", "-q", "-b", "feature")
    (library / "sops/engineering/ENG-007-local-only.md").write_text(sop)
    commit_all(library, "docs(ENG-007): local only")
    git(library, "checkout", "-q", "main")
    assert not (library / "sops/engineering/ENG-007-local-only.md").exists()
    assert next_id() == "ENG-008"

    # ENG-009 exists only on a remote-tracking branch.
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(library, "remote", "add", "origin", str(origin))
    git(library, "push", "-q", "origin", "main")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    git(clone, "checkout", "-q", "-b", "shared")
    (clone / "sops/engineering/ENG-009-remote-only.md").write_text(sop)
    commit_all(clone, "docs(ENG-009): remote only")
    git(clone, "push", "-q", "origin", "shared")
    git(library, "fetch", "-q", "origin")
    assert git(library, "branch", "--list", "shared") == ""
    assert next_id() == "ENG-010"

    # ENG-012 exists only as a tag.
    git(library, "tag", "ENG-012/v1.0.0")
    assert next_id() == "ENG-013"

    path = run("-C", str(library), "new", "Next", "--dept", "ENG").stdout.strip()
    assert path == "sops/engineering/ENG-013-next.md"


def test_new_a_draft_branch_name_alone_reserves_its_id(library, run):
    git(library, "branch", "draft/ENG-020-x")

    path = run("-C", str(library), "new", "Next", "--dept", "ENG").stdout.strip()

    assert path == "sops/engineering/ENG-021-next.md"


def test_new_title_with_runs_of_spaces_gives_matching_heading_and_frontmatter(library, run):
    path = run("-C", str(library), "new", "Alpha   Beta\u00a0 Gamma", "--dept", "ENG").stdout
    path = path.strip()

    assert path == "sops/engineering/ENG-006-alpha-beta-gamma.md"
    text = (library / path).read_text(encoding="utf-8")
    assert parse_document(text).meta["title"] == "Alpha Beta Gamma"
    assert "\n# Alpha Beta Gamma\n" in text
    result = run("-C", str(library), "check", path)
    assert "0 errors, 0 warnings" in result.stderr


def test_new_path_like_title_stays_inside_the_department_folder(tmp_path, library, run):
    before = files_of(library)

    path = run("-C", str(library), "new", "../../etc/passwd", "--dept", "ENG").stdout.strip()

    assert path == "sops/engineering/ENG-006-etc-passwd.md"
    assert files_of(library) == before | {path}
    assert current_branch(library) == "draft/ENG-006-etc-passwd"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lib"]
    meta = parse_document((library / path).read_text(encoding="utf-8")).meta
    assert meta["title"] == "../../etc/passwd"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["new", "line one\nline two", "--dept", "ENG"], "one line"),
        (["new", "line one\u2028line two", "--dept", "ENG"], "one line"),
        (["new", "bell\x07", "--dept", "ENG"], "control characters"),
        (["new", "", "--dept", "ENG"], "empty"),
        (["new", "   ", "--dept", "ENG"], "empty"),
        (["new", "x" * 121, "--dept", "ENG"], "longer"),
        (["new", "Hotfix", "--dept", "XYZ"], "unknown department 'XYZ'"),
        (["new", "Hotfix", "--dept", "../ENG"], "unknown department"),
        (["draft", "ENG-099"], "ENG-099"),
    ],
    ids=[
        "newline",
        "line-separator",
        "control",
        "empty",
        "blank",
        "too-long",
        "unknown-dept",
        "path-dept",
        "draft-unknown",
    ],
)
def test_bad_input_is_one_clean_error_and_writes_nothing(library, run, args, words):
    before = tree_state(library)

    result = run("-C", str(library), *args, expect=2)

    assert_clean_error(result)
    assert words in result.stderr
    assert tree_state(library) == before


def test_new_outside_a_git_repo_is_a_clean_error(tmp_path, run):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "sopgit.toml").write_text("")

    result = run("-C", str(plain), "new", "Hotfix", "--dept", "ENG", expect=2)

    assert_clean_error(result)
    assert "git repository" in result.stderr
    assert files_of(plain) == {"sopgit.toml"}
    assert not (plain / ".git").exists()


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ('[library]\nnmae = "x"\n', ["sopgit.toml:2:", "library.nmae", "name"]),
        ('[review]\ninterval_days = "x"\n', ["sopgit.toml:2:", "review.interval_days", "number"]),
        ("[review\ninterval_days = 3\n", ["sopgit.toml:1:", "TOML"]),
        ("[hooks]\ncommit_msg = 1\n", ["sopgit.toml:2:", "hooks.commit_msg", "warn"]),
        ('[departments.ENG]\nfolder = "../../etc"\n', ["departments.ENG.folder"]),
    ],
    ids=["unknown-key", "wrong-type", "syntax", "bad-choice", "folder-escape"],
)
def test_new_with_a_broken_config_names_file_and_key(library, run, config, words):
    (library / "sopgit.toml").write_text(config, encoding="utf-8")
    before = tree_state(library)

    result = run("-C", str(library), "new", "Hotfix", "--dept", "ENG", expect=2)

    assert_clean_error(result)
    for word in words:
        assert word in result.stderr
    assert tree_state(library) == before


def test_new_uses_the_library_template_over_the_packaged_one(library, run):
    packaged = (Path(__file__).parents[1] / "templates/sop.md.j2").read_text(encoding="utf-8")
    custom = packaged.replace(
        "## Purpose\n", "## Purpose\n\nACME HOUSE STYLE: {{ department.description }}\n"
    )
    assert custom != packaged
    (library / "templates").mkdir()
    (library / "templates/sop.md.j2").write_text(custom, encoding="utf-8")

    path = run("-C", str(library), "new", "Hotfix", "--dept", "ENG").stdout.strip()

    text = (library / path).read_text(encoding="utf-8")
    assert "ACME HOUSE STYLE: Software development, deployment, and maintenance" in text
    run("-C", str(library), "check", path)


def test_new_with_a_library_template_that_renders_broken_yaml_writes_nothing(library, run):
    (library / "templates").mkdir()
    (library / "templates/sop.md.j2").write_text(
        "---\ntitle: [{{ title }}\n---\n\n# {{ title }}\n", encoding="utf-8"
    )
    before = tree_state(library)

    result = run("-C", str(library), "new", "Hotfix", "--dept", "ENG", expect=2)

    assert_clean_error(result)
    assert tree_state(library) == before


# --- draft ------------------------------------------------------------------------


def test_draft_creates_and_checks_out_the_revision_branch(library, run):
    result = run("-C", str(library), "draft", "ENG-001")

    assert result.stdout == "draft/ENG-001-deployment-process\n"
    assert current_branch(library) == "draft/ENG-001-deployment-process"
    assert git(library, "status", "--porcelain") == ""


def test_draft_twice_is_refused(library, run):
    run("-C", str(library), "draft", "eng-001")
    before = tree_state(library)

    result = run("-C", str(library), "draft", "ENG-001", expect=2)

    assert_clean_error(result)
    assert "already exists" in result.stderr
    assert tree_state(library) == before


def test_draft_dry_run_creates_no_branch(library, run):
    before = tree_state(library)

    result = run("-C", str(library), "draft", "OPS-002", "--dry-run")

    assert result.stdout == "draft/OPS-002-support-escalation\n"
    assert tree_state(library) == before
