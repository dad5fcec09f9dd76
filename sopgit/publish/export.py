"""Controlled copies: an SOP's text as released in its tag, with its signatures and binding.

A copy is HTML (always) or PDF (WeasyPrint, the optional extra `sopgit[pdf]`). It holds
a cover page, the signature manifest of 21 CFR Part 11 section 11.50, the revision
history up to the version, and the text read from the blob at the version's tag, never
from the work tree. Every page's footer binds the copy to the record (section 11.70):
the tag's object id, its commit, and the SHA-256 of the released file. The same facts
sit in the copy's metadata, with a digest of the copy's own content, so `verify` can
recompute them from git and tell a true copy from another version's, a tampered file
or a moved tag.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import semver
from markupsafe import Markup

from sopgit.core.approvals import (
    APPROVED_BY,
    REVIEWED_BY,
    STALE_PREFIX,
    Approval,
    parse_signoff,
)
from sopgit.core.commits import parse_message
from sopgit.core.history import HistoryRow, SopVersion, history_rows, row_from_tag
from sopgit.core.model import Tag
from sopgit.core.redline import terminal_safe
from sopgit.core.versioning import parse_version
from sopgit.errors import DocumentError, PolicyError, UsageError
from sopgit.repo.docformat import read_document
from sopgit.repo.snapshot import Snapshot, Sop
from sopgit.resources import resource_dir

PENDING = "pending"
BINDING_KEY = "sopgit-binding"
DIGEST_KEY = "sopgit-content-sha256"
PDF_BINDING = "/SopgitBinding"
PDF_DIGEST = "/SopgitContentSHA256"
PDF_EXTRA = 'PDF export needs the pdf extra: pip install "sopgit[pdf]"'
SOURCES = {
    "github": "pull request review",
    "signed-commit": "signed commit",
    "trailer": "trailer",
}


@dataclass(frozen=True)
class Binding:
    """What ties a copy to the record in git (section 11.70)."""

    sop_id: str
    version: str  # "1.1.0", or "pending"
    tag: str  # "" for pending text
    tag_object: str  # the annotated tag's own object id
    commit: str
    path: str
    sha256: str  # of the released file's bytes

    def as_dict(self) -> dict[str, str]:
        return {
            "id": self.sop_id,
            "version": self.version,
            "tag": self.tag,
            "tag_object": self.tag_object,
            "commit": self.commit,
            "path": self.path,
            "sha256": self.sha256,
        }

    def encode(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> Binding:
        try:
            data = json.loads(text)
            return cls(
                sop_id=str(data["id"]),
                version=str(data["version"]),
                tag=str(data["tag"]),
                tag_object=str(data["tag_object"]),
                commit=str(data["commit"]),
                path=str(data["path"]),
                sha256=str(data["sha256"]),
            )
        except (ValueError, KeyError, TypeError):
            raise PolicyError("its binding is unreadable; the copy was altered") from None


@dataclass(frozen=True)
class Signature:
    """One line of the signature manifest (section 11.50)."""

    name: str
    email: str
    role: str
    meaning: str  # "approved" | "reviewed"
    time: str  # ISO 8601 with its zone, UTC
    source: str  # "pull request review" | "signed commit" | "trailer"
    where: str  # the commit or pull request it was read from
    verified: bool  # git verified a cryptographic signature by the signer
    approved: str = ""  # the commit whose text it approved, when the record says
    note: str = ""  # e.g. that it approved an earlier text and was kept


@dataclass(frozen=True)
class Copy:
    """Everything a controlled copy shows."""

    binding: Binding
    title: str
    owner: str
    effective_date: str  # the release date; "" for pending text
    status: str  # "effective" | "superseded by v1.1.0" | "retired" | "DRAFT, NOT APPROVED"
    watermark: str  # "" for the effective version, else SUPERSEDED / RETIRED / DRAFT
    text: str  # the released file, decoded
    signatures: tuple[Signature, ...]
    uncounted: tuple[Signature, ...]  # sign-offs of an earlier text, which did not count
    history: tuple[HistoryRow, ...]
    tag_signature: str  # "verified", "not verified" or "none"
    library: str
    notes: tuple[str, ...] = field(default=())  # e.g. approvals still missing for pending


# --- gathering the facts from git --------------------------------------------------------


def choose_version(version: SopVersion, wanted: str | None) -> tuple[semver.Version, Tag] | None:
    """The release WANTED names ("1.2.0", "v1.2.0", default the current); None for pending."""
    if wanted is not None and wanted.lower() == PENDING:
        return None
    if not version.releases:
        raise UsageError(
            f"{version.sop_id} has no released version; export --version pending for its draft"
        )
    if wanted is None or wanted.lower() == "current":
        return version.releases[0]
    number = parse_version(wanted[1:] if wanted[:1] in "vV" else wanted)
    for released, tag in version.releases:
        if released == number:
            return released, tag
    known = ", ".join(str(v) for v, _ in reversed(version.releases))
    raise UsageError(f"{version.sop_id} has no version {wanted}; released versions: {known}")


def tag_objects(snapshot: Snapshot) -> dict[str, str]:
    """Tag name -> the object its ref names (the tag object of an annotated tag): one process."""
    out = snapshot.lib.repo.run("for-each-ref", "--format=%(objectname) %(refname)", "refs/tags")
    found = {}
    for line in out.splitlines():
        obj, _, ref = line.partition(" ")
        found[ref.removeprefix("refs/tags/")] = obj
    return found


Files = dict[tuple[str, str], tuple[str, bytes]]  # (id, commit) -> (path then, bytes)


def read_released(snapshot: Snapshot, wanted: Iterable[tuple[Sop, str]]) -> Files:
    """Each SOP's file at each commit of WANTED, in one git process: looked up under every
    name the file had (renames in the history), newest first."""
    from sopgit.publish.site import former_paths

    paths = {s.path: s.sop_id for s in snapshot.sops.values()}
    names = former_paths(snapshot.history.commits, paths)
    specs = {
        (sop.sop_id, commit): [f"{commit}:{name}" for name in names.get(sop.sop_id, [sop.path])]
        for sop, commit in wanted
    }
    blobs = snapshot.lib.repo.blobs(spec for found in specs.values() for spec in found)
    files: Files = {}
    for key, found in specs.items():
        hit = next((spec for spec in found if spec in blobs), None)
        if hit is not None:
            files[key] = (hit.split(":", 1)[1], blobs[hit])
    return files


def blob_at(
    snapshot: Snapshot, sop: Sop, commit: str, files: Files | None = None
) -> tuple[str, bytes]:
    """The SOP's file as it stood at COMMIT: (its path then, its bytes), from FILES when
    they were read already.

    The file may have been renamed since: it is looked up under each name the history
    gave it; failing that, the file under the library's root whose name or id key names
    the SOP is taken.
    """
    known = (files if files is not None else read_released(snapshot, [(sop, commit)])).get(
        (sop.sop_id, commit)
    )
    if known is not None:
        return known
    repo = snapshot.lib.repo
    root = snapshot.lib.config.root.strip("/")
    listing = repo.run("ls-tree", "-r", "-z", "--name-only", commit, "--", root or ".")
    candidates = [p for p in listing.split("\0") if p.endswith(".md")]
    named = [p for p in candidates if sop.sop_id.lower() in p.rsplit("/", 1)[-1].lower()]
    for path in named + [p for p in candidates if p not in named]:
        data = repo.blob(commit, path)
        try:
            doc = read_document(data.decode("utf-8", "replace"), path, sop.fmt)
        except DocumentError:
            continue
        if str(doc.meta.get(sop.fmt.key("id"), "")).upper() == sop.sop_id or path in named:
            return path, data
    raise UsageError(f"{sop.sop_id} is not in commit {commit[:10]}; the tag does not hold it")


def manifest(
    tag: Tag, signatures: Mapping[str, tuple[str, str]] | None = None
) -> tuple[tuple[Signature, ...], tuple[Signature, ...]]:
    """The signatures a release tag records, their sources read from the tag's Approvals
    list: (those that counted for the release: its Approved-by and Reviewed-by trailers;
    sign-offs of an earlier text that did not: its Stale- trailers)."""
    message = parse_message(tag.message)
    where_by_line = _approval_lines(message.body)
    keys = (APPROVED_BY.lower(), REVIEWED_BY.lower())
    counted: list[Signature] = []
    uncounted: list[Signature] = []
    for key, value in message.trailers:
        stale = key.lower().startswith(STALE_PREFIX.lower())
        base = key[len(STALE_PREFIX) :] if stale else key
        if base.lower() not in keys:
            continue
        signoff = parse_signoff(base, value, default_time=tag.time)
        if signoff is None:
            continue
        found = _signature(signoff, where_by_line, signatures or {})
        (uncounted if stale else counted).append(found)
    return tuple(counted), tuple(uncounted)


APPROVAL_LINE = re.compile(
    r"^- (?P<role>[^:]+): (?P<who>.*), (?P<meaning>approved|reviewed) (?P<time>\S+), (?P<where>.+)$"
)


def _approval_lines(body: str) -> dict[tuple[str, str], str]:
    """(signer, time) -> where, from the tag's readable `Approvals:` list."""
    found = {}
    for line in body.splitlines():
        match = APPROVAL_LINE.match(line.strip())
        if match:
            found[(" ".join(match.group("who").split()), match.group("time"))] = match.group(
                "where"
            )
    return found


