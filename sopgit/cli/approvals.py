"""Commands of review rounds and approvals: approve, review-round, codeowners.

Registered on the main group by sopgit.cli.main; like it, imports only click at load.
"""

from __future__ import annotations

import json

import click

from sopgit.cli.support import complete_sop_id, echo, echo_json, format_option, library


def register(group: click.Group) -> None:
    """Add this module's commands to GROUP."""
    for command in (approve, review_round, codeowners):
        group.add_command(command)


@click.command()
@click.argument("sop_id", metavar="ID", shell_complete=complete_sop_id)
@click.option("--role", help="The role you sign for, as [approval.roles] names it.")
@click.option("--reviewed", is_flag=True, help="Record a review (Reviewed-by), not an approval.")
@click.option("--sign", is_flag=True, help="Sign the commit (git commit -S; gpg or ssh setup).")
@click.option("--dry-run", is_flag=True, help="Print the approval commit's message only.")
@click.pass_context
def approve(
    ctx: click.Context,
    sop_id: str,
    role: str | None,
    reviewed: bool,
    sign: bool,
    dry_run: bool,
) -> None:
    """Approve an SOP's pending changes as the git user: an empty commit with trailers.

    For teams that do not review on GitHub. The commit carries `Approved-by: Name
    <email> (ROLE) TIME` and `Sop-Id: ID`; with --sign (or commit.gpgsign) it is signed,
    which `[approval] require_signed` asks for.
    """
    from sopgit.github.rounds import approve as record
    from sopgit.repo.snapshot import load_snapshot

    snapshot = load_snapshot(library(ctx))
    done = record(snapshot, sop_id, role, reviewed=reviewed, sign=sign, dry_run=dry_run)
    if dry_run:
        echo(done.message, nl=False)
        return
    assert done.commit is not None
    as_role = f" as {done.role}" if done.role else ""
    echo(f"{done.sop_id}: {done.meaning}{as_role} by {done.signer.label} ({done.commit[:10]})")


@click.command("review-round")
@click.option("--pr", "pull_request", type=int, help="The pull request (default: the run's).")
@click.option("--base", help="The branch the round merges into (default: the release branch).")
@format_option(
    "text", "json", "markdown", help="text, json, or markdown (the pull request comment)."
)
@click.option("--comment", is_flag=True, help="Post the report on the pull request, or update it.")
@click.option("--github-token", help="Read reviews and comment with this token ($GITHUB_TOKEN).")
@click.pass_context
def review_round(
    ctx: click.Context,
    pull_request: int | None,
    base: str | None,
    fmt: str,
    comment: bool,
    github_token: str | None,
) -> None:
    """The review round of this branch: which SOPs change, to which versions and why,
    which roles have approved and which are missing.

    With GITHUB_STEP_SUMMARY set (GitHub Actions), the Markdown goes to the job summary.
    """
    import os

    from sopgit.errors import UsageError
    from sopgit.github.client import append_step_summary
    from sopgit.github.rounds import (
        MARKER,
        github_client,
        report_markdown,
        report_text,
        unattributed_warning,
    )
    from sopgit.github.rounds import review_round as build
    from sopgit.repo.snapshot import load_snapshot

    lib = library(ctx)
    client = github_client(lib, github_token)
    if comment and client is None:
        raise UsageError(
            "--comment needs a token (GITHUB_TOKEN or --github-token) and a repository"
        )
    report = build(load_snapshot(lib), base, pull_request, client)
    warning = unattributed_warning({i.sop_id: i.outcome for i in report.items}, client)
    if warning:
        echo(f"sopgit: {warning}", err=True)
    markdown = report_markdown(report)
    if comment:
        if report.pull_request is None:
            raise UsageError("--comment needs the pull request: give --pr N")
        assert client is not None
        client.max_requests = None  # the cap bounds the look-ups, not posting the report
        url = client.upsert_comment(
            report.pull_request, markdown, MARKER, create=bool(report.items)
        )
        if url:
            echo(f"review round posted: {url}", err=True)
    append_step_summary(os.environ, markdown)
    if fmt == "json":
        echo_json(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    elif fmt == "markdown":
        echo(markdown, nl=False)
    else:
        echo(report_text(report))


@click.command()
@click.option("--dry-run", is_flag=True, help="Print the file and what would happen to it.")
@click.pass_context
def codeowners(ctx: click.Context, dry_run: bool) -> None:
    """Write .github/CODEOWNERS from each SOP's owner and the approval roles.

    Only a file that sopgit generated is overwritten; your own is left as it is.
    """
    from sopgit.github.codeowners import PATH, plan_codeowners, render_codeowners
    from sopgit.repo.library import sop_files
    from sopgit.repo.textio import read_text, safe_target, write_checked

    lib = library(ctx)
    sops = {f.path: read_text(lib.root / f.path) for f in sop_files(lib.root, lib.config)}
    wanted = render_codeowners(sops, lib.config)
    target = safe_target(lib.root, lib.root / PATH)
    current = read_text(target) if target.is_file() else None
    action = plan_codeowners(current, wanted)
    if dry_run:
        echo(wanted, nl=False)
    elif action in ("created", "updated"):
        write_checked(lib.root, target, wanted)
    verb = {"created": "would create", "updated": "would update"}.get(action, action)
    if action == "skipped":
        echo(f"skipped   {PATH} (not generated by sopgit; left as it is)", err=True)
    else:
        echo(f"{verb if dry_run else action} {PATH}", err=True)
