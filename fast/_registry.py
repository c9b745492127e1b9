"""The equivalence registry: (function pair, input recipe, tolerance) for fast-vs-reference checks.

Each :class:`Case` builds NumPy inputs from a seed, runs the :mod:`reference`
function on them and the :mod:`fast` function on the same inputs as tensors on a
chosen device, and compares every array of the outputs. The test suite drives the
registry with hypothesis-drawn seeds on the CPU; ``python -m fast check`` runs it on
the user's device and prints the errors against the tolerances.

Tolerances: float64 physics agrees to ~1e-12 (the order of operations differs), so
physics cases use ``atol = rtol = 1e-10``. Networks run in float32 by default in
``fast``; their cases compare a float64 module exactly (1e-10) and a float32 module
at ``rtol = 1e-4`` of the output scale: a forward pass of depth D accumulates about
``D * sqrt(width) * 6e-8`` relative error in float32, ~1e-5 for the papers' widths.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import torch

import fast
import reference.descriptors
import reference.dynamics
import reference.ed
import reference.ehrenfest
import reference.lattice
import reference.model
import reference.negf
import reference.nn
import reference.observables
from fast._tensor import to_numpy
from reference.lattice import D4_OPERATIONS, SquareLattice
from reference.model import (
    Electrodes,
    ElectronEnsemble,
    HolsteinModel,
    HolsteinParams,
    LaserPulse,
)

Inputs = tuple[tuple[Any, ...], dict[str, Any]]


@attrs.frozen
class Case:
    """One registered equivalence check."""

    name: str
    make: Callable[[np.random.Generator], Inputs]
    reference: Callable[..., Any]
    fast: Callable[..., Any]
    atol: float = 1e-10
    rtol: float = 1e-10


def _to_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, np.ndarray):
        return torch.as_tensor(value, device=device)
    if isinstance(value, tuple):
        return tuple(_to_device(v, device) for v in value)
    if isinstance(value, list):
        return [_to_device(v, device) for v in value]
    if isinstance(value, dict):
        return {k: _to_device(v, device) for k, v in value.items()}
    return value


def _arrays(value: Any) -> list[np.ndarray]:
    value = to_numpy(value)
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, int | float | np.number):
        return [np.asarray(value, dtype=np.float64)]
    if isinstance(value, tuple | list):
        return [a for v in value for a in _arrays(v)]
    if isinstance(value, dict):
        return [a for k in sorted(value) for a in _arrays(value[k])]
    if attrs.has(type(value)):
        return [a for f in attrs.fields(type(value)) for a in _arrays(getattr(value, f.name))]
    return []


def compare(case: Case, seed: int, device: torch.device | str = "cpu") -> tuple[float, float]:
    """Run one case; return ``(max |fast - reference|, tolerance at that scale)``."""
    dev = torch.device(device)
    args, kwargs = case.make(np.random.default_rng(seed))
    expected = _arrays(case.reference(*args, **kwargs))
    got = _arrays(case.fast(*_to_device(args, dev), **_to_device(kwargs, dev)))
    if len(expected) != len(got):
        raise AssertionError(f"{case.name}: {len(got)} output arrays, expected {len(expected)}")
    worst, bound, ratio = 0.0, case.atol, -1.0
    for e, g in zip(expected, got, strict=True):
        e64 = np.asarray(e, dtype=np.complex128 if np.iscomplexobj(e) else np.float64)
        g64 = np.asarray(g, dtype=e64.dtype)
        if e64.shape != g64.shape:
            raise AssertionError(f"{case.name}: shape {g64.shape}, expected {e64.shape}")
        if e64.size == 0:
            continue
        err = float(np.max(np.abs(e64 - g64)))
        tol = case.atol + case.rtol * float(np.max(np.abs(e64)))
        if err / max(tol, 1e-300) > ratio:
            worst, bound, ratio = err, tol, err / max(tol, 1e-300)
    return worst, bound


# --------------------------------------------------------------------------- inputs


def _lattice(rng: np.random.Generator, periodic: bool = True) -> SquareLattice:
    lx, ly = (int(v) for v in rng.integers(3, 7, size=2))
    return SquareLattice(lx, ly, periodic, periodic)


def _model(rng: np.random.Generator, lattice: SquareLattice | None = None) -> HolsteinModel:
    lat = _lattice(rng) if lattice is None else lattice
    params = HolsteinParams(
        hopping=float(rng.choice([1.0, -1.0])),
        g=float(rng.uniform(0.5, 3.5)),
        k=1.0,
        kappa=float(rng.uniform(-0.2, 0.2)),
        mass=float(rng.uniform(1.0, 5.0)),
        coupling=str(rng.choice(["n", "n-1/2"])),
    )
    if rng.random() < 0.5:
        ens = ElectronEnsemble(
            float(rng.choice([0.0, 0.05, 0.3])), filling=float(rng.choice([0.5, 0.4]))
        )
    else:
        ens = ElectronEnsemble(
            float(rng.uniform(0.02, 0.5)), filling=None, mu=float(rng.uniform(-1, 1))
        )
    return HolsteinModel(lat, params, ens)


def _field(rng: np.random.Generator, lattice: SquareLattice, batch: int = 2) -> np.ndarray:
    return rng.normal(scale=1.5, size=(batch, *lattice.shape))


def _q_model(rng: np.random.Generator) -> Inputs:
    model = _model(rng)
    return (_field(rng, model.lattice), model), {}


def _q_forces_model(rng: np.random.Generator) -> Inputs:
    """Distortions with arbitrary forces: the inversion is linear, any forces test it."""
    model = _model(rng)
    return (_field(rng, model.lattice), _field(rng, model.lattice, 2), model), {}


def _metallic(rng: np.random.Generator) -> Inputs:
    """Densities in [0, 1], a threshold and a site mask (or none: every site)."""
    lat = _lattice(rng, periodic=bool(rng.random() < 0.7))
    n = rng.uniform(0.0, 1.0, size=(2, *lat.shape))
    columns = None
    if rng.random() < 0.7:
        columns = rng.random(lat.shape) < 0.5
        columns[int(rng.integers(lat.Lx)), int(rng.integers(lat.Ly))] = True
    return (n, lat, float(rng.uniform(0.05, 0.6)), columns), {}


def _peaked_structure_factor(rng: np.random.Generator) -> Inputs:
    """A Gaussian CDW peak with multiplicative scatter on a flat, exponentially distributed
    background, a cut and a window: every length is finite for these."""
    lat = SquareLattice(*(int(v) for v in rng.integers(10, 17, size=2)))
    kx, ky = reference.observables.momentum_grid(lat)
    q2 = (kx - np.pi) ** 2 + (ky - np.pi) ** 2  # |k - K|^2: momenta lie in [0, 2 pi)
    s = np.exp(-q2 * rng.uniform(0.6, 1.0, size=(2, 1, 1)) ** 2)
    floor = rng.uniform(0, 0.05) * rng.exponential(size=s.shape)
    s = s * rng.uniform(0.7, 1.3, size=s.shape) + floor
    return (s, lat, float(rng.uniform(1.0, 2.0)), float(rng.choice([2.0, 3.0, math.inf]))), {}


def _without_window(make: Callable[[np.random.Generator], Inputs]) -> Callable[..., Inputs]:
    def drop(rng: np.random.Generator) -> Inputs:
        args, kwargs = make(rng)
        return args[:-1], kwargs

    return drop


def _tail(rng: np.random.Generator) -> Inputs:
    lat = SquareLattice(*(int(v) for v in rng.integers(6, 11, size=2)))
    return (rng.uniform(0.1, 1.0, size=(2, *lat.shape)), lat, 0.5, 3.0), {}


def _wall_frames(rng: np.random.Generator) -> Inputs:
    """Two frames of a field, the second with a share of its sites' signs flipped."""
    lat = _lattice(rng, periodic=bool(rng.random() < 0.7))
    before = _field(rng, lat)
    after = np.where(rng.random(before.shape) < rng.uniform(0.0, 0.5), -before, before)
    return (before, after, lat, float(rng.uniform(0.1, 2.0))), {}


