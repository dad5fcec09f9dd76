"""Commands of publication: changelog, index, build.

Registered on the main group by sopgit.cli; like it, imports only click at load.
"""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add this module's commands to GROUP."""
