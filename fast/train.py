"""Training data from exact solvers (the quench papers' protocol), resumable.

Papers 002, 003 and 004 train on a 40x40 lattice: 200 random configurations and
400 snapshots of exact-force Langevin quenches (paper 003 App. B), labelled with
exact-diagonalisation forces. :func:`generate_quench_dataset` produces that set
with :mod:`fast` (batched ED, the BAOAB integrator), writing chunks to
``<path>.partial`` together with the quench state (distortions, momenta, time,
generator state) after every chunk, so a killed generation resumes and produces
the same file as an uninterrupted one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import h5py
import numpy as np
import torch
from tqdm.auto import tqdm

from fast import dynamics, ed, io
from fast.model import elastic_force
from reference.lattice import SquareLattice
from reference.model import ElectronEnsemble, HolsteinModel, HolsteinParams

__all__ = ["QuenchDatasetConfig", "generate_quench_dataset"]


def _positive_int(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be an integer >= 1, got {value!r}")


def _non_negative_int(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{attribute.name} must be an integer >= 0, got {value!r}")


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


@attrs.frozen(kw_only=True)
class QuenchDatasetConfig:
    """Settings of the quench-paper training set (defaults: paper 003 App. B on 40x40).

    Random configurations are the authors' hot start, ``Q ~ N(0, T_hot / kappa)``;
    quench snapshots come from ``n_runs`` BAOAB runs started from such states at the
    bath temperature, recorded every ``snapshot_every`` steps after ``burn_in`` steps.
    """

    size: int = attrs.field(default=40, validator=_positive_int)
    hopping: float = 1.0
    g: float = 3.5
    k: float = 1.0
    kappa: float = 0.18
    mass: float = 5.0
    coupling: str = "n-1/2"
    filling: float = 0.5
    temperature: float = 0.1
    n_random: int = attrs.field(default=200, validator=_non_negative_int)
    hot_temperature: float = attrs.field(default=5.0, validator=_positive)
    n_runs: int = attrs.field(default=4, validator=_non_negative_int)
    snapshots_per_run: int = attrs.field(default=100, validator=_non_negative_int)
    burn_in: int = attrs.field(default=0, validator=_non_negative_int)
    snapshot_every: int = attrs.field(default=50, validator=_positive_int)
    omega_tau: float = attrs.field(default=0.09, validator=_positive)
    dt_omega: float = attrs.field(default=0.022, validator=_positive)
    chunk: int = attrs.field(default=8, validator=_positive_int)
    seed: int = 0

    def __attrs_post_init__(self) -> None:
        self.model()  # validates the physics

    def model(self) -> HolsteinModel:
        """The Holstein model the labels come from."""
        return HolsteinModel(
            SquareLattice(self.size, self.size),
            HolsteinParams(self.hopping, self.g, self.k, self.kappa, self.mass, self.coupling),
            ElectronEnsemble(self.temperature, filling=self.filling),
        )

    @property
    def n_samples(self) -> int:
        """Random configurations plus quench snapshots."""
        return self.n_random + self.n_runs * self.snapshots_per_run


def _label(model: HolsteinModel, q: torch.Tensor) -> dict[str, np.ndarray]:
    eps, vecs = ed.eigensystem(q, model)
    f, _ = ed._fill(eps, model)
    n = torch.einsum("...im,...m->...i", vecs * vecs, f).reshape(q.shape)
    p = model.params
    forces = p.g * (n - p.coupling.offset) + elastic_force(q, model)
    return {"Q": q.cpu().numpy(), "F": forces.cpu().numpy(), "n": n.cpu().numpy()}


def _state_record(state: dynamics.DynamicsState, step: int) -> dict[str, Any]:
    return {
        "quench_Q": state.Q.cpu().numpy(),
        "quench_P": state.P.cpu().numpy(),
        "quench_t": state.t,
        "quench_step": step,
        "quench_rng": state.rng.get_state().cpu().numpy().tobytes(),
    }


def _load_state(
    path: Path, integrator: dynamics.Integrator, device: torch.device
) -> tuple[dynamics.DynamicsState, int] | None:
    with h5py.File(io.partial_path(path), "r") as fh:
        if "quench_Q" not in fh:
            return None
        q = torch.as_tensor(fh["quench_Q"][...], device=device)
        p = torch.as_tensor(fh["quench_P"][...], device=device)
        t = float(fh.attrs["quench_t"])
        step = int(fh.attrs["quench_step"])
        rng_bytes = bytes(fh.attrs["quench_rng"])
    gen = torch.Generator(device=device)
    gen.set_state(torch.frombuffer(bytearray(rng_bytes), dtype=torch.uint8))
    return integrator.init(q, p, rng=gen, t0=t), step


def generate_quench_dataset(
    config: QuenchDatasetConfig,
    path: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    progress: bool = True,
    on_chunk: Callable[[int], Any] | None = None,
) -> io.Dataset:
    """Generate (or resume, or just load) the training set of ``config`` at ``path``.

    Parameters
    ----------
    config : QuenchDatasetConfig
    path : path-like
        The finished HDF5 file; work in progress lives in ``<path>.partial``.
    device : str or torch.device
        Where the exact diagonalisations run.
    progress : bool
        Show a progress bar.
    on_chunk : callable, optional
        Called with the number of samples written after every chunk (tests use it to
        interrupt a run).

    Returns
    -------
    fast.io.Dataset
    """
    final = Path(path)
    if final.exists():
        return io.load_dataset(final)
    dev = torch.device(device)
    model = config.model()
    lattice = model.lattice
    done = io.open_partial(final, lattice.shape, attrs.asdict(config), "quench")
    total = config.n_samples
    bar = tqdm(total=total, initial=done, desc="exact labels", disable=not progress, unit="config")
    # random configurations: sample i is drawn from a generator seeded by (seed, i)
    std = math.sqrt(config.hot_temperature / config.kappa) if config.kappa else 1.0
    while done < config.n_random:
        count = min(config.chunk, config.n_random - done)
        q = np.stack(
            [
                np.random.default_rng([config.seed, i]).normal(scale=std, size=lattice.shape)
                for i in range(done, done + count)
            ]
        )
        done = io.append_chunk(final, _label(model, torch.as_tensor(q, device=dev)))
        bar.update(count)
        if on_chunk is not None:
            on_chunk(done)
    if config.n_runs and config.snapshots_per_run:
        omega = math.sqrt(config.k / config.mass)
        force_field = ed.ExactForceField(model)
        integ = dynamics.langevin_baoab(
            force_field,
            mass=config.mass,
            gamma=config.omega_tau * config.k / omega,
            temperature=config.temperature,
            dt=config.dt_omega / omega,
        )
        resumed = _load_state(final, integ, dev)
        if resumed is None:
            rng = np.random.default_rng([config.seed, 2**32 - 1])  # the quench stream
            q0 = rng.normal(scale=std, size=(config.n_runs, *lattice.shape))
            p0 = rng.normal(scale=math.sqrt(config.hot_temperature * config.mass), size=q0.shape)
            gen = torch.Generator(device=dev)
            gen.manual_seed(config.seed)
            state, step = (
                integ.init(
                    torch.as_tensor(q0, device=dev), torch.as_tensor(p0, device=dev), rng=gen
                ),
                0,
            )
        else:
            state, step = resumed
        while done < total:
            for _ in range(config.snapshot_every if step >= config.burn_in else config.burn_in):
                state = integ.step(state)
                step += 1
            done = io.append_chunk(final, _label(model, state.Q), _state_record(state, step))
            bar.update(config.n_runs)
            if on_chunk is not None:
                on_chunk(done)
    bar.close()
    with h5py.File(io.partial_path(final), "a") as fh:
        for name in ("quench_Q", "quench_P"):
            if name in fh:
                del fh[name]
    io.finalise(final)
    return io.load_dataset(final)