def _growth(rng: np.random.Generator) -> Inputs:
    """Times and lengths of 3 replicas of a noisy offset power law."""
    t = np.cumsum(rng.uniform(0.5, 2.0, size=12))
    alpha, a, b = rng.uniform(0.2, 0.6), rng.uniform(0.5, 5.0), rng.uniform(0.5, 2.0)
    length = (a + b * t) ** alpha * np.exp(rng.normal(scale=0.02, size=(3, t.size)))
    return (t, length), {}


def _frames(rng: np.random.Generator) -> Inputs:
    """Frame times ``k dt`` and momenta; the window starts on a frame time or between two."""
    n_frames = int(rng.integers(1, 8))
    t = 0.05 * np.arange(n_frames)
    p = rng.normal(size=(n_frames, 2, *_lattice(rng).shape))
    k = int(rng.integers(n_frames))
    t_from = 0.05 * k - (0.02 if rng.random() < 0.5 else 0.0)
    return (t, p, float(rng.uniform(0.5, 5.0)), t_from), {}


def _q_cluster(rng: np.random.Generator) -> Inputs:
    """A fixed-mu model (the cluster approximation needs one), any lattice, a radius."""
    model = _model(rng)
    model = HolsteinModel(
        model.lattice,
        model.params,
        ElectronEnsemble(float(rng.uniform(0.0, 0.3)), None, float(rng.uniform(-1, 1))),
    )
    if rng.random() < 0.5:
        model = HolsteinModel(SquareLattice(*model.lattice.shape, False, True), model.params,
                              model.electrons)  # fmt: skip
    return (_field(rng, model.lattice), model, float(rng.choice([0.0, 1.0, 2.3, 3.61]))), {}


