"""The click commands: parse options, call the core, print. Nothing else lives here.

Modules beyond click are imported inside each command so `sopgit --help` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sopgit.cli.support import (
    SEVERITY_COLOURS,
    STATE_COLOURS,
    clean,
    complete_department,
    complete_sop_id,
    date_option,
    echo,
    echo_json,
    format_option,
    library,
    paint,
    path_arg,
    text_table,
    today,
)

if TYPE_CHECKING:
    from sopgit.commands.release_plan import ReleasePlan
    from sopgit.repo.checking import CheckResult


class SopgitGroup(click.Group):
    """Maps SopgitError to one line on stderr and its exit code; anything else is a bug."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Click's own usage errors are one line too: `sopgit: <what>; see --help`."""
        import sys

        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.ClickException as err:
            where = (
                f"{err.ctx.command_path} --help"
                if isinstance(err, click.UsageError) and err.ctx
                else "sopgit --help"
            )
            echo(clean(f"sopgit: {err.format_message()} (see '{where}')", one_line=True), err=True)
            sys.exit(err.exit_code)
        except click.Abort:
            echo("sopgit: aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        from sopgit.errors import SopgitError

        try:
            return super().invoke(ctx)
        except SopgitError as err:
            echo(clean(f"sopgit: {err}", one_line=True), err=True)
            ctx.exit(err.exit_code)
        except OSError as err:  # a read-only .git or work tree, a full disk
            where = f"{err.filename}: " if err.filename else ""
            what = err.strerror or str(err)
            echo(
                clean(
                    f"sopgit: {where}{what}; check its permissions and the free space",
                    one_line=True,
                ),
                err=True,
            )
            ctx.exit(2)


@click.group(cls=SopgitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-C",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    help="Run as if sopgit was started in DIR.",
    metavar="DIR",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Read the whole history from git; neither read nor write .git/sopgit/cache-v1.bin.",
)
@click.version_option(package_name="sopgit", message="sopgit %(version)s")
@click.pass_context
def cli(ctx: click.Context, directory: Path, no_cache: bool) -> None:
    """Standard Operating Procedures as code: versions, history and releases from git."""
    if not directory.is_dir():
        raise click.UsageError(f"-C {directory}: no such folder")
    ctx.obj = {"cwd": directory.resolve(), "no_cache": no_cache}
    from sopgit.cli import progress_line

    progress_line.enable_if_terminal()


@cli.command()
@click.argument("directory", default=".", metavar="[DIR]")
@click.option("--example", is_flag=True, help="Create the demo library of 14 SOPs in DIR.")
@click.option(
    "--adopt",
    is_flag=True,
    help="Adopt the existing SOP repository in DIR: propose a sopgit.toml that fits it.",
)
@click.option(
    "--baseline",
    is_flag=True,
    help="With --adopt: tag each SOP's stated version on the current commit as a baseline.",
)
@click.option(
    "--action",
    metavar="OWNER/REPO@SHA",
    help="The sopgit action the workflows pin (default: your GitHub remote's owner).",
)
@click.option("--dry-run", is_flag=True, help="Print what would be written; write nothing.")
@click.pass_context
def init(
    ctx: click.Context,
    directory: str,
    example: bool,
    adopt: bool,
    baseline: bool,
    action: str | None,
    dry_run: bool,
) -> None:
    """Create a library in DIR, or adopt the repository there. Never overwrites your files."""
    from sopgit.commands.scaffold import init_library

    target = path_arg(ctx, directory)
    if baseline and not adopt:
        raise click.UsageError("--baseline goes with --adopt")
    if adopt:
        if example:
            raise click.UsageError("--adopt and --example do not go together")
        _adopt(ctx, target, baseline, dry_run)
        return
    report = init_library(target, example=example, dry_run=dry_run, action=action)
    verb = "would create" if dry_run else "created"
    for path in report.created:
        echo(f"{verb}   {path}")
    for path in report.unchanged:
        echo(f"unchanged {path}")
    for path in report.skipped:
        echo(f"skipped   {path} (exists with your changes; left as it is)")
    if report.placeholders and any(p.startswith(".github/workflows/") for p in report.created):
        echo(
            f"sopgit: the workflows name the sopgit action as {' and '.join(report.placeholders)}:"
            " replace them in .github/workflows/sopgit-*.yml with the repository and full"
            " commit of the sopgit you use (or run init with --action OWNER/REPO@SHA)",
            err=True,
        )
    if not dry_run:
        where = directory if directory != "." else "this folder"
        echo(f'Library ready in {where}. Next: sopgit new "Title" --dept ENG', err=True)


def _adopt(ctx: click.Context, target: Path, baseline: bool, dry_run: bool) -> None:
    from sopgit.commands.adopt import adopt_library

    report = adopt_library(target, baseline=baseline, dry_run=dry_run, today=today())
    proposal = report.proposal
    echo(proposal.text, nl=False)  # the proposal, always: written or not
    for finding in report.findings:
        echo(f"sopgit: {finding}", err=True)
    if proposal.errors:
        echo(
            f"sopgit: adoption stopped: {len(proposal.errors)} problem(s) above; "
            "nothing was written",
            err=True,
        )
        ctx.exit(1)
    count = len(proposal.sops)
    echo(f"{count} SOP file{'s' * (count != 1)} identified", err=True)
    left_out = sum(1 for f in report.findings if f.message.startswith("no SOP id in its"))
    if left_out:
        echo(f"{left_out} Markdown file(s) left out (no SOP id; see the notes)", err=True)
    if report.config_written:
        echo("created   sopgit.toml", err=True)
    elif report.config_exists:
        echo("skipped   sopgit.toml (exists with your changes; left as it is)", err=True)
        if baseline:
            echo("baseline  uses the existing sopgit.toml, not the proposal", err=True)
    if not baseline:
        echo(
            "Without a baseline the first release of each SOP continues from the version "
            "its file states; 'sopgit init --adopt --baseline' tags those versions to start "
            "clean.",
            err=True,
        )
    verb = "would tag" if dry_run else "tagged"
    for tag in report.baseline:
        echo(f"{verb} {tag.name} (baseline)", err=True)


@cli.command()
@click.argument("title")
@click.option(
    "--dept",
    "dept",
    required=True,
    help="Department code, e.g. ENG.",
    shell_complete=complete_department,
)
@click.option("--owner", help="Owner, e.g. 'Engineering / Release Manager (@acme/release)'.")
@click.option("--description", help="One line saying what the procedure is for.")
@click.option("--tag", "tags", multiple=True, help="A tag (repeat, or comma-separated).")
@click.option("--no-branch", is_flag=True, help="Write the file on the current branch.")
@click.option("--dry-run", is_flag=True, help="Print the id, path and branch; write nothing.")
@click.pass_context
def new(
    ctx: click.Context,
    title: str,
    dept: str,
    owner: str | None,
    description: str | None,
    tags: tuple[str, ...],
    no_branch: bool,
    dry_run: bool,
) -> None:
    """Start a new SOP from the template on its own draft branch; prints its path."""
    from sopgit.commands.scaffold import new_sop

    created = new_sop(
        library(ctx),
        title,
        dept,
        owner=owner,
        description=description,
        tags=list(tags),
        branch=not no_branch,
        dry_run=dry_run,
    )
    if created.branch:
        prefix = "would create branch" if dry_run else "on branch"
        echo(f"{prefix} {created.branch} ({created.sop_id})", err=True)
    echo(created.path)


@cli.command()
@click.argument("sop_id", metavar="ID", shell_complete=complete_sop_id)
@click.option("--dry-run", is_flag=True, help="Print the branch name; create nothing.")
@click.pass_context
def draft(ctx: click.Context, sop_id: str, dry_run: bool) -> None:
    """Start a revision draft branch for an existing SOP."""
    from sopgit.commands.scaffold import start_draft

    branch = start_draft(library(ctx), sop_id, dry_run=dry_run)
    echo(branch)


@cli.command()
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@format_option(
    "text",
    "github",
    "json",
    help="text for people, github for workflow annotations, json for tools.",
)
@click.option("--list-rules", is_flag=True, help="List the rules and what they check.")
@click.option(
    "--fail-on-overdue", is_flag=True, help="Report SOPs past their periodic review as errors."
)
@click.pass_context
def check(
    ctx: click.Context, paths: tuple[str, ...], fmt: str, list_rules: bool, fail_on_overdue: bool
) -> None:
    """Check SOP files (default: the whole library). Exit 1 when problems are found."""
    if list_rules:
        from sopgit.core.rules import RULES

        for rule, what in RULES.items():
            echo(f"{rule:20} {what}")
        return
    from sopgit.repo.checking import check_library

    result = check_library(
        library(ctx),
        [path_arg(ctx, p) for p in paths],
        overdue_on=today() if fail_on_overdue else None,
    )
    _print_check(result, fmt)
    ctx.exit(1 if result.errors else 0)


def _print_check(result: CheckResult, fmt: str) -> None:
    if fmt == "json":
        echo_json(
            json.dumps(
                {
                    "files": list(result.files),
                    "errors": result.errors,
                    "warnings": result.warnings,
                    "diagnostics": [d.as_dict() for d in result.diagnostics],
                },
                indent=2,
            )
        )
        return
    for d in result.diagnostics:
        if fmt == "github":
            message = d.message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            echo(f"::{d.severity} file={d.path},line={d.line},title=sopgit {d.rule}::{message}")
        else:
            severity = paint(clean(d.severity), fg=SEVERITY_COLOURS.get(d.severity), bold=True)
            click.echo(f"{clean(d.path)}:{d.line}: {severity} [{clean(d.rule)}] {clean(d.message)}")
    files = len(result.files)
    summary = f"{files} file{'s' * (files != 1)} checked: "
    summary += f"{result.errors} error{'s' * (result.errors != 1)}, "
    summary += f"{result.warnings} warning{'s' * (result.warnings != 1)}"
    echo(summary, err=True)


@cli.command()
@format_option("text", "json")
@click.pass_context
def status(ctx: click.Context, fmt: str) -> None:
    """One row per SOP: version, state, pending bump and next version, review due."""
    from sopgit.repo.scan_start import start_early

    # where nothing is kept yet, or with --no-cache: git log runs while we import
    start_early(ctx.obj["cwd"], use_cache=not ctx.obj.get("no_cache", False))
    from sopgit.core.status import dated
    from sopgit.repo.status_cache import library_status

    snapshot = library_status(library(ctx))
    rows = dated(snapshot.rows, today())
    if fmt == "json":
        echo_json(json.dumps([row.as_dict() for row in rows], indent=2))
        return
    header = ["ID", "TITLE", "VERSION", "STATE", "PENDING", "NEXT", "UPDATED", "REVIEW DUE"]
    body = [
        [
            r.id,
            r.title,
            r.shown_version or "-",
            r.state,
            f"{r.pending} ({r.bump})" if r.pending else "-",
            r.next_version or "-",
            r.last_updated or "-",
            r.review_due or "-",
        ]
        for r in rows
    ]
    click.echo(text_table([[clean(c) for c in row] for row in body], header, _state_style))
    if not snapshot.on_release_branch and snapshot.branch:
        echo(
            f"(on branch {snapshot.branch}: versions with pending changes show as drafts)", err=True
        )


def _state_style(column: int, cell: str) -> dict[str, Any] | None:
    """The STATE column of status as a coloured badge."""
    colour = STATE_COLOURS.get(cell) if column == 3 else None
    return {"fg": colour, "bold": True} if colour else None


@cli.command()
@click.argument("sop_id", metavar="ID", shell_complete=complete_sop_id)
@format_option("text", "markdown", "json", help="text, markdown (the managed table) or json.")
@click.pass_context
def history(ctx: click.Context, sop_id: str, fmt: str) -> None:
    """The revision history of one SOP, derived from its release tags."""
    from sopgit.commands.history import sop_history
    from sopgit.core.history import table_lines

    lib = library(ctx)
    found = sop_history(lib, sop_id)
    sop, version, rows = found.sop, found.version, found.rows
    if fmt == "markdown":
        form = lib.config.format
        if form.history.markers:
            echo("\n".join(table_lines(rows)))
        else:  # the library's own table: its columns, order and dates
            from sopgit.repo.docformat import history_table_lines

            echo("\n".join(history_table_lines(rows, form, sop.doc)))
        return
    pending = [
        {
            "commit": c.commit.sha,
            "subject": c.commit.subject,
            "author": c.commit.author_name,
            "bump": c.bump,
            "pull_request": c.pull_request,
        }
        for c in version.pending
    ]
    if fmt == "json":
        data = {
            "id": sop.sop_id,
            "title": sop.meta("title", sop.sop_id),
            "path": sop.path,
            "version": str(version.effective) if version.effective else None,
            "next_version": str(version.next) if version.next else None,
            "bump": version.bump,
            "releases": [row.as_dict() for row in rows],
            "pending": pending,
        }
        echo_json(json.dumps(data, indent=2))
        return
    echo(f"{sop.sop_id} {sop.meta('title')} ({sop.path})")
    if rows:
        marks = {"hand": " *", "baseline": " (baseline)"}
        body = [
            [
                r.version + marks.get(r.source, ""),
                r.date or "-",
                r.description,
                r.author or "-",
                r.approved_by or "-",
            ]
            for r in rows
        ]
        echo(text_table(body, ["VERSION", "DATE", "DESCRIPTION", "AUTHOR", "APPROVED BY"]))
        if any(r.source == "hand" for r in rows):
            echo("* recorded by hand in the file's history table, before sopgit")
    else:
        echo("not released yet")
    if version.pending:
        echo(f"\nPending: {len(version.pending)} change(s), next {version.next} ({version.bump})")
        for change in version.pending:
            echo(f"  {change.commit.sha[:10]} {change.bump:5} {change.commit.subject}")


@cli.command()
@click.argument("sop_ids", nargs=-1, metavar="[ID]...", shell_complete=complete_sop_id)
@click.option("--major", is_flag=True, help="Cut a major version whatever the commits say.")
@click.option("--minor", is_flag=True, help="Cut a minor version whatever the commits say.")
@click.option("--patch", is_flag=True, help="Cut a patch version whatever the commits say.")
@click.option("--message", "-m", help="The description of this version in the history.")
@click.option("--date", "date", help="The release date YYYY-MM-DD (default: today).")
@click.option("--dry-run", is_flag=True, help="Print the diffs, the commit and the tags only.")
@click.option("--push", is_flag=True, help="Push the commit and the new tags to the remote.")
@click.option("--sign", is_flag=True, help="Sign the tags (git's gpg or ssh signing setup).")
@click.option(
    "--allow-branch", is_flag=True, help="Release on a branch other than the release branch."
)
@click.option(
    "--allow-unapproved", is_flag=True, help="Release although approvals are missing (recorded)."
)
@click.option("--reason", help="Why --allow-unapproved: recorded in the tag.")
@click.option("--github-token", help="Read pull request reviews with this token ($GITHUB_TOKEN).")
@click.option(
    "--fail-if-empty",
    is_flag=True,
    help="Exit 1 when no SOP has pending changes (default: say so and exit 0).",
)
@click.option(
    "--pull-request",
    is_flag=True,
    help="Make the release commit on branch sopgit/release, push it and open or update "
    "its pull request; no tags (for a protected branch).",
)
@click.option(
    "--tag-merged",
    is_flag=True,
    help="Tag the merged release pull request as a direct release would (with --push: "
    "push the tags); nothing when it is tagged already.",
)
@click.pass_context
def release(
    ctx: click.Context,
    sop_ids: tuple[str, ...],
    major: bool,
    minor: bool,
    patch: bool,
    message: str | None,
    date: str | None,
    dry_run: bool,
    push: bool,
    sign: bool,
    allow_branch: bool,
    allow_unapproved: bool,
    reason: str | None,
    github_token: str | None,
    fail_if_empty: bool,
    pull_request: bool,
    tag_merged: bool,
) -> None:
    """Cut versions: update the files, make one commit and one annotated tag per SOP.

    Refused (exit 1) when an approval that [approval] requires is missing. With nothing
    pending it says "nothing to release" and exits 0 (1 with --fail-if-empty).
    """
    from sopgit.commands.release import (
        ReleaseOptions,
        run_release,
        run_release_pull_request,
        run_tag_merged,
    )
    from sopgit.commands.release_plan import bump_option

    if tag_merged:
        given = [
            name
            for name, on in (
                ("ID", bool(sop_ids)),
                ("--major", major),
                ("--minor", minor),
                ("--patch", patch),
                ("--message", message is not None),
                ("--date", date is not None),
                ("--dry-run", dry_run),
                ("--allow-unapproved", allow_unapproved),
                ("--pull-request", pull_request),
                ("--fail-if-empty", fail_if_empty),
            )
            if on
        ]
        if given:
            raise click.UsageError(
                f"--tag-merged takes what to tag from the merged release commit, not {given[0]}"
            )
        done = run_tag_merged(
            ctx.obj["cwd"],
            push=push,
            sign=sign,
            github_token=github_token,
            use_cache=not ctx.obj["no_cache"],
            listener=_ReleaseEcho(),
        )
        if done.plan is None:
            echo(
                f"nothing to tag: release commit {done.commit[:10]} is tagged already"
                if done.commit
                else "nothing to tag: no release commit in the history of HEAD",
                err=True,
            )
        elif done.pushed:
            echo(f"pushed {len(done.plan.tags)} tag(s) to {done.remote}", err=True)
        return
    release_date = date_option(date)
    force = bump_option(major, minor, patch)
    if allow_unapproved != bool(reason and reason.strip()):
        raise click.UsageError("--allow-unapproved and --reason TEXT go together")
    options = ReleaseOptions(
        date=release_date,
        sop_ids=sop_ids,
        force_bump=force,
        message=message,
        dry_run=dry_run,
        push=push,
        sign=sign,
        allow_branch=allow_branch,
        allow_unapproved=reason if allow_unapproved else None,
        github_token=github_token,
        fail_if_empty=fail_if_empty,
    )
    command = run_release_pull_request if pull_request else run_release
    result = command(
        ctx.obj["cwd"], options, use_cache=not ctx.obj["no_cache"], listener=_ReleaseEcho()
    )
    if result.plan is None:
        from sopgit.commands.release import NOTHING_TO_RELEASE

        echo(NOTHING_TO_RELEASE, err=True)
        return
    if result.dry_run:
        for update in result.plan.updates:
            echo(update.diff())
        echo("commit:\n" + _indent(result.plan.commit_message))
        for tag in result.plan.tags:
            echo(f"tag {tag.name}:\n" + _indent(tag.message))
        return
    if result.pull_request is not None:
        verb = "opened" if result.opened else "updated"
        assert result.commit is not None
        echo(
            f"{verb} pull request #{result.pull_request} {result.pull_request_url} "
            f"(release commit {result.commit[:10]} on {result.branch}; tags after the merge)",
            err=True,
        )
    elif result.pushed:
        echo(
            f"pushed {result.branch} and {len(result.plan.tags)} tag(s) to {result.remote}",
            err=True,
        )


class _ReleaseEcho:
    """Prints what a release says while it runs: warnings, then the tags it made."""

    def notice(self, text: str) -> None:
        echo(text, err=True)

    def released(self, plan: ReleasePlan, commit: str) -> None:
        for tag in plan.tags:
            echo(
                f"{tag.sop_id} {tag.previous or '-'} -> {tag.version} ({tag.bump})  tag {tag.name}"
            )
        echo(f"release commit {commit[:10]}", err=True)


def _indent(text: str) -> str:
    return "".join(f"    {line}" for line in text.splitlines(keepends=True))


@cli.group()
def hooks() -> None:
    """Manage sopgit's git hooks."""


@hooks.command("install")
@click.option("--dry-run", is_flag=True, help="Print what would be installed.")
@click.pass_context
def hooks_install(ctx: click.Context, dry_run: bool) -> None:
    """Install the pre-commit and commit-msg hooks; existing hooks keep running first."""
    from sopgit.commands.hooks import install_hooks
    from sopgit.repo.git import GitRepo

    for item in install_hooks(GitRepo.open(ctx.obj["cwd"]), dry_run=dry_run):
        verb = "would install" if dry_run else "installed"
        kept = f" (your hook kept as {item.legacy.name}, run first)" if item.legacy else ""
        echo(f"{verb} {item.path}{kept}")


@cli.group(hidden=True)
def hook() -> None:
    """Entry points that the installed git hooks call."""


@hook.command("pre-commit")
@click.argument("files", nargs=-1)
@click.pass_context
def hook_pre_commit(ctx: click.Context, files: tuple[str, ...]) -> None:
    from sopgit.commands.hooks import pre_commit, run_by_release

    if run_by_release():
        return  # sopgit's own release commit: checked before it was made
    result = pre_commit(library(ctx, recover=False), [path_arg(ctx, f) for f in files])
    if result.diagnostics:
        _print_check(result, "text")
    if result.errors:
        echo(
            "sopgit: commit stopped; fix the problems above (or commit with --no-verify)", err=True
        )
    ctx.exit(1 if result.errors else 0)


@hook.command("commit-msg")
@click.argument("message_file")
@click.pass_context
def hook_commit_msg(ctx: click.Context, message_file: str) -> None:
    from sopgit.commands.hooks import commit_msg_problem, run_by_release

    if run_by_release():
        return
    lib = library(ctx, recover=False)
    problem = commit_msg_problem(lib, path_arg(ctx, message_file))
    if problem is None:
        return
    if lib.config.commit_msg == "block":
        echo(f"sopgit: commit stopped: {problem}", err=True)
        ctx.exit(1)
    echo(f"sopgit: warning: {problem}", err=True)


@cli.command("run-args", hidden=True)
@click.pass_context
def run_args(ctx: click.Context) -> None:
    """Run the sopgit command line in $SOPGIT_ARGS, split with shell quoting (the action's
    entry point: its `args` input never passes through a shell or eval)."""
    import os
    import shlex

    raw = os.environ.get("SOPGIT_ARGS", "")
    try:
        words = shlex.split(raw)
    except ValueError as err:
        raise click.UsageError(f"SOPGIT_ARGS={raw!r} cannot be split: {err}") from None
    if words[:1] == ["sopgit"]:
        words = words[1:]
    if not words:
        raise click.UsageError("SOPGIT_ARGS is empty; give the sopgit command to run")
    if "run-args" in words[:1]:
        raise click.UsageError("SOPGIT_ARGS cannot run run-args itself")
    root = ctx.find_root().command
    with root.make_context("sopgit", words, parent=None) as sub:
        root.invoke(sub)


def _register_command_modules() -> None:
    """Commands that live in their own modules (each imports only click at load)."""
    from sopgit.cli import approvals as cli_approvals
    from sopgit.cli import export as cli_export
    from sopgit.cli import lifecycle as cli_lifecycle
    from sopgit.cli import publish as cli_publish

    for module in (cli_approvals, cli_export, cli_lifecycle, cli_publish):
        module.register(cli)


_register_command_modules()


def main() -> None:
    cli(prog_name="sopgit")


if __name__ == "__main__":  # pragma: no cover
    main()
