"""The hostile-input corpus: repository content an attacker or a careless editor controls.

One table, CASES: each case sets up a copy of the example library (config, frontmatter,
file bytes, commit and tag messages, names, symbolic links, repository states), runs the
installed `sopgit` as a subprocess, and asserts what a user would check:

- the exit code (0: handled as data, 1: a check finding or policy refusal, 2: an error);
- no traceback, and a failure is exactly one clean line on stderr (`sopgit: ...`);
- no raw control character in anything printed (ESC, OSC, CR, C1, ...);
- nothing written: the work tree's bytes, the refs and tags, and the files outside the
  repository are the same before and after; a planted command never ran.

`python -m pytest tests/test_hostile.py -q -rA` lists the cases; test_corpus_counts
prints the number of cases by outcome.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import git

SOPGIT = Path(sys.executable).parent / "sopgit"
ENG1 = "sops/engineering/ENG-001-deployment-process.md"
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
PWNED = "PWNED"  # the file a planted command would create (in the outside folder)


@dataclass(frozen=True)
class Env:
    root: Path  # the library
    outside: Path  # a folder outside it, holding secret.txt

    def write(self, relative: str, data: bytes | str) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())

    def commit(self, message: bytes, *, author: str | None = None, allow_empty: bool = True):
        env = {**os.environ, **({"GIT_AUTHOR_NAME": author} if author else {})}
        git(self.root, "add", "-A")
        subprocess.run(
            ["git", "commit", "-q", "--no-verify", "--cleanup=verbatim", "-F", "-"]
            + (["--allow-empty"] if allow_empty else []),
            cwd=self.root,
            input=message,
            env=env,
            check=True,
            capture_output=True,
        )

    def tag(self, name: str, message: bytes, target: str = "HEAD") -> None:
        subprocess.run(
            ["git", "tag", "-a", "--cleanup=verbatim", "-F", "-", name, target],
            cwd=self.root,
            input=message,
            check=True,
            capture_output=True,
        )

    def config(self, section: str, line: str) -> None:
        """Replace (or add) one line of sopgit.toml's SECTION and commit it."""
        path = self.root / "sopgit.toml"
        text = path.read_text()
        key = line.split("=", 1)[0].strip()
        pattern = re.compile(rf"^{re.escape(key)}\s*=.*$", re.M)
        head, sep, rest = text.partition(f"[{section}]\n")
        if not sep:
            text += f"\n[{section}]\n{line}\n"
        elif pattern.search(rest.split("\n[", 1)[0]):
            body, *tail = rest.split("\n[", 1)
            text = head + sep + pattern.sub(lambda _: line, body, count=1)
            text += "".join("\n[" + t for t in tail)
        else:
            text = head + sep + line + "\n" + rest
        path.write_text(text)
        self.commit(b"chore: config")

    def frontmatter(self, key: str, value: str, path: str = ENG1) -> None:
        """Set KEY's line in the frontmatter of PATH to VALUE (raw YAML) and commit."""
        file = self.root / path
        text = file.read_text()
        lines = text.split("\n")
        for index, line in enumerate(lines[1:], 1):
            if line == "---":
                lines.insert(index, f"{key}: {value}")
                break
            if line.startswith(f"{key}:"):
                lines[index] = f"{key}: {value}"
                break
        file.write_text("\n".join(lines))
        self.commit(b"docs(ENG-001): edit")

    def edit_bytes(self, change: Callable[[bytes], bytes], path: str = ENG1) -> None:
        file = self.root / path
        file.write_bytes(change(file.read_bytes()))
        self.commit(b"docs(ENG-001): bytes")

    def link(self, relative: str, target: Path | str, commit: bool = True) -> None:
        path = self.root / relative
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)
        if commit:
            self.commit(b"chore: link")


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[Env], object]
    args: tuple[str, ...]
    exit: int
    says: str = ""  # a fragment the single error line (or the output) must hold
    writes: bool = False  # the command may write (its own files): skip the no-write check


def case(name, setup, args, exit, says="", writes=False) -> Case:
    return Case(name, setup, tuple(args), exit, says, writes)


READERS = [
    ("status", ["status"]),
    ("history", ["history", "ENG-001"]),
    ("changelog", ["changelog", "--dry-run"]),
    ("audit", ["audit", "ENG-001"]),
    ("release-dry", ["release", "--dry-run"]),
]

