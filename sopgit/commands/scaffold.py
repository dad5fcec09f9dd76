"""Create things: a library (`init`), the example library, a new SOP, a draft branch."""

from __future__ import annotations

import datetime as dt
import shutil
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sopgit.commands.example import write_history
from sopgit.core.settings import Config, Department
from sopgit.errors import RepoError, UsageError
from sopgit.github.actions import PINNED, ActionRef, resolve_action
from sopgit.repo.config import CONFIG_FILE, load_config
from sopgit.repo.document import parse_document
from sopgit.repo.git import GitRepo
from sopgit.repo.library import (
    department,
    next_id,
    slugify,
    sop_files,
    sop_path,
)
from sopgit.repo.templates import render
from sopgit.repo.textio import encode, read_text, safe_target, write_checked
from sopgit.repo.workspace import Library
from sopgit.resources import resource_dir

EXAMPLE_NAME = "Acme SOP Library"
# A team slug never ends in "." (so "@acme/sre." at the end of a sentence is @acme/sre).
TITLE_MAX = 120


@dataclass
class WriteReport:
    """What a scaffolding command did to each file, by relative path."""

    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # exists with the user's own content
    placeholders: list[str] = field(default_factory=list)  # left in the workflows to fill in


def init_files(
    config: Config, sops: dict[str, str], action: ActionRef | None = None
) -> dict[str, str]:
    """Relative path -> content of every file `init` writes for CONFIG.

    The workflows use the sopgit action ACTION (default: a placeholder owner and this
    build's commit, see sopgit.github.actions).
    """
    action = action or resolve_action(None, None)
    departments = list(config.departments.values())
    context: dict[str, Any] = {
        "name": config.name,
        "root": config.root,
        "release_branch": config.release_branch,
        "remote": config.remote,
        "departments": departments,
        "tag_format": config.tag_format,
        "initial_version": config.initial_version,
        "interval_days": config.review_interval_days,
        "action": action.uses,
        **PINNED,
    }
    files = {
        CONFIG_FILE: render("init/sopgit.toml.j2", context),
        ".github/workflows/sopgit-check.yml": render("init/workflows/sopgit-check.yml.j2", context),
        ".github/workflows/sopgit-release.yml": render(
            "init/workflows/sopgit-release.yml.j2", context
        ),
        ".github/workflows/sopgit-site.yml": render("init/workflows/sopgit-site.yml.j2", context),
        ".github/workflows/sopgit-review.yml": render(
            "init/workflows/sopgit-review.yml.j2", context
        ),
        ".github/pull_request_template.md": render("init/pull_request_template.md", {}),
        ".github/CODEOWNERS": codeowners(sops, config),
    }
    for dept in departments:  # git keeps no empty folder; a .gitkeep holds an empty one
        folder = f"{config.root}/{dept.folder}/"
        if not any(path.startswith(folder) for path in sops):
            files[f"{folder}.gitkeep"] = ""
    return files


def codeowners(sops: dict[str, str], config: Config | None = None) -> str:
    """CODEOWNERS routing each SOP's review to its owner and its approval roles."""
    from sopgit.github.codeowners import render_codeowners

    return render_codeowners(sops, config)


def init_library(
    target: Path, *, example: bool = False, dry_run: bool = False, action: str | None = None
) -> WriteReport:
    """Create or adopt a library at TARGET; never overwrite a file the user changed.

    ACTION (`OWNER/REPO@SHA`) is the sopgit action the workflows pin; by default the
    owner of TARGET's GitHub remote, else a placeholder (see WriteReport.placeholders).
    """
    if example:
        return _init_example(target, dry_run, action)
    if target.exists() and not target.is_dir():
        raise UsageError("exists and is not a folder; give a folder for the library", target)
    config = load_config(target) if target.is_dir() else Config()
    if not (target / CONFIG_FILE).exists() and (target / ".git").exists():
        branch = default_branch(target)  # master, trunk: releases happen there
        if branch:
            config = replace(config, release_branch=branch)
    sops = {}
    if target.is_dir():
        sops = {f.path: read_text(target / f.path) for f in sop_files(target, config)}
    ref = resolve_action(action, _remote_url(target, config))
    files = init_files(config, sops, ref)
    report = _plan_writes(target, files)
    report.placeholders = ref.placeholders
    if dry_run:
        return report
    _ensure_repo(target, config)
    _write(target, files, report.created)
    return report


def _remote_url(target: Path, config: Config) -> str | None:
    if not (target / ".git").exists():
        return None
    return GitRepo.open(target).remote_url(config.remote)


def default_branch(root: Path) -> str | None:
    """The repository's default branch: the remote's HEAD (origin/master), else the
    branch checked out; None outside a repository or on a detached HEAD."""
    try:
        repo = GitRepo.open(root)
    except RepoError:
        return None
    try:
        remote_head = repo.run("symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD")
    except RepoError:
        remote_head = ""
    if remote_head.strip().startswith("origin/"):
        return remote_head.strip().removeprefix("origin/")
    return repo.current_branch()


def _ensure_repo(target: Path, config: Config) -> GitRepo:
    target.mkdir(parents=True, exist_ok=True)
    if (target / ".git").exists():
        return GitRepo.open(target)
    return GitRepo.init(target, config.release_branch)


def _plan_writes(target: Path, files: dict[str, str]) -> WriteReport:
    report = WriteReport()
    for relative, content in files.items():
        path = target / relative
        if not path.exists():
            report.created.append(relative)
        elif path.is_file() and not path.is_symlink() and read_text(path) == content:
            report.unchanged.append(relative)
        else:
            report.skipped.append(relative)
    return report


def _write(target: Path, files: dict[str, str], which: list[str]) -> None:
    for relative in which:
        write_checked(target, target / relative, files[relative])


