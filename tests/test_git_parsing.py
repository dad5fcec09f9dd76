"""The history and tag parsers take any bytes git lets a commit or tag message hold.

git forbids only NUL in a message; 0x1e (the old record separator), other control bytes
and invalid UTF-8 are data. Each case builds a real repository and reads it back.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git

from sopgit.core.commits import parse_message
from sopgit.core.model import FileChange
from sopgit.repo.git import GitRepo, HistoryScan, parse_log

SOPGIT = Path(sys.executable).parent / "sopgit"
ODD = "a\x1eb\x1c\x1d\x1f\x85\u2028c"


def commit_bytes(root: Path, message: bytes, *extra: str) -> str:
    """Commit the index with MESSAGE exactly as given (git -F -, verbatim)."""
    subprocess.run(
        ["git", "commit", "-q", "--no-verify", "--cleanup=verbatim", "-F", "-", *extra],
        cwd=root,
        input=message,
        check=True,
        capture_output=True,
    )
    return git(root, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "r"
    root.mkdir()
    git(root, "init", "-q")
    (root / "a.md").write_text("a\n")
    git(root, "add", "a.md")
    commit_bytes(root, b"first\x1eweird\n\nbody \x1e\x1e\n")
    (root / "a.md").write_text("a\nb\n")
    (root / "b.md").write_text("b\n")
    git(root, "add", ".")
    commit_bytes(root, b"", "--allow-empty-message")
    return root


def test_log_records_survive_the_old_separator_in_messages_and_paths(repo):
    git(repo, "mv", "b.md", "c\x1e\x1ed.md")
    commit_bytes(repo, b"\x1e" + b"0" * 40 + b"\nfake\n")
    scan = GitRepo.open(repo).scan_history()
    commits = scan.result()
    assert [c.message for c in commits] == [
        "\x1e" + "0" * 40 + "\nfake\n",
        "",
        "first\x1eweird\n\nbody \x1e\x1e\n",
    ]
    assert commits[0].changes == (FileChange("R", "c\x1e\x1ed.md", "b.md"),)
    assert commits[1].changes == (FileChange("M", "a.md"), FileChange("A", "b.md"))
    assert commits[2].changes == (FileChange("A", "a.md"),)
    assert [c.parents for c in commits] == [(commits[1].sha,), (commits[2].sha,), ()]


def test_streamed_log_is_the_same_whatever_the_chunk_boundaries(repo, monkeypatch):
    whole = GitRepo.open(repo).scan_history().result()
    for size in (1, 2, 3, 7, 41):
        monkeypatch.setattr(HistoryScan, "CHUNK", size)
        assert GitRepo.open(repo).scan_history().result() == whole


def test_log_without_file_changes(repo):
    raw = subprocess.run(
        ["git", "log", "-z", "--format=%x1e%H%x00%P%x00%an%x00%ae%x00%at%x00%ct%x00%B%x00"],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout
    commits = parse_log(raw.decode("utf-8", "replace"))
    assert [c.message for c in commits] == ["", "first\x1eweird\n\nbody \x1e\x1e\n"]
    assert all(c.changes == () for c in commits)


def test_invalid_utf8_in_a_message_is_read_not_fatal(repo):
    commit_bytes(repo, b"fix: caf\xe9 \xff\xfe\n", "--allow-empty")
    commits = GitRepo.open(repo).scan_history().result()
    # git itself re-encodes what is not UTF-8 (as Latin-1); either way it is one commit
    assert len(commits) == 3
    assert commits[0].message in ("fix: caf\ufffd \ufffd\ufffd\n", "fix: caf\xe9 \xff\xfe\n")


def test_tag_messages_with_any_byte(repo):
    subprocess.run(
        ["git", "tag", "-a", "--cleanup=verbatim", "-F", "-", "v1"],
        cwd=repo,
        input=f"tag{ODD}\n\x1e\n".encode(),
        check=True,
    )
    git(repo, "tag", "light")
    subprocess.run(
        ["git", "tag", "-a", "--cleanup=verbatim", "-F", "-", "z\x1e"],
        cwd=repo,
        input=b"\n",
        capture_output=True,
    )  # not a valid ref name: git refuses it, nothing to read
    tags = {t.name: t for t in GitRepo.open(repo).tags()}
    assert set(tags) == {"light", "v1"}
    assert tags["v1"].annotated
    assert tags["v1"].message == f"tag{ODD}\n\x1e"
    assert tags["v1"].target == git(repo, "rev-parse", "HEAD").strip()
    assert not tags["light"].annotated
    assert tags["light"].message == ""


def test_message_lines_break_at_newlines_only():
    message = parse_message(f"fix(ENG-001): a{ODD}\n\nbody{ODD}\n\nApproved-by: Ana{ODD}\n")
    assert message.subject == f"fix(ENG-001): a{ODD}"
    assert message.header is not None
    assert message.header.subject == f"a{ODD}"
    assert message.trailer_values("Approved-by") == [f"Ana{ODD}"]
    assert message.body == f"body{ODD}"
    # A separator byte does not start a new trailer line
    assert parse_message("fix: x\n\nApproved-by: a\x1eApproved-by: b").trailer_values(
        "approved-by"
    ) == ["a\x1eApproved-by: b"]


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["history", "ENG-001"],
        ["changelog", "--dry-run"],
        ["audit", "ENG-001"],
        ["release", "--dry-run"],
    ],
)
def test_commands_read_a_history_holding_0x1e(example, command):
    sop = next((example / "sops" / "engineering").glob("ENG-001-*.md"))
    sop.write_text(sop.read_text() + "\nOne more line.\n")
    git(example, "add", ".")
    commit_bytes(example, b"fix(ENG-001): step\x1e two\n\nwhy\x1e\n")
    subprocess.run(
        ["git", "tag", "-a", "-F", "-", "note"], cwd=example, input=b"n\x1eb\n", check=True
    )
    done = subprocess.run([SOPGIT, "-C", str(example), *command], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