J2_EXPLOIT = "{{ cycler.__init__.__globals__.os.system('touch %s') }}\n"
ESC_SUBJECT = (
    b"fix(ENG-001): \x1b[2J\x1b[31mred\x1b]0;pwned title\x07 \x9b31m \x1b]52;c;cHduZWQ=\x07"
)


def bomb() -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, 10):
        refs = ",".join([f"*a{n - 1}"] * 9)
        lines.append(f"a{n}: &a{n} [{refs}]")
    return "\n".join(lines)


def _exploit_template(name: str) -> Callable[[Env], object]:
    def setup(env: Env) -> None:
        env.write(f"templates/{name}", J2_EXPLOIT % (env.outside / PWNED))
        env.commit(b"chore: templates")

    return setup


def _template(name: str, text: str) -> Callable[[Env], object]:
    def setup(env: Env) -> None:
        env.write(f"templates/{name}", text)
        env.commit(b"chore: templates")

    return setup


def _commit(message: bytes, author: str | None = None) -> Callable[[Env], object]:
    def setup(env: Env) -> None:
        env.edit_bytes(lambda b: b + b"\nOne more line.\n")
        env.commit(message, author=author)

    return setup


def _tagged(message: bytes, name: str = "note") -> Callable[[Env], object]:
    return lambda env: env.tag(name, message)


def _fm(key: str, value: str) -> Callable[[Env], object]:
    return lambda env: env.frontmatter(key, value)


def _cfg(section: str, line: str) -> Callable[[Env], object]:
    return lambda env: env.config(section, line)


def _push_remote(env: Env) -> None:
    bare = env.outside / "remote.git"
    git(env.outside, "init", "-q", "--bare", str(bare))
    git(env.root, "remote", "add", "origin", str(bare))
    env.config(
        "library", f'remote = "--receive-pack=touch {env.outside / PWNED}; git-receive-pack"'
    )


def _detached(env: Env) -> None:
    git(env.root, "checkout", "-q", "--detach", "HEAD")


def _bare(env: Env) -> None:
    shutil.rmtree(env.root / "sops")
    for item in list(env.root.iterdir()):
        if item.name != ".git":
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    git(env.root, "config", "core.bare", "true")


def _gitfile(env: Env) -> None:
    shutil.rmtree(env.root / ".git")
    env.write(".git", "gitdir: /nonexistent/elsewhere\n")


def _corrupt_index(env: Env) -> None:
    (env.root / ".git" / "index").write_bytes(b"DIRC\x00\x00\x00\x02garbage" * 4)


def _tag_on_blob(env: Env) -> None:
    blob = git(env.root, "rev-parse", f"HEAD:{ENG1}").strip()
    git(env.root, "tag", "ENG-001/v9.0.0", blob)


def _tag_on_tree(env: Env) -> None:
    tree = git(env.root, "rev-parse", "HEAD^{tree}").strip()
    git(env.root, "tag", "-a", "-m", "tree", "ENG-002/v9.0.0", tree)


def _dirty(env: Env) -> None:
    (env.root / ENG1).write_bytes((env.root / ENG1).read_bytes() + b"\nuncommitted\n")


def _sop_link_outside(env: Env) -> None:
    env.link("sops/engineering/ENG-009-outside.md", env.outside / "secret.md")


def _dept_link(env: Env) -> None:
    env.link("sops/engineering", env.outside / "dept")


def _no_repo(env: Env) -> None:
    shutil.rmtree(env.root / ".git")


