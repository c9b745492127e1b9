"""Command line of :mod:`fast`: ``python -m fast check [--device cuda] [--seeds 3]``.

``check`` runs the equivalence registry (every registered fast/reference pair) on
your device and prints the largest deviation of each against its tolerance, so you
can trust ``fast`` on new hardware. Exit status 1 if any case fails.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import torch


def check(device: str, seeds: int, pattern: str | None) -> int:
    """Run the registry; print a table; return the number of failures."""
    from fast._registry import CASES, compare

    dev = torch.device(device)
    print(f"fast check on {dev} (torch {torch.__version__}), {seeds} seed(s) per case")
    print(f"{'case':52s} {'max error':>11s} {'tolerance':>11s} {'time':>7s}  status")
    failures = 0
    for case in CASES:
        if pattern and pattern not in case.name:
            continue
        start = time.perf_counter()
        try:
            results = [compare(case, seed, dev) for seed in range(seeds)]
            err, tol = max(results, key=lambda r: r[0] / max(r[1], 1e-300))
            status = "ok" if all(e <= t for e, t in results) else "FAIL"
        except Exception as exc:  # report every case, even a crashing one
            err, tol, status = float("nan"), float("nan"), f"ERROR {type(exc).__name__}: {exc}"
        failures += status != "ok"
        elapsed = time.perf_counter() - start
        print(f"{case.name:52s} {err:11.2e} {tol:11.2e} {elapsed:6.2f}s  {status}")
    print("all cases agree" if failures == 0 else f"{failures} case(s) failed")
    return failures


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m fast``."""
    parser = argparse.ArgumentParser(prog="python -m fast", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_check = sub.add_parser("check", help="compare fast with the reference on this device")
    p_check.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p_check.add_argument("--seeds", type=int, default=3, help="random inputs per case")
    p_check.add_argument("--only", help="run only cases whose name contains this text")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        print("error: --seeds must be >= 1", file=sys.stderr)
        return 2
    try:
        torch.empty(1, device=args.device)
    except (RuntimeError, AssertionError) as exc:
        print(f"error: device {args.device!r} is not available: {exc}", file=sys.stderr)
        return 2
    return 1 if check(args.device, args.seeds, args.only) else 0


if __name__ == "__main__":
    raise SystemExit(main())