def _q_cluster_filling(rng: np.random.Generator) -> Inputs:
    """A fixed-filling model at T = 0 or T > 0 (one global cluster mu), open or periodic
    edges, r_c 1 or 2. Densities are compared, not mu: inside a gap of the cluster levels
    the count is flat and mu is fixed only to round-off over the gap (see the mu case)."""
    model = _model(rng)
    temperature = 0.0 if rng.random() < 0.4 else float(rng.uniform(0.02, 0.3))
    ens = ElectronEnsemble(temperature, float(rng.choice([0.5, 0.4, 0.3])))
    lattice = model.lattice
    if rng.random() < 0.5:
        lattice = SquareLattice(*lattice.shape, False, bool(rng.random() < 0.5))
    model = HolsteinModel(lattice, model.params, ens)
    return (_field(rng, lattice), model, float(rng.choice([1.0, 2.0]))), {}


def _q_cluster_mu(rng: np.random.Generator) -> Inputs:
    """As :func:`_q_cluster_filling`, at T = 0 (the rule is exact arithmetic on the sorted
    levels) or T >= 0.15, where the count's slope keeps mu well conditioned."""
    (q, model, r_c), _ = _q_cluster_filling(rng)
    temperature = 0.0 if model.electrons.temperature == 0.0 else float(rng.uniform(0.15, 0.5))
    ens = ElectronEnsemble(temperature, model.electrons.filling)
    return (q, HolsteinModel(model.lattice, model.params, ens), r_c), {}


def _q_lattice(rng: np.random.Generator) -> Inputs:
    lat = _lattice(rng, periodic=bool(rng.random() < 0.7))
    return (_field(rng, lat), lat), {}


def _q_periodic(rng: np.random.Generator) -> Inputs:
    lat = _lattice(rng)
    return (_field(rng, lat), lat), {}


def _point_op(rng: np.random.Generator) -> Inputs:
    n = int(rng.integers(3, 7))
    lat = SquareLattice(n, n)
    op = D4_OPERATIONS[int(rng.integers(8))]
    return (_field(rng, lat), op, lat), {}


def _translate(rng: np.random.Generator) -> Inputs:
    lat = _lattice(rng)
    return (_field(rng, lat), (int(rng.integers(-3, 4)), int(rng.integers(-3, 4))), lat), {}


