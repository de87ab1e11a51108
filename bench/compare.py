"""Compare every figure of `make bench` between a base commit and this tree, in one run.

    python -m bench.compare BASE [--quick] [--rounds N] [--only SUBSTRING]

BASE is checked out into a temporary git worktree that uses this tree's .venv (and
node_modules); each tree runs its own benchmarks (`python -m bench <module>`, imports from its
own folder). The machine's speed drifts by a third within minutes here, so the two trees take
turns module by module, in the order old-new, new-old, ..., and each figure is the median of
its rounds. Prints one line per figure: old, new, the change, and whether it got worse.
`--quick` leaves out the browser and the 30-second slow-reader benchmarks and runs one round.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Left out by --quick: a real browser, and a 30-second run beside a page that reads nothing.
SLOW_MODULES = {"bench_browser", "bench_slow_reader", "bench_class"}
# A change within this fraction is the machine's noise, not the code (figures drift by up to a
# third within minutes; alternating rounds and taking medians narrows that).
NOISE = 0.10
# Which way is better, by unit: rates and the "x" ratios (speed-ups, fairness) up; times,
# memory and sizes down. A figure of another unit is printed with "?".
HIGHER_IS_BETTER_UNITS = {"steps/s", "frames/s", "epochs/s", "x"}
LOWER_IS_BETTER_UNITS = {"ms", "us", "s", "MB", "MB/min", "bytes"}

Figures = dict[str, list[float]]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("base", help="the commit to compare against (e.g. main, HEAD~3)")
    parser.add_argument("--quick", action="store_true", help="no browser or slow-reader bench")
    parser.add_argument("--rounds", type=int, default=None, help="turns per tree (default 2)")
    parser.add_argument("--only", default="", help="benchmark modules whose name contains this")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 2)

    with base_worktree(args.base) as base_root:
        modules = sorted(
            name
            for name in bench_modules(ROOT) & bench_modules(base_root)
            if args.only in name and not (args.quick and name in SLOW_MODULES)
        )
        only_one = (bench_modules(ROOT) ^ bench_modules(base_root)) - SLOW_MODULES
        if only_one:
            print(f"benchmarks in one tree only, not compared: {sorted(only_one)}")
        if not modules:
            print("no benchmark module to compare", file=sys.stderr)
            return 2
        old: Figures = defaultdict(list)
        new: Figures = defaultdict(list)
        units: dict[str, str] = {}
        failed = False
        for module in modules:
            for turn in range(rounds):
                trees = [(base_root, old), (ROOT, new)]
                for root, figures in trees if turn % 2 == 0 else trees[::-1]:
                    label = "old" if figures is old else "new"
                    print(f"… {module} round {turn + 1}/{rounds}: {label}", flush=True)
                    failed |= not run_module(root, module, figures, units)
    print_table(old, new, units)
    return 1 if failed else 0


@contextmanager
def base_worktree(base: str) -> Iterator[Path]:
    """BASE checked out beside this tree (detached), sharing its .venv and node_modules."""
    commit = git("rev-parse", "--verify", f"{base}^{{commit}}").strip()
    folder = Path(tempfile.mkdtemp(prefix="bench-base-"))
    tree = folder / "tree"
    git("worktree", "add", "--detach", str(tree), commit)
    try:
        for shared in (".venv", "node_modules"):
            if (ROOT / shared).exists() and not (tree / shared).exists():
                (tree / shared).symlink_to((ROOT / shared).resolve())
        check_imports_from(tree)
        print(f"base {base} = {commit[:12]} in {tree}")
        yield tree
    finally:
        git("worktree", "remove", "--force", str(tree))
        shutil.rmtree(folder, ignore_errors=True)


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def child_env(root: Path) -> dict[str, str]:
    # Each tree imports `app`, `bench` and `tests` from its own folder, never the other's.
    return {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}


def check_imports_from(root: Path) -> None:
    """The shared venv holds an editable install of some tree: make sure it does not win."""
    found = subprocess.run(
        [sys.executable, "-c", "import app; print(app.__file__)"],
        cwd=root,
        env=child_env(root),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not Path(found).is_relative_to(root):
        raise RuntimeError(f"the tree at {root} imports app from {found}")


def bench_modules(root: Path) -> set[str]:
    return {path.stem for path in (root / "bench").glob("bench_*.py")}


def run_module(root: Path, module: str, figures: Figures, units: dict[str, str]) -> bool:
    """One benchmark module of one tree; its figures appended. False if it failed."""
    result = subprocess.run(
        [sys.executable, "-m", "bench", module],
        cwd=root,
        env=child_env(root),
        capture_output=True,
        text=True,
        check=False,
    )
    for line in result.stdout.splitlines():
        if not line.startswith("{"):
            continue
        figure = json.loads(line)
        if isinstance(figure.get("value"), int | float):
            figures[figure["name"]].append(float(figure["value"]))
            units[figure["name"]] = str(figure.get("unit", ""))
    if result.returncode != 0:
        print(f"{module} failed in {root}:\n{result.stderr[-3000:]}", file=sys.stderr)
    return result.returncode == 0


def verdict(unit: str, old: float, new: float) -> str:
    if old == new:
        return "same"
    higher_better = unit in HIGHER_IS_BETTER_UNITS
    if not higher_better and unit not in LOWER_IS_BETTER_UNITS:
        return "?"
    change = (new - old) / abs(old) if old else float("inf")
    if abs(change) <= NOISE:
        return "same (within noise)"
    return "better" if (change > 0) == higher_better else "WORSE"


def print_table(old: Figures, new: Figures, units: dict[str, str]) -> None:
    names = sorted(set(old) | set(new))
    width = max((len(n) for n in names), default=10)
    print(f"\n{'figure':<{width}}  {'old':>12}  {'new':>12}  {'change':>8}  verdict")
    worse = 0
    for name in names:
        unit = units.get(name, "")
        if not old.get(name) or not new.get(name):
            side = "new" if not old.get(name) else "old"
            print(f"{name:<{width}}  only in the {side} tree")
            continue
        before, after = statistics.median(old[name]), statistics.median(new[name])
        change = f"{(after - before) / abs(before):+.0%}" if before else "n/a"
        said = verdict(unit, before, after)
        worse += said == "WORSE"
        print(f"{name:<{width}}  {before:>12g}  {after:>12g}  {change:>8}  {said}  {unit}")
    print(f"\n{worse} figure(s) worse by more than {NOISE:.0%}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
