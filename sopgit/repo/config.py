"""sopgit.toml: defaults for every key, validated once into a frozen Config."""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from sopgit.core.formats import (
    FIELDS,
    HISTORY_FIELDS,
    ID_SOURCES,
    METADATA,
    ORDERS,
    Format,
    HistoryFormat,
)
from sopgit.core.settings import Config, Department
from sopgit.errors import ConfigError

CONFIG_FILE = "sopgit.toml"
# ENG; an adopted library's prefixes may have parts, like CSC-PR (of CSC-PR-013), and
# be written in lower case, like sop-hr (of sop-hr-004)
DEPT_CODE = re.compile(
    r"^[A-Z][A-Z0-9]{1,9}(?:-[A-Z][A-Z0-9]{0,9})*$|^[a-z][a-z0-9]{1,9}(?:-[a-z][a-z0-9]{0,9})*$"
)
BUMP_KINDS = ("major", "minor", "patch")
COMMIT_MSG_MODES = ("warn", "block", "off")


# The schema: section -> key -> (validator, Config field). A validator returns the
# typed value or raises ValueError with what was expected.
Validator = Callable[[Any], Any]


def _string(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a non-empty string")
    return value


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError("a whole number above 0")
    return value


MAX_INTERVAL_DAYS = 36_500  # a review every hundred years is the longest sopgit computes


def _days(value: Any) -> int:
    days = _positive_int(value)
    if days > MAX_INTERVAL_DAYS:
        raise ValueError(f"a number of days from 1 to {MAX_INTERVAL_DAYS}")
    return days


# What git refuses in a ref name (git check-ref-format): control characters, space,
# ~ ^ : ? * [ \, "..", "@{", a component starting with "." or ending in ".lock", an
# empty component, a trailing "." or "/".
_BAD_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|/\.|^\.|/$|^/|\.$|\.lock(?:/|$)")


def ref_name_problem(name: str) -> str | None:
    """Why NAME is not a valid git ref name below refs/ (None when it is)."""
    if not name:
        return "is empty"
    match = _BAD_REF.search(name)
    if match:
        return f"has {match.group()!r} where git allows none"
    return None


def _ref_name(value: Any) -> str:
    text = _string(value)
    problem = ref_name_problem(text)
    if problem or text.startswith("-"):
        raise ValueError(f"a valid git branch name (this one {problem or 'starts with -'})")
    return text


def _remote(value: Any) -> str:
    """A remote's name: never an option, never a URL or path with odd characters."""
    text = _string(value)
    if text.startswith("-") or ref_name_problem(text) or "/" in text:
        raise ValueError('the name of a configured git remote, e.g. "origin"')
    return text


def _string_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError('a list of strings, e.g. ["peer", "manager"]')
    return tuple(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("true or false")
    return value


def _relative_dir(value: Any) -> str:
    text = _string(value)
    path = PurePosixPath(text)
    if path.is_absolute() or ".." in path.parts or "\\" in text:
        raise ValueError('a folder inside the library, e.g. "sops"')
    return str(path)


def _semver(value: Any) -> str:
    import semver

    text = _string(value)
    try:
        semver.Version.parse(text)
    except ValueError:
        raise ValueError('a semantic version, e.g. "1.0.0"') from None
    return text


def _tag_format(value: Any) -> str:
    text = _string(value)
    if "{id}" not in text or "{version}" not in text:
        raise ValueError('a format holding {id} and {version}, e.g. "{id}/v{version}"')
    sample = text.replace("{id}", "ENG-001").replace("{version}", "1.2.3")
    problem = ref_name_problem(sample)
    if problem or sample.startswith("-"):
        raise ValueError(
            "a format whose tags git accepts (it makes "
            f"'{sample}', which {problem or 'starts with -'})"
        )
    return text


def _one_of(choices: tuple[str, ...]) -> Validator:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError("one of " + ", ".join(f'"{c}"' for c in choices))
        return str(value)

    return check


SCHEMA: dict[str, dict[str, tuple[Validator, str]]] = {
    "library": {
        "name": (_string, "name"),
        "root": (_relative_dir, "root"),
        "release_branch": (_ref_name, "release_branch"),
        "remote": (_remote, "remote"),
    },
    "versioning": {
        "tag_format": (_tag_format, "tag_format"),
        "initial_version": (_semver, "initial_version"),
    },
    "review": {"interval_days": (_days, "review_interval_days")},
    "approval": {
        "required": (_string_list, "approval_required"),
        "require_signed": (_bool, "approval_require_signed"),
        "stale": (_one_of(("void", "keep")), "approval_stale"),
    },
    "github": {"max_requests": (_positive_int, "github_max_requests")},
    "hooks": {"commit_msg": (_one_of(COMMIT_MSG_MODES), "commit_msg")},
}
# Tables inside a section whose keys are user-chosen names, validated on their own.
NESTED_TABLES = {
    ("versioning", "bump"),
    ("approval", "roles"),
    ("approval", "departments"),
    ("approval", "tags"),
}
DEPARTMENT_KEYS = ("name", "folder", "description")


def load_config(root: Path) -> Config:
    """Read ROOT/sopgit.toml; a missing file means every default."""
    path = root / CONFIG_FILE
    if path.is_symlink():
        raise ConfigError("is a symbolic link; sopgit reads its configuration from a file", path)
    if not path.is_file():
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise ConfigError("is not UTF-8 text; save it as UTF-8", path) from None
    except tomllib.TOMLDecodeError as err:
        line = getattr(err, "lineno", None) or _line_from_message(str(err))
        raise ConfigError(
            f"is not valid TOML ({_toml_reason(err)}); fix the syntax", path, line
        ) from None
    return parse_config(data, path, text)


def parse_config(data: Mapping[str, Any], path: Path | None = None, text: str = "") -> Config:
    """Validate parsed TOML into a Config, naming the file, line and key on any error."""

    def fail(dotted: str, expected: str) -> ConfigError:
        return ConfigError(f"key '{dotted}' must be {expected}", path, _line_of(text, dotted))

    def unknown(dotted: str, known: list[str]) -> ConfigError:
        leaf = dotted.rsplit(".", 1)[-1]
        close = difflib.get_close_matches(leaf, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(known)}"
        return ConfigError(f"unknown key '{dotted}'{hint}", path, _line_of(text, dotted))

    values: dict[str, Any] = {"path": path}
    sections = [*SCHEMA, "departments", "training", "format", "check"]
    for section, body in data.items():
        if section not in sections:
            raise unknown(section, sections)
        if not isinstance(body, dict):
            raise fail(section, "a table, e.g. [" + section + "]")
        if section in ("departments", "training", "format", "check"):  # validated below
            continue
        known = list(SCHEMA[section]) + [k for s, k in NESTED_TABLES if s == section]
        for key, value in body.items():
            dotted = f"{section}.{key}"
            if (section, key) in NESTED_TABLES:
                continue
            if key not in SCHEMA[section]:
                raise unknown(dotted, known)
            validator, attr = SCHEMA[section][key]
            try:
                values[attr] = validator(value)
            except ValueError as err:
                raise fail(dotted, str(err)) from None

    if "departments" in data:
        values["departments"] = _departments(data["departments"], fail, unknown)
    bump = data.get("versioning", {}).get("bump")
    if bump is not None:
        values["bump"] = _bump(bump, fail)
    roles = data.get("approval", {}).get("roles")
    if roles is not None:
        if not isinstance(roles, dict):
            raise fail("approval.roles", "a table of role = [signers]")
        checked: dict[str, tuple[str, ...]] = {}
        for role, signers in roles.items():
            try:
                checked[role] = _string_list(signers)
            except ValueError as err:
                raise fail(f"approval.roles.{role}", str(err)) from None
        values["approval_roles"] = {"peer": ("*",), **checked}
    if "training" in data:
        values["training_audience"] = _training(data["training"], fail, unknown)
    for kind in ("departments", "tags"):
        table = data.get("approval", {}).get(kind)
        if table is not None:
            values[f"approval_{kind}"] = _required_by(kind, table, fail, unknown)
    if "format" in data:
        values["format"] = _format(data["format"], fail, unknown)
    if "check" in data:
        values["check_disable"] = _check_table(data["check"], fail, unknown)
    config = Config(**values)
    _check_roles(config, fail)
    return config


def _required_by(
    kind: str, table: Any, fail: Callable[..., ConfigError], unknown: Callable[..., ConfigError]
) -> dict[str, tuple[str, ...]]:
    """`[approval.departments.CMP] required = [...]` (or `.tags.NAME`): name -> roles."""
    example = "CMP" if kind == "departments" else "compliance"
    if not isinstance(table, dict):
        raise fail(f"approval.{kind}", f"tables like [approval.{kind}.{example}]")
    found: dict[str, tuple[str, ...]] = {}
    for name, body in table.items():
        dotted = f"approval.{kind}.{name}"
        if not isinstance(body, dict):
            raise fail(dotted, f"a table with required = [...], e.g. [approval.{kind}.{example}]")
        for key in body:
            if key != "required":
                raise unknown(f"{dotted}.{key}", ["required"])
        try:
            found[name] = _string_list(body.get("required", []))
        except ValueError as err:
            raise fail(f"{dotted}.required", str(err)) from None
    return found


def _check_roles(config: Config, fail: Callable[..., ConfigError]) -> None:
    """Every role a policy requires is defined; per-department tables name departments."""
    lists = [("approval.required", config.approval_required)]
    for code, roles in config.approval_departments.items():
        if code not in config.departments:
            known = ", ".join(config.departments)
            raise fail(f"approval.departments.{code}", f"named by a department code ({known})")
        lists.append((f"approval.departments.{code}.required", roles))
    lists += [(f"approval.tags.{t}.required", roles) for t, roles in config.approval_tags.items()]
    for dotted, roles in lists:
        for role in roles:
            if role not in config.approval_roles:
                raise fail(dotted, f"roles listed under [approval.roles]; add '{role}' there")


def _training(
    table: Any, fail: Callable[..., ConfigError], unknown: Callable[..., ConfigError]
) -> dict[str, tuple[str, ...]]:
    """Who must acknowledge SOPs: "*" (every SOP), a department code or an SOP id -> people."""
    audience: dict[str, tuple[str, ...]] = {}

    def people(dotted: str, body: Any) -> tuple[str, ...]:
        if not isinstance(body, dict):
            raise fail(dotted, "a table with audience = [emails]")
        for key in body:
            if key != "audience":
                raise unknown(f"{dotted}.{key}", ["audience"])
        try:
            return _string_list(body.get("audience", []))
        except ValueError as err:
            raise fail(f"{dotted}.audience", str(err)) from None

    for key, body in table.items():
        if key == "audience":
            audience["*"] = people("training", {"audience": body})
        elif key in ("departments", "sops") and isinstance(body, dict):
            for name, inner in body.items():
                audience[name] = people(f"training.{key}.{name}", inner)
        else:
            raise unknown(f"training.{key}", ["audience", "departments", "sops"])
    return audience


def _departments(
    table: Any, fail: Callable[..., ConfigError], unknown: Callable[..., ConfigError]
) -> dict[str, Department]:
    if not isinstance(table, dict) or not table:
        raise fail("departments", "one or more tables like [departments.ENG]")
    departments: dict[str, Department] = {}
    folders: set[str] = set()
    for code, body in table.items():
        dotted = f"departments.{code}"
        if not DEPT_CODE.match(code):
            raise fail(dotted, "named by a code of 2-10 letters or digits, e.g. ENG")
        if not isinstance(body, dict):
            raise fail(dotted, "a table with name, folder and description")
        for key in body:
            if key not in DEPARTMENT_KEYS:
                raise unknown(f"{dotted}.{key}", list(DEPARTMENT_KEYS))
        try:
            name = _string(body.get("name", code))
        except ValueError as err:
            raise fail(f"{dotted}.name", str(err)) from None
        try:
            folder = _relative_dir(body.get("folder", name.lower().replace(" ", "-")))
        except ValueError as err:
            raise fail(f"{dotted}.folder", str(err)) from None
        description = body.get("description", "")
        if not isinstance(description, str):
            raise fail(f"{dotted}.description", "a string")
        if folder in folders:
            raise fail(
                f"{dotted}.folder", f"a folder no other department uses ('{folder}' is taken)"
            )
        folders.add(folder)
        departments[code] = Department(code, name, folder, description)
    return departments


def _bump(table: Any, fail: Callable[..., ConfigError]) -> dict[str, str]:
    if not isinstance(table, dict):
        raise fail("versioning.bump", 'a table of commit type = "major" | "minor" | "patch"')
    rules = {"breaking": "major", "feat": "minor", "default": "patch"}
    for kind, bump in table.items():
        if bump not in BUMP_KINDS:
            raise fail(f"versioning.bump.{kind}", 'one of "major", "minor", "patch"')
        rules[kind] = bump
    return rules


FORMAT_KEYS = (
    "files",
    "exclude",
    "metadata",
    "id_source",
    "id_pattern",
    "filename_pattern",
    "required_keys",
    "date_format",
    "legacy",
    "sections",
    "ordered_sections",
    "steps_section",
    "keys",
    "history",
    "version_keys",
    "version_style",
    "statuses",
)
HISTORY_KEYS = ("heading", "markers", "order", "date_format", "columns")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError('a string ("" for none)')
    return value


def _regex(group: str | None) -> Validator:
    def check(value: Any) -> str:
        text = _text(value)
        try:
            compiled = re.compile(text)
        except re.error as err:
            raise ValueError(f"a regular expression ({err})") from None
        if group and text and group not in compiled.groupindex:
            raise ValueError(f"a regular expression with a group (?P<{group}>...)")
        return text

    return check


def _date_format(value: Any) -> str:
    text = _string(value)
    import datetime as dt

    try:
        sample = dt.date(2024, 10, 31).strftime(text)
        parsed = dt.datetime.strptime(sample, text).date()
    except ValueError:
        parsed = None
    if parsed != dt.date(2024, 10, 31):
        raise ValueError('a strftime date format naming year, month and day, e.g. "%Y.%m.%d"')
    return text


def _glob_list(value: Any) -> tuple[str, ...]:
    globs = _string_list(value) if value != [] else ()
    for glob in globs:
        if glob.startswith("/") or ".." in glob.split("/"):
            raise ValueError('globs inside the library root, e.g. ["**/*.md"]')
    return globs


def _fields(choices: tuple[str, ...]) -> Validator:
    def check(value: Any) -> tuple[str, ...]:
        names = _string_list(value) if value != [] else ()
        wrong = [n for n in names if n not in choices]
        if wrong:
            raise ValueError("a list of " + ", ".join(choices))
        return names

    return check


FORMAT_SCHEMA: dict[str, Validator] = {
    "files": _glob_list,
    "exclude": _glob_list,
    "metadata": _one_of(METADATA),
    "id_source": _one_of(ID_SOURCES),
    "id_pattern": _regex(None),
    "filename_pattern": _regex("id"),
    "required_keys": _fields(FIELDS),
    "date_format": _date_format,
    "legacy": _bool,
    "sections": lambda v: _string_list(v) if v != [] else (),
    "ordered_sections": _bool,
    "steps_section": _text,
    "version_keys": lambda v: _string_list(v) if v != [] else (),
    "version_style": lambda v: _version_style(v),
}
HISTORY_SCHEMA: dict[str, Validator] = {
    "heading": _string,
    "markers": _bool,
    "order": _one_of(ORDERS),
    "date_format": _date_format,
}


def _format(
    table: Any, fail: Callable[..., ConfigError], unknown: Callable[..., ConfigError]
) -> Format:
    """`[format]`: the library's own document format (see sopgit.repo.docformat)."""
    values: dict[str, Any] = {}
    for key, body in table.items():
        dotted = f"format.{key}"
        if key == "keys":
            values["keys"] = _mapping(body, dotted, FIELDS, fail, unknown)
        elif key == "history":
            values["history"] = _history(body, fail, unknown)
        elif key == "statuses":
            values["statuses"] = _statuses(body, fail)
        elif key in FORMAT_SCHEMA:
            try:
                values[key] = FORMAT_SCHEMA[key](body)
            except ValueError as err:
                raise fail(dotted, str(err)) from None
        else:
            raise unknown(dotted, list(FORMAT_KEYS))
    if not values.get("id_pattern", "x"):
        raise fail("format.id_pattern", "a regular expression an id matches")
    if "keys" in values:
        from sopgit.core.formats import SEED_KEYS

        values["keys"] = {**SEED_KEYS, **values["keys"]}
    return Format(**values)


def _version_style(value: Any) -> str:
    from sopgit.core.formats import VERSION_STYLES

    if value not in VERSION_STYLES:
        raise ValueError("one of " + ", ".join(f'"{s}"' for s in VERSION_STYLES))
    return str(value)


def _statuses(table: Any, fail: Callable[..., ConfigError]) -> dict[str, str]:
    """`[format.statuses]`: the library's status word = "draft" | "effective" | "retired"."""
    from sopgit.core.formats import STATUSES

    if not isinstance(table, dict):
        raise fail("format.statuses", 'a table of word = "draft" | "effective" | "retired"')
    found = {}
    for word, status in table.items():
        if status not in STATUSES:
            raise fail(f"format.statuses.{word}", 'one of "draft", "effective", "retired"')
        found[word.strip().lower()] = status
    return found


def _history(
    table: Any, fail: Callable[..., ConfigError], unknown: Callable[..., ConfigError]
) -> HistoryFormat:
    if not isinstance(table, dict):
        raise fail("format.history", "a table, e.g. [format.history]")
    values: dict[str, Any] = {}
    for key, body in table.items():
        dotted = f"format.history.{key}"
        if key == "columns":
            values["columns"] = _mapping(body, dotted, HISTORY_FIELDS, fail, unknown)
        elif key in HISTORY_SCHEMA:
            try:
                values[key] = HISTORY_SCHEMA[key](body)
            except ValueError as err:
                raise fail(dotted, str(err)) from None
        else:
            raise unknown(dotted, list(HISTORY_KEYS))
    if "columns" in values:
        from sopgit.core.formats import SEED_COLUMNS

        values["columns"] = {**SEED_COLUMNS, **values["columns"]}
        if not values["columns"]["version"]:
            raise fail("format.history.columns.version", "the name of the version column")
    return HistoryFormat(**values)


def _mapping(
    table: Any,
    dotted: str,
    names: tuple[str, ...],
    fail: Callable[..., ConfigError],
    unknown: Callable[..., ConfigError],
) -> dict[str, str]:
    if not isinstance(table, dict):
        raise fail(dotted, f'a table of {" / ".join(names)} = "name"')
    found = {}
    for name, body in table.items():
        if name not in names:
            raise unknown(f"{dotted}.{name}", list(names))
        try:
            found[name] = _text(body)
        except ValueError as err:
            raise fail(f"{dotted}.{name}", str(err)) from None
    return found


def _check_table(
    table: Any, fail: Callable[..., ConfigError], unknown: Callable[..., ConfigError]
) -> tuple[str, ...]:
    """`[check] disable = [rules]`: rules this library does not follow."""
    from sopgit.core.rules import RULES

    for key in table:
        if key != "disable":
            raise unknown(f"check.{key}", ["disable"])
    try:
        rules = _string_list(table.get("disable", [])) if table.get("disable") != [] else ()
    except ValueError as err:
        raise fail("check.disable", str(err)) from None
    wrong = [r for r in rules if r not in RULES]
    if wrong:
        close = difflib.get_close_matches(wrong[0], list(RULES), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise fail("check.disable", f"a list of rule ids of 'sopgit check --list-rules'{hint}")
    return rules


def _line_of(text: str, dotted: str) -> int | None:
    """The line where DOTTED is set, so an error can point at it (best effort)."""
    *tables, key = dotted.split(".")
    wanted = ".".join(tables)
    current = ""
    header = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+")
    for number, line in enumerate(text.splitlines(), 1):
        match = header.match(line)
        if match:
            current = match.group(1).replace('"', "").replace(" ", "")
            if current == dotted:
                return number
            continue
        if current == wanted and re.match(rf"^\s*\"?{re.escape(key)}\"?\s*=", line):
            return number
    return None


def _line_from_message(message: str) -> int | None:
    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else None


def _toml_reason(err: tomllib.TOMLDecodeError) -> str:
    return re.sub(r"\s*\(at line \d+, column \d+\)", "", str(err))
