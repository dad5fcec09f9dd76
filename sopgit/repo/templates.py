"""The jinja2 environment: a library's templates/ first, then the packaged ones.

A library's templates are repository content, so untrusted: every template renders in
jinja2's sandbox (no attribute of Python's internals, so no way out to os or
subprocess), with StrictUndefined, and is read only as a regular file of the library,
never through a symbolic link. Any error in a template is one line naming it.
"""

from __future__ import annotations

import os
import re
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox
import yaml

from sopgit.errors import UsageError
from sopgit.repo.textio import link_on_path
from sopgit.resources import resource_dir


class LibraryLoader(jinja2.FileSystemLoader):
    """A library's template folder: a template that is (or lies behind) a symbolic link
    within the library is refused, not followed."""

    def __init__(self, folder: Path, library_root: Path) -> None:
        super().__init__(folder)
        self.folder = folder
        self.library_root = library_root

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        path = self.folder / template
        if link_on_path(self.library_root, path) is not None:
            relative = os.path.relpath(path, self.library_root)
            raise UsageError(
                "is a symbolic link; sopgit reads no template through a link", relative
            )
        return super().get_source(environment, template)


def sandboxed(loaders: list[jinja2.BaseLoader], **options: Any) -> jinja2.Environment:
    """The one way sopgit makes a jinja2 environment: sandboxed, strict about names."""
    return jinja2.sandbox.SandboxedEnvironment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,  # a misspelt variable is an error, not ""
        **options,
    )


def library_loaders(library_root: Path | None, sub: str = "") -> list[jinja2.BaseLoader]:
    loaders: list[jinja2.BaseLoader] = []
    own = library_root / "templates" / sub if library_root is not None else None
    if library_root is not None and own is not None and own.is_dir():
        loaders.append(LibraryLoader(own, library_root))
    loaders.append(jinja2.FileSystemLoader(resource_dir("templates") / sub))
    return loaders


def environment(library_root: Path | None = None) -> jinja2.Environment:
    env = sandboxed(
        library_loaders(library_root),
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
    with template_errors(name, library_root):
        return environment(library_root).get_template(name).render(**context)


@contextmanager
def template_errors(name: str, library_root: Path | None = None) -> Iterator[None]:
    """Any failure of a template while rendering NAME as one line: the template's file
    (relative to the library), its line, what went wrong. Exit 2."""
    try:
        yield
    except UsageError:
        raise
    except jinja2.TemplateSyntaxError as err:
        where = _where(err.filename, library_root) or f"templates/{name}"
        raise UsageError(
            f"template error: {err.message}; fix the template", where, err.lineno
        ) from None
    except jinja2.TemplateNotFound as err:
        raise UsageError(f"template {err.name} does not exist; add it or fix the name") from None
    except Exception as err:  # a library template may fail in any way while rendering
        filename, line = _template_frame(err)
        where = _where(filename, library_root) or f"templates/{name}"
        if isinstance(err, jinja2.UndefinedError):
            what = f"uses an unknown variable: {err.message}"
        elif isinstance(err, jinja2.sandbox.SecurityError):
            what = f"does what a template may not ({err})"
        else:
            what = f"failed ({type(err).__name__}: {err})"
        raise UsageError(f"template {what}; fix the template", where, line) from None


def _template_frame(err: BaseException) -> tuple[str | None, int | None]:
    """The template file and line where ERR arose (jinja2 maps its frames to them)."""
    found: tuple[str | None, int | None] = (None, None)
    for frame in traceback.extract_tb(err.__traceback__):
        if frame.filename.endswith(".j2") or "/templates/" in frame.filename:
            found = (frame.filename, frame.lineno)
    return found


def _where(filename: str | None, library_root: Path | None) -> str | None:
    if filename is None:
        return None
    if library_root is not None:
        try:
            return Path(filename).resolve().relative_to(library_root.resolve()).as_posix()
        except ValueError:
            pass
    return filename


MD_SPECIAL = re.compile(r"([\\`*\[\]<>|~&]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")


def md_escape(value: object) -> str:
    """Untrusted text as literal Markdown: one line, every syntax character escaped.

    Also right for a table cell: `|` is escaped and newlines are gone."""
    return MD_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))
