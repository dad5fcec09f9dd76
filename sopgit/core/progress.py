"""Progress of long work, reported to whoever listens (pure: no terminal here).

The code doing long work calls `report` and `done`, which cost nothing when nobody
listens; the CLI plugs in a listener that draws a line on a terminal
(sopgit.cli.progress_line).
"""

from __future__ import annotations

from collections.abc import Callable

Listener = Callable[[str, int, str], None]  # (label, count, unit); count < 0: done

_listener: Listener | None = None


def listen(listener: Listener | None) -> None:
    global _listener
    _listener = listener


def report(label: str, count: int, unit: str) -> None:
    """Tell the listener that LABEL has reached COUNT UNIT."""
    if _listener is not None:
        _listener(label, count, unit)


def done() -> None:
    """Tell the listener the long work is over."""
    if _listener is not None:
        _listener("", -1, "")