def _integrator_run(kind: str) -> Callable[[np.random.Generator], Inputs]:
    def make(rng: np.random.Generator) -> Inputs:
        model = _model(rng, SquareLattice(4, 4))
        q0 = rng.normal(size=(2, 4, 4))
        noise = rng.normal(size=(5, 2, 4, 4))
        return (kind, model, q0, noise), {}

    return make


def _run_integrator(package: Any, kind: str, model: HolsteinModel, q0: Any, noise: Any) -> Any:
    ff = package.ed.ExactForceField(model)
    dyn = package.dynamics
    if kind == "baoab":
        integ = dyn.langevin_baoab(ff, mass=model.params.mass, gamma=0.7, temperature=0.2, dt=0.1)
    elif kind == "vv_ou":
        integ = dyn.langevin_vv_ou(ff, mass=model.params.mass, gamma=0.7, temperature=0.2, dt=0.1)
    elif kind == "bath":
        schedule = dyn.BathSchedule(gamma0=0.3, delta_gamma=1.0, t1=0.0, tau=0.2)
        integ = dyn.langevin_time_dependent_bath(
            ff, mass=model.params.mass, schedule=schedule, temperature=0.2, dt=0.1
        )
    else:
        integ = dyn.brownian(ff, gamma=1.5, temperature=0.2, dt=0.05)
    state = integ.init(q0, rng=0)
    for k in range(noise.shape[0]):
        state = integ.step(state, noise[k])
    return state.Q, state.P, state.forces


def _descriptor(kind: str) -> Callable[[np.random.Generator], Inputs]:
    def make(rng: np.random.Generator) -> Inputs:
        lat = SquareLattice(8, 8) if kind == "d4" else SquareLattice(13, 13)
        q = _field(rng, lat)
        if rng.random() < 0.3:
            q = np.round(q)  # many ties
        return (q, lat), {}

    return make


def _network(
    arch: Any, dtype: torch.dtype
) -> tuple[Callable[[np.random.Generator], Inputs], Callable[..., Any], Callable[..., Any]]:
    side = max(8, 2 * int(getattr(arch, "r_c", 0.0)) + 1)  # no neighbourhood wraps

    def make(rng: np.random.Generator) -> Inputs:
        lat = SquareLattice(side, side)
        weights = reference.nn.init_weights(arch, rng)
        time = 2.5 if getattr(arch, "time_channel", False) else None
        return (weights, _field(rng, lat, 1), lat, time), {}

    def ref(weights: Any, q: Any, lat: SquareLattice, time: Any) -> Any:
        return reference.nn.NetworkForceField(weights, lat, time).forces(q)

    def fst(weights: Any, q: Any, lat: SquareLattice, time: Any) -> Any:
        net = fast.nn.Network.from_weights(weights, dtype=dtype, device=q.device)
        return fast.nn.NetworkForceField(net, lat, time).forces(q)

    return make, ref, fst


def _negf(rng: np.random.Generator) -> Inputs:
    lat = SquareLattice(int(rng.integers(3, 6)), int(rng.integers(2, 5)), periodic_x=False)
    model = HolsteinModel(lat, HolsteinParams(g=1.5, kappa=0.18))
    el = Electrodes(
        gamma_lead=float(rng.uniform(0.3, 1.5)),
        gamma_bath=float(rng.uniform(0.05, 0.3)),
        voltage=float(rng.uniform(-1, 1)),
        temperature=0.1,
    )
    return (rng.normal(scale=0.6, size=lat.shape), model, el), {}


def _negf_fine(q: Any, model: HolsteinModel, el: Electrodes) -> Any:
    return reference.negf.negf_densities(q, model, el, step=0.0005)


def _currents_fine(q: Any, model: HolsteinModel, el: Electrodes) -> Any:
    return reference.negf.particle_currents(q, model, el, step=0.0005)


