"""Replace files so that the originals can be put back without writing a byte.

A release that fails part-way must leave every file as it was, even when the disk is
full: the new text goes to a temporary file beside the original, the original is kept
under a hard link, and undoing is a rename.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path


class FileSwap:
    def __init__(self) -> None:
        self._kept: list[tuple[Path, Path]] = []  # (path, the original kept beside it)

    def replace(self, path: Path, text: str) -> None:
        tag = secrets.token_hex(4)  # swaps of one file may nest (retire, then release)
        new = path.with_name(f".{path.name}.{tag}.sopgit-new")
        old = path.with_name(f".{path.name}.{tag}.sopgit-old")
        try:
            new.write_text(text, encoding="utf-8", newline="")
            shutil.copymode(path, new)
            os.link(path, old)
        except OSError as err:
            new.unlink(missing_ok=True)
            raise OSError(err.errno, err.strerror, str(path)) from None  # name the file
        except BaseException:
            new.unlink(missing_ok=True)
            raise
        os.replace(new, path)
        self._kept.append((path, old))

    def undo(self) -> None:
        """Put every original back (renames only)."""
        while self._kept:
            path, old = self._kept.pop()
            os.replace(old, path)

    def keep(self) -> None:
        """The new texts stay: drop the originals."""
        while self._kept:
            _, old = self._kept.pop()
            old.unlink(missing_ok=True)
