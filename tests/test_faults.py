"""A release that runs out of space part-way leaves the repository as it was."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

from conftest import tree_state

SOPGIT = Path(sys.executable).parent / "sopgit"


def limit_file_size(size: int):
    def apply() -> None:
        # Writing past SIZE bytes then fails with EFBIG ("File too large"), as a full
        # disk fails with ENOSPC, instead of killing the process.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return apply


def test_a_release_that_cannot_write_its_files_changes_nothing(library: Path):
    sizes = sorted(p.stat().st_size for p in (library / "sops").rglob("*.md"))
    # Small SOPs still fit, the large ones cannot be written: the failure comes part-way.
    limit = (sizes[0] + sizes[-1]) // 2
    before = tree_state(library)
    done = subprocess.run(
        [SOPGIT, "-C", str(library), "release", "--date", "2025-04-01"],
        capture_output=True,
        text=True,
        preexec_fn=limit_file_size(limit),
        env={**os.environ, "TMPDIR": str(library.parent)},
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("sopgit: ")
    assert ".md (File too large)" in done.stderr
    assert "nothing was released" in done.stderr
    assert "Traceback" not in done.stderr
    assert tree_state(library) == before
    assert not list(library.rglob("*.sopgit-*"))
    # And with room again, the same release goes through.
    ok = subprocess.run(
        [SOPGIT, "-C", str(library), "release", "--date", "2025-04-01"],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