def _ehrenfest(rng: np.random.Generator) -> Inputs:
    lat = SquareLattice(4, 4)
    params = HolsteinParams(hopping=-1.0, g=math.sqrt(3), k=1.0, kappa=0.0, mass=25.0, coupling="n")
    model = HolsteinModel(lat, params, ElectronEnsemble(0.0, filling=0.5))
    state = reference.ehrenfest.initial_state(
        model, noise_temperature=1e-3, rng=int(rng.integers(1 << 30))
    )
    return (state, model, 0.05, LaserPulse()), {}


def _pulse_times(rng: np.random.Generator) -> Inputs:
    quantity = reference.model.PULSE_QUANTITIES[int(rng.integers(2))]
    pulse = LaserPulse(
        float(rng.uniform(0.1, 1.0)),
        float(rng.uniform(0.5, 2.0)),
        float(rng.uniform(0.3, 2.0)),
        float(rng.uniform(2.0, 4.0)),
        (float(rng.normal()), 1.0),
        quantity,
    )
    return (rng.uniform(-2.0, 10.0, size=(3, 5)), pulse), {}


def _adiabatic(rng: np.random.Generator) -> Inputs:
    (state, model, _, pulse), _ = _ehrenfest(rng)
    a = rng.normal(size=(4, 16, 16)) + 1j * rng.normal(size=(4, 16, 16))
    rho = a @ a.conj().transpose(0, 2, 1)
    rho = 8 * rho / np.trace(rho, axis1=1, axis2=2)[:, None, None]
    q = np.stack([state.Q, np.full((4, 4), 0.4)])  # uniform Q: degenerate levels
    return (rho[:2], q, model, np.asarray(reference.model.vector_potential(3.0, pulse))), {}


def _adiabatic_reference(rho: Any, q: Any, model: HolsteinModel, a: Any) -> Any:
    return np.stack(
        [
            reference.ehrenfest.adiabatic_densities(r, qq, model, a)
            for r, qq in zip(rho, q, strict=True)
        ]
    )


def _per_member(function: Callable[..., Any]) -> Callable[..., Any]:
    """A reference function of one member, mapped over the leading axis of its array inputs
    (the model and ``A``, the last argument, are shared)."""

    def mapped(*args: Any) -> Any:
        *members, model, a = args
        outs = [function(*one, model, a) for one in zip(*members, strict=True)]
        if isinstance(outs[0], tuple):
            return tuple(np.stack(parts) for parts in zip(*outs, strict=True))
        return np.stack(outs)

    return mapped


def _thermal(rng: np.random.Generator) -> Inputs:
    model = _model(rng, SquareLattice(4, int(rng.integers(3, 5))))
    q = _field(rng, model.lattice)
    if rng.random() < 0.3:
        q[0] = 0.4  # uniform Q: degenerate levels share their occupation
    return (q, model, rng.uniform(-1.0, 1.0, size=2)), {}


def _populations(rng: np.random.Generator) -> Inputs:
    (rho, _, model, a), _ = _adiabatic(rng)
    q = rng.normal(size=(2, *model.lattice.shape))  # non-degenerate levels: a unique basis
    return (rho, q, model, a), {}


def _currents(rng: np.random.Generator) -> Inputs:
    (rho, _, model, a), _ = _adiabatic(rng)
    return (rho, model, a), {}