# --- the example library ----------------------------------------------------------


def example_sops() -> dict[str, str]:
    """Relative path -> text of the packaged example SOPs."""
    base = resource_dir("templates") / "example"
    return {
        path.relative_to(base).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted((base / "sops").rglob("*.md"))
    }


def _init_example(target: Path, dry_run: bool, action: str | None = None) -> WriteReport:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(
            "already exists and is not empty; give a new folder for the example", target
        )
    config = Config(name=EXAMPLE_NAME)
    sops = example_sops()
    ref = resolve_action(action, None)
    files = {**init_files(config, sops, ref), **sops}
    report = WriteReport(created=sorted(files), placeholders=ref.placeholders)
    if dry_run:
        return report
    try:
        repo = _ensure_repo(target, config)
        _write(target, files, report.created)
        write_history(Library(repo.root, config, repo))
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)  # it was empty: leave nothing half-made
        raise
    return report


# --- new SOPs and drafts ----------------------------------------------------------


@dataclass(frozen=True)
class NewSop:
    sop_id: str
    path: str
    branch: str | None


def check_title(title: str) -> str:
    title = unicodedata.normalize("NFC", title).strip()
    if not title:
        raise UsageError('the title is empty; give the SOP a title, e.g. "Deployment Process"')
    # Zl/Zp: U+2028/U+2029 break lines too (str.splitlines, and so the SOP parser).
    if any(
        unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp") for c in title
    ):
        raise UsageError("the title must be one line of text without control characters")
    # The frontmatter holds the title with single spaces; the heading must say the same.
    title = " ".join(title.split())
    if len(title) > TITLE_MAX:
        raise UsageError(f"the title is longer than {TITLE_MAX} characters; shorten it")
    return title


def draft_branch(sop_id: str, slug: str) -> str:
    return f"draft/{sop_id}-{slug}"


def new_sop(
    lib: Library,
    title: str,
    dept_code: str,
    *,
    owner: str | None = None,
    description: str | None = None,
    tags: list[str] | None = None,
    branch: bool = True,
    today: dt.date | None = None,
    dry_run: bool = False,
) -> NewSop:
    """Allocate the next id in DEPT, render the template, create the draft branch."""
    title = check_title(title)
    dept = department(lib.config, dept_code.upper())
    config, repo = lib.config, lib.repo
    names = [f.path for f in sop_files(lib.root, config)]
    names += repo.paths_on_all_branches(config.root) if repo.has_commits() else []
    names += repo.tag_names() + repo.branch_names()
    sop_id = next_id(dept.code, names)
    relative = sop_path(config, dept, sop_id, title)
    target = safe_target(lib.root, lib.root / relative)  # no link on the way, no .git
    if not target.is_relative_to((lib.root / config.root / dept.folder).resolve()):
        raise UsageError(
            f"'{relative}' would lie outside the department folder"
        )  # defence in depth
    identity = repo.identity()
    context = {
        "title": title,
        "sop_id": sop_id,
        "description": _one_line(description, "--description")
        or f"What the {title} procedure covers, in one line",
        "date": (today or dt.date.today()).isoformat(),
        "owner": _one_line(owner, "--owner")
        or f"{dept.name} / {identity.name if identity else 'Owner'}",
        "tags": _tags(tags, dept),
        "department": dept,
    }
    text = render("sop.md.j2", context, lib.root)
    parse_document(text, relative)  # a library template that renders broken YAML stops here
    branch_name = draft_branch(sop_id, slugify(title)) if branch else None
    if dry_run:
        return NewSop(sop_id, relative, branch_name)
    previous = repo.current_branch()
    if branch_name is not None:
        if repo.branch_exists(branch_name):
            raise UsageError(f"branch '{branch_name}' already exists; check it out instead")
        repo.create_branch(branch_name)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        safe_target(lib.root, target)  # a folder that appeared meanwhile as a link
        with target.open("xb") as handle:
            handle.write(encode(text))
    except (OSError, UsageError) as err:
        if branch_name is not None and previous is not None:  # leave no branch behind
            repo.switch_back(previous, branch_name)
        if isinstance(err, UsageError):
            raise
        raise UsageError(f"cannot write the SOP file ({err.strerror})", relative) from None
    return NewSop(sop_id, relative, branch_name)


def _one_line(value: str | None, option: str) -> str:
    if value and any(unicodedata.category(c) == "Cc" and c not in "\t\n" for c in value):
        raise UsageError(f"{option} must be plain text without control characters")
    return " ".join(value.split()) if value else ""


def _tags(tags: list[str] | None, dept: Department) -> list[str]:
    chosen = ["sop", dept.folder.rsplit("/", 1)[-1].lower()]
    for tag in tags or []:
        for part in _one_line(tag, "--tag").split(","):
            word = part.strip()
            if word and word not in chosen:
                chosen.append(word)
    return chosen


def start_draft(lib: Library, sop_id: str, dry_run: bool = False) -> str:
    """Create and check out the revision draft branch of an existing SOP."""
    sop_id = sop_id.upper()
    match = next((f for f in sop_files(lib.root, lib.config) if f.id_from_name == sop_id), None)
    if match is None:
        raise UsageError(
            f"no SOP file with id {sop_id} under '{lib.config.root}/'; see 'sopgit status'"
        )
    name = Path(match.path).stem
    slug = name[len(sop_id) + 1 :] if name.startswith(f"{sop_id}-") else slugify(name)
    branch = draft_branch(sop_id, slug or "revision")
    if lib.repo.branch_exists(branch):
        raise UsageError(
            f"branch '{branch}' already exists; check it out with 'git switch {branch}'"
        )
    if not dry_run:
        lib.repo.create_branch(branch)
    return branch
