"""Which reading of paper 000's pulse melts the CDW? Small exact Ehrenfest ensembles.

Paper 000 (eq. 10) gives the pulse as an electric field
``E(t) = e A exp(-(t - t0)^2 / 2 sigma^2) sin(Omega_p t)`` with ``A = 0.6``,
``Omega_p = 1.5``, ``sigma = tau0 / 10`` and ``e = (x, y)``, and Fig. 1 shows the CDW of a
20x20 lattice melting by ``t ~ 15 tau0``. With our reading (``e`` normalised, the formula
is the field) a 20x20 run absorbs little and the order only oscillates
(``benchmarks/README.md``). This script runs a small exact ensemble for each of four
readings, on the same initial states:

* ``field``: the formula is ``E``, ``e = (1, 1) / sqrt 2`` (``[pulse] quantity = "field"``,
  the default);
* ``field-unnormalised``: the formula is ``E``, ``e = (1, 1)``;
* ``potential``: the formula is the vector potential ``A(t)`` (``E = -dA/dt``),
  ``e = (1, 1) / sqrt 2`` (``quantity = "potential"``);
* ``potential-unnormalised``: the same with ``e = (1, 1)``.

and writes ``O(t)`` (eq. 13), ``sigma(t)``, the absorbed work and the fraction of members
whose ``Q_pi,pi`` changed sign. Run (about six CPU minutes per reading at 20x20 on two
cores with ``--dt 0.1``):

    python benchmarks/laser_pulse_probe.py --members 8 --end-tau0 20 --dt 0.1 \
        --out benchmarks/results/laser_pulse_probe.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch

import fast
from fast.runs.laser import cdw_ehrenfest_states
from fast.runs.registry import load_experiment
from reference.model import LaserPulse

READINGS = ("field", "field-unnormalised", "potential", "potential-unnormalised")


def reading_pulse(reading: str, pulse: LaserPulse) -> LaserPulse:
    """The pulse of a reading: ``quantity`` field or potential, and for the unnormalised
    readings the amplitude times sqrt 2 (``e = (1, 1)`` has that length)."""
    scale = math.sqrt(2.0) if reading.endswith("unnormalised") else 1.0
    quantity = "field" if reading.startswith("field") else "potential"
    return attrs.evolve(pulse, amplitude=scale * pulse.amplitude, quantity=quantity)


def run(reading: str, args: argparse.Namespace) -> dict[str, Any]:
    experiment = load_experiment(args.config)
    physics, pulse = experiment.physics, reading_pulse(reading, experiment.pulse.pulse())
    model = physics.model(args.size or experiment.ehrenfest.size)
    lattice = model.lattice
    state = cdw_ehrenfest_states(
        model, args.members, np.random.default_rng(args.seed), torch.device("cpu"),
        initial_temperature=experiment.ehrenfest.initial_temperature,
    )  # fmt: skip
    q0 = physics.q0  # the uniform distortion of eq. 32's zeta_i
    tau0 = physics.tau0
    steps = round(args.end_tau0 * tau0 / args.dt)
    every = max(1, round(args.record_tau0 * tau0 / args.dt))
    times, order, spread, signs, members = [], [], [], [], []
    start = time.perf_counter()
    first_sign = torch.sign(fast.observables.staggered_order(state.Q, lattice))
    for k in range(steps + 1):
        if k % every == 0:
            times.append(state.t / tau0)
            order.append(float(fast.observables.ensemble_order_parameter(state.Q, lattice)))
            spread.append(float(fast.observables.spatial_fluctuation(state.Q, q0, lattice)))
            stag = fast.observables.staggered_order(state.Q, lattice)
            signs.append(float((torch.sign(stag) != first_sign).double().mean()))
            members.append([float(x) for x in stag])
        if k < steps:
            state = fast.ehrenfest.ehrenfest_step(state, model, args.dt, pulse)
    seconds = time.perf_counter() - start
    return {
        "reading": reading,
        "size": lattice.Lx,
        "members": args.members,
        "dt": args.dt,
        "t_tau0": times,
        "O": order,
        "O_initial": order[0],
        "sigma": spread,
        "sign_flipped_fraction": signs,
        "Q_pipi_members": members,
        "absorbed_work_mean": float(torch.as_tensor(state.work).mean()),
        "absorbed_work_per_site": float(torch.as_tensor(state.work).mean()) / lattice.n_sites,
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="specs/experiments/laser.toml")
    parser.add_argument("--readings", nargs="+", choices=READINGS, default=list(READINGS))
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--size", type=int, default=0, help="lattice size (0: the file's)")
    parser.add_argument("--end-tau0", type=float, default=20.0)
    parser.add_argument("--record-tau0", type=float, default=0.5)
    parser.add_argument("--dt", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    results = []
    for reading in args.readings:
        result = run(reading, args)
        results.append(result)
        o = result["O"]
        print(
            f"{reading}: work/site {result['absorbed_work_per_site']:.4f}, O/O0 min "
            f"{min(o) / o[0]:.3f}, end {o[-1] / o[0]:.3f}, sign flips "
            f"{result['sign_flipped_fraction'][-1]:.2f}, {result['seconds']:.0f} s",
            flush=True,
        )
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            tmp = args.out.with_suffix(".tmp")
            tmp.write_text(json.dumps(results, indent=1))
            tmp.replace(args.out)


if __name__ == "__main__":
    main()
