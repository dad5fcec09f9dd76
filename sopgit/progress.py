"""Progress of long work on a terminal; silent when stderr is piped or captured.

The CLI switches it on once (`enable_if_terminal`); the code doing long work only
calls `report` and `done`, which cost nothing when it is off.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

_stream: TextIO | None = None
_last = 0.0
INTERVAL = float(os.environ.get("SOPGIT_PROGRESS_INTERVAL", "0.1"))  # between redraws


def enable_if_terminal(stream: TextIO | None = None) -> None:
    global _stream
    stream = stream or sys.stderr
    _stream = stream if stream.isatty() else None


def report(label: str, count: int, unit: str) -> None:
    """Redraw `LABEL COUNT UNIT` on one line, at most every INTERVAL seconds."""
    global _last
    if _stream is None:
        return
    now = time.monotonic()
    if now - _last >= INTERVAL:
        _last = now
        _stream.write(f"\r{label} {count:,} {unit}\033[K")
        _stream.flush()


def done() -> None:
    """Clear the progress line."""
    if _stream is not None:
        _stream.write("\r\033[K")
        _stream.flush()
