"""Same-run speed ratios of the reference and the fast twin (``nox -s perf``).

Each case times one operation twice in the same pytest run, with the NumPy reference and
with the torch twin on the CPU, as two benchmarks of one pytest-benchmark group. What is
compared between commits is the ratio of their medians (reference / fast: how many times
faster the twin is), not absolute times, which change with the load of a shared machine:
``benchmarks/perf/ratios.py`` reads the JSON of a run and flags a case whose ratio fell by
more than the margin below the stored baseline (``benchmarks/perf/baseline.json``).

Run them with ``nox -s perf`` (or ``pytest benchmarks/perf --benchmark-json=perf.json``);
they are not part of the test suite.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import fast
import reference
from reference.lattice import SquareLattice, sublattice_sign
from reference.model import (
    Electrodes,
    ElectronEnsemble,
    HolsteinModel,
    HolsteinParams,
    LaserPulse,
)

BACKENDS = ("reference", "fast")


def _paper003(size: int, mu: float | None = None) -> HolsteinModel:
    ensemble = ElectronEnsemble(0.1, 0.5) if mu is None else ElectronEnsemble(0.1, None, mu=mu)
    return HolsteinModel(SquareLattice(size, size), HolsteinParams(), ensemble)


def _configurations(shape: tuple[int, ...], backend: str, seed: int = 0) -> Any:
    values = np.random.default_rng(seed).normal(scale=3.0, size=shape)
    return values if backend == "reference" else torch.as_tensor(values)


def _exact_force(backend: str) -> Callable[[], Any]:
    pkg, model = (reference if backend == "reference" else fast), _paper003(16)
    q = _configurations((4, 16, 16), backend)
    return lambda: pkg.ed.total_force(q, model)


def _cluster_force(backend: str) -> Callable[[], Any]:
    pkg, model = (reference if backend == "reference" else fast), _paper003(32, mu=0.0)
    q = _configurations((32, 32), backend)
    return lambda: pkg.ed.cluster_force(q, model, 1.0)


def _d4_descriptor(backend: str) -> Callable[[], Any]:
    pkg = reference if backend == "reference" else fast
    lattice = SquareLattice(24, 24)
    q = _configurations((24, 24), backend)
    return lambda: pkg.descriptors.d4_descriptor(q, lattice)


def _negf(backend: str) -> Callable[[], Any]:
    pkg = reference if backend == "reference" else fast
    lattice = SquareLattice(8, 6, periodic_x=False)
    model = HolsteinModel(lattice, HolsteinParams(g=math.sqrt(2.24), kappa=0.18),
                          ElectronEnsemble(0.1, 0.5))  # fmt: skip
    electrodes = Electrodes(gamma_lead=1.0, gamma_bath=0.001, voltage=1.0, temperature=0.1)
    values = 1.2 * sublattice_sign(lattice) + 0.1 * np.random.default_rng(0).normal(
        size=lattice.shape
    )
    q = values if backend == "reference" else torch.as_tensor(values)
    kwargs = {"step": 0.003} if backend == "reference" else {}
    return lambda: pkg.negf.negf_densities(q, model, electrodes, **kwargs)


def _ehrenfest(backend: str) -> Callable[[], Any]:
    import reference.ehrenfest

    pkg = reference if backend == "reference" else fast
    params = HolsteinParams(-1.0, math.sqrt(3), 1.0, 0.0, 25.0, "n")
    model = HolsteinModel(SquareLattice(10, 10), params, ElectronEnsemble(0.0, 0.5))
    state = reference.ehrenfest.initial_state(model, noise_temperature=1e-5, rng=0)
    pulse = LaserPulse()
    return lambda: pkg.ehrenfest.ehrenfest_step(state, model, 0.05, pulse)


CASES: dict[str, Callable[[str], Callable[[], Any]]] = {
    "exact_force_16x16_batch4": _exact_force,
    "cluster_force_32x32_rc1": _cluster_force,
    "d4_descriptor_24x24": _d4_descriptor,
    "negf_densities_8x6": _negf,
    "ehrenfest_step_10x10": _ehrenfest,
}
"""The ratio cases by name: each makes the operation for a backend."""


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_speed(benchmark: Any, case: str, backend: str) -> None:
    operation = CASES[case](backend)
    benchmark.group = case
    benchmark.extra_info.update({"case": case, "backend": backend})
    benchmark.pedantic(operation, rounds=7, iterations=1, warmup_rounds=1)
