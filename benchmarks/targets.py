"""Measure issue 12's targets: sopgit's history cache and kept status rows, cold and warm.

Each figure is the median of RUNS whole-process runs, as a ratio to the floor (one
`git log --name-status -M` plus one `git for-each-ref refs/tags`, see run.py) measured
on the same repository in the same session:

- large: cold `status --format json` (.git/sopgit removed before each run), warm
  `status` with nothing changed, warm `status` after 10 new commits (each run: warm at
  the base commit, 10 commits editing 10 SOPs, the timed run, then a reset to the base);
- medium: cold `status`; warm `build` after one SOP edit (each run: a build, an edit
  committed, the timed build, a reset);
- peak memory: the largest ru_maxrss of the sopgit process over the cold large runs.

The load average is printed with each row: the machine is shared.

    pip install . && python benchmarks/targets.py --runs 5

(From a worktree, set SOPGIT_BENCH_GENERATOR to the shared make_library.py.)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import FLOOR, build
from run import timed as child

FIXED = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.org",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.org",
    "GIT_AUTHOR_DATE": "2026-12-01T09:00:00+00:00",
    "GIT_COMMITTER_DATE": "2026-12-01T09:00:00+00:00",
}


def git(root: Path, *args: str) -> str:
    env = {**os.environ, **FIXED}
    return subprocess.run(
        ["git", *args], cwd=root, env=env, check=True, capture_output=True, text=True
    ).stdout


def measure(
    runs: int,
    commands: list[list[str]],
    cwd: Path,
    before: Callable[[], None] = lambda: None,
    after: Callable[[], None] = lambda: None,
) -> tuple[float, int]:
    """Median seconds and largest peak KiB of RUNS timed runs, BEFORE and AFTER untimed."""
    times, peaks = [], []
    for _ in range(runs):
        before()
        seconds, peak = child(commands, cwd)
        after()
        times.append(seconds)
        peaks.append(peak)
    return statistics.median(times), max(peaks)


def sop_paths(root: Path, count: int) -> list[str]:
    files = sorted(git(root, "ls-files", "sops").split("\n"))
    return [f for f in files if f.endswith(".md")][:count]


def commit_edits(root: Path, paths: list[str], tag: str) -> None:
    """One commit per path: a line added to its body, as a scoped fix."""
    for number, path in enumerate(paths):
        with open(root / path, "a", encoding="utf-8") as handle:
            handle.write(f"\nA step added by the benchmark ({tag} {number}).\n")
        sop_id = Path(path).name.split("-")[0] + "-" + Path(path).name.split("-")[1]
        git(root, "commit", "-q", "-am", f"fix({sop_id}): a step added ({tag} {number})")


def row(size: str, name: str, seconds: float, floor: float, peak: int, target: str) -> None:
    load = os.getloadavg()[0]
    print(
        f"| {size} | {name} | {seconds:.2f} | {seconds / floor:.3f} | {peak / 1024:.0f} | "
        f"{target} | {load:.1f} |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="medium,large")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/sopgit-bench"))
    args = parser.parse_args()
    sopgit = shutil.which("sopgit") or sys.exit("install sopgit first (pip install .)")
    status = [[sopgit, "status", "--format", "json"]]
    args.dir.mkdir(parents=True, exist_ok=True)
    print("| library | case | median s | × floor | peak MiB | target | load (1 min) |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        root, _summary = build(size, args.dir)
        base = git(root, "rev-parse", "HEAD").strip()
        private = root / ".git" / "sopgit"

        def reset(root: Path = root, base: str = base) -> None:
            git(root, "reset", "-q", "--hard", base)

        reset()
        floor, floor_peak = measure(args.runs, FLOOR, root)
        row(size, "floor: git log --name-status -M + for-each-ref", floor, floor, floor_peak, "")
        cold, cold_peak = measure(
            args.runs, status, root, before=partial(shutil.rmtree, private, True)
        )
        row(
            size,
            "cold `status --format json`",
            cold,
            floor,
            cold_peak,
            {"large": "<= 1.2 ×, <= 250 MiB", "medium": "<= 1.4 ×"}.get(size, ""),
        )
        if size == "large":
            child(status, root)  # warm at the base commit
            warm, peak = measure(args.runs, status, root)
            row(size, "warm `status` (nothing changed)", warm, floor, peak, "<= 0.1 ×")
            new, peak = measure(
                args.runs, status, root, before=Edits(root, status, 10), after=reset
            )
            row(size, "warm `status` after 10 new commits", new, floor, peak, "<= 0.15 ×")
            child(status, root)
        if size == "medium":
            build_site = [[sopgit, "build", "--output", str(args.dir / f"site-{size}")]]
            seconds, peak = measure(
                args.runs, build_site, root, before=Edits(root, build_site, 1), after=reset
            )
            row(size, "warm `build` after one SOP edit", seconds, floor, peak, "<= 0.5 s")


class Edits:
    """Before a timed run: COMMAND once (untimed, so its caches are warm), then COUNT
    commits, each editing another SOP."""

    def __init__(self, root: Path, command: list[list[str]], count: int) -> None:
        self.root, self.command, self.paths, self.runs = root, command, sop_paths(root, count), 0

    def __call__(self) -> None:
        child(self.command, self.root)
        commit_edits(self.root, self.paths, str(self.runs))
        self.runs += 1


if __name__ == "__main__":
    main()