def _signature(
    signoff: Approval, where_by_line: Mapping[tuple[str, str], str], checks: Mapping[str, Any]
) -> Signature:
    where = where_by_line.get((signoff.signer.label, signoff.time), "")
    if where.startswith("GitHub review"):
        source = "github"
    elif where.startswith("signed approval commit"):
        source = "signed-commit"
    else:
        source = "trailer"
    verified = False
    commit = re.search(r"\b([0-9a-f]{7,40})\b", where)
    if source == "signed-commit" and commit:
        verdict = next((v for sha, v in checks.items() if sha.startswith(commit.group(1))), None)
        verified = bool(verdict and verdict[0] == "G")
    return Signature(
        name=signoff.signer.name or signoff.signer.login or signoff.signer.email,
        email=signoff.signer.email,
        role=signoff.role or "",
        meaning=signoff.meaning,
        time=signoff.time,
        source=SOURCES[source],
        where=where or "release tag trailer",
        verified=verified,
        approved=signoff.approved or "",
        note="approved an earlier text; counted under stale = keep" if signoff.stale else "",
    )


def pending_signatures(approvals: tuple[Approval, ...]) -> tuple[Signature, ...]:
    """The sign-offs gathered so far for the pending text (not yet a release)."""
    return tuple(
        Signature(
            name=a.signer.name or a.signer.login or a.signer.email,
            email=a.signer.email,
            role=a.role or "",
            meaning=a.meaning,
            time=a.time,
            source=SOURCES.get(a.source, a.source),
            where=a.where(),
            verified=a.source == "signed-commit",
            approved=a.approved or "",
            note="approved an earlier text; counted under stale = keep" if a.stale else "",
        )
        for a in approvals
    )