CASES: list[Case] = [
    # --- sopgit.toml ------------------------------------------------------------------
    case("remote-receive-pack-push", _push_remote, ["release", "--push"], 2, "remote"),
    case("remote-receive-pack-status", _push_remote, ["status"], 2, "remote"),
    *[
        case(f"remote-{n}", _cfg("library", f"remote = {v}"), ["status"], 2, "remote")
        for n, v in [
            ("option", '"-oProxyCommand=touch /tmp/x"'),
            ("semicolon", '"origin; rm -rf ~"'),
            ("empty", '""'),
            ("space", '"or igin"'),
            ("url", '"ext::sh -c touch% /tmp/x"'),
            ("escape", '"\\u001b[31m"'),
        ]
    ],
    *[
        case(f"tag-format-{n}", _cfg("versioning", f"tag_format = {v}"), ["status"], 2, "tag")
        for n, v in [
            ("lock", '"{id}/v{version}.lock"'),
            ("space", '"{id} v{version}"'),
            ("dotdot", '"{id}..{version}"'),
            ("dash", '"-{id}/{version}"'),
            ("tilde", '"{id}/v{version}~1"'),
            ("colon", '"{id}:{version}"'),
            ("escape", '"{id}/v{version}\\u001b"'),
            ("at-brace", '"{id}@{{version}"'),
            ("star", '"{id}/*{version}"'),
            ("missing-id", '"v{version}"'),
        ]
    ],
    case("branch-option", _cfg("library", 'release_branch = "--force"'), ["status"], 2, "branch"),
    case("branch-dotdot", _cfg("library", 'release_branch = "a..b"'), ["status"], 2, "branch"),
    *[
        case(f"interval-{n}", _cfg("review", f"interval_days = {v}"), ["status"], 2, "interval")
        for n, v in [
            ("huge", "99999999999999"),
            ("zero", "0"),
            ("negative", "-5"),
            ("string", '"365"'),
            ("float", "1e300"),
            ("bool", "true"),
        ]
    ],
    case("root-parent", _cfg("library", 'root = "../outside"'), ["status"], 2, "root"),
    case("root-absolute", _cfg("library", 'root = "/etc"'), ["status"], 2, "root"),
    case(
        "config-not-toml",
        lambda env: env.write("sopgit.toml", "[library\nname = 1\n"),
        ["status"],
        2,
        "TOML",
    ),
    case(
        "config-not-utf8",
        lambda env: env.write("sopgit.toml", b'[library]\nname = "\xff\xfe"\n'),
        ["status"],
        2,
        "UTF-8",
    ),
    case(
        "config-escape-key",
        lambda env: env.write("sopgit.toml", '[library]\n"\\u001b]0;x\\u0007" = 1\n'),
        ["status"],
        2,
        "unknown key",
    ),
    case(
        "config-symlink",
        lambda env: env.link("sopgit.toml", env.outside / "secret.toml"),
        ["status"],
        2,
        "symbolic link",
    ),
    # --- frontmatter ------------------------------------------------------------------
    *[
        case(f"date-{n}-{c}", _fm("lastUpdated", v), args, code, says)
        for n, v in [
            ("feb30", "2026-02-30"),
            ("month13", "2026-13-45"),
            ("t2561", "2026-01-01T25:61"),
            ("hour25", "2026-01-01 25:61:00"),
            ("year0", "0000-00-00"),
        ]
        for c, args, code, says in [
            ("check", ["check"], 1, "lastUpdated"),
            ("status", ["status"], 0, ""),
            ("release", ["release", "--dry-run", "ENG-001"], 1, "ENG-001"),
        ]
    ],
    case("date-int-check", _fm("lastUpdated", "20260101"), ["check"], 1, "lastUpdated"),
    *[
        case(f"alias-bomb-{c}", lambda env: env.frontmatter("bomb", "1\n" + bomb()), args, code)
        for c, args, code in [
            ("check", ["check"], 1),
            ("status", ["status"], 0),
            ("history", ["history", "ENG-002"], 0),
            ("changelog", ["changelog", "--dry-run"], 0),
        ]
    ],
    case("anchor", _fm("owner", "&who Ana"), ["check"], 1, "anchor"),
    case("alias", lambda env: env.frontmatter("x", "&a 1\ny: *a"), ["check"], 1, "anchor"),
    case("duplicate-version-check", _fm("status", "draft\nversion: 9.9.9"), ["check"], 1, "twice"),
    case(
        "duplicate-version-release",
        _fm("status", "draft\nversion: 9.9.9"),
        ["release", "--dry-run", "ENG-001"],
        2,
        "does not parse",
    ),
    case("sop-id-int", _fm("sop_id", "12"), ["check"], 1, "sop_id"),
    case("sop-id-list", _fm("sop_id", "[ENG-001]"), ["check"], 1, "sop_id"),
    case("interval-fm-huge", _fm("reviewIntervalDays", "99999999999999"), ["check"], 1, "review"),
    case("interval-fm-huge-status", _fm("reviewIntervalDays", "99999999999999"), ["status"], 0),
    case("version-v-prefix", _fm("version", "v1.2.3"), ["check"], 1, "version"),
    case("status-final", _fm("status", "final"), ["check"], 1, "status"),
    case("python-tag", _fm("tags", "!!python/object/apply:os.system ['touch x']"), ["check"], 1),
    case(
        "huge-frontmatter",
        lambda env: env.frontmatter("blob", "'" + "x" * 70_000 + "'"),
        ["check"],
        1,
        "KiB",
    ),
    case("deep-nesting", _fm("deep", "[" * 3000 + "]" * 3000), ["check"], 1, "deeper"),
    case("version-huge-float", _fm("version", "1e999"), ["check"], 1, "version"),
    *[
        case(f"title-{n}-{c}", _fm("title", v), args, 0)
        for n, v in [
            ("esc", '"\\e[2J\\e[31mRed"'),
            ("osc", '"\\e]0;pwned\\a title"'),
            ("c1", '"\\x9b31m C1"'),
            ("bidi", '"\\u202eevil\\u202c"'),
            ("cr", '"Fake\\rline"'),
        ]
        for c, args in [("status", ["status"]), ("history", ["history", "ENG-001"])]
    ],
    case("title-esc-audit", _fm("title", '"\\e]8;;http://x\\e\\\\link"'), ["audit", "ENG-001"], 0),
    case(
        "title-esc-release",
        _fm("title", '"\\e[2JDeploy"'),
        ["release", "--dry-run", "ENG-001"],
        0,
    ),
    # --- file bytes -------------------------------------------------------------------
    case(
        "unclosed-frontmatter",
        lambda env: env.edit_bytes(lambda b: b.replace(b"\n---\n", b"\n", 2)[4:]),
        ["check"],
        1,
    ),
    case("no-frontmatter", lambda env: env.edit_bytes(lambda b: b"# Just text\n"), ["check"], 1),
    case(
        "frontmatter-list", lambda env: env.edit_bytes(lambda b: b"---\n- a\n---\n"), ["check"], 1
    ),
    case(
        "nul-bytes",
        lambda env: env.edit_bytes(lambda b: b.replace(b"title:", b"ti\0tle:")),
        ["check"],
        1,
    ),
    case(
        "invalid-utf8-frontmatter",
        lambda env: env.edit_bytes(lambda b: b.replace(b"title: ", b"title: \xff\xfe")),
        ["check"],
        1,
    ),
    *[
        case(
            f"invalid-utf8-body-{c}",
            lambda env: env.edit_bytes(lambda b: b + b"\xff\xc3(\x1b\n"),
            args,
            0,
        )
        for c, args in [("status", ["status"]), ("release", ["release", "--dry-run", "ENG-001"])]
    ],
    case(
        "crlf-bom-check",
        lambda env: env.edit_bytes(lambda b: b"\xef\xbb\xbf" + b.replace(b"\n", b"\r\n")),
        ["check", ENG1],
        0,
    ),
    case(
        "cr-only-release-dry",
        lambda env: env.edit_bytes(lambda b: b.replace(b"\n", b"\r")),
        ["release", "--dry-run", "ENG-001"],
        0,
    ),
    case(
        "line-separators",
        lambda env: env.edit_bytes(lambda b: b + "x\u2028y\u0085z\x1c\n".encode()),
        ["status"],
        0,
    ),
    # --- commit messages --------------------------------------------------------------
    *[
        case(f"x1e-commit-{n}", _commit(b"fix(ENG-001): a\x1eb\n\nbody\x1e\x1e\n"), args, 0)
        for n, args in READERS
    ],
    *[case(f"esc-subject-{n}", _commit(ESC_SUBJECT), args, 0) for n, args in READERS],
    *[
        case(f"esc-author-{n}", _commit(b"fix(ENG-001): x", "\x1b[31mMallory\x1b]0;t\x07"), args, 0)
        for n, args in READERS
    ],
    case("cr-subject", _commit(b"fix(ENG-001): ok\rfake: all good\n"), ["history", "ENG-001"], 0),
    case("invalid-utf8-subject", _commit(b"fix(ENG-001): caf\xe9 \xff\n"), ["status"], 0),
    case("long-subject", _commit(b"fix(ENG-001): " + b"x" * 200_000), ["status"], 0),
    case(
        "esc-trailer",
        _commit(b"fix(ENG-001): t\n\nApproved-by: \x1b[31mBoss\x1b[0m (manager)\n"),
        ["release", "--dry-run", "ENG-001"],
        0,
    ),
    case(
        "huge-pr-number",
        _commit(b"fix(ENG-001): x (#99999999999999999999999)\n"),
        ["history", "ENG-001"],
        0,
    ),
    case(
        "forged-release-trailer",
        _commit(b"fix(ENG-001): x\n\nSopgit-Release: ENG-001 v\x1b[2J9.9.9\n"),
        ["status"],
        0,
    ),
    # --- tags -------------------------------------------------------------------------
    *[case(f"x1e-tag-{n}", _tagged(b"tag\x1emessage\x1e\n"), args, 0) for n, args in READERS],
    case("esc-tag-message", _tagged(b"\x1b]0;pwned\x07\x1b[2J\n"), ["audit", "ENG-001"], 0),
    case(
        "sop-tag-esc-message",
        lambda env: env.tag("ENG-002/v7.0.0", b"ENG-002 v7.0.0\n\n\x1b[2Jx: \x1b]0;t\x07.\n"),
        ["history", "ENG-002"],
        0,
    ),
    case(
        "tag-huge-version",
        lambda env: env.tag("ENG-002/v99999999999999999999.0.0", b"big\n"),
        ["status"],
        0,
    ),
    case("tag-on-blob", _tag_on_blob, ["status"], 0),
    case("tag-on-blob-history", _tag_on_blob, ["history", "ENG-001"], 0),
    case("tag-on-tree", _tag_on_tree, ["status"], 0),
    case("tag-not-semver", lambda env: git(env.root, "tag", "ENG-001/vabc"), ["status"], 0),
    # --- names and arguments ----------------------------------------------------------
    case(
        "filename-esc",
        lambda env: (
            env.write("sops/engineering/ENG-009-\x1b[31mred.md", b"# x\n"),
            env.commit(b"x"),
        ),
        ["check"],
        1,
    ),
    case(
        "filename-newline",
        lambda env: (env.write("sops/engineering/ENG-009-a\nb.md", b"# x\n"), env.commit(b"x")),
        ["status"],
        0,
    ),
    case("new-title-esc", lambda env: None, ["new", "\x1b[2JTitle", "--dept", "ENG"], 2, "title"),
    case("new-dept-path", lambda env: None, ["new", "Title", "--dept", "../x"], 2, "department"),
    case("history-id-esc", lambda env: None, ["history", "ENG-001\x1b[2J"], 2, "no SOP"),
    case("history-id-newline", lambda env: None, ["history", "ENG-001\nfake"], 2, "no SOP"),
    case(
        "changelog-into-git-head",
        lambda env: None,
        ["changelog", "--output", ".git/HEAD"],
        2,
        ".git",
    ),
    case(
        "changelog-into-git-hook",
        lambda env: None,
        ["changelog", "--output", ".git/hooks/pre-commit"],
        2,
        ".git",
    ),
    case("index-into-git", lambda env: None, ["index", "--output", ".git/config"], 2, ".git"),
    case(
        "audit-into-git",
        lambda env: None,
        ["audit", "ENG-001", "--output", ".git/description"],
        2,
        ".git",
    ),
    case("build-into-git", lambda env: None, ["build", "--output", ".git/site"], 2, ".git"),
    case("release-date-feb30", lambda env: None, ["release", "--date", "2026-02-30"], 2, "date"),
    case("release-id-option", lambda env: None, ["release", "--dry-run", "--", "--force"], 2),
    # --- symbolic links ---------------------------------------------------------------
    case("sop-link-outside-check", _sop_link_outside, ["check"], 1, "symbolic link"),
    case("sop-link-outside-status", _sop_link_outside, ["status"], 0),
    case("sop-link-outside-build", _sop_link_outside, ["build", "--dry-run"], 0),
    case("sop-link-outside-release", _sop_link_outside, ["release", "--dry-run"], 0),
    case(
        "sop-link-inside",
        lambda env: env.link(
            "sops/engineering/ENG-009-copy.md", "ENG-002-code-review-standards.md"
        ),
        ["check"],
        1,
        "symbolic link",
    ),
    case(
        "dept-link-new", _dept_link, ["new", "Rollback", "--dept", "ENG", "--no-branch"], 2, "link"
    ),
    case("dept-link-check", _dept_link, ["check"], 1, "symbolic link"),
    case(
        "changelog-link",
        lambda env: env.link("CHANGELOG.md", env.outside / "secret.txt"),
        ["changelog"],
        2,
        "symbolic link",
    ),
    case(
        "index-link",
        lambda env: env.link("SOPS.md", env.outside / "secret.txt"),
        ["index"],
        2,
        "symbolic link",
    ),
    case(
        "codeowners-link",
        lambda env: env.link(".github/CODEOWNERS", env.outside / "secret.txt"),
        ["codeowners"],
        2,
        "symbolic link",
    ),
    case(
        "github-folder-link",
        lambda env: env.link(".github", env.outside),
        ["codeowners"],
        2,
        "link",
    ),
    case(
        "template-link",
        lambda env: env.link("templates/sop.md.j2", env.outside / "secret.txt"),
        ["new", "Rollback", "--dept", "ENG", "--no-branch"],
        2,
        "symbolic link",
    ),
    case(
        "templates-folder-link",
        lambda env: env.link("templates", env.outside),
        ["changelog", "--dry-run"],
        2,
        "symbolic link",
    ),
    case(
        "output-link-folder",
        lambda env: env.link("docs", env.outside),
        ["changelog", "--output", "docs/CHANGELOG.md"],
        2,
        "symbolic link",
    ),
    # --- templates --------------------------------------------------------------------
    case(
        "j2-exploit-new",
        _exploit_template("sop.md.j2"),
        ["new", "X", "--dept", "ENG"],
        2,
        "template",
    ),
    case(
        "j2-exploit-changelog", _exploit_template("changelog.md.j2"), ["changelog"], 2, "template"
    ),
    case("j2-exploit-index", _exploit_template("index.md.j2"), ["index"], 2, "template"),
    case("j2-exploit-audit", _exploit_template("audit.md.j2"), ["audit", "ENG-001"], 2, "template"),
    case("j2-exploit-site", _exploit_template("site/base.html.j2"), ["build"], 2, "template"),
    case(
        "j2-syntax",
        _template("sop.md.j2", "{% if %}\n"),
        ["new", "X", "--dept", "ENG"],
        2,
        "sop.md.j2:1",
    ),
    case(
        "j2-unknown",
        _template("changelog.md.j2", "\n{{ nope }}\n"),
        ["changelog"],
        2,
        "changelog.md.j2:2",
    ),
    case(
        "j2-zero",
        _template("changelog.md.j2", "{{ 1 / 0 }}\n"),
        ["changelog"],
        2,
        "changelog.md.j2:1",
    ),
    case(
        "j2-mro", _template("index.md.j2", "{{ ''.__class__.__mro__ }}\n"), ["index"], 2, "template"
    ),
    case(
        "j2-range",
        _template("index.md.j2", "{{ range(10**9) | list }}\n"),
        ["index"],
        2,
        "template",
    ),
    case(
        "j2-include-abs",
        _template("changelog.md.j2", "{% include '/etc/passwd' %}\n"),
        ["changelog"],
        2,
        "template",
    ),
    case(
        "j2-include-parent",
        _template("changelog.md.j2", "{% include '../sopgit.toml' %}\n"),
        ["changelog"],
        2,
        "template",
    ),
    case(
        "j2-self",
        _template("audit.md.j2", "{{ self.__init__.__globals__ }}\n"),
        ["audit", "ENG-001"],
        2,
        "template",
    ),
    case(
        "j2-prints-escapes",
        _template("changelog.md.j2", '{{ "\\x1b[2J\\x1b]0;t\\x07" }}\n'),
        ["changelog", "--dry-run"],
        0,
    ),
    # --- repository states ------------------------------------------------------------
    case("detached-release", _detached, ["release"], 2, "detached"),
    case("detached-status", _detached, ["status"], 0),
    case("dirty-release", _dirty, ["release"], 2, "uncommitted"),
    case("not-a-repo", _no_repo, ["status"], 2, "git repository"),
    case("bare-repo", _bare, ["status"], 2, "bare"),
    case("gitfile-nowhere", _gitfile, ["status"], 2, "repository"),
    case("corrupt-index", _corrupt_index, ["release"], 2, "git"),
    case(
        "wrong-branch",
        lambda env: git(env.root, "checkout", "-q", "-b", "x"),
        ["release"],
        2,
        "main",
    ),
    case(
        "merge-head",
        lambda env: (env.root / ".git" / "MERGE_HEAD").write_text(
            git(env.root, "rev-parse", "HEAD")
        ),
        ["status"],
        0,
    ),
    case("push-no-remote", lambda env: None, ["release", "--push", "--dry-run"], 2, "remote"),
]


