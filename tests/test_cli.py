"""One CLI vocabulary: option names, --format names and aliases, colour, errors outside
a library, dates, shell completion, and what `ack` says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import git

from sopgit.cli.main import cli

FORMAT_NAMES = {"text", "markdown", "json", "github", "csv", "html", "pdf"}
SCHEMAS = {"audit", "changelog", "check", "diff", "history", "index", "review", "review-round"}
SCHEMAS |= {"status", "training"}


def commands(group: click.Group = cli, prefix: str = "") -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        found[prefix + name] = command
        if isinstance(command, click.Group):
            found.update(commands(command, prefix + name + " "))
    return found


def test_every_format_option_speaks_the_same_vocabulary():
    for name, command in commands().items():
        for param in command.params:
            if param.name != "fmt":
                continue
            assert param.opts == ["--format"], name
            choices = set(param.type.choices)
            assert choices <= FORMAT_NAMES, f"{name}: {choices - FORMAT_NAMES}"
            if "json" in choices:  # every JSON output has its schema
                assert name in SCHEMAS, f"{name} prints JSON without a schema"


def test_no_visible_option_says_because_where_the_others_say_reason():
    for name, command in commands().items():
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert "--because" not in param.opts, name


def test_md_is_an_alias_of_markdown(example, run):
    root = str(example)
    long = run("-C", root, "changelog", "--format", "markdown", "-o", "-").stdout
    assert run("-C", root, "changelog", "--format", "md", "-o", "-").stdout == long
    assert long.startswith("# ")
    audit = run("-C", root, "audit", "ENG-001", "--format", "md").stdout
    assert audit == run("-C", root, "audit", "ENG-001", "--format", "markdown").stdout
    table = run("-C", root, "history", "ENG-001", "--format", "md").stdout
    assert table.startswith("| Version")
    bad = run("-C", root, "status", "--format", "yaml", expect=2)
    assert "'yaml' is not one of 'text', 'json'" in bad.stderr


def test_retire_takes_reason_for_an_unapproved_release_and_keeps_because_hidden(run, tmp_path):
    help_text = run("retire", "--help").stdout
    assert "--because" not in help_text
    assert "--reason" in help_text
    result = run("retire", "X-001", "--reason", "r", "--because", "b", expect=2)
    assert "--because goes with --allow-unapproved" in result.stderr


def test_status_has_coloured_state_badges_on_a_terminal_only(example, monkeypatch):
    monkeypatch.setenv("SOPGIT_TODAY", "2026-12-01")
    monkeypatch.delenv("NO_COLOR", raising=False)
    args = ["-C", str(example), "status"]
    on_terminal = CliRunner().invoke(cli, args, color=True)
    assert on_terminal.exit_code == 0
    assert click.style("effective", fg="green", bold=True) in on_terminal.stdout
    assert click.style("changed", fg="yellow", bold=True) in on_terminal.stdout
    piped = CliRunner().invoke(cli, args)
    assert "\x1b[" not in piped.stdout
    assert click.unstyle(on_terminal.stdout) == piped.stdout  # the columns stay aligned
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in CliRunner().invoke(cli, args, color=True).stdout


def test_check_severities_are_coloured_on_a_terminal(library, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    sop = library / "sops/engineering/ENG-002-code-review-standards.md"
    sop.write_text(sop.read_text().replace("## Scope", "## Scoop"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["-C", str(library), "check"], color=True)
    assert result.exit_code == 1
    assert click.style("error", fg="red", bold=True) in result.stdout


@pytest.mark.parametrize(
    "args", [["status"], ["check"], ["history", "ENG-001"], ["changelog"], ["review"]]
)
def test_commands_outside_a_library_exit_2_with_one_line(tmp_path, run, args):
    git(tmp_path, "init", "-q")
    result = run("-C", str(tmp_path), *args, expect=2)
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "is not a sopgit library" in result.stderr
    assert "sopgit init" in result.stderr


def test_changelog_since_is_a_real_date_or_a_tag(example, run):
    root = str(example)
    bad = run("-C", root, "changelog", "--since", "2020-13-01", "-o", "-", expect=2)
    assert "'2020-13-01' is not a date YYYY-MM-DD" in bad.stderr
    run("-C", root, "changelog", "--since", "2020-12-01", "-o", "-")
    run("-C", root, "changelog", "--since", "ENG-001/v1.0.0", "-o", "-")
    assert run("-C", root, "release", "--date", "2026-02-30", expect=2).stderr


def complete(cwd: Path, *words: str) -> list[str]:
    env = {
        **os.environ,
        "_SOPGIT_COMPLETE": "bash_complete",
        "COMP_WORDS": " ".join(["sopgit", *words]),
        "COMP_CWORD": str(len(words)),
    }
    script = Path(sys.executable).parent / "sopgit"
    done = subprocess.run([script], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return [line.split(",", 1)[1] for line in done.stdout.splitlines() if "," in line]


def test_shell_completion_offers_sop_ids_and_department_codes(example):
    assert complete(example, "history", "ENG") == [f"ENG-00{n}" for n in range(1, 6)]
    assert complete(example, "audit", "ops-00") == [f"OPS-00{n}" for n in range(1, 5)]
    assert complete(example, "-C", str(example), "release", "CMP-00") == [
        f"CMP-00{n}" for n in range(1, 6)
    ]
    assert complete(example, "new", "Title", "--dept", "") == ["CMP", "ENG", "OPS"]
    assert complete(example.parent, "history", "E") == []  # no library here: nothing


def test_ack_says_where_it_is_recorded_and_how_to_share_it(example, run, tmp_path):
    root = str(example)
    local = run("-C", root, "ack", "ENG-001")
    assert "acknowledged ENG-001 v1.1.0" in local.stdout
    assert "recorded in this clone only, on refs/sopgit/acks" in local.stderr
    assert "sopgit ack ENG-001 --push" in local.stderr
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(example, "remote", "add", "origin", str(bare))
    shared = run("-C", root, "ack", "ENG-001", "--push")
    assert "shared: pushed refs/sopgit/acks to origin" in shared.stderr
    assert git(bare, "for-each-ref", "refs/sopgit/acks").strip()


def test_json_outputs_keep_their_shapes(example, run):
    rows = json.loads(run("-C", str(example), "status", "--format", "json").stdout)
    assert isinstance(rows, list)  # status stays an array
    assert {"id", "title", "path", "version", "next_version", "bump", "state"} <= set(rows[0])
