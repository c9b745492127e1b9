"""The prepared GPU check: correctness, then timings, in one short run (``nox -s gpu``).

Whoever is lent a GPU for a few minutes runs, from the repository root,

    python benchmarks/gpu_check.py --out gpu-check

and gets, in ``gpu-check/``:

* ``check.txt``: ``python -m fast check --device cuda`` (every registered fast/reference pair on
  the GPU against the NumPy oracle on the CPU);
* ``pytest.txt``: the CUDA-parametrised tests (``-k cuda``);
* ``timings.md``: all of it as one Markdown table, to paste into ``benchmarks/README.md``;
* ``timings.json``: seconds per call of the production workloads on the GPU, each the best of a
  few synchronised repetitions after a warm-up: one Langevin step with paper 003's descriptor MLP
  and with exact diagonalisation at 20x20 to 200x200 (one configuration and ensembles), a batched
  Ehrenfest step, NEGF densities, local-cluster forces, and the float32 matmul rate.

Each part is bounded by ``--budget`` seconds (default 420 in all): sections that would start after
the budget is spent are skipped and listed as such, so the run always returns its files. Nothing
here changes a setting of the device. ``--device cpu --quick`` is a smoke run on any machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import fast  # noqa: E402
import reference.nn as ref_nn  # noqa: E402
from reference.lattice import SquareLattice  # noqa: E402
from reference.model import (  # noqa: E402
    Electrodes,
    ElectronEnsemble,
    HolsteinModel,
    HolsteinParams,
    LaserPulse,
)


def timed(fn: Callable[[], Any], device: torch.device, repeat: int) -> float:
    """Best wall time of ``repeat`` calls after one warm-up, synchronising the device."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    sync()
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_rate(device: torch.device, n: int) -> float:
    """float32 FLOP/s of one ``n x n`` matmul (TF32 off, as torch's default)."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    return 2 * n**3 / timed(lambda: a @ b, device, 5)


def langevin(device: torch.device, sizes: list[tuple[int, int, bool]]) -> dict[str, Any]:
    """Seconds per BAOAB step and configuration: paper 003's MLP (float32) and exact forces.

    ``sizes`` holds ``(L, members, with_exact)``.
    """
    from fast.ml.models import TrainedModel

    arch = ref_nn.PAPER_ARCHITECTURES["paper003_mlp"]
    trained = TrainedModel(
        fast.nn.Network(arch, dtype=torch.float64).to_weights(), HolsteinParams(), "electronic", {}
    )
    out: dict[str, Any] = {}
    for size, members, with_exact in sizes:
        model = HolsteinModel(SquareLattice(size, size), HolsteinParams(), ElectronEnsemble(0.1))
        q = torch.as_tensor(
            np.random.default_rng(0).normal(scale=2.0, size=(members, size, size)), device=device
        )
        fields: list[tuple[str, Any]] = [("ml", trained.force_field(model.lattice, device=device))]
        if with_exact:
            fields.append(("exact", fast.ed.ExactForceField(model)))
        row: dict[str, float] = {}
        for name, field in fields:
            integ = fast.dynamics.langevin_baoab(
                field, mass=5.0, gamma=0.2, temperature=0.1, dt=0.05
            )
            state = integ.init(q, rng=0)
            repeat = 3 if name == "exact" else 10
            seconds = timed(partial(integ.step, state), device, repeat)
            row[f"{name}_seconds_per_step_per_config"] = seconds / members
        if with_exact:
            row["exact_over_ml"] = (
                row["exact_seconds_per_step_per_config"] / row["ml_seconds_per_step_per_config"]
            )
        out[f"{size}x{size} x{members}"] = row
        print(f"langevin {size}x{size} x{members}: {row}", flush=True)
    return out


def workloads(device: torch.device, quick: bool) -> dict[str, Any]:
    """Seconds per call of the batched physics kernels used by the workflows."""
    rng = np.random.default_rng(0)
    laser = HolsteinParams(-1.0, math.sqrt(3), 1.0, 0.0, 25.0, "n")

    def ehrenfest_step(size: int, members: int) -> Callable[[], Any]:
        import reference.ehrenfest as ref_ehrenfest

        model = HolsteinModel(SquareLattice(size, size), laser, ElectronEnsemble(0.0, 0.5))
        states = [
            ref_ehrenfest.initial_state(model, noise_temperature=1e-5, rng=s)
            for s in range(members)
        ]
        make_state: Any = fast.ehrenfest.EhrenfestState  # holds tensors in the fast twin
        state = make_state(
            torch.stack([torch.as_tensor(s.rho) for s in states]).to(device),
            torch.stack([torch.as_tensor(s.Q) for s in states]).to(device),
            torch.stack([torch.as_tensor(s.P) for s in states]).to(device),
            0.0,
            torch.zeros(members, dtype=torch.float64, device=device),
        )
        pulse = LaserPulse(0.6, 1.5, 0.5, 3.0, (1.0, 1.0))
        return lambda: fast.ehrenfest.ehrenfest_step(state, model, 0.1, pulse)

    def exact_force(size: int, members: int) -> Callable[[], Any]:
        model = HolsteinModel(SquareLattice(size, size), HolsteinParams(), ElectronEnsemble(0.1))
        q = torch.as_tensor(rng.normal(scale=2.0, size=(members, size, size)), device=device)
        return lambda: fast.ed.total_force(q, model)

    def cluster_force(size: int, r_c: float) -> Callable[[], Any]:
        model = HolsteinModel(
            SquareLattice(size, size), HolsteinParams(g=3.5), ElectronEnsemble(0.1, None, mu=0.0)
        )
        q = torch.as_tensor(rng.normal(scale=2.0, size=(size, size)), device=device)
        return lambda: fast.ed.cluster_force(q, model, r_c)

    def negf_densities(members: int, lx: int = 20, ly: int = 10) -> Callable[[], Any]:
        lattice = SquareLattice(10 if quick else lx, 10 if quick else ly, periodic_x=False)
        params = HolsteinParams(1.0, 1.4966629547095764, 1.0, 0.18, 1.0, "n-1/2")
        model = HolsteinModel(lattice, params, ElectronEnsemble(0.1, 0.5))
        electrodes = Electrodes(1.0, 0.001, 3.0, 0.1)
        q = torch.as_tensor(rng.normal(size=(members, *lattice.shape)), device=device)
        return lambda: fast.negf.negf_densities(q, model, electrodes)

    s = 0.25 if quick else 1.0

    def n(size: int) -> int:
        return max(4, int(size * s))

    cases: dict[str, tuple[Callable[[], Callable[[], Any]], int]] = {
        f"ehrenfest_step 8 x {n(20)}x{n(20)}": (lambda: ehrenfest_step(n(20), 8), 3),
        f"ehrenfest_step 30 x {n(20)}x{n(20)}": (lambda: ehrenfest_step(n(20), 30), 3),
        f"total_force 8 x {n(24)}x{n(24)}": (lambda: exact_force(n(24), 8), 3),
        f"total_force 4 x {n(40)}x{n(40)}": (lambda: exact_force(n(40), 4), 3),
        f"total_force 30 x {n(40)}x{n(40)}": (lambda: exact_force(n(40), 30), 2),
        f"cluster_force 1 x {n(200)}x{n(200)} (r_c = 1)": (lambda: cluster_force(n(200), 1.0), 3),
        f"cluster_force 1 x {n(200)}x{n(200)} (r_c = 2)": (lambda: cluster_force(n(200), 2.0), 3),
        "negf_densities 6 x 20x10": (lambda: negf_densities(6), 3),
        "negf_densities 1 x 28x30": (lambda: negf_densities(1, 28, 30), 2),
    }
    out: dict[str, Any] = {}
    for name, (make, repeat) in cases.items():
        try:
            seconds = timed(make(), device, repeat)
            out[name] = {"seconds": seconds}
        except Exception as exc:  # a failing kernel is a finding, not the end of the run
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
        print(f"{name}: {out[name]}", flush=True)
    return out


def _row(text: str) -> tuple[int, int, bool]:
    """``"L:M"`` or ``"L:M:exact"`` as a Langevin row."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "exact"):
        raise SystemExit(f"error: --langevin {text!r}: expected L:M or L:M:exact")
    return int(parts[0]), int(parts[1]), len(parts) == 3