# --- running -------------------------------------------------------------------------


def state(env: Env) -> dict[str, object]:
    """The work tree's bytes (links as their targets), refs, HEAD, and the outside folder."""

    def files(base: Path, skip_git: bool) -> dict[str, object]:
        found: dict[str, object] = {}
        for folder, dirs, names in os.walk(base):
            if skip_git and Path(folder) == base:
                dirs[:] = [d for d in dirs if d != ".git"]
            for name in dirs + names:
                path = Path(folder) / name
                key = path.relative_to(base).as_posix()
                if path.is_symlink():
                    found[key] = ("link", os.readlink(path))
                elif path.is_file():
                    found[key] = path.read_bytes()
        return found

    refs = ""
    if (env.root / ".git").is_dir() and (env.root / ".git" / "HEAD").exists():
        refs = subprocess.run(
            ["git", "for-each-ref", "--format=%(refname) %(objectname)"],
            cwd=env.root,
            capture_output=True,
            text=True,
        ).stdout
        refs += subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=env.root, capture_output=True, text=True
        ).stdout
    return {"tree": files(env.root, True), "refs": refs, "outside": files(env.outside, False)}


_BASE: list[Path] = []


def base_library(factory: pytest.TempPathFactory) -> Path:
    if not _BASE:
        root = factory.mktemp("hostile-base") / "lib"
        done = subprocess.run([SOPGIT, "init", "--example", str(root)], capture_output=True)
        assert done.returncode == 0, done.stderr
        _BASE.append(root)
    return _BASE[0]


