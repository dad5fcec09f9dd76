"""The installed package: entry points, shipped resources, fast start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import sopgit
from sopgit.resources import resource_dir

CHECKOUT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(
    os.environ.get("SOPGIT_TEST_INSTALLED") != "1", reason="CI sets SOPGIT_TEST_INSTALLED=1"
)
def test_tests_run_against_the_installed_wheel():
    package = Path(sopgit.__file__).resolve().parent
    assert package != CHECKOUT / "sopgit", f"imported from the source tree: {package}"
    assert "site-packages" in package.parts
    assert resource_dir("templates") == package / "_data" / "templates"
    assert resource_dir("hooks") == package / "_data" / "hooks"


def test_templates_and_hooks_ship_with_the_package():
    templates = resource_dir("templates")
    assert (templates / "sop.md.j2").is_file()
    assert len(list((templates / "example" / "sops").rglob("*.md"))) == 14
    for hook in ("pre-commit", "commit-msg"):
        assert os.access(resource_dir("hooks") / hook, os.X_OK)


def test_python_dash_m_and_console_script_agree():
    module = subprocess.run(
        [sys.executable, "-m", "sopgit", "--version"], capture_output=True, text=True
    )
    assert module.returncode == 0
    assert module.stdout.startswith("sopgit ")
    script = Path(sys.executable).parent / "sopgit"
    assert subprocess.run([script, "--version"], capture_output=True, text=True).stdout == (
        module.stdout
    )


def test_help_imports_no_heavy_modules():
    """`sopgit --help` must not pay for git, jinja2 or YAML: they load per command."""
    code = (
        "import sys\n"
        "from sopgit.cli.main import cli\n"
        "try:\n    cli(['--help'], prog_name='sopgit')\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('git', 'jinja2', 'yaml', 'frontmatter', 'semver')"
        " if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip().endswith("[]"), done.stdout


def test_long_work_shows_progress_on_a_terminal_only(tmp_path):
    """On a terminal `status` redraws a progress line; piped, it prints none."""
    import pty

    from conftest import commit_all, git

    git(tmp_path, "init", "-q")
    (tmp_path / "sopgit.toml").write_text("")  # a library, with every default
    for n in range(3):
        (tmp_path / "notes.txt").write_text(f"{n}\n")
        commit_all(tmp_path, f"chore: note {n}")
    script = Path(sys.executable).parent / "sopgit"
    env = {**os.environ, "SOPGIT_PROGRESS_INTERVAL": "0"}
    piped = subprocess.run([script, "-C", str(tmp_path), "status"], capture_output=True, env=env)
    assert piped.returncode == 0
    assert b"reading history" not in piped.stderr
    primary, secondary = pty.openpty()
    done = subprocess.run(  # --no-cache: the run above left the history in the cache
        [script, "-C", str(tmp_path), "--no-cache", "status"],
        stdout=subprocess.DEVNULL,
        stderr=secondary,
        env=env,
    )
    os.close(secondary)
    seen = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(primary)
    assert done.returncode == 0
    assert b"\rreading history: 3 commits" in seen
    assert seen.endswith(b"\r\x1b[K")
