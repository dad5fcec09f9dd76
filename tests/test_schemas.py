"""Every --format json output is described by a JSON Schema shipped in the package
(sopgit/schemas/, its version in `$id`), and what the commands print validates."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

NAMES = [
    "audit",
    "changelog",
    "check",
    "diff",
    "history",
    "index",
    "review",
    "review-round",
    "status",
    "training",
]
TODAY = "2026-12-01"


def schema(name: str) -> dict:
    text = resources.files("sopgit").joinpath(f"schemas/{name}.schema.json").read_text("utf-8")
    return json.loads(text)


def validate(name: str, output: str) -> object:
    data = json.loads(output)
    Draft202012Validator(schema(name)).validate(data)
    return data


def test_the_package_ships_one_valid_versioned_schema_per_json_output():
    shipped = sorted(
        p.name.removesuffix(".schema.json")
        for p in resources.files("sopgit").joinpath("schemas").iterdir()
        if p.name.endswith(".schema.json")
    )
    assert shipped == NAMES
    for name in NAMES:
        doc = schema(name)
        Draft202012Validator.check_schema(doc)
        assert doc["$id"] == f"urn:sopgit:schema:{name}:1"


@pytest.fixture
def lived_in(example, run, monkeypatch):
    """The example library after a little more life: an acknowledgement, a review, a
    retirement, and a broken file in the work tree."""
    monkeypatch.setenv("SOPGIT_TODAY", TODAY)
    run("-C", str(example), "ack", "ENG-001")
    run("-C", str(example), "review", "CMP-003", "--done", "-m", "still right")
    run("-C", str(example), "retire", "OPS-003", "--reason", "vendors are managed centrally")
    return example


def test_every_json_output_validates(lived_in, run):
    root = str(lived_in)

    def out(*args: str, expect: int = 0) -> str:
        return run("-C", root, *args, "--format", "json", expect=expect).stdout

    rows = validate("status", out("status"))
    assert isinstance(rows, list)
    assert {row["state"] for row in rows} >= {"effective", "changed", "retired"}
    for row in rows:
        validate("history", out("history", row["id"]))
        validate("audit", out("audit", row["id"]))
        if row["version"] and row["pending"]:
            validate("diff", out("diff", row["id"], row["version"], "pending"))
    redline = validate("diff", out("diff", "ENG-001"))
    assert redline["sections"]
    validate("review", out("review", "--within", "400"))
    validate("training", out("training"))
    validate("changelog", out("changelog"))
    validate("index", out("index"))
    report = validate("review-round", out("review-round"))
    assert report["sops"]

    broken = lived_in / "sops/engineering/ENG-002-code-review-standards.md"
    broken.write_text(broken.read_text().replace("## Scope", "## Scoop"), encoding="utf-8")
    found = validate("check", out("check", expect=1))
    assert found["errors"] >= 1


def test_a_schema_rejects_a_changed_shape(lived_in, run):
    rows = json.loads(run("-C", str(lived_in), "status", "--format", "json").stdout)
    with pytest.raises(ValidationError):
        Draft202012Validator(schema("status")).validate({"sops": rows})  # status stays an array
    rows[0]["state"] = "approved-ish"
    with pytest.raises(ValidationError):
        Draft202012Validator(schema("status")).validate(rows)
    del rows[0]["state"]
    rows[0]["id"] = 7
    with pytest.raises(ValidationError):
        Draft202012Validator(schema("status")).validate(rows)