def status_of(
    sop: Sop, version: SopVersion, chosen: semver.Version | None, retired_latest: bool
) -> tuple[str, str]:
    """(status, watermark) of CHOSEN (None: the pending text) among VERSION's releases."""
    if chosen is None:
        return "DRAFT, NOT APPROVED", "DRAFT"
    latest = version.releases[0][0]
    if chosen == latest:
        return ("retired", "RETIRED") if retired_latest else ("effective", "")
    newer = min(v for v, _ in version.releases if v > chosen)
    return f"superseded by v{newer}", "SUPERSEDED"


def gather(
    snapshot: Snapshot,
    sop_id: str,
    wanted: str | None = None,
    *,
    objects: Mapping[str, str] | None = None,
    files: Files | None = None,
    signature_checks: Callable[[list[str]], Mapping[str, tuple[str, str]]] | None = None,
) -> Copy:
    """The facts of SOP_ID's controlled copy of version WANTED (default: the current one)."""
    sop = snapshot.sop(sop_id)
    version = snapshot.version(sop.sop_id)
    repo = snapshot.lib.repo
    chosen = choose_version(version, wanted)
    notes: list[str] = []
    if chosen is None:
        if sop.doc is None:
            raise UsageError(f"{sop.path} does not parse; run 'sopgit check' and fix it first")
        data = (snapshot.lib.root / sop.path).read_bytes()
        path, commit, tag_name, tag_object, date = sop.path, snapshot.head or "", "", "", ""
        history = tuple(history_rows(version))
        from sopgit.github.rounds import outcomes

        outcome = outcomes(snapshot, [sop.sop_id]).get(sop.sop_id)
        signatures = pending_signatures(outcome.approvals) if outcome else ()
        uncounted = (
            pending_signatures(tuple(a for a, _ in outcome.stale if not a.stale)) if outcome else ()
        )
        if outcome and outcome.missing:
            notes.append("approvals still missing: " + ", ".join(outcome.missing))
        if not version.pending:
            notes.append("the work tree holds no change since the last release")
        number = "pending"
        retired_latest = False
    else:
        number_v, tag = chosen
        number = str(number_v)
        objects = objects if objects is not None else tag_objects(snapshot)
        tag_name, tag_object, commit = tag.name, objects.get(tag.name, ""), tag.target
        path, data = blob_at(snapshot, sop, commit, files)
        row = row_from_tag(number_v, tag)
        date = row.date
        history = tuple(r for r in history_rows(version) if _not_after(r.version, number_v))
        shas = re.findall(r"signed approval commit ([0-9a-f]{7,40})", tag.message)
        checks = (signature_checks or _signatures(snapshot))(shas) if shas else {}
        signatures, uncounted = manifest(tag, checks)
        missing = parse_message(tag.message).trailer_values("Missing-Approval")
        if missing:
            reason = parse_message(tag.message).trailer_values("Allow-Unapproved")
            notes.append(
                f"released without approval as {', '.join(missing)}"
                + (f": {reason[0]}" if reason else "")
            )
        retired_latest = bool(
            parse_message(version.releases[0][1].message).trailer_values("Retired")
        )
    text = data.decode("utf-8", "replace")
    try:
        doc = read_document(text, path, sop.fmt)
        meta = doc.meta
    except DocumentError:
        meta = {}
    title = str(meta.get(sop.fmt.key("title")) or sop.meta("title", sop.sop_id))
    owner = str(meta.get(sop.fmt.key("owner")) or "")
    status, watermark = status_of(sop, version, chosen[0] if chosen else None, retired_latest)
    tag_signature = "none"
    if chosen is not None and chosen[1].signed:
        tag_signature = "verified" if repo.verify_tag(chosen[1].name) else "not verified"
    return Copy(
        binding=Binding(
            sop.sop_id,
            number,
            tag_name,
            tag_object,
            commit,
            path,
            hashlib.sha256(data).hexdigest(),
        ),
        title=title,
        owner=owner,
        effective_date=date,
        status=status,
        watermark=watermark,
        text=text,
        signatures=signatures,
        uncounted=uncounted,
        history=history,
        tag_signature=tag_signature,
        library=snapshot.lib.config.name,
        notes=tuple(notes),
    )