def profile(device: torch.device, size: int, out: Path) -> str:
    """torch.profiler table of one MLP Langevin step on ``size x size``; written to a file."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from fast.ml.models import TrainedModel

    arch = ref_nn.PAPER_ARCHITECTURES["paper003_mlp"]
    trained = TrainedModel(
        fast.nn.Network(arch, dtype=torch.float64).to_weights(), HolsteinParams(), "electronic", {}
    )
    field = trained.force_field(SquareLattice(size, size), device=device)
    integ = fast.dynamics.langevin_baoab(field, mass=5.0, gamma=0.2, temperature=0.1, dt=0.05)
    q = torch.as_tensor(np.random.default_rng(0).normal(size=(size, size)), device=device)
    state = integ.init(q, rng=0)
    for _ in range(3):
        state = integ.step(state)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch_profile(activities=activities) as prof:
        for _ in range(3):
            state = integ.step(state)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    key = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    table = str(prof.key_averages().table(sort_by=key, row_limit=30))
    path = out / f"profile_{size}.txt"
    path.write_text(table + "\n")
    return str(path)


def _command(cmd: list[str], path: Path, seconds: float) -> dict[str, Any]:
    """Run ``cmd`` with its output in ``path``; return its exit status and duration."""
    start = time.perf_counter()
    with path.open("w") as log:
        try:
            rc = subprocess.run(
                cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, timeout=seconds, check=False
            ).returncode
        except subprocess.TimeoutExpired:
            rc = 124
    tail = path.read_text().strip().splitlines()[-1:] or [""]
    return {"command": " ".join(cmd), "rc": rc, "seconds": time.perf_counter() - start,
            "last_line": tail[0]}  # fmt: skip


def _rows(prefix: str, value: Any) -> list[tuple[str, str]]:
    """Flatten a timings entry into (name, figure) rows."""
    if isinstance(value, dict):
        if "seconds" in value and not isinstance(value["seconds"], dict):
            return [(prefix, f"{value['seconds'] * 1e3:.3g} ms")]
        if "error" in value and len(value) == 1:
            return [(prefix, f"error: {value['error']}")]
        rows = []
        for key, inner in value.items():
            rows += _rows(f"{prefix} {key}".strip(), inner)
        return rows
    if isinstance(value, float):
        return [(prefix, f"{value:.4g}")]
    return [(prefix, str(value))]


def markdown(summary: dict[str, Any]) -> str:
    """The check as a Markdown table (for ``benchmarks/README.md``): the device, the outcome
    of the equivalence check and the CUDA tests, then every timing."""
    lines = [
        f"GPU check on {summary.get('device')} (torch {summary.get('torch')}, CUDA "
        f"{summary.get('cuda')}), {summary.get('seconds', 0.0):.0f} s in all.",
        "",
        "| part | result |",
        "|---|---|",
    ]
    for part in ("check", "pytest"):
        if part in summary:
            entry = summary[part]
            lines.append(f"| {part} | exit {entry.get('rc')} in {entry.get('seconds', 0):.0f} s |")
    for name, figure in _rows("", summary.get("timings", {})):
        lines.append(f"| {name} | {figure} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpu-check", help="output folder (default gpu-check)")
    parser.add_argument("--device", default="cuda", help="torch device (default cuda)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds for the whole run")
    parser.add_argument(
        "--langevin", nargs="*", metavar="L:M[:exact]",
        help="Langevin rows (lattice side L, M configurations, exact forces too)",
    )  # fmt: skip
    parser.add_argument(
        "--profile", type=int, metavar="L", help="profile one MLP Langevin step on an LxL lattice"
    )
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["check", "pytest", "timings"],
        help="parts to leave out",
    )  # fmt: skip
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    try:
        torch.empty(1, device=device)
    except (RuntimeError, AssertionError) as exc:
        print(f"error: --device {args.device!r} is not available: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    def left() -> float:
        return float(args.budget) - (time.perf_counter() - start)

    summary: dict[str, Any] = {
        "device": (
            torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
        ),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "cpu_threads": torch.get_num_threads(),
        "host_cpus": os.cpu_count(),
    }  # fmt: skip
    py = sys.executable
    if "check" not in args.skip:
        seeds = "1" if args.quick else "2"
        cmd = [py, "-m", "fast", "check", "--device", args.device, "--seeds", seeds]
        summary["check"] = _command(cmd, out / "check.txt", max(left() * 0.3, 30))
        print(f"check: {summary['check']}", flush=True)
    if "pytest" not in args.skip:
        tests = ["tests/fast/test_equivalence.py", "tests/fast/test_behaviour.py"]
        cmd = [py, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-k", "cuda", *tests]
        summary["pytest"] = _command(cmd, out / "pytest.txt", max(left() * 0.4, 30))
        print(f"pytest: {summary['pytest']}", flush=True)
    if "timings" not in args.skip:
        torch.set_grad_enabled(False)
        timings: dict[str, Any] = {}
        q = args.quick
        rows = [(8, 1, True), (12, 8, False)] if q else [
            (20, 1, True), (20, 32, True), (40, 1, True), (40, 8, True),
            (100, 1, False), (200, 1, False), (200, 8, False), (400, 1, False),
            (1000, 1, False)]  # fmt: skip
        if args.langevin is not None:
            rows = [_row(text) for text in args.langevin]
        sections: list[tuple[str, Callable[[], Any]]] = [
            ("float32_matmul_flops", lambda: matmul_rate(device, 1024 if q else 8192)),
            ("workloads", lambda: workloads(device, q)),
            ("langevin", lambda: langevin(device, rows)),
        ]
        if args.profile:
            sections.append(("profile", lambda: profile(device, args.profile, out)))
        for name, fn in sections:
            if left() < 20:
                timings[name] = "skipped: budget spent"
                continue
            try:
                timings[name] = fn()
            except Exception as exc:
                timings[name] = f"error: {type(exc).__name__}: {exc}"
            print(f"{name} done at {time.perf_counter() - start:.0f} s", flush=True)
            (out / "timings.json").write_text(json.dumps(timings, indent=1) + "\n")
        summary["timings"] = timings
    summary["seconds"] = time.perf_counter() - start
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "timings.md").write_text(markdown(summary))
    print(json.dumps({k: v for k, v in summary.items() if k != "timings"}, indent=1))
    failed = any(summary.get(k, {}).get("rc", 0) != 0 for k in ("check", "pytest"))
    return int(failed)


if __name__ == "__main__":
    raise SystemExit(main())
