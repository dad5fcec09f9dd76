"""`status` rows kept between runs in `.git/sopgit/status-v1.bin`.

The rows are kept under a key made of everything they are computed from:

- sopgit's version and cache format, and the configuration it runs with;
- the commit HEAD names and the branch checked out;
- every tag (name, target, tagger, message) as `git for-each-ref` lists it now;
- every SOP file's path and bytes, as read now from the work tree.

A run with the same key reads the rows and starts no `git log` and no read of a tag's
contents; any difference (a commit, a tag added, moved or deleted, a file edited, added
or removed, another branch, a config edit) is another key, and the rows are computed
afresh from the history (itself cached, see sopgit.repo.history_cache) and kept for the next run.
They are computed from exactly the files, tags, HEAD and branch their key is made of
(the texts read for the key, the tags of the same listing as their ids), so what is
kept under a key is what a run without any cache answers for that state. A damaged
file (checksum) or one of another sopgit version is ignored and replaced.
Today's date is not part of the key: whether a review is due is decided after reading.
"""

from __future__ import annotations

import hashlib
from dataclasses import astuple, dataclass

from sopgit.core.status import StatusRow, undated_rows
from sopgit.repo.history_cache import cache_key, read_kept, write_kept
from sopgit.repo.library import SopFile, sop_files
from sopgit.repo.textio import encode, read_text
from sopgit.repo.workspace import Library

FILE_NAME = "status-v1.bin"


@dataclass(frozen=True)
class LibraryStatus:
    rows: list[StatusRow]  # as on any day (see sopgit.core.status.dated)
    branch: str | None
    on_release_branch: bool


@dataclass(frozen=True)
class _Inputs:
    head: str | None
    branch: str | None
    tag_ids: list[tuple[str, str]]  # (ref name, object id) of every tag
    files: list[SopFile]
    texts: dict[str, str]  # path -> text


def library_status(lib: Library) -> LibraryStatus:
    """The status rows of LIB, from the kept rows when nothing they depend on changed."""
    repo = lib.repo
    files = sop_files(lib.root, lib.config)
    texts = {f.path: read_text(lib.root / f.path) for f in files}
    head = repo.head_commit()
    use = lib.use_cache and head is not None and not repo.is_shallow_fast()
    path = repo.private_dir() / FILE_NAME
    if use:
        inputs = _Inputs(head, repo.current_branch(), repo.tag_ids(), files, texts)
        kept = read_kept(path, _key(lib, inputs))
        rows = _rows(kept[0]) if kept and len(kept) == 1 else None
        if rows is not None:
            on_release = inputs.branch == lib.config.release_branch
            return LibraryStatus(rows, inputs.branch, on_release)

    from sopgit.repo.snapshot import load_snapshot

    tags, tag_ids = repo.tags_and_ids()
    snapshot = load_snapshot(lib, head, overlay=texts, files=files, tags=tags)
    rows = undated_rows(snapshot)
    if use:  # kept under exactly what they were computed from
        inputs = _Inputs(head, snapshot.branch, tag_ids, files, texts)
        write_kept(path, _key(lib, inputs), [[astuple(r) for r in rows]])
    return LibraryStatus(rows, snapshot.branch, snapshot.on_release_branch)


def _key(lib: Library, inputs: _Inputs) -> str:
    digest = hashlib.sha256()
    for part in (
        cache_key(repr(lib.config).encode("utf-8", "surrogateescape")),
        FILE_NAME,
        inputs.head or "",
        inputs.branch if inputs.branch is not None else "\1detached",
        repr(inputs.tag_ids),
    ):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    for file in inputs.files:
        digest.update(encode(repr(file)) + b"\0")
        digest.update(hashlib.sha256(encode(inputs.texts[file.path])).digest())
    return digest.hexdigest()


def _rows(kept: object) -> list[StatusRow] | None:
    """The rows write_kept stored, or None if KEPT is not a list of them."""
    if not isinstance(kept, list):
        return None
    try:
        return [StatusRow(*fields) for fields in kept]
    except TypeError:
        return None
