"""Reference-over-fast speed ratios of a ``nox -s perf`` run, checked against a baseline.

Usage::

    python benchmarks/perf/ratios.py perf.json                 # print, compare, exit 1 on a drop
    python benchmarks/perf/ratios.py perf.json --update        # store as the new baseline

A case regresses when its ratio (median time of the reference over that of the fast twin,
both measured in the same run) falls below ``(1 - margin)`` times the baseline's. The margin
(default 0.35) is wide because even same-run ratios move by 10-30 % on a loaded 2-core
machine; a real regression of the twin (a lost vectorisation, an extra copy per call) moves
them by much more.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

BASELINE = Path(__file__).resolve().parent / "baseline.json"


def ratios(run: dict) -> dict[str, float]:
    """Median reference time over median fast time, by case."""
    medians: dict[str, dict[str, float]] = {}
    for bench in run["benchmarks"]:
        info = bench["extra_info"]
        medians.setdefault(info["case"], {})[info["backend"]] = bench["stats"]["median"]
    return {case: m["reference"] / m["fast"] for case, m in sorted(medians.items())
            if "reference" in m and "fast" in m}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="pytest-benchmark JSON of a run (--benchmark-json)")
    parser.add_argument("--baseline", default=str(BASELINE), help="baseline ratios (JSON)")
    parser.add_argument("--margin", type=float, default=0.35, help="allowed relative drop")
    parser.add_argument("--update", action="store_true", help="store this run as the baseline")
    args = parser.parse_args(argv)
    run = json.loads(Path(args.run).read_text())
    found = ratios(run)
    machine = run.get("machine_info", {})
    if args.update:
        Path(args.baseline).write_text(json.dumps({
            "ratios": found, "commit": run.get("commit_info", {}).get("id"),
            "machine": f"{machine.get('node')} {machine.get('cpu', {}).get('brand_raw', '')}",
            "datetime": run.get("datetime"),
        }, indent=2, sort_keys=True) + "\n")  # fmt: skip
        print(f"baseline written: {args.baseline}")
    base = json.loads(Path(args.baseline).read_text())["ratios"] if Path(
        args.baseline).exists() else {}  # fmt: skip
    failures = 0
    print(f"{'case':28s} {'ratio':>8s} {'baseline':>9s}  status")
    for case, ratio in found.items():
        ref = base.get(case)
        status = "new" if ref is None else "ok"
        if ref is not None and ratio < (1.0 - args.margin) * ref:
            status, failures = f"REGRESSED (below {(1 - args.margin) * ref:.2f})", failures + 1
        print(f"{case:28s} {ratio:8.2f} {'' if ref is None else format(ref, '9.2f'):>9s}  {status}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
