"""The jinja2 environment: a library's templates/ first, then the packaged ones."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jinja2
import yaml

from sopgit.errors import UsageError
from sopgit.resources import resource_dir


def environment(library_root: Path | None = None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if library_root is not None and (library_root / "templates").is_dir():
        loaders.append(jinja2.FileSystemLoader(library_root / "templates"))
    loaders.append(jinja2.FileSystemLoader(resource_dir("templates")))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,  # a misspelt variable is an error, not ""
        keep_trailing_newline=True,
        autoescape=False,  # Markdown and config files; the HTML site sets its own
    )
    env.filters["yaml_scalar"] = yaml_scalar
    env.filters["toml_string"] = toml_string
    env.filters["md"] = md_escape  # untrusted text as literal Markdown
    return env


def yaml_scalar(value: str, quote: str = "") -> str:
    """VALUE as a one-line YAML scalar: plain when YAML reads it back unchanged, else quoted."""
    text = " ".join(str(value).split())
    if not quote:
        try:
            if yaml.safe_load(f"k: {text}") == {"k": text}:
                return text
        except yaml.YAMLError:
            pass
    return "'" + text.replace("'", "''") + "'"


def toml_string(value: str) -> str:
    """VALUE as a TOML basic string."""
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped) + '"'


def render(name: str, context: dict[str, Any], library_root: Path | None = None) -> str:
    try:
        template = environment(library_root).get_template(name)
        return template.render(**context)
    except jinja2.TemplateSyntaxError as err:
        raise UsageError(
            f"template error: {err.message}; fix the template", err.filename, err.lineno
        ) from None
    except jinja2.UndefinedError as err:
        raise UsageError(f"template {name} uses an unknown variable: {err.message}") from None


MD_SPECIAL = re.compile(r"([\\`*\[\]<>|~&]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")


def md_escape(value: object) -> str:
    """Untrusted text as literal Markdown: one line, every syntax character escaped.

    Also right for a table cell: `|` is escaped and newlines are gone."""
    return MD_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))
