"""sopgit.toml: every key has a default; bad keys and types name the file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sopgit.core.settings import Config
from sopgit.errors import ConfigError
from sopgit.repo.config import load_config


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "sopgit.toml").write_text(text)
    return tmp_path


def test_missing_and_empty_files_give_the_defaults(tmp_path: Path):
    assert load_config(tmp_path) == Config()
    config = load_config(write(tmp_path, ""))
    assert config.root == "sops"
    assert config.release_branch == "main"
    assert list(config.departments) == ["ENG", "CMP", "OPS"]
    assert config.tag_format == "{id}/v{version}"
    assert config.initial_version == "1.0.0"
    assert config.bump == {"breaking": "major", "feat": "minor", "default": "patch"}
    assert config.review_interval_days == 365
    assert config.approval_required == ()


def test_the_design_example_is_read_in_full(tmp_path: Path):
    config = load_config(
        write(
            tmp_path,
            """
[library]
name = "Acme SOP Library"
root = "procedures"
release_branch = "trunk"

[departments.ENG]
name = "Engineering"
folder = "engineering"
description = "Software development, deployment, and maintenance"

[departments.HR]
name = "People"

[versioning]
tag_format = "sop/{id}@{version}"
initial_version = "0.1.0"

[versioning.bump]
breaking = "major"
feat = "minor"
docs = "patch"
default = "patch"

[review]
interval_days = 180

[approval]
required = ["peer", "manager"]

[approval.roles]
peer = ["*"]
manager = ["lee@acme.example", "@acme/eng-managers"]
""",
        )
    )
    assert config.name == "Acme SOP Library"
    assert config.root == "procedures"
    assert config.release_branch == "trunk"
    assert config.departments["HR"].folder == "people"
    assert config.tag_format == "sop/{id}@{version}"
    assert config.bump["docs"] == "patch"
    assert config.review_interval_days == 180
    assert config.approval_required == ("peer", "manager")
    assert config.approval_roles["manager"] == ("lee@acme.example", "@acme/eng-managers")


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("[library]\nnmae = 'x'\n", 2, "unknown key 'library.nmae'; did you mean 'name'?"),
        ("[libary]\nname = 'x'\n", 1, "unknown key 'libary'; did you mean 'library'?"),
        (
            "[review]\ninterval_days = 'soon'\n",
            2,
            "key 'review.interval_days' must be a whole number",
        ),
        ("[library]\nroot = '../outside'\n", 2, "key 'library.root' must be a folder inside"),
        ("[versioning]\ninitial_version = '1.0'\n", 2, "must be a semantic version"),
        ("[versioning]\ntag_format = 'v{version}'\n", 2, "holding {id} and {version}"),
        ("[versioning.bump]\nfeat = 'huge'\n", 2, "key 'versioning.bump.feat' must be one of"),
        (
            "[departments.E]\nname = 'x'\n",
            1,
            "key 'departments.E' must be named by a code of 2-10 letters or digits",
        ),
        ("[departments.ENG]\nfolders = 'x'\n", 2, "unknown key 'departments.ENG.folders'"),
        ("[approval]\nrequired = 'peer'\n", 2, "key 'approval.required' must be a list"),
        ("[approval]\nrequired = ['manager']\n", 2, "add 'manager' there"),
        ("[hooks]\ncommit_msg = 'yell'\n", 2, 'one of "warn", "block", "off"'),
        ("[library]\nname = \n", 2, "is not valid TOML"),
    ],
)
def test_bad_config_names_file_line_and_key(tmp_path: Path, text: str, line: int, words: str):
    write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'sopgit.toml'}:{line}: "), message
    assert words in message


def test_bad_config_is_exit_2_with_one_line(tmp_path: Path, run):
    import subprocess

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    write(tmp_path, "[review]\ninterval_days = -3\n")
    result = run("-C", str(tmp_path), "check", expect=2)
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert (
        "sopgit.toml:2: key 'review.interval_days' must be a whole number above 0" in result.stderr
    )
