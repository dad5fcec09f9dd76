"""Commands of the SOP lifecycle after publication: review, ack, training, retire, audit.

Registered on the main group by sopgit.cli.main; like it, imports only click at load.
"""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING

import click

from sopgit.cli.support import (
    complete_sop_id,
    date_option,
    echo,
    echo_json,
    format_option,
    library,
    path_arg,
    text_table,
    today,
)
from sopgit.repo.textio import write_checked

if TYPE_CHECKING:
    from sopgit.commands.lifecycle import DueReview
    from sopgit.core.lifecycle import Catchup


def register(group: click.Group) -> None:
    """Add this module's commands to GROUP."""
    for command in (review, ack, training, retire, audit):
        group.add_command(command)


@click.command()
@click.argument("sop_id", metavar="[ID]", required=False, shell_complete=complete_sop_id)
@click.option("--done", is_flag=True, help="Record that ID was reviewed and needs no change.")
@click.option("-m", "--message", default="", help="With --done: what the review found.")
@click.option("--sign", is_flag=True, help="With --done: sign the review commit.")
@click.option(
    "--within",
    type=click.IntRange(min=0),
    default=30,
    show_default=True,
    help="List SOPs due within this many days, and every overdue one.",
)
@format_option("text", "json", "markdown")
@click.option("--output", "-o", metavar="FILE", help="Write the list to FILE instead of printing.")
@click.option("--dry-run", is_flag=True, help="With --done: print the commit; write nothing.")
@click.pass_context
def review(
    ctx: click.Context,
    sop_id: str | None,
    done: bool,
    message: str,
    sign: bool,
    within: int,
    fmt: str,
    output: str | None,
    dry_run: bool,
) -> None:
    """SOPs whose periodic review is due or overdue; with ID --done, record a review."""
    from sopgit.commands.lifecycle import due_reviews, record_review
    from sopgit.errors import UsageError
    from sopgit.repo.snapshot import load_snapshot

    snapshot = load_snapshot(library(ctx))
    if done:
        if sop_id is None:
            raise UsageError("--done needs the ID of the SOP that was reviewed")
        recorded = record_review(snapshot, sop_id, message, today(), sign=sign, dry_run=dry_run)
        if recorded.commit is None:
            echo(recorded.message, nl=False)
            return
        echo(
            f"{recorded.sop_id} v{recorded.version} reviewed; "
            f"next review in {recorded.interval_days} days"
        )
        echo(f"review commit {recorded.commit[:10]}", err=True)
        return
    if sop_id is not None:
        raise UsageError("give --done to record a review of an SOP; list them without an ID")
    rows = due_reviews(snapshot, within, today())
    if fmt == "json":
        text = json.dumps([r.as_dict() for r in rows], indent=2) + "\n"
    elif fmt == "markdown":
        text = _due_markdown(rows, within) + "\n"
    elif rows:
        body = [[r.sop_id, r.title, r.version, r.review_due, _when(r)] for r in rows]
        text = text_table(body, ["ID", "TITLE", "VERSION", "REVIEW DUE", ""]) + "\n"
    else:
        text = ""
        echo(f"No SOP is due for review within {within} days.", err=True)
    if output is None:
        (echo_json if fmt == "json" else echo)(text, nl=False)
        return
    target = path_arg(ctx, output)
    write_checked(snapshot.lib.root, target, text)
    echo(f"wrote {target}", err=True)


def _when(row: DueReview) -> str:
    days = row.days_left
    if days < 0:
        return f"overdue by {-days} day{'s' * (days != -1)}"
    return "due today" if days == 0 else f"due in {days} day{'s' * (days != 1)}"


