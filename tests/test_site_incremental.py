"""`sopgit build` into a folder it built before writes only what changed, and the
result is, byte for byte, what a build without any cache writes into a fresh folder.

Each test changes the example library (edits, renames, deletes, releases, config and
template changes, links between SOPs, another day), builds into the same folder with
what the last build kept, builds again with `--no-cache` into a new folder, and
compares the two trees: every file, its bytes, and every folder.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from conftest import commit_all, git

from sopgit.publish import site as site_module
from sopgit.publish import site_state
from sopgit.repo.git import GitRepo
from sopgit.repo.snapshot import Snapshot, load_snapshot
from sopgit.repo.workspace import open_library

ENG_001 = "sops/engineering/ENG-001-deployment-process.md"
ENG_002 = "sops/engineering/ENG-002-code-review-standards.md"
TODAY = "2026-07-10"


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) under FOLDER."""
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


def differences(left: dict[str, bytes | None], right: dict[str, bytes | None]) -> list[str]:
    return sorted(
        name for name in set(left) | set(right) if left.get(name, 1) != right.get(name, 1)
    )


class Site:
    """Builds of one library: warm ones into _site, cold ones into fresh folders."""

    def __init__(self, root: Path, run, tmp_path: Path) -> None:
        self.root, self.run, self.tmp_path, self.cold_builds = root, run, tmp_path, 0
        self.output = root / "_site"

    def warm(self) -> dict[str, bytes | None]:
        self.run("-C", str(self.root), "build")
        return tree(self.output)

    def cold(self) -> dict[str, bytes | None]:
        self.cold_builds += 1
        fresh = self.tmp_path / f"cold-{self.cold_builds}"
        self.run("-C", str(self.root), "--no-cache", "build", "--output", str(fresh))
        return tree(fresh)

    def check(self) -> dict[str, bytes | None]:
        """A warm build, compared with a cold one; what the warm one wrote."""
        before = {p: os.lstat(self.output / p).st_mtime_ns for p in tree(self.output)}
        warm = self.warm()
        assert differences(warm, self.cold()) == []
        return {
            p: data
            for p, data in warm.items()
            if data is not None and before.get(p) != os.lstat(self.output / p).st_mtime_ns
        }


@pytest.fixture
def site(example: Path, run, tmp_path: Path, monkeypatch) -> Site:
    monkeypatch.setenv("SOPGIT_TODAY", TODAY)
    (example / ".gitignore").write_text("_site/\n", encoding="utf-8")
    commit_all(example, "chore: the site is built, not kept")
    built = Site(example, run, tmp_path)
    first = built.warm()  # nothing kept yet: every file, as a cold build writes them
    assert differences(first, built.cold()) == []
    return built


