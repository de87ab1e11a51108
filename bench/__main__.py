"""Run the benchmarks: `python -m bench [substring]` prints one JSON object per line per figure.

Every `bench/bench_*.py` module (or those whose name contains the substring) has a `run()` that
yields dicts with `name`, `value`, `unit` and, where a figure compares, `baseline` and `ratio`.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import traceback
from pathlib import Path


def main(argv: list[str]) -> int:
    pattern = argv[0] if argv else ""
    names = sorted(
        info.name
        for info in pkgutil.iter_modules([str(Path(__file__).parent)])
        if info.name.startswith("bench_") and pattern in info.name
    )
    if not names:
        print(f"no benchmark module matches {pattern!r}", file=sys.stderr)
        return 2
    failed = False
    for name in names:
        # One broken benchmark must not hide the figures of the others.
        try:
            module = importlib.import_module(f"bench.{name}")
            for result in module.run():
                print(json.dumps(result), flush=True)
        except Exception:
            traceback.print_exc()
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