def _signatures(snapshot: Snapshot) -> Callable[[list[str]], Mapping[str, tuple[str, str]]]:
    def check(shas: list[str]) -> Mapping[str, tuple[str, str]]:
        full = [snapshot.lib.repo.resolve(s) or s for s in shas]
        return snapshot.lib.repo.signatures(full)

    return check


def _not_after(text: str, version: semver.Version) -> bool:
    parsed = parse_version(text)
    return parsed is None or parsed <= version


# --- rendering -------------------------------------------------------------------------


def _visible(value: Any) -> Any:
    """Every value a copy prints: control characters shown escaped (a PDF font has no glyph
    for them, and a terminal or browser would act on some); safe HTML passes."""
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return terminal_safe(value)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(resource_dir("templates") / "export"),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        keep_trailing_newline=True,
        finalize=_visible,
    )


MARKER_LINE = re.compile(r"^\s*<!-- sopgit:[a-z-]+:(?:start|end) -->\s*$")


def body_html(text: str) -> Markup:
    """The SOP's Markdown body (front matter left out) as safe HTML: no raw HTML passes."""
    from sopgit.publish.site import markdown

    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), 0)
        lines = lines[end + 1 :]
    # sopgit's own markers (the managed history table's) are not part of what is read
    body = "\n".join(x for x in lines if not MARKER_LINE.match(x))
    body = terminal_safe(body)
    return Markup(markdown().render(body))