def edit(root: Path, path: str, line: str, message: str) -> None:
    file = root / path
    file.write_text(file.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    commit_all(root, message)


def test_nothing_changed_writes_nothing(site):
    assert site.check() == {}


def test_an_edit_rewrites_that_sops_pages_and_the_pages_that_list_it(site):
    edit(site.root, ENG_001, "A step nobody released.", "fix(ENG-001): one more step")

    written = site.check()

    assert "sops/ENG-001/draft.html" in written
    assert "index.html" in written  # names the commit
    # no other SOP's pages, and no released version's text changed
    assert not [p for p in written if p.startswith("sops/") and "ENG-001" not in p]
    assert "search-data.js" not in written  # only effective text is searched
    assert not [p for p in written if p.startswith("assets/")]


def test_uncommitted_edits_renames_and_deletes(site):
    file = site.root / ENG_002
    file.write_text(file.read_text(encoding="utf-8") + "\nNot committed yet.\n", "utf-8")
    site.check()

    git(site.root, "checkout", "--", ENG_002)
    renamed = "sops/engineering/ENG-001-deploying.md"
    git(site.root, "mv", ENG_001, renamed)
    commit_all(site.root, "docs(ENG-001): a shorter file name")
    site.check()

    git(site.root, "rm", "-q", ENG_002)
    commit_all(site.root, "chore(ENG-002): withdrawn")
    site.check()
    assert not (site.output / "sops/ENG-002.html").exists()
    assert not (site.output / "sops/ENG-002").exists()  # its folder goes with its pages


def test_releases_and_a_new_sop(site):
    edit(site.root, ENG_001, "A released step.", "feat(ENG-001): a released step")
    site.check()
    site.run(
        "-C",
        str(site.root),
        "release",
        "ENG-001",
        "--date",
        "2026-07-01",
        "--allow-unapproved",
        "--reason",
        "test library",
    )
    written = site.check()
    assert "search-data.js" in written  # the effective text changed
    assert any(p.startswith("changelog/") for p in written)

    site.run("-C", str(site.root), "new", "Night Shift Handover", "--dept", "OPS", "--no-branch")
    commit_all(site.root, "docs(OPS-005): the handover checklist")
    site.check()
    assert (site.output / "sops/OPS-005.html").is_file()


def test_config_templates_and_static_files(site):
    config = site.root / "sopgit.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("Acme SOP Library", "Acme Procedures"),
        encoding="utf-8",
    )
    commit_all(site.root, "chore: rename the library")
    written = site.check()
    assert len([p for p in written if p.endswith(".html")]) > 30  # every page names it

    folder = site.root / "templates/site"
    (folder / "static").mkdir(parents=True)
    (folder / "static/site.css").write_text("body { color: teal; }\n", encoding="utf-8")
    base = (site_module.resource_dir("templates") / "site/base.html.j2").read_text("utf-8")
    (folder / "base.html.j2").write_text(base.replace("<main", "<main data-own"), "utf-8")
    site.check()
    assert b"data-own" in (site.output / "sops/ENG-001.html").read_bytes()

    shutil.rmtree(folder)
    site.check()


def test_a_link_follows_the_sop_it_points_at(site):
    """A body that links to another SOP's file links to its page; renaming or deleting
    that file changes the linking SOP's pages although its own text did not change."""
    file = site.root / ENG_001
    text = file.read_text(encoding="utf-8")
    link = "See [the review rules](ENG-002-code-review-standards.md) and ![flow](flow.png).\n\n"
    file.write_text(text.replace("## Purpose\n", f"## Purpose\n\n{link}", 1), "utf-8")
    commit_all(site.root, "docs(ENG-001): link the review rules")
    site.check()
    draft = (site.output / "sops/ENG-001/draft.html").read_text(encoding="utf-8")
    assert 'href="../../sops/ENG-002.html"' in draft

    (site.root / "sops/engineering/flow.png").write_bytes(b"\x89PNG picture")
    commit_all(site.root, "docs: the flow chart")
    written = site.check()
    assert "sops/ENG-001/draft.html" in written
    assert (site.output / "files/sops/engineering/flow.png").read_bytes() == b"\x89PNG picture"

    git(site.root, "rm", "-q", ENG_002)
    commit_all(site.root, "chore(ENG-002): withdrawn")
    written = site.check()
    assert "sops/ENG-001/draft.html" in written
    draft = (site.output / "sops/ENG-001/draft.html").read_text(encoding="utf-8")
    assert 'href="ENG-002-code-review-standards.md"' in draft


def test_another_day_and_another_branch(site, monkeypatch):
    monkeypatch.setenv("SOPGIT_TODAY", "2026-12-01")  # reviews fall due
    written = site.check()
    assert "index.html" in written  # the cards count the reviews due
    git(site.root, "checkout", "-q", "-b", "draft/ENG-001-more")
    edit(site.root, ENG_001, "On a branch.", "fix(ENG-001): on a branch")
    site.check()