def run_case(item: Case, tmp_path: Path, factory: pytest.TempPathFactory):
    root = tmp_path / "lib"
    shutil.copytree(base_library(factory), root, symlinks=True)
    outside = tmp_path / "outside"
    (outside / "dept").mkdir(parents=True)
    (outside / "secret.txt").write_text("secret\n")
    (outside / "secret.md").write_text("---\ntitle: Secret\nsop_id: ENG-009\n---\n# Secret\n")
    (outside / "secret.toml").write_text('[library]\nname = "secret"\n')
    env = Env(root, outside)
    item.setup(env)
    before = state(env)
    done = subprocess.run(
        [SOPGIT, "-C", str(root), *item.args],
        capture_output=True,
        env={**os.environ, "SOPGIT_TODAY": "2026-11-22"},
        timeout=120,
    )
    return env, before, done


@pytest.mark.parametrize("item", CASES, ids=[c.name for c in CASES])
def test_hostile_input(item, tmp_path, tmp_path_factory):
    env, before, done = run_case(item, tmp_path, tmp_path_factory)
    out = done.stdout.decode("utf-8", "replace")
    err = done.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err, err
    assert done.returncode == item.exit, f"exit {done.returncode}\n{out[-2000:]}\n{err}"
    assert not RAW_CONTROL.search(out), repr(RAW_CONTROL.search(out))
    assert not RAW_CONTROL.search(err), repr(err)
    lines = err.splitlines()
    if done.returncode == 2 or (done.returncode == 1 and item.args[0] != "check"):
        assert len(lines) == 1, err
        assert lines[0].startswith("sopgit: "), err
    if done.returncode == 1 and item.args[0] == "check":
        assert len(lines) == 1, err  # the summary; the findings are on stdout
    if item.says:
        assert item.says.lower() in (err if done.returncode else out + err).lower() or (
            item.says.lower() in out.lower()
        ), (out[-1500:], err)
    assert not (env.outside / PWNED).exists(), "a planted command ran"
    assert "Secret" not in out + err, "a file outside the repository was read"
    if not item.writes:
        assert state(env) == before


def test_corpus_counts(capsys):
    """The corpus covers every kind of input, at least 100 cases; prints the counts."""
    counts = Counter(c.exit for c in CASES)
    assert len(CASES) >= 100
    assert len({c.name for c in CASES}) == len(CASES)
    labels = {0: "handled as data", 1: "diagnostic/refusal", 2: "error"}
    with capsys.disabled():
        print(
            "\nhostile corpus: "
            + ", ".join(f"exit {k} ({labels[k]}): {counts[k]}" for k in sorted(counts))
            + f", total {len(CASES)}"
        )
    assert set(counts) == {0, 1, 2}
