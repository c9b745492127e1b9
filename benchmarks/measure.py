"""One-run measurements behind ``benchmarks/README.md`` (fast versus reference on this machine).

Run ``python benchmarks/measure.py --out benchmarks/results/measure.json`` on an idle machine
(``--quick`` for a smoke run). Sections:

* ``ehrenfest``: 30 realisations of a 20x20 lattice over one phonon period to 1e-8 in rho.
  The error constants of both schemes are measured on one realisation against a converged
  fourth-order run; the reference (second-order step, one realisation at a time) and fast
  (fourth-order Yoshida step, all 30 as one batch) per-step times are measured, and the time to
  1e-8 is steps needed x time per step; the fourth-order run at its chosen step is then run to
  confirm its error.
* ``langevin``: one BAOAB Langevin step driven by batched exact diagonalisation
  (:class:`fast.ed.ExactForceField`) against the same step driven by paper 003's descriptor MLP
  (float32 network, exact elastic force added), on 20x20, 40x40 and 60x60 lattices.
* ``networks``: the machine's float32 matmul rate (2048^2 ``torch.mm``), the forward FLOP rate of
  the large networks, and the scaling of ML force evaluation from 100x100 to 400x400.

* ``eigh``: the CPU eigendecomposition backend of :func:`fast.ed.eigh` (a stack split over
  worker threads with single-threaded LAPACK; complex matrices from order 400 through torch's
  MKL) against the previous one (NumPy's ``eigh`` of the whole stack, OpenBLAS threading each
  matrix), on the workloads that use it: batched Ehrenfest steps, batched exact forces, the
  local-cluster force and a single exact force.

NEGF timings come from a separate script (they take tens of minutes for the reference).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import fast
import reference.ehrenfest as ref_ehrenfest
import reference.nn as ref_nn
from reference.lattice import SquareLattice
from reference.model import (
    Electrodes,
    ElectronEnsemble,
    HolsteinModel,
    HolsteinParams,
    LaserPulse,
)


def best_of(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _ensemble(states: list[Any]) -> Any:
    """Reference Ehrenfest states stacked into one batched fast state."""
    return fast.ehrenfest.EhrenfestState(
        torch.stack([torch.as_tensor(s.rho) for s in states]),
        torch.stack([torch.as_tensor(s.Q) for s in states]),
        torch.stack([torch.as_tensor(s.P) for s in states]),
        0.0,
        torch.zeros(len(states), dtype=torch.float64),
    )


def ehrenfest(size: int, members: int, quick: bool) -> dict[str, Any]:
    """Time to propagate ``members`` realisations over one phonon period to 1e-8 in rho."""
    params = HolsteinParams(-1.0, math.sqrt(3), 1.0, 0.0, 25.0, "n")
    model = HolsteinModel(SquareLattice(size, size), params, ElectronEnsemble(0.0, 0.5))
    pulse = LaserPulse()
    period = 2 * math.pi / params.omega
    if quick:
        period /= 10
    start = ref_ehrenfest.initial_state(model, noise_temperature=1e-5, rng=0)

    def to_fast(state: Any) -> Any:
        return fast.ehrenfest.EhrenfestState(
            torch.as_tensor(state.rho),
            torch.as_tensor(state.Q),
            torch.as_tensor(state.P),
            state.t,
            0.0,
        )

    def run(dt: float, order: int) -> np.ndarray:
        state, n = to_fast(start), round(period / dt)
        for _ in range(n):
            state = fast.ehrenfest.ehrenfest_step(state, model, period / n, pulse, order)
        return state.rho.numpy()

    converged = run(0.01, 4)
    e2 = float(np.abs(run(0.02, 2) - converged).max())
    e4 = float(np.abs(run(0.1, 4) - converged).max())
    dt2 = 0.02 * (1e-8 / e2) ** 0.5
    dt4 = 0.1 * (1e-8 / e4) ** 0.25
    check4 = float(np.abs(run(dt4, 4) - converged).max())
    states = [
        ref_ehrenfest.initial_state(model, noise_temperature=1e-5, rng=k) for k in range(members)
    ]
    t_ref = best_of(lambda: [ref_ehrenfest.ehrenfest_step(s, model, dt2, pulse) for s in states], 2)
    batch = _ensemble(states)
    t_fast = best_of(lambda: fast.ehrenfest.ehrenfest_step(batch, model, dt4, pulse, 4), 2)
    ref_total = math.ceil(period / dt2) * t_ref
    fast_total = math.ceil(period / dt4) * t_fast
    return {
        "lattice": f"{size}x{size}",
        "members": members,
        "period": period,
        "error_order2_dt0.02": e2,
        "error_order4_dt0.1": e4,
        "dt_for_1e-8_order2": dt2,
        "dt_for_1e-8_order4": dt4,
        "measured_error_order4_at_dt4": check4,
        "reference_seconds_per_step_all_members": t_ref,
        "fast_seconds_per_step_all_members": t_fast,
        "reference_seconds_to_1e-8": ref_total,
        "fast_seconds_to_1e-8": fast_total,
        "speedup": ref_total / fast_total,
    }


def matmul_peak() -> float:
    """Best float32 matmul rate (FLOP/s) of ``torch.mm`` on 2048x2048 matrices."""
    a = torch.randn(2048, 2048)
    b = torch.randn(2048, 2048)
    torch.mm(a, b)
    return 2 * 2048**3 / best_of(lambda: torch.mm(a, b), 5)


def _flops_per_site(arch: Any) -> float:
    """Multiply-adds x 2 per site of one forward pass: every weight matrix of the papers'
    networks acts once per site (the GNN's neighbour sum is taken after its matmul)."""
    return float(sum(2 * math.prod(s) for s in arch.parameter_shapes().values() if len(s) == 2))


def networks(quick: bool) -> dict[str, Any]:
    """Forward FLOP rates of the large networks and linear scaling of ML forces."""
    torch.set_grad_enabled(False)
    out: dict[str, Any] = {"float32_matmul_peak_flops": matmul_peak()}
    small, large = (40, 80) if quick else (100, 400)
    for name in ("paper002_gnn", "paper002_mlp", "paper002_mpnn"):
        arch = ref_nn.PAPER_ARCHITECTURES[name]
        net = fast.nn.Network(arch)
        lat = SquareLattice(small, small)
        q = torch.randn(small, small)
        if name == "paper002_mlp":
            x = torch.randn(small * small, 45)
            seconds = best_of(lambda net=net, x=x: fast.nn.mlp_forward(net, x), 3)
        elif name == "paper002_mpnn":  # the forward pass: site energies
            seconds = best_of(
                lambda net=net, q=q, lat=lat: fast.nn.mpnn_site_energies(net, q, lat), 3
            )
        else:
            seconds = best_of(lambda net=net, q=q, lat=lat: fast.nn.gnn_forward(net, q, lat), 3)
        flops = _flops_per_site(arch) * small * small
        out[name] = {
            "lattice": f"{small}x{small}",
            "seconds": seconds,
            "flops": flops / seconds,
            "fraction_of_peak": flops / seconds / out["float32_matmul_peak_flops"],
        }
    for name in ("paper003_mlp", "paper002_gnn"):
        arch = ref_nn.PAPER_ARCHITECTURES[name]
        field = fast.nn.NetworkForceField(fast.nn.Network(arch), SquareLattice(small, small))
        q_small, q_large = torch.randn(small, small), torch.randn(large, large)
        t_small = best_of(lambda f=field, q=q_small: f.forces(q), 3)
        big = fast.nn.NetworkForceField(field.weights, SquareLattice(large, large))
        t_large = best_of(lambda f=big, q=q_large: f.forces(q), 2)
        out[f"scaling_{name}"] = {
            "small": f"{small}x{small}",
            "large": f"{large}x{large}",
            "seconds_small": t_small,
            "seconds_large": t_large,
            "ratio_over_site_ratio": t_large / t_small / (large / small) ** 2,
        }
    return out


def langevin(quick: bool) -> dict[str, Any]:
    """Seconds per Langevin step, exact diagonalisation versus the paper 003 MLP.

    One configuration per step on every size; on the two smaller sizes also an ensemble of
    ``ENSEMBLE`` configurations stepped together (as the compare stage runs them), reported
    per configuration.
    """
    from fast.ml.models import TrainedModel

    torch.set_grad_enabled(False)
    arch = ref_nn.PAPER_ARCHITECTURES["paper003_mlp"]
    trained = TrainedModel(
        fast.nn.Network(arch, dtype=torch.float64).to_weights(), HolsteinParams(), "electronic", {}
    )
    out: dict[str, Any] = {}
    sizes = (8, 12, 16) if quick else (20, 40, 60)
    for size in sizes:
        model = HolsteinModel(SquareLattice(size, size), HolsteinParams(), ElectronEnsemble(0.1))
        row = {}
        for members in (1, ENSEMBLE) if size < sizes[-1] else (1,):
            q = torch.as_tensor(
                np.random.default_rng(0).normal(scale=2.0, size=(members, size, size))
            )
            suffix = "" if members == 1 else f"_ensemble{members}"
            # the network first: LAPACK's threads may spin for a while after a large eigh
            for name, field in (
                ("ml", trained.force_field(model.lattice)),
                ("exact", fast.ed.ExactForceField(model)),
            ):
                integ = fast.dynamics.langevin_baoab(
                    field, mass=5.0, gamma=0.2, temperature=0.1, dt=0.05
                )
                state = integ.init(q, rng=0)
                state = integ.step(state)  # warm up
                steps = (2 if size >= 60 or members > 1 else 5) if name == "exact" else 30
                seconds = best_of(lambda integ=integ, state=state: integ.step(state), steps)
                row[f"{name}_seconds_per_step{suffix}"] = seconds / members
            row[f"ratio{suffix}"] = (
                row[f"exact_seconds_per_step{suffix}"] / row[f"ml_seconds_per_step{suffix}"]
            )
        out[f"{size}x{size}"] = row
    return out


ENSEMBLE = 8
"""Configurations per step in the ensemble rows of :func:`langevin` (the network's batch)."""


def _previous_stack(solver: Any, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The CPU eigh backend before 2026-11-22: one NumPy call on the stack, OpenBLAS's
    threads (and ``torch.linalg.eig`` for NEGF's non-Hermitian matrices)."""
    first, second = solver(a)
    return first, second


def eigh(quick: bool) -> dict[str, Any]:
    """Seconds per call of each eigh workload, previous backend versus current, one run."""
    from unittest import mock

    torch.set_grad_enabled(False)
    rng = np.random.default_rng(0)
    laser = HolsteinParams(-1.0, math.sqrt(3), 1.0, 0.0, 25.0, "n")

    def ehrenfest_step(size: int, members: int) -> Any:
        model = HolsteinModel(SquareLattice(size, size), laser, ElectronEnsemble(0.0, 0.5))
        state = _ensemble(
            [
                ref_ehrenfest.initial_state(model, noise_temperature=1e-5, rng=s)
                for s in range(members)
            ]
        )
        pulse = LaserPulse(0.6, 1.5, 0.5, 3.0, (1.0, 1.0))
        return lambda: fast.ehrenfest.ehrenfest_step(state, model, 0.1, pulse)

    def exact_force(size: int, members: int) -> Any:
        model = HolsteinModel(SquareLattice(size, size), HolsteinParams(), ElectronEnsemble(0.1))
        q = torch.as_tensor(rng.normal(scale=2.0, size=(members, size, size)))
        return lambda: fast.ed.total_force(q, model)

    def cluster_force(size: int) -> Any:
        model = HolsteinModel(
            SquareLattice(size, size), HolsteinParams(g=3.5), ElectronEnsemble(0.1, None, mu=0.0)
        )
        q = torch.as_tensor(rng.normal(scale=2.0, size=(size, size)))
        return lambda: fast.ed.cluster_force(q, model, 3.61)

    def negf_densities(members: int) -> Any:
        lattice = SquareLattice(10 if quick else 20, 10, periodic_x=False)
        params = HolsteinParams(1.0, 1.4966629547095764, 1.0, 0.18, 1.0, "n-1/2")
        model = HolsteinModel(lattice, params, ElectronEnsemble(0.1, 0.5))
        electrodes = Electrodes(1.0, 0.001, 3.0, 0.1)
        q = torch.as_tensor(rng.normal(size=(members, *lattice.shape)))
        return lambda: fast.negf.negf_densities(q, model, electrodes)

    small = quick
    cases = {
        "ehrenfest_step 8 x 10x10 (laser_cpu)": (ehrenfest_step(6 if small else 10, 8), 10),
        "ehrenfest_step 8 x 20x20 (laser)": (ehrenfest_step(8 if small else 20, 8), 3),
        "total_force 8 x 24x24 (quench_cpu)": (exact_force(8 if small else 24, 8), 3),
        "total_force 4 x 40x40": (exact_force(10 if small else 40, 4), 3),
        "total_force 1 x 40x40": (exact_force(10 if small else 40, 1), 3),
        "cluster_force 1 x 40x40 (r_c = 3.61)": (cluster_force(10 if small else 40), 3),
        "negf_densities 6 x 20x10 (voltage_cpu)": (negf_densities(6), 3),
    }
    out: dict[str, Any] = {}
    for name, (fn, repeat) in cases.items():
        fn()  # warm up the worker threads and the caches
        before, after = math.inf, math.inf
        for _ in range(repeat):  # alternate, so drifts of the machine hit both alike
            with (
                mock.patch.object(fast._lapack, "lapack_stack", _previous_stack),
                mock.patch.object(fast._lapack, "MKL_COMPLEX_FROM", 1 << 30),
                mock.patch.object(fast._lapack, "eig", torch.linalg.eig),
            ):
                before = min(before, best_of(fn, 1))
            after = min(after, best_of(fn, 1))
        out[name] = {"previous_seconds": before, "seconds": after, "speedup": before / after}
        print(f"{name}: {before * 1e3:.1f} ms -> {after * 1e3:.1f} ms", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/measure.json")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", choices=["ehrenfest", "networks", "langevin", "eigh"])
    args = parser.parse_args()
    result: dict[str, Any] = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    if args.only in (None, "ehrenfest"):
        result["ehrenfest"] = ehrenfest(
            8 if args.quick else 20, 4 if args.quick else 30, args.quick
        )
        print(json.dumps(result["ehrenfest"], indent=1))
    if args.only in (None, "langevin"):
        result["langevin"] = langevin(args.quick)
        print(json.dumps(result["langevin"], indent=1))
    if args.only in (None, "networks"):
        result["networks"] = networks(args.quick)
        print(json.dumps(result["networks"], indent=1))
    if args.only in (None, "eigh"):
        result["eigh"] = eigh(args.quick)
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
