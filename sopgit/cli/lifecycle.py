"""Commands of the SOP lifecycle after publication: review, ack, training, retire, audit.

Registered on the main group by sopgit.cli.main; like it, imports only click at load.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import TYPE_CHECKING, Any

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
    from sopgit.core.history import SopVersion
    from sopgit.core.lifecycle import Event
    from sopgit.core.model import Tag
    from sopgit.repo.snapshot import Snapshot


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
    from sopgit.errors import UsageError
    from sopgit.repo.snapshot import load_snapshot

    snapshot = load_snapshot(library(ctx))
    if done:
        if sop_id is None:
            raise UsageError("--done needs the ID of the SOP that was reviewed")
        _record_review(snapshot, sop_id, message, sign, dry_run)
        return
    if sop_id is not None:
        raise UsageError("give --done to record a review of an SOP; list them without an ID")
    rows = _due(snapshot, within)
    if fmt == "json":
        text = json.dumps(rows, indent=2) + "\n"
    elif fmt == "markdown":
        text = _due_markdown(rows, within) + "\n"
    elif rows:
        body = [[r["id"], r["title"], r["version"], r["review_due"], _when(r)] for r in rows]
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


def _due(snapshot: Snapshot, within: int) -> list[dict[str, Any]]:
    """Released, active SOPs due within WITHIN days or overdue, the oldest due first."""
    day = today()
    rows = []
    for sop in snapshot.sops.values():
        due = snapshot.review_due(sop.sop_id)
        if due is None or sop.meta("status") == "retired":
            continue
        days = (dt.date.fromisoformat(due) - day).days
        if days <= within:
            last = snapshot.reviews(sop.sop_id)
            rows.append(
                {
                    "id": sop.sop_id,
                    "title": sop.meta("title", sop.sop_id),
                    "path": sop.path,
                    "version": str(snapshot.version(sop.sop_id).current),
                    "last_review": last[0].date if last else None,
                    "review_due": due,
                    "days_left": days,
                    "overdue": days < 0,
                }
            )
    return sorted(rows, key=lambda r: (r["review_due"], r["id"]))


def _when(row: dict[str, Any]) -> str:
    days = row["days_left"]
    if days < 0:
        return f"overdue by {-days} day{'s' * (days != -1)}"
    return "due today" if days == 0 else f"due in {days} day{'s' * (days != 1)}"


def _due_markdown(rows: list[dict[str, Any]], within: int) -> str:
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
        cells = (r["id"], r["title"], r["version"], r["review_due"], _when(r))
        lines.append("| " + " | ".join(table_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _record_review(snapshot: Snapshot, sop_id: str, note: str, sign: bool, dry_run: bool) -> None:
    from sopgit.core.lifecycle import REVIEW_TRAILER, event_message
    from sopgit.errors import RepoError, UsageError

    sop = snapshot.sop(sop_id)
    version = snapshot.version(sop.sop_id)
    if version.current is None:
        raise UsageError(f"{sop.sop_id} is not released yet; there is no version to review")
    if sop.meta("status") == "retired":
        raise UsageError(f"{sop.sop_id} is retired; retired SOPs are not reviewed")
    repo = snapshot.lib.repo
    if repo.run("diff", "--cached", "--name-only").strip():
        raise RepoError("has staged changes; commit or unstage them first", repo.root)
    message = event_message(REVIEW_TRAILER, sop.sop_id, str(version.current), today(), note)
    if dry_run:
        echo(message, nl=False)
        return
    commit = repo.commit_empty(message, sign=sign or repo.signing_configured("commit"))
    interval = snapshot.lib.config.review_interval_days
    echo(f"{sop.sop_id} v{version.current} reviewed; next review in {interval} days")
    echo(f"review commit {commit[:10]}", err=True)


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
    from sopgit.core.lifecycle import ACK_TRAILER, ACKS_REF, event_message, events
    from sopgit.errors import RepoError, UsageError
    from sopgit.repo.snapshot import load_one

    lib = library(ctx)
    sop, current = load_one(lib, sop_id)
    released = {str(v) for v, _ in current.releases}
    wanted = version or (str(current.current) if current.current else None)
    if wanted is None:
        raise UsageError(f"{sop.sop_id} is not released yet; there is no version to acknowledge")
    if wanted not in released:
        known = ", ".join(sorted(released)) or "none"
        raise UsageError(f"{sop.sop_id} has no version {wanted}; released versions: {known}")
    me = lib.repo.identity()
    if me is None:
        raise RepoError("has no git user; set user.name and user.email first", lib.root)
    acks = events(lib.repo.ref_log(ACKS_REF), ACK_TRAILER)
    mine = [
        e
        for e in acks
        if e.sop_id == sop.sop_id and e.version == wanted and e.email.lower() == me.email.lower()
    ]
    if mine:
        echo(f"{me.name} acknowledged {sop.sop_id} v{wanted} already, on {mine[0].date}")
    elif dry_run:
        message = event_message(ACK_TRAILER, sop.sop_id, wanted, today(), "")
        echo(f"would record on {ACKS_REF}, as {me.name} <{me.email}>:\n{message}", nl=False)
        _what_changed(current, wanted, acks, me.email)
        return
    else:
        message = event_message(ACK_TRAILER, sop.sop_id, wanted, today(), "")
        lib.repo.append_to_ref(ACKS_REF, message, sign or lib.repo.signing_configured("commit"))
        echo(f"{me.name} acknowledged {sop.sop_id} v{wanted}")
    _what_changed(current, wanted, acks, me.email)
    remote = lib.config.remote
    if push:
        lib.repo.run("push", "--quiet", "--", remote, f"{ACKS_REF}:{ACKS_REF}")
        echo(f"shared: pushed {ACKS_REF} to {remote}", err=True)
    else:
        echo(
            f"recorded in this clone only, on {ACKS_REF} (not on any branch); share it with "
            f"'sopgit ack {sop.sop_id} --push' (pushes {ACKS_REF} to {remote})",
            err=True,
        )


def _what_changed(version: SopVersion, wanted: str, acks: list[Event], email: str) -> None:
    """On stderr: the redline from the version EMAIL last acknowledged to WANTED."""
    import semver

    from sopgit.core.lifecycle import catchups
    from sopgit.publish.site import SITE_DIR, changes_page_name

    target = semver.Version.parse(wanted)
    older = [v for v, _ in version.releases if v < target]
    page = f"{SITE_DIR}/{changes_page_name(version.sop_id, wanted)}"
    for catchup in catchups(version.sop_id, target, acks, max(older, default=None), page):
        if catchup.email == email.lower():
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
    from sopgit.core.lifecycle import ACK_TRAILER, ACKS_REF, catchups, events, training_row
    from sopgit.publish.site import SITE_DIR, changes_page_name
    from sopgit.repo.snapshot import load_snapshot

    lib = library(ctx)
    snapshot = load_snapshot(lib)
    acks = events(lib.repo.ref_log(ACKS_REF), ACK_TRAILER)
    wanted = [snapshot.sop(i) for i in sop_ids] if sop_ids else list(snapshot.sops.values())
    rows = []
    behind = {}
    for sop in wanted:
        current = snapshot.version(sop.sop_id).current
        if current is None or sop.meta("status") == "retired":
            continue
        audience = lib.config.audience_for(sop.sop_id)
        rows.append(training_row(sop.sop_id, sop.meta("title"), current, acks, audience))
        releases = snapshot.version(sop.sop_id).releases
        previous = releases[1][0] if len(releases) > 1 else None
        page = f"{SITE_DIR}/{changes_page_name(sop.sop_id, str(current))}"
        behind[sop.sop_id] = catchups(sop.sop_id, current, acks, previous, page)
    if fmt == "json":
        data = [
            {**r.as_dict(), "changes_since": [c.as_dict() for c in behind[r.sop_id]]} for r in rows
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
        me = lib.repo.identity()
        mine = [c for r in rows for c in behind[r.sop_id] if me and c.email == me.email.lower()]
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
    from sopgit.commands import retire as retirement
    from sopgit.commands.release_plan import release_lock
    from sopgit.repo.snapshot import load_snapshot

    if unapproved_reason is not None and not allow_unapproved:
        raise click.UsageError("--because goes with --allow-unapproved")
    if unapproved_reason is not None and not unapproved_reason.strip():
        raise click.UsageError("--because TEXT says why the approvals may be missing")
    if allow_unapproved and not unapproved_reason:
        unapproved_reason = reason
    when = date_option(date)
    lib = library(ctx)
    if dry_run:
        planned = retirement.prepare(load_snapshot(lib), sop_id, reason, successor)
        echo("commit:\n" + "".join(f"    {line}\n" for line in planned.message.splitlines()))
        return
    with release_lock(lib.repo):
        done = retirement.retire(
            lib,
            sop_id,
            reason,
            successor=successor,
            date=when,
            release=not no_release,
            allow_branch=allow_branch,
            allow_unapproved=unapproved_reason if allow_unapproved else None,
        )
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
    from sopgit.core.audit import build_audit
    from sopgit.core.lifecycle import ACK_TRAILER, ACKS_REF, events
    from sopgit.errors import UsageError
    from sopgit.publish.files import render_markdown
    from sopgit.repo.snapshot import load_snapshot

    lib = library(ctx)
    snapshot = load_snapshot(lib)
    sop = snapshot.sop(sop_id)
    released = {str(v) for v, _ in snapshot.version(sop.sop_id).releases}
    if only is not None and only not in released:
        known = ", ".join(sorted(released)) or "none"
        raise UsageError(f"{sop.sop_id} has no version {only}; released versions: {known}")

    def verify(tag: Tag) -> str:  # one git process per signed version of this one SOP
        if not tag.signed:
            return "unsigned"
        return "verified" if lib.repo.verify_tag(tag.name) else "not verified"

    acks = events(lib.repo.ref_log(ACKS_REF), ACK_TRAILER)
    data = build_audit(snapshot, sop.sop_id, acks, verify, only)
    text = (
        json.dumps(data, indent=2) + "\n"
        if fmt == "json"
        else render_markdown("audit.md.j2", {"a": data}, lib.root)
    )
    if output is None:
        (echo_json if fmt == "json" else echo)(text, nl=False)
        return
    target = path_arg(ctx, output)
    write_checked(lib.root, target, text)
    echo(f"wrote {target}", err=True)
