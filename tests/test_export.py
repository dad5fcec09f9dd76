"""Controlled copies, verify and diff, on real libraries with released versions.

The PDF is checked for what a reader sees: its text as pypdf extracts it, page by page.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pypdf
import pytest
from conftest import commit_all, git
from pypdf.generic import ContentStream, NameObject

ENG_001 = "sops/engineering/ENG-001-deployment-process.md"
BEN = {"GIT_AUTHOR_NAME": "Ben Ode", "GIT_AUTHOR_EMAIL": "ben@acme.example"}
LEE = {"GIT_AUTHOR_NAME": "Lee Chen", "GIT_AUTHOR_EMAIL": "lee@acme.example"}
POLICY = """
[approval]
required = ["peer", "manager"]

[approval.roles]
peer = ["*"]
manager = ["lee@acme.example"]
"""
HOSTILE_SUBJECT = "feat(ENG-001): roll back <img src=x onerror=alert(1)> \x1b[31mnow\x1b[0m"
HOSTILE_BODY = "Ring the <script>alert(2)</script> bell & wait \x07 twice."


def sopgit(run, root: Path, *args: str, expect: int = 0):
    return run("-C", str(root), *args, expect=expect)


def pages_of(path: Path) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(path).pages]


def flat(text: str) -> str:
    return "".join(text.split())


def commit_as(root: Path, who: dict[str, str], message: str, date: str) -> str:
    env = {**who, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-verify", "-m", message, env=env)
    return git(root, "rev-parse", "HEAD").strip()


@pytest.fixture
def approved(library: Path, run, monkeypatch) -> Path:
    """The example SOPs released as 1.0.0; then ENG-001 changed in pull request #7 (with
    a hostile subject and text), approved by a peer and a manager, reviewed, released."""
    monkeypatch.setenv("SOPGIT_TODAY", "2026-04-01")
    sopgit(run, library, "release", "--date", "2025-04-01")
    (library / "sopgit.toml").write_text(POLICY, encoding="utf-8")
    commit_all(library, "chore: require peer and manager approval")
    git(library, "checkout", "-q", "-b", "draft/ENG-001")
    path = library / ENG_001
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("## Purpose\n\n", f"## Purpose\n\n{HOSTILE_BODY}\n\n", 1))
    commit_as(library, BEN, HOSTILE_SUBJECT, "2026-03-01T09:00:00Z")
    git(library, "checkout", "-q", "main")
    message = (
        "Merge pull request #7 from acme/draft/ENG-001\n\n"
        "Approved-by: Kim Park <kim@acme.example> (peer)\n"
        "Approved-by: Lee Chen <lee@acme.example> (manager)\n"
        "Reviewed-by: Sam Osei <sam@acme.example>\n"
    )
    env = {**LEE, "GIT_AUTHOR_DATE": "2026-03-02T10:14:00Z"}
    env["GIT_COMMITTER_DATE"] = env["GIT_AUTHOR_DATE"]
    git(library, "merge", "-q", "--no-ff", "-m", message, "draft/ENG-001", env=env)
    sopgit(run, library, "release", "ENG-001", "--date", "2026-03-03")
    return library


# --- the PDF a reader sees ------------------------------------------------------------


def test_pdf_copy_shows_cover_signatures_history_and_binding_on_every_page(approved, run):
    out = approved.parent / "ENG-001.pdf"
    result = sopgit(run, approved, "export", "ENG-001", "--format", "pdf", "-o", str(out))
    assert f"wrote {out} (ENG-001 v1.1.0, effective)" in result.stdout
    pages = pages_of(out)
    count = len(pages)
    assert count >= 4  # cover, manifest and history, the text (two pages at least)
    tag_object = git(approved, "rev-parse", "refs/tags/ENG-001/v1.1.0").strip()
    commit = git(approved, "rev-parse", "ENG-001/v1.1.0^{commit}").strip()
    released = subprocess.run(
        ["git", "cat-file", "blob", f"{commit}:{ENG_001}"], cwd=approved, capture_output=True
    ).stdout
    import hashlib

    sha = hashlib.sha256(released).hexdigest()
    for number, text in enumerate(pages, 1):
        assert f"Page {number} of {count}" in text
        assert sha in flat(text), f"page {number} lacks the file's SHA-256"
        assert tag_object in flat(text), f"page {number} lacks the tag's object id"
        assert commit in flat(text)
        assert "SUPERSEDED" not in text
        assert "DRAFT" not in text
    cover = pages[0]
    for fact in ("ENG-001", "Deployment Process", "1.1.0", "2026-03-03", "effective"):
        assert fact in cover
    assert "Engineering / Release Manager" in cover
    manifest = " ".join(pages[1].split())
    assert "Signature manifest" in manifest
    for name, role, meaning in (
        ("Kim Park", "peer", "approved"),
        ("Lee Chen", "manager", "approved"),
        ("Sam Osei", "-", "reviewed"),
    ):
        row = re.search(
            rf"{name} .{{0,30}}? {re.escape(role)} {meaning} 2026-03-02 10:14:00 UTC", manifest
        )
        assert row, f"no manifest row for {name}"
    assert manifest.count("trailer on commit") == 3
    merge = git(approved, "rev-parse", "ENG-001/v1.1.0^{commit}^").strip()  # the PR's merge
    assert manifest.count(f"approved the text of commit {merge[:10]}") == 3
    assert "pull request #7" in manifest
    assert "Revision history" in manifest
    assert "Initial version" in manifest
    assert "#7" in manifest
    body = " ".join(" ".join(pages[2:]).split())
    assert "<script>alert(2)</script>" in body  # shown as text, not run
    assert "Ring the" in body


def test_the_format_follows_the_output_name_when_none_is_given(approved, run):
    """-o copy.pdf writes a PDF and -o copy.html a page: never HTML bytes in a .pdf file."""
    pdf, page = approved.parent / "copy.pdf", approved.parent / "copy.html"
    sopgit(run, approved, "export", "ENG-001", "-o", str(pdf))
    sopgit(run, approved, "export", "ENG-001", "-o", str(page))
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert page.read_bytes().lstrip().lower().startswith(b"<!doctype html")


def test_a_superseded_version_carries_the_watermark_on_every_page(approved, run):
    out = approved.parent / "old.pdf"
    sopgit(
        run, approved, "export", "ENG-001", "--version", "1.0.0", "--format", "pdf", "-o", str(out)
    )
    pages = pages_of(out)
    assert all("SUPERSEDED" in text for text in pages)
    assert "superseded by v1.1.0" in pages[0]
    assert "No approval is recorded for this version." in pages[1]
    assert "1.1.0" not in " ".join(pages[1].split()).split("Revision history")[1]
    body = " ".join(" ".join(pages[2:]).split())
    assert "Ring the" not in body  # the text of v1.0.0, read at its tag


def test_pdf_metadata_holds_the_binding(approved, run):
    out = approved.parent / "c.pdf"
    sopgit(run, approved, "export", "ENG-001", "--format", "pdf", "-o", str(out))
    info = pypdf.PdfReader(out).metadata
    assert '"tag":"ENG-001/v1.1.0"' in info["/SopgitBinding"]
    tag_object = git(approved, "rev-parse", "refs/tags/ENG-001/v1.1.0").strip()
    assert tag_object in info["/Keywords"]


# --- verify ---------------------------------------------------------------------------


def test_verify_passes_the_right_copy_and_fails_another_version_and_a_tampered_file(approved, run):
    current = approved.parent / "current.pdf"
    old = approved.parent / "old.pdf"
    sopgit(run, approved, "export", "ENG-001", "--format", "pdf", "-o", str(current))
    sopgit(
        run, approved, "export", "ENG-001", "--version", "v1.0.0", "--format", "pdf", "-o", str(old)
    )
    tag_object = git(approved, "rev-parse", "refs/tags/ENG-001/v1.1.0").strip()

    ok = sopgit(run, approved, "verify", str(current))
    assert ok.stdout == (
        f"OK ENG-001 v1.1.0, tag ENG-001/v1.1.0 ({tag_object[:10]}), "
        f"SHA-256 {ok.stdout.split('SHA-256 ')[1][:12]}: effective\n"
    )
    assert "superseded by v1.1.0" in sopgit(run, approved, "verify", str(old)).stdout

    # the old copy offered as the current one
    wrong = sopgit(run, approved, "verify", str(old), "--version", "current", expect=1)
    assert "a copy of v1.0.0, not of v1.1.0" in wrong.stderr

    # the old copy relabelled: its binding claims the current version
    reader = pypdf.PdfReader(old)
    writer = pypdf.PdfWriter(clone_from=reader)
    claim = reader.metadata["/SopgitBinding"]
    current_claim = pypdf.PdfReader(current).metadata["/SopgitBinding"]
    relabelled = approved.parent / "relabelled.pdf"
    writer.add_metadata({"/SopgitBinding": current_claim})
    writer.write(relabelled)
    assert claim != current_claim
    result = sopgit(run, approved, "verify", str(relabelled), expect=1)
    assert "FAILED ENG-001 v1.1.0" in result.stderr

    # a tampered page: one word of the text changed, the metadata left alone
    reader = pypdf.PdfReader(current)
    writer = pypdf.PdfWriter(clone_from=reader)
    page = writer.pages[2]
    content = ContentStream(page.get_contents(), writer)
    data = content.get_data()
    changed = data.replace(b"Tj", b"Tj ", 1) + b"\n"
    content.set_data(changed)
    page[NameObject("/Contents")] = writer._add_object(content)
    tampered = approved.parent / "tampered.pdf"
    writer.write(tampered)
    result = sopgit(run, approved, "verify", str(tampered), expect=1)
    assert "changed after export" in result.stderr

    # bytes damaged in transit
    damaged = approved.parent / "damaged.pdf"
    damaged.write_bytes(current.read_bytes()[:2000])
    result = sopgit(run, approved, "verify", str(damaged), expect=1)
    assert "damaged.pdf" in result.stderr
    assert "Traceback" not in result.stderr


def test_verify_fails_when_the_tag_was_moved(approved, run):
    out = approved.parent / "c.html"
    sopgit(run, approved, "export", "ENG-001", "-o", str(out))
    sopgit(run, approved, "verify", str(out))
    git(approved, "tag", "-f", "-a", "-m", "ENG-001 v1.1.0\n\nre-cut", "ENG-001/v1.1.0", "HEAD")
    result = sopgit(run, approved, "verify", str(out), expect=1)
    assert "tag ENG-001/v1.1.0 was moved" in result.stderr


def test_verify_fails_on_an_edited_html_copy(approved, run):
    out = approved.parent / "c.html"
    sopgit(run, approved, "export", "ENG-001", "-o", str(out))
    text = out.read_text(encoding="utf-8")
    out.write_text(text.replace("Ring the", "Ignore the", 1), encoding="utf-8")
    result = sopgit(run, approved, "verify", str(out), expect=1)
    assert "changed after export" in result.stderr
    plain = approved.parent / "plain.html"
    plain.write_text("<html><body>hello</body></html>", encoding="utf-8")
    result = sopgit(run, approved, "verify", str(plain), expect=1)
    assert "not a controlled copy" in result.stderr


# --- HTML copies, hostile text, drafts --------------------------------------------------


def test_html_copy_escapes_hostile_text_from_the_sop_and_commit_subjects(approved, run):
    out = approved.parent / "c.html"
    sopgit(run, approved, "export", "ENG-001", "-o", str(out))
    page = out.read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "<img" not in page
    assert "Roll back &lt;img src=x onerror=alert(1)&gt;" in page  # the history's description
    assert "\x1b" not in page
    assert "\x07" not in page
    assert '<div class="watermark">' not in page
    assert "sopgit:revision-history" not in page.split("<article", 1)[1]  # markers not shown


def test_pending_copy_is_marked_draft_not_approved(approved, run):
    path = approved / ENG_001
    path.write_text(path.read_text(encoding="utf-8") + "\nA draft line.\n", encoding="utf-8")
    out = approved.parent / "draft.html"
    sopgit(run, approved, "export", "ENG-001", "--version", "pending", "-o", str(out))
    page = out.read_text(encoding="utf-8")
    assert '<div class="watermark">DRAFT</div>' in page
    assert "DRAFT, NOT APPROVED" in page
    assert "A draft line." in page
    assert "DRAFT, NOT APPROVED" in sopgit(run, approved, "verify", str(out)).stdout
    path.write_text(path.read_text(encoding="utf-8") + "More.\n", encoding="utf-8")
    assert "has changed since" in sopgit(run, approved, "verify", str(out), expect=1).stderr


def test_export_reads_the_tag_not_the_work_tree_and_follows_a_rename(example, run):
    # OPS-002 was renamed after its release: its v1.0.0 lives under the old name
    old = git(example, "show", "OPS-002/v1.0.0:sops/operations/OPS-002-support-escalation.md")
    (example / ENG_001).write_text("not released\n", encoding="utf-8")
    out = example.parent / "ops.html"
    sopgit(run, example, "export", "OPS-002", "-o", str(out))
    page = out.read_text(encoding="utf-8")
    assert "sops/operations/OPS-002-support-escalation.md" in page
    first_heading = re.search(r"^## (.+)$", old, re.M)
    assert first_heading
    assert first_heading.group(1) in page
    eng = example.parent / "eng.html"
    sopgit(run, example, "export", "ENG-001", "-o", str(eng))
    assert "not released" not in eng.read_text(encoding="utf-8")
    assert "OK ENG-001 v1.1.0" in sopgit(run, example, "verify", str(eng)).stdout


def test_bad_requests_get_one_line_and_exit_2(example, run, monkeypatch):
    result = sopgit(run, example, "export", "ENG-001", "--version", "9.9.9", expect=2)
    assert result.stderr == (
        "sopgit: ENG-001 has no version 9.9.9; released versions: 1.0.0, 1.1.0\n"
    )
    result = sopgit(run, example, "export", "NOPE-001", expect=2)
    assert "no SOP with id NOPE-001" in result.stderr
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # the extra is not installed
    result = sopgit(run, example, "export", "ENG-001", "--format", "pdf", expect=2)
    assert result.stderr == 'sopgit: PDF export needs the pdf extra: pip install "sopgit[pdf]"\n'
    assert not list(example.parent.glob("*.pdf"))


# --- export --all -----------------------------------------------------------------------


def test_export_all_writes_every_effective_sop_and_an_index(example, run):
    out = example.parent / "binder"
    result = sopgit(run, example, "export", "--all", "-o", str(out))
    files = sorted(p.name for p in out.iterdir())
    assert "index.html" in files
    copies = [f for f in files if f != "index.html"]
    assert len(copies) == 14
    assert "ENG-001-v1.1.0.html" in copies
    assert "CMP-001-v2.0.0.html" in copies
    assert result.stdout == f"wrote 14 controlled copies and index.html to {out}\n"
    index = (out / "index.html").read_text(encoding="utf-8")
    for name in copies:
        assert f'href="{name}"' in index
        assert sopgit(run, example, "verify", str(out / name)).stdout.startswith("OK ")


def test_export_all_as_pdf(example, run):
    out = example.parent / "binder"
    sopgit(run, example, "export", "--all", "--format", "pdf", "-o", str(out))
    assert len(list(out.glob("*.pdf"))) == 14
    assert (
        "OK CMP-001 v2.0.0"
        in sopgit(run, example, "verify", str(out / "CMP-001-v2.0.0.pdf")).stdout
    )


# --- diff -------------------------------------------------------------------------------


def test_diff_defaults_to_the_previous_and_current_version(example, run):
    result = sopgit(run, example, "diff", "ENG-001")
    assert result.stdout.startswith("ENG-001 v1.0.0 -> ENG-001 v1.1.0\n3 sections: 3 changed\n")
    assert "  ~ version: [-1.0.0-]{+1.1.0+}\n" in result.stdout
    assert "### 6. Verify and monitor  [changed]\n  + - If any smoke check fails" in result.stdout
    assert "\x1b" not in result.stdout  # piped: no colour
    same = sopgit(run, example, "diff", "ENG-001", "1.0.0", "v1.1.0")
    assert same.stdout == result.stdout
    colored = sopgit(run, example, "diff", "ENG-001", "--color", "always").stdout
    assert "\x1b[32m- If any smoke check fails" in colored


def test_diff_formats(example, run):
    data = json.loads(sopgit(run, example, "diff", "ENG-001", "--format", "json").stdout)
    assert data["from"] == "ENG-001 v1.0.0"
    assert data["to"] == "ENG-001 v1.1.0"
    titles = [s["title"] for s in data["sections"]]
    assert titles == ["Front matter", "6. Verify and monitor", "Revision History"]
    md = sopgit(run, example, "diff", "ENG-001", "--format", "markdown").stdout
    assert md.startswith("# Changes: ENG\\-001 v1.0.0 to ENG\\-001 v1.1.0\n")
    page = sopgit(run, example, "diff", "ENG-001", "--format", "html").stdout
    assert "<ins>- If any smoke check fails" in page


def test_diff_pending_and_hostile_text_on_a_terminal(example, run):
    path = example / ENG_001
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("## Purpose\n\n", "## Purpose\n\nPress \x1b[2J<b>now</b>.\n\n", 1))
    result = sopgit(run, example, "diff", "ENG-001", "current", "pending", "--color", "always")
    assert "ENG-001 pending (not approved)" in result.stdout
    assert "\x1b[2J" not in result.stdout
    assert "Press \\x1b[2J<b>now</b>." in result.stdout
    one = sopgit(run, example, "diff", "ENG-002", expect=2)
    assert "ENG-002 has 1 released version(s) and nothing pending; give FROM and TO" in one.stderr


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="renders pages only where poppler is")
def test_pdf_pages_render(example, run, tmp_path):
    out = tmp_path / "e.pdf"
    sopgit(
        run, example, "export", "ENG-001", "--version", "1.0.0", "--format", "pdf", "-o", str(out)
    )
    subprocess.run(["pdftoppm", "-r", "20", "-png", str(out), str(tmp_path / "p")], check=True)
    assert len(list(tmp_path.glob("p-*.png"))) == len(
        pypdf.PdfReader(io.BytesIO(out.read_bytes())).pages
    )


# --- training ties to the redline ---------------------------------------------------------


def test_training_and_ack_show_what_changed_since_the_acknowledged_version(example, run):
    sopgit(run, example, "ack", "ENG-001", "--version", "1.0.0")
    text = sopgit(run, example, "training", "ENG-001").stdout
    assert text.endswith(
        "\nChanged since the version you acknowledged:\n"
        "  v1.0.0 -> v1.1.0: sopgit diff ENG-001 1.0.0 1.1.0"
        " (site: _site/sops/ENG-001/1.1.0-changes.html)\n"
    )
    rows = json.loads(sopgit(run, example, "training", "ENG-001", "--format", "json").stdout)
    assert rows[0]["changes_since"] == [
        {
            "email": "ana@acme.example",
            "acknowledged_version": "1.0.0",
            "version": "1.1.0",
            "diff_command": "sopgit diff ENG-001 1.0.0 1.1.0",
            "diff_page": "_site/sops/ENG-001/1.1.0-changes.html",
        }
    ]
    # the command it names works
    assert (
        "If any smoke check fails"
        in sopgit(run, example, "diff", "ENG-001", "1.0.0", "1.1.0").stdout
    )
    result = sopgit(run, example, "ack", "ENG-001")
    assert result.stdout == "Ana Ruiz acknowledged ENG-001 v1.1.0\n"
    assert result.stderr == (
        "changed since v1.0.0, which you acknowledged: sopgit diff ENG-001 1.0.0 1.1.0"
        " (site: _site/sops/ENG-001/1.1.0-changes.html)\n"
        "recorded in this clone only, on refs/sopgit/acks (not on any branch); share it with "
        "'sopgit ack ENG-001 --push' (pushes refs/sopgit/acks to origin)\n"
    )
    sopgit(run, example, "build")  # the page it names is there once the site is built
    assert "changes from v1.0.0 to v1.1.0" in (
        example / "_site/sops/ENG-001/1.1.0-changes.html"
    ).read_text(encoding="utf-8")
    assert "Changed since" not in sopgit(run, example, "training", "ENG-001").stdout


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")
def test_a_signed_approval_commit_is_verified_in_the_manifest(library, run, monkeypatch):
    monkeypatch.setenv("SOPGIT_TODAY", "2026-04-01")
    sopgit(run, library, "release", "--date", "2025-04-01")
    keys = library.parent / "keys"
    keys.mkdir()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lee", "-f", str(keys / "lee")],
        check=True,
    )
    public = (keys / "lee.pub").read_text().strip()
    (keys / "allowed").write_text(f'lee@acme.example namespaces="git" {public}\n')
    git(library, "config", "gpg.format", "ssh")
    git(library, "config", "gpg.ssh.allowedSignersFile", str(keys / "allowed"))
    git(library, "config", "user.signingkey", str(keys / "lee"))
    (library / "sopgit.toml").write_text(
        POLICY.replace('required = ["peer", "manager"]', 'required = ["manager"]'),
        encoding="utf-8",
    )
    commit_all(library, "chore: manager approval")
    path = library / ENG_001
    path.write_text(path.read_text(encoding="utf-8") + "\nSigned change.\n", encoding="utf-8")
    commit_as(library, BEN, "fix(ENG-001): signed change", "2026-03-01T09:00:00Z")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Lee Chen")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "lee@acme.example")
    sopgit(run, library, "approve", "ENG-001", "--role", "manager", "--sign")
    sopgit(run, library, "release", "ENG-001", "--date", "2026-03-03")
    out = library.parent / "signed.html"
    sopgit(run, library, "export", "ENG-001", "-o", str(out))
    page = " ".join(out.read_text(encoding="utf-8").split())
    row = re.search(r"<tr><td>Lee Chen.*?</tr>", page)
    assert row, "no manifest row for Lee Chen"
    cells = re.findall(r"<td>(.*?)</td>", row.group(0))
    # the approval commit's time (the fixed committer date of these tests)
    assert cells[1:4] == ["manager", "approved", "2025-03-13 09:00:00 UTC"]
    assert cells[4].startswith("signed commit<br>")
    assert cells[5] == "yes"


def test_pdf_export_fetches_nothing_an_sop_points_at(example, run, httpserver):
    """An image in an SOP is not fetched: no network, no local file reaches the copy."""
    path = example / ENG_001
    image = f"![x]({httpserver.url_for('/x.png')}) ![y](/etc/hostname)"
    text = path.read_text(encoding="utf-8").replace(
        "## Purpose\n\n", f"## Purpose\n\n{image}\n\n", 1
    )
    path.write_text(text, encoding="utf-8")
    out = example.parent / "draft.pdf"
    sopgit(
        run, example, "export", "ENG-001", "--version", "pending", "--format", "pdf", "-o", str(out)
    )
    assert httpserver.log == []
    assert "DRAFT" in pages_of(out)[0]


# --- the site: a changes page per release, the draft's redline -----------------------------


def test_site_has_a_changes_page_per_release_linked_from_its_history_row(example, run):
    out = example.parent / "site"
    sopgit(run, example, "build", "--output", str(out))
    page = (out / "sops/ENG-001/1.1.0-changes.html").read_text(encoding="utf-8")
    assert "changes from v1.0.0 to v1.1.0" in page
    assert "<ins>- If any smoke check fails, the Release Manager decides" in page
    assert "<del>1.0.0</del><ins>1.1.0</ins>" in page
    assert not (out / "sops/ENG-001/1.0.0-changes.html").exists()  # the first release
    for name, link in (
        ("sops/ENG-001.html", "../sops/ENG-001/1.1.0-changes.html"),
        ("sops/ENG-001/1.1.0.html", "../../sops/ENG-001/1.1.0-changes.html"),
    ):
        html = (out / name).read_text(encoding="utf-8")
        assert html.count('class="changes-link"') == 1, name
        assert f'class="changes-link" href="{link}"' in html
    cmp = (out / "sops/CMP-001/2.0.0-changes.html").read_text(encoding="utf-8")
    assert "<h1>Incident Response: changes from v1.0.0 to v2.0.0</h1>" in cmp


def test_site_draft_page_shows_its_redline_against_the_effective_text(example, run):
    out = example.parent / "site"
    sopgit(run, example, "build", "--output", str(out))
    draft = (out / "sops/OPS-002/draft.html").read_text(encoding="utf-8")
    assert "Changes from the version in force (v1.0.0), not approved" in draft
    assert "<del>immediately</del><ins>within 15 minutes</ins>" in draft
    effective = (out / "sops/OPS-002.html").read_text(encoding="utf-8")
    assert "draft-redline" not in effective  # the approved page shows no draft text


def test_site_redlines_show_hostile_text_as_text(approved, run):
    out = approved.parent / "site"
    sopgit(run, approved, "build", "--output", str(out))
    page = (out / "sops/ENG-001/1.1.0-changes.html").read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "<img" not in page
    assert "\x1b" not in page
    assert "\x07" not in page


def test_export_finds_a_file_renamed_and_rewritten_in_one_commit(example, run):
    """git sees no rename when a commit renames and rewrites a file: the released file
    is still found at its tag, by its id."""
    old = example / "sops/engineering/ENG-002-code-review-standards.md"
    released = old.read_bytes()
    head = released.split(b"\n---\n", 1)[0] + b"\n---\n"
    new = example / "sops/engineering/ENG-002-reviews.md"
    new.write_bytes(head + b"# Reviews\n\nEntirely new text.\n")
    old.unlink()
    commit_all(example, "docs(ENG-002): rewrite and rename")
    out = example.parent / "eng2.html"
    sopgit(run, example, "export", "ENG-002", "-o", str(out))
    page = out.read_text(encoding="utf-8")
    assert "sops/engineering/ENG-002-code-review-standards.md" in page
    assert "Entirely new text." not in page
    assert sopgit(run, example, "verify", str(out)).stdout.startswith("OK ENG-002 v1.0.0")


def test_the_manifest_names_the_text_each_approval_bound_to_and_lists_stale_ones_apart(
    library, run, monkeypatch
):
    monkeypatch.setenv("SOPGIT_TODAY", "2026-04-01")
    sopgit(run, library, "release", "--date", "2025-04-01")
    git(library, "checkout", "-q", "-b", "draft/ENG-001")
    path = library / ENG_001
    path.write_text(path.read_text(encoding="utf-8") + "\nFirst.\n", encoding="utf-8")
    commit_as(library, BEN, "feat(ENG-001): first", "2026-03-01T09:00:00Z")
    git(library, "checkout", "-q", "main")
    env = {**LEE, "GIT_AUTHOR_DATE": "2026-03-02T10:14:00Z"}
    env["GIT_COMMITTER_DATE"] = env["GIT_AUTHOR_DATE"]
    message = (
        "Merge pull request #7 from acme/x\n\nApproved-by: Kim Park <kim@acme.example> (peer)\n"
    )
    git(library, "merge", "-q", "--no-ff", "-m", message, "draft/ENG-001", env=env)
    merge = git(library, "rev-parse", "HEAD").strip()
    path.write_text(path.read_text(encoding="utf-8") + "\nSecond.\n", encoding="utf-8")
    commit_as(library, BEN, "fix(ENG-001): second", "2026-03-03T09:00:00Z")
    # the draft's copy: the approval approved the text before the second change
    draft = library.parent / "draft.html"
    sopgit(run, library, "export", "ENG-001", "--version", "pending", "-o", str(draft))
    text = " ".join(draft.read_text(encoding="utf-8").split())
    assert "Sign-offs of an earlier text, which did not count for this version:" in text
    assert "Kim Park (kim@acme.example), peer, approved 2026-03-02 10:14:00 UTC" in text
    assert "No approval is recorded for this version." in text

    sopgit(run, library, "release", "ENG-001", "--date", "2026-03-04")
    out = library.parent / "released.html"
    sopgit(run, library, "export", "ENG-001", "-o", str(out))
    text = " ".join(out.read_text(encoding="utf-8").split())
    assert "No approval is recorded for this version." in text
    uncounted = text.split("did not count for this version:")[1].split("</ul>")[0]
    assert "Kim Park (kim@acme.example), peer, approved 2026-03-02 10:14:00 UTC" in uncounted
    assert f"the text of commit {merge[:10]}" in uncounted