def test_pages_it_wrote_go_and_a_strangers_files_stay(site):
    mine = site.output / "notes/mine.txt"
    mine.parent.mkdir()
    mine.write_text("keep me", encoding="utf-8")
    own = site.output / "sops/OLD-001.html"
    own.write_text("a page of my own", encoding="utf-8")
    assert (site.output / "sops/ENG-005/1.0.0.html").is_file()

    git(
        site.root,
        "rm",
        "-q",
        next(p.as_posix() for p in (site.root / "sops").rglob("ENG-005-*.md")),
    )
    commit_all(site.root, "chore(ENG-005): withdrawn")
    site.run("-C", str(site.root), "build")

    assert not (site.output / "sops/ENG-005.html").exists()
    assert not (site.output / "sops/ENG-005").exists()
    assert mine.read_text(encoding="utf-8") == "keep me"
    assert own.read_text(encoding="utf-8") == "a page of my own"


def test_a_page_deleted_or_edited_in_the_output_is_written_again(site):
    page = site.output / "sops/ENG-003.html"
    good = page.read_bytes()
    page.unlink()
    assert "sops/ENG-003.html" in site.check()
    page.write_bytes(good.replace(b"<main", b"<main data-edited"))
    site.check()
    assert page.read_bytes() == good


def test_a_deleted_output_or_cache_is_built_whole(site):
    shutil.rmtree(site.output)
    site.check()
    shutil.rmtree(site.root / ".git/sopgit")
    site.check()
    record = next((site.root / ".git/sopgit/site-v1").glob("out-*.bin"))
    record.write_bytes(record.read_bytes()[:-10])  # truncated: not trusted
    edit(site.root, ENG_001, "After a damaged record.", "fix(ENG-001): one more")
    site.check()
    # the search documents kept apart are gone: the SOPs are read again for them
    next((site.root / ".git/sopgit/site-v1").glob("out-*.search")).unlink()
    site.run(
        "-C",
        str(site.root),
        "release",
        "ENG-001",
        "--date",
        "2026-07-01",
        "--allow-unapproved",
        "--reason",
        "test library",
    )
    assert "search-data.js" in site.check()
    derived = site.root / ".git/sopgit/site-v1/derived"
    for entry in list(derived.iterdir())[::2]:  # half the rendered bodies and redlines
        entry.write_bytes(b"damaged")
    edit(site.root, ENG_002, "Another step.", "fix(ENG-002): another step")
    site.check()


def test_a_build_killed_while_writing_leaves_nothing_claimed_that_is_not_there(site, monkeypatch):
    """The record is written last: a build that dies after writing some pages leaves the
    last build's record, which the next build checks against the files on disk."""
    edit(site.root, ENG_001, "A step.", "feat(ENG-001): a step")
    site.run(
        "-C",
        str(site.root),
        "release",
        "--date",
        "2026-07-01",
        "--allow-unapproved",
        "--reason",
        "test library",
    )
    git(site.root, "rm", "-q", ENG_002)
    commit_all(site.root, "chore(ENG-002): withdrawn")
    before = tree(site.output)
    real = site_state.write_atomic
    written: list[Path] = []

    def killed_on_the_fifth(path: Path, data: bytes) -> None:
        if len(written) == 4:  # killed between writing the temporary file and the rename
            site_state.temporary_name(path).write_bytes(data[:100])
            raise KeyboardInterrupt
        real(path, data)
        written.append(path)

    monkeypatch.setattr(site_module, "write_atomic", killed_on_the_fifth)
    with pytest.raises(KeyboardInterrupt):
        site_module.build_site(snapshot_of(site.root), site.output, dt.date.fromisoformat(TODAY))
    monkeypatch.undo()
    monkeypatch.setenv("SOPGIT_TODAY", TODAY)
    assert len(written) == 4
    assert list(site.output.rglob("*.sopgit-new"))

    kept = site_state.Store(GitRepo.open(site.root), site.output).load()
    assert kept is not None
    for path, (_digest, size, mtime) in kept.files.items():
        if site_state.stat_of(site.output / path) == (size, mtime):  # trusted as recorded:
            assert (site.output / path).read_bytes() == before[path]  # the earlier build's
    for path in written:
        assert path.relative_to(site.output).as_posix() in kept.owned | set(kept.files)
    site.check()
    assert not list(site.output.rglob("*.sopgit-new"))


def snapshot_of(root: Path) -> Snapshot:
    return load_snapshot(open_library(root))
