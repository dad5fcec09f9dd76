"""Progress on a terminal: one line redrawn in place; nothing when stderr is piped."""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

from sopgit.core import progress

INTERVAL = float(os.environ.get("SOPGIT_PROGRESS_INTERVAL", "0.1"))  # between redraws


class Line:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last = 0.0

    def __call__(self, label: str, count: int, unit: str) -> None:
        if count < 0:  # done: clear the line
            self.stream.write("\r\033[K")
            self.stream.flush()
            return
        now = time.monotonic()
        if now - self.last >= INTERVAL:
            self.last = now
            self.stream.write(f"\r{label} {count:,} {unit}\033[K")
            self.stream.flush()


def enable_if_terminal(stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    progress.listen(Line(stream) if stream.isatty() else None)
