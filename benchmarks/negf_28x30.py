"""NEGF densities on 28x30 at paper 001's parameters: fast (exact) versus the reference Riemann sum.

``python benchmarks/negf_28x30.py [--full]``. Times the fast exact evaluation (best of 3),
the reference's cost per energy point on three chunks of its Riemann loop, and with ``--full``
the whole reference sum (about 25 minutes on a 2-core CPU), whose error against the exact
result is split into the window (tail) part and the step part.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch

from fast import negf as fast_negf
from reference import negf as ref_negf
from reference.lattice import SquareLattice, sublattice_sign
from reference.model import Electrodes, ElectronEnsemble, HolsteinModel, HolsteinParams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="run the whole reference sum")
    args = parser.parse_args()
    lat = SquareLattice(28, 30, periodic_x=False, periodic_y=True)
    params = HolsteinParams(g=math.sqrt(2.24), k=1.0, kappa=0.18, coupling="n-1/2")
    model = HolsteinModel(lat, params, ElectronEnsemble(0.1, 0.5))
    el = Electrodes(gamma_lead=1.0, gamma_bath=0.001, voltage=1.0, temperature=0.1)
    q = 1.2 * sublattice_sign(lat) + 0.1 * np.random.default_rng(0).normal(size=lat.shape)
    out: dict[str, object] = {}
    times = []
    for _ in range(3):
        start = time.perf_counter()
        exact = fast_negf.negf_densities(torch.tensor(q), model, el).numpy()
        times.append(time.perf_counter() - start)
    out["fast_exact_seconds"] = min(times)
    grid = ref_negf.energy_grid(q, model, el, step=0.003)
    start = time.perf_counter()
    for lo in range(0, 3 * 64, 64):
        e = grid[lo : lo + 64]
        gr = ref_negf.retarded_green(e, q, model, el)
        w = (ref_negf.lesser_self_energy(e, lat, el) / 1j).real
        np.einsum("eij,ej->i", np.abs(gr) ** 2, w)
    per_point = (time.perf_counter() - start) / (3 * 64)
    out["reference_points"] = len(grid)
    out["reference_seconds_projected"] = per_point * len(grid)
    out["speedup_projected"] = per_point * len(grid) / min(times)
    tail = ref_negf._lower_tail(q, model, el, float(grid[0] - 0.0015)).reshape(lat.shape)
    out["tail_on_lead_columns"] = float(np.abs(tail)[[0, -1]].max())
    if args.full:
        start = time.perf_counter()
        plain = ref_negf.negf_densities(q, model, el, step=0.003, tail_correction=False)
        out["reference_seconds"] = time.perf_counter() - start
        out["reference_max_error"] = float(np.abs(plain - exact).max())
        out["reference_lead_error"] = float(np.abs(plain - exact)[[0, -1]].max())
        out["reference_tail_corrected_bulk_error"] = float(np.abs(plain + tail - exact)[1:-1].max())
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