def render_html(copy: Copy, *, for_pdf: bool = False) -> str:
    """The copy as one HTML document; its binding and content digest in the head."""
    page = (
        _environment()
        .get_template("copy.html.j2")
        .render(
            copy=copy,
            binding=copy.binding,
            binding_json=copy.binding.encode(),
            body=body_html(copy.text),
            for_pdf=for_pdf,
            digest_key=DIGEST_KEY,
            binding_key=BINDING_KEY,
        )
    )
    if for_pdf:
        return page
    return page.replace(_DIGEST_SLOT, html_digest(page), 1)


_DIGEST_SLOT = "@@SOPGIT-CONTENT-DIGEST@@"
BODY = re.compile(r"<body[^>]*>(?P<body>.*)</body>", re.DOTALL)


def html_digest(page: str) -> str:
    """SHA-256 of the page's body: what a reader sees."""
    match = BODY.search(page)
    return hashlib.sha256((match.group("body") if match else page).encode("utf-8")).hexdigest()


def render_pdf(copy: Copy) -> bytes:
    """The copy as PDF through WeasyPrint; binding and content digest in its metadata."""
    try:
        import pypdf
        import weasyprint
    except ImportError:
        raise UsageError(PDF_EXTRA) from None
    import io

    page = weasyprint.HTML(string=render_html(copy, for_pdf=True), url_fetcher=_refuse(weasyprint))
    first = page.write_pdf()
    assert first is not None
    reader = pypdf.PdfReader(io.BytesIO(first))
    writer = pypdf.PdfWriter(clone_from=reader)
    writer.add_metadata(
        {
            PDF_BINDING: copy.binding.encode(),
            PDF_DIGEST: pdf_digest(writer.pages),
        }
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _refuse(weasyprint: Any) -> Any:
    """A URL fetcher that fetches nothing: a copy is made of the released text alone, and
    an image or stylesheet address in an SOP never makes the export reach a network or a
    local file. (Recent WeasyPrint takes a URLFetcher, older releases a function.)"""

    def refuse(url: str, *args: Any, **kwargs: Any) -> Any:
        raise ValueError(f"a controlled copy fetches nothing: {url}")

    base = getattr(weasyprint, "URLFetcher", None)
    if base is None:
        return refuse

    class Refuse(base):  # type: ignore[misc, valid-type]
        def fetch(self, url: str, headers: Any = None) -> Any:
            return refuse(url)

    return Refuse()


def pdf_digest(pages: Any) -> str:
    """SHA-256 over every page's content streams, in order: what a reader sees."""
    digest = hashlib.sha256()
    for page in pages:
        contents = page.get_contents()
        digest.update(contents.get_data() if contents is not None else b"")
        digest.update(b"\0page\0")
    return digest.hexdigest()


# --- verifying ------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """What a copy says of itself, and whether its content is as exported."""

    binding: Binding
    intact: bool
    pages: tuple[str, ...] = ()  # the text of each page (PDF)


def read_copy(path: Path) -> Claimed:
    """The binding a copy carries; PolicyError when it carries none."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UsageError(f"cannot read it: {err.strerror}", path) from None
    if data.startswith(b"%PDF"):
        return _read_pdf(path, data)
    text = data.decode("utf-8", "replace")
    found = dict(
        (m.group(1), html.unescape(m.group(2)))
        for m in re.finditer(r'<meta name="(sopgit-[a-z0-9-]+)" content="([^"]*)">', text)
    )
    if BINDING_KEY not in found:
        raise PolicyError(f"{path}: not a controlled copy (it carries no sopgit binding)")
    return Claimed(Binding.decode(found[BINDING_KEY]), found.get(DIGEST_KEY) == html_digest(text))


def _read_pdf(path: Path, data: bytes) -> Claimed:
    try:
        import pypdf
        from pypdf.errors import PyPdfError
    except ImportError:
        raise UsageError(PDF_EXTRA) from None
    import io

    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        info: Mapping[str, Any] = reader.metadata or {}
        pages = tuple(page.extract_text() or "" for page in reader.pages)
        digest = pdf_digest(reader.pages)
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError):
        raise PolicyError(f"{path}: not a readable PDF; the file is damaged or altered") from None
    if PDF_BINDING not in info:
        raise PolicyError(f"{path}: not a controlled copy (it carries no sopgit binding)")
    binding = Binding.decode(str(info[PDF_BINDING]))
    return Claimed(binding, str(info.get(PDF_DIGEST, "")) == digest, pages)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    line: str


def verify_copy(snapshot: Snapshot, claimed: Claimed, expect: str | None = None) -> Verdict:
    """Recompute the binding from git and compare: content, tag, commit, file hash."""
    b = claimed.binding
    what = f"{b.sop_id} v{b.version}" if b.version != PENDING else f"{b.sop_id} pending draft"
    if not claimed.intact:
        return Verdict(False, f"FAILED {what}: the copy's content was changed after export")
    for number, page in enumerate(claimed.pages, 1):
        flat = "".join(page.split())
        if b.sha256 not in flat or (b.tag_object and b.tag_object not in flat):
            return Verdict(False, f"FAILED {what}: page {number} does not carry the binding")
    sop = snapshot.sop(b.sop_id)
    version = snapshot.version(sop.sop_id)
    if b.version == PENDING:
        data = (snapshot.lib.root / sop.path).read_bytes()
        if hashlib.sha256(data).hexdigest() != b.sha256:
            return Verdict(False, f"FAILED {what}: {sop.path} has changed since this draft")
        return Verdict(expect in (None, PENDING), f"OK {what} ({sop.path}): DRAFT, NOT APPROVED")
    objects = tag_objects(snapshot)
    if b.tag not in objects:
        return Verdict(False, f"FAILED {what}: tag {b.tag} no longer exists")
    if objects[b.tag] != b.tag_object:
        return Verdict(
            False,
            f"FAILED {what}: tag {b.tag} was moved: it is object {objects[b.tag][:10]} now, "
            f"the copy was bound to {b.tag_object[:10]}",
        )
    release = next(((v, t) for v, t in version.releases if t.name == b.tag), None)
    if release is None or str(release[0]) != b.version:
        named = f"v{release[0]}" if release else "no release of it"
        return Verdict(False, f"FAILED {what}: tag {b.tag} is {named}, not v{b.version}")
    if release[1].target != b.commit:
        return Verdict(False, f"FAILED {what}: tag {b.tag} points at another commit")
    _path, data = blob_at(snapshot, sop, b.commit)
    if hashlib.sha256(data).hexdigest() != b.sha256:
        return Verdict(
            False, f"FAILED {what}: its SHA-256 is not that of the text released in {b.tag}"
        )
    status, _mark = status_of(
        sop,
        version,
        release[0],
        bool(parse_message(version.releases[0][1].message).trailer_values("Retired")),
    )
    line = f"OK {what}, tag {b.tag} ({b.tag_object[:10]}), SHA-256 {b.sha256[:12]}: {status}"
    if expect is not None:
        wanted = str(version.current) if expect.lower() == "current" else expect.lstrip("vV")
        if wanted != b.version:
            return Verdict(False, f"FAILED {what}: a copy of v{b.version}, not of v{wanted}")
    return Verdict(True, line)


# --- the audit binder -------------------------------------------------------------------


@dataclass(frozen=True)
class BinderEntry:
    copy: Copy
    file: str


def binder_index(entries: list[BinderEntry], library: str, when: dt.date) -> str:
    """The binder's index.html: one row per controlled copy, with its binding."""
    return (
        _environment()
        .get_template("index.html.j2")
        .render(entries=entries, library=library, date=when.isoformat())
    )


def effective_ids(snapshot: Snapshot) -> list[str]:
    """SOPs with a release that are not retired: the ones an audit binder holds."""
    found = []
    for sop_id in snapshot.sops:
        version = snapshot.version(sop_id)
        if not version.releases:
            continue
        if parse_message(version.releases[0][1].message).trailer_values("Retired"):
            continue
        found.append(sop_id)
    return found


def file_name(copy: Copy, fmt: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9.-]+", "-", f"{copy.binding.sop_id}-v{copy.binding.version}")
    return f"{safe}.{fmt}"