def _registry() -> list[Case]:
    r, f = reference, fast
    cases = [
        Case("lattice.neighbour_sum", _q_lattice, r.lattice.neighbour_sum, f.lattice.neighbour_sum),
        Case(
            "lattice.apply_point_operation",
            _point_op,
            r.lattice.apply_point_operation,
            f.lattice.apply_point_operation,
        ),
        Case("lattice.translate", _translate, r.lattice.translate, f.lattice.translate),
        Case("model.hamiltonian", _q_model, r.model.hamiltonian, f.model.hamiltonian),
        Case("model.elastic_energy", _q_model, r.model.elastic_energy, f.model.elastic_energy),
        Case("model.elastic_force", _q_model, r.model.elastic_force, f.model.elastic_force),
        Case("model.electric_field", _pulse_times, r.model.electric_field, f.model.electric_field),
        Case("ed.densities", _q_model, r.ed.densities, f.ed.densities),
        Case(
            "ed.occupations",
            _q_model,
            lambda q, m: r.ed.occupations(q, m)[1:],
            lambda q, m: f.ed.occupations(q, m)[1:],
        ),
        Case("ed.free_energy", _q_model, r.ed.free_energy, f.ed.free_energy),
        Case("ed.electronic_entropy", _q_model, r.ed.electronic_entropy, f.ed.electronic_entropy),
        Case("ed.total_force", _q_model, r.ed.total_force, f.ed.total_force),
        Case(
            "ed.densities_from_forces",
            _q_forces_model,
            r.ed.densities_from_forces,
            f.ed.densities_from_forces,
        ),
        Case("ed.cluster_force", _q_cluster, r.ed.cluster_force, f.ed.cluster_force),
        Case("ed.cluster_densities", _q_cluster, r.ed.cluster_densities, f.ed.cluster_densities),
        Case(
            "ed.cluster_force (fixed filling)",
            _q_cluster_filling,
            r.ed.cluster_force,
            f.ed.cluster_force,
        ),
        Case(
            "ed.cluster_densities (fixed filling)",
            _q_cluster_filling,
            r.ed.cluster_densities,
            f.ed.cluster_densities,
        ),
        Case(
            "ed.cluster_chemical_potential",
            _q_cluster_mu,
            r.ed.cluster_chemical_potential,
            f.ed.cluster_chemical_potential,
        ),
        Case(
            "observables.staggered_order",
            _q_lattice,
            r.observables.staggered_order,
            f.observables.staggered_order,
        ),
        Case(
            "observables.local_cdw_order",
            _q_lattice,
            r.observables.local_cdw_order,
            f.observables.local_cdw_order,
        ),
        Case(
            "observables.structure_factor",
            _q_periodic,
            r.observables.structure_factor,
            f.observables.structure_factor,
        ),
        Case(
            "observables.metallic_fraction",
            _metallic,
            r.observables.metallic_fraction,
            f.observables.metallic_fraction,
        ),
        Case(
            "observables.structure_factor_background",
            _without_window(_peaked_structure_factor),
            r.observables.structure_factor_background,
            f.observables.structure_factor_background,
        ),
        Case(
            "observables.domain_length_first_moment",
            _peaked_structure_factor,
            r.observables.domain_length_first_moment,
            f.observables.domain_length_first_moment,
        ),
        Case(
            "observables.domain_length_second_moment",
            _peaked_structure_factor,
            r.observables.domain_length_second_moment,
            f.observables.domain_length_second_moment,
        ),
        Case(
            "observables.domain_length_from_peak_width",
            _without_window(_peaked_structure_factor),
            r.observables.domain_length_from_peak_width,
            f.observables.domain_length_from_peak_width,
        ),
        Case(
            "observables.domain_length_from_walls",
            _q_lattice,
            r.observables.domain_length_from_walls,
            f.observables.domain_length_from_walls,
        ),
        Case(
            "observables.wall_mobility",
            _wall_frames,
            r.observables.wall_mobility,
            f.observables.wall_mobility,
        ),
        Case(
            "observables.porod_exponent",
            _tail,
            r.observables.porod_exponent,
            f.observables.porod_exponent,
        ),
        Case(
            "observables.effective_exponent",
            _growth,
            r.observables.effective_exponent,
            f.observables.effective_exponent,
        ),
        Case(
            "observables.effective_exponent_band",
            _growth,
            lambda t, length: r.observables.effective_exponent_band(t, length, rng=7),
            lambda t, length: f.observables.effective_exponent_band(t, length, rng=7),
        ),
        Case(
            "observables.fit_growth_with_offset",
            _growth,
            lambda t, length: r.observables.fit_growth_with_offset(t, length[0]),
            lambda t, length: f.observables.fit_growth_with_offset(t, length[0]),
        ),
        Case(
            "dynamics.kinetic_temperature_since",
            _frames,
            r.dynamics.kinetic_temperature_since,
            f.dynamics.kinetic_temperature_since,
        ),
        Case(
            "descriptors.d4_descriptor",
            _descriptor("d4"),
            r.descriptors.d4_descriptor,
            f.descriptors.d4_descriptor,
        ),
        Case(
            "descriptors.cs_descriptor",
            _descriptor("cs"),
            r.descriptors.cs_descriptor,
            f.descriptors.cs_descriptor,
        ),
        Case(
            "negf.negf_densities (exact vs fine Riemann sum)",
            _negf,
            _negf_fine,
            f.negf.negf_densities,
            atol=1e-7,
            rtol=0.0,
        ),
        Case(
            "negf.particle_currents (exact vs fine Riemann sum)",
            _negf,
            _currents_fine,
            f.negf.particle_currents,
            atol=1e-7,
            rtol=0.0,
        ),
        Case(
            "ehrenfest.adiabatic_densities (batched, degenerate levels)",
            _adiabatic,
            _adiabatic_reference,
            f.ehrenfest.adiabatic_densities,
        ),
        Case(
            "ehrenfest.adiabatic_force",
            _adiabatic,
            _per_member(r.ehrenfest.adiabatic_force),
            f.ehrenfest.adiabatic_force,
        ),
        Case(
            "ehrenfest.density_deviation",
            _adiabatic,
            _per_member(r.ehrenfest.density_deviation),
            f.ehrenfest.density_deviation,
        ),
        Case(
            "ehrenfest.band_populations",
            _populations,
            _per_member(r.ehrenfest.band_populations),
            f.ehrenfest.band_populations,
        ),
        Case(
            "ehrenfest.lattice_current",
            _currents,
            _per_member(r.ehrenfest.lattice_current),
            f.ehrenfest.lattice_current,
        ),
        Case(
            "ehrenfest.equilibrium_density_matrix",
            _thermal,
            _per_member(r.ehrenfest.equilibrium_density_matrix),
            f.ehrenfest.equilibrium_density_matrix,
        ),
        Case(
            "ehrenfest.ehrenfest_step",
            _ehrenfest,
            r.ehrenfest.ehrenfest_step,
            f.ehrenfest.ehrenfest_step,
        ),
    ]
    for kind in ("baoab", "vv_ou", "bath", "brownian"):
        cases.append(
            Case(
                f"dynamics.{kind} (5 steps, explicit noise)",
                _integrator_run(kind),
                lambda kind, m, q, xi: _run_integrator(r, kind, m, q, xi),
                lambda kind, m, q, xi: _run_integrator(f, kind, m, q, xi),
            )
        )
    small = {
        "mlp": r.nn.MLPArchitecture((45, 16, 8, 1)),
        "mlp_cs": r.nn.MLPArchitecture((113, 8, 1), descriptor="cs", r_c=6.0),
        "mlp_levels": r.nn.MLPArchitecture((45, 16, 6), head=r.nn.LevelHead(3, 1.5, 0.3, 0.2)),
        "gnn": r.nn.GNNArchitecture((1, 8, 8, 1)),
        "gnn_time": r.nn.GNNArchitecture((2, 8, 1), time_channel=True),
        "mpnn": r.nn.MPNNArchitecture((1, 8, 6)),
        "enn": r.nn.ENNArchitecture(hidden=(3, 2)),
    }
    for name, arch in small.items():
        make, ref, fst = _network(arch, torch.float64)
        cases.append(Case(f"nn.{name} float64", make, ref, fst))
        make, ref, fst = _network(arch, torch.float32)
        cases.append(Case(f"nn.{name} float32", make, ref, fst, atol=0.0, rtol=1e-4))
    cases.append(Case("nn.level_head", _level_head, r.nn.level_head, f.nn.level_head))
    return cases


def _level_head(rng: np.random.Generator) -> Inputs:
    head = reference.nn.LevelHead(
        int(rng.integers(1, 5)), float(rng.uniform(1, 4)), float(rng.uniform(0.05, 1.0)),
        float(rng.normal()), 0.5,
    )  # fmt: skip
    q = rng.normal(size=(2, 5, 5))
    return (rng.normal(size=(2, 5, 5, 2 * head.poles)), q, head), {}


CASES: list[Case] = _registry()
"""Every registered equivalence case."""