def _due_markdown(rows: list[DueReview], within: int) -> str:
    """The body of the review issue a scheduled workflow keeps up to date."""
    from sopgit.core.formats import table_cell

    if not rows:
        return f"No SOP is due for review within {within} days.\n"
    lines = [
        f"SOPs whose periodic review is overdue or due within {within} days.",
        "Record a review that needs no change with `sopgit review ID --done`.",
        "",
        "| SOP | Title | Version | Review due | |",
        "|-----|-------|---------|------------|---|",
    ]
    for r in rows:
        cells = (r.sop_id, r.title, r.version, r.review_due, _when(r))
        lines.append("| " + " | ".join(table_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


@click.command()
@click.argument("sop_id", metavar="ID", shell_complete=complete_sop_id)
@click.option("--version", "version", help="The version read (default: the current one).")
@click.option("--sign", is_flag=True, help="Sign the acknowledgement commit.")
@click.option("--push", is_flag=True, help="Push the acknowledgements to the remote.")
@click.option("--dry-run", is_flag=True, help="Print the record; write nothing.")
@click.pass_context
def ack(
    ctx: click.Context, sop_id: str, version: str | None, sign: bool, push: bool, dry_run: bool
) -> None:
    """Record that you have read and understood an SOP version (training)."""
    from sopgit.commands.lifecycle import acknowledge, push_acknowledgements

    lib = library(ctx)
    done = acknowledge(lib, sop_id, today(), version=version, sign=sign, dry_run=dry_run)
    if done.already is not None:
        echo(f"{done.name} acknowledged {done.sop_id} v{done.version} already, on {done.already}")
    elif dry_run:
        who = f"{done.name} <{done.email}>"
        echo(f"would record on {done.ref}, as {who}:\n{done.message}", nl=False)
        _what_changed(done.catchups)
        return
    else:
        echo(f"{done.name} acknowledged {done.sop_id} v{done.version}")
    _what_changed(done.catchups)
    if push:
        remote = push_acknowledgements(lib)
        echo(f"shared: pushed {done.ref} to {remote}", err=True)
    else:
        echo(
            f"recorded in this clone only, on {done.ref} (not on any branch); share it with "
            f"'sopgit ack {done.sop_id} --push' (pushes {done.ref} to {done.remote})",
            err=True,
        )


def _what_changed(catchups: tuple[Catchup, ...]) -> None:
    """On stderr: the redlines from the version last acknowledged to this one."""
    for catchup in catchups:
        site = f" (site: {catchup.page})" if catchup.page else ""
        echo(
            f"changed since v{catchup.acknowledged}, which you acknowledged: "
            f"{catchup.command}{site}",
            err=True,
        )


@click.command()
@click.argument("sop_ids", nargs=-1, metavar="[ID]...", shell_complete=complete_sop_id)
@format_option("text", "json", "csv")
@click.pass_context
def training(ctx: click.Context, sop_ids: tuple[str, ...], fmt: str) -> None:
    """Who acknowledged which SOP version, and who must (re)acknowledge it."""
    from sopgit.commands.lifecycle import training_report

    report = training_report(library(ctx), sop_ids)
    rows = report.rows
    if fmt == "json":
        data = [
            {**r.as_dict(), "changes_since": [c.as_dict() for c in report.changes[r.sop_id]]}
            for r in rows
        ]
        echo_json(json.dumps(data, indent=2))
    elif fmt == "csv":  # one line per person and SOP, for HR systems
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            ["sop_id", "title", "version", "person", "acknowledged_version", "date", "status"]
        )
        for r in rows:
            for e in r.acknowledged:
                writer.writerow(
                    [r.sop_id, r.title, r.version, e.email, e.version, e.date, "acknowledged"]
                )
            for person in r.missing:
                writer.writerow([r.sop_id, r.title, r.version, person, "", "", "missing"])
        echo(out.getvalue(), nl=False)
    else:
        body = [
            [r.sop_id, r.version, str(len(r.acknowledged)), ", ".join(r.missing) or "-"]
            for r in rows
        ]
        echo(text_table(body, ["ID", "VERSION", "ACKNOWLEDGED", "MUST ACKNOWLEDGE"]))
        mine = report.mine()
        if mine:
            echo("\nChanged since the version you acknowledged:")
            for c in mine:
                page = f" (site: {c.page})" if c.page else ""
                echo(f"  v{c.acknowledged} -> v{c.current}: {c.command}{page}")


@click.command()
@click.argument("sop_id", metavar="ID", shell_complete=complete_sop_id)
@click.option(
    "--reason", required=True, help="Why it is withdrawn: recorded in the commit and tag."
)
@click.option("--superseded-by", "successor", metavar="ID", help="The SOP that replaces it.")
@click.option("--date", "date", help="The date of the final release YYYY-MM-DD (default: today).")
@click.option("--no-release", is_flag=True, help="Only commit the retirement, for review first.")
@click.option(
    "--allow-branch", is_flag=True, help="Retire on a branch other than the release branch."
)
@click.option(
    "--allow-unapproved",
    is_flag=True,
    help="Release although approvals are missing; --reason is recorded as why.",
)
@click.option("--because", "unapproved_reason", hidden=True)  # before --reason served both
@click.option("--dry-run", is_flag=True, help="Print the commit and the new file; write nothing.")
@click.pass_context
def retire(
    ctx: click.Context,
    sop_id: str,
    reason: str,
    successor: str | None,
    date: str | None,
    no_release: bool,
    allow_branch: bool,
    allow_unapproved: bool,
    unapproved_reason: str | None,
    dry_run: bool,
) -> None:
    """Withdraw an SOP: status retired, then a final version; the file and history stay."""
    from sopgit.commands.retire import run_retire

    if unapproved_reason is not None and not allow_unapproved:
        raise click.UsageError("--because goes with --allow-unapproved")
    if unapproved_reason is not None and not unapproved_reason.strip():
        raise click.UsageError("--because TEXT says why the approvals may be missing")
    if allow_unapproved and not unapproved_reason:
        unapproved_reason = reason
    when = date_option(date)
    done = run_retire(
        library(ctx),
        sop_id,
        reason,
        successor=successor,
        date=when,
        release=not no_release,
        allow_branch=allow_branch,
        allow_unapproved=unapproved_reason if allow_unapproved else None,
        dry_run=dry_run,
    )
    if dry_run:
        echo("commit:\n" + "".join(f"    {line}\n" for line in done.message.splitlines()))
        return
    if done.plan is None:
        echo(f"{done.sop_id} marked retired; release it after review with 'sopgit release'")
        return
    tag = done.plan.tags[0]
    echo(f"{done.sop_id} retired: final version {tag.version}, tag {tag.name}")


@click.command()
@click.argument("sop_id", metavar="ID", shell_complete=complete_sop_id)
@click.option("--version", "only", help="Only this version.")
@format_option("markdown", "json", default="markdown")
@click.option("--output", "output", help="Write to this file instead of printing.")
@click.pass_context
def audit(ctx: click.Context, sop_id: str, only: str | None, fmt: str, output: str | None) -> None:
    """The complete evidence trail of one SOP: versions, approvals, reviews, training."""
    from sopgit.commands.lifecycle import audit_trail
    from sopgit.publish.files import render_markdown

    lib = library(ctx)
    trail = audit_trail(lib, sop_id, only)
    text = (
        json.dumps(trail.data, indent=2) + "\n"
        if fmt == "json"
        else render_markdown("audit.md.j2", {"a": trail.data}, lib.root)
    )
    if output is None:
        (echo_json if fmt == "json" else echo)(text, nl=False)
        return
    target = path_arg(ctx, output)
    write_checked(lib.root, target, text)
    echo(f"wrote {target}", err=True)
