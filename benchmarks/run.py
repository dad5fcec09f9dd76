"""Time sopgit against plain git on generated SOP libraries.

Builds libraries with the shared generator (../shared/bench/make_library.py), then
times whole processes, as a user would run them: the floor (one `git log
--name-status -M` plus one `git for-each-ref refs/tags`, the least any tool must read)
and sopgit commands (warm after the first run; targets.py measures cold and warm).
Prints a Markdown table of medians, ratios to the floor and peak memory.

    python benchmarks/run.py --sizes small,medium,large --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The shared generator beside the checkout; SOPGIT_BENCH_GENERATOR names it elsewhere
# (from a worktree, for instance).
GENERATOR = Path(
    os.environ.get("SOPGIT_BENCH_GENERATOR")
    or HERE.parent.parent / "shared" / "bench" / "make_library.py"
)
SIZES = {
    "small": (50, 1_000),
    "medium": (500, 20_000),
    "large": (2_000, 100_000),
}
FLOOR = [
    ["git", "log", "--name-status", "-M", "-z", "--format=%H%x00%P%x00%ct%x00%B"],
    ["git", "for-each-ref", "--format=%(refname)%00%(objectname)%00%(*objectname)", "refs/tags"],
]


def build(size: str, base: Path) -> tuple[Path, dict]:
    docs, commits = SIZES[size]
    path = base / f"lib-{size}"
    summary_file = path.with_suffix(".json")
    if not (path / ".git").is_dir() or not summary_file.is_file():
        out = subprocess.run(
            [
                sys.executable,
                str(GENERATOR),
                str(path),
                "--docs",
                str(docs),
                "--commits",
                str(commits),
                "--seed",
                "1",
                "--force",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        summary_file.write_text(out)
    return path, json.loads(summary_file.read_text().splitlines()[-1])


def timed(commands: list[list[str]], cwd: Path) -> tuple[float, int]:
    """Wall time of running COMMANDS one after another, and the peak RSS (KiB) of any."""
    peak = 0
    start = time.perf_counter()
    for command in commands:
        process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed in {cwd}")
        peak = max(peak, usage.ru_maxrss)
    return time.perf_counter() - start, peak


def median_run(commands: list[list[str]], cwd: Path, runs: int) -> tuple[float, int]:
    results = [timed(commands, cwd) for _ in range(runs)]
    return statistics.median(r[0] for r in results), max(r[1] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="small,medium,large")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/sopgit-bench"))
    args = parser.parse_args()
    sopgit = shutil.which("sopgit") or sys.exit("install sopgit first (pip install .)")
    args.dir.mkdir(parents=True, exist_ok=True)

    print("| library | SOPs | commits | command | median s | × floor | peak MiB |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        path, summary = build(size, args.dir)
        sop_id = "ENG-001"
        cases = {
            "floor: git log --name-status -M + for-each-ref": FLOOR,
            "sopgit status --format json": [[sopgit, "status", "--format", "json"]],
            f"sopgit history {sop_id}": [[sopgit, "history", sop_id]],
            "sopgit release --dry-run": [[sopgit, "release", "--dry-run"]],
        }
        if size != "large":  # the site: a page per SOP and per released version
            site = str(args.dir / f"site-{size}")
            cases["sopgit build (the site)"] = [[sopgit, "build", "--output", site]]
        floor = None
        for name, commands in cases.items():
            seconds, peak = median_run(commands, path, args.runs)
            floor = floor or seconds
            print(
                f"| {size} | {summary['docs']} | {summary['commits']} | {name} | "
                f"{seconds:.2f} | {seconds / floor:.2f} | {peak / 1024:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
