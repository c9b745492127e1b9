"""Training data from exact solvers (the quench papers' protocol), resumable.

Papers 002, 003 and 004 train on a 40x40 lattice: 200 random configurations and
400 snapshots of exact-force Langevin quenches (paper 003 App. B), labelled with
exact-diagonalisation forces. :func:`generate_quench_dataset` produces that set
with :mod:`fast` (batched ED, the BAOAB integrator), writing chunks into the folder
``<path>.partial`` (:mod:`fast.io`), each together with the quench state
(distortions, momenta, time, generator state), so a killed generation resumes and produces
the same file as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor
from tqdm.auto import tqdm

import fast
from fast import descriptors, dynamics, ed, io, nn
from fast.io import Architecture
from fast.model import elastic_force
from reference import ed as _ref_ed
from reference._runio import atomic_write, non_negative, non_negative_int, positive, positive_int
from reference.descriptors import decompose_neighbourhood
from reference.lattice import SquareLattice
from reference.model import ElectronEnsemble, HolsteinModel, HolsteinParams
from reference.nn import (
    INIT_SCHEMES,
    PAPER_ARCHITECTURES,
    ENNArchitecture,
    GNNArchitecture,
    LevelHead,
    MLPArchitecture,
    MPNNArchitecture,
    Weights,
    _auxiliary_paths,
    init_weights,
)
from reference.symmetry import CS, D4

__all__ = [
    "ErrorStats",
    "MLForceField",
    "QuenchDatasetConfig",
    "TrainConfig",
    "TrainResult",
    "TrainedModel",
    "electrons_of",
    "fold_standardisation",
    "generate_quench_dataset",
    "hot_start_spread",
    "load_model",
    "physics_json",
    "physics_of",
    "save_model",
    "split_by_configuration",
    "train_network",
]


@attrs.frozen(kw_only=True)
class QuenchDatasetConfig:
    """Settings of the quench-paper training set (defaults: paper 003 App. B on 40x40).

    The electrons are held at ``filling`` (the chemical potential is solved for in every
    configuration) or, if ``mu`` is given, at that fixed chemical potential.
    Random configurations are the authors' hot start, ``Q ~ N(0, T_hot / kappa)``;
    the snapshots come from ``n_runs`` BAOAB runs at the bath temperature, recorded every
    ``snapshot_every`` steps after ``burn_in`` steps. With ``start = "hot"`` the runs start
    from such hot states (quench snapshots: domains and walls); with ``start = "cdw"`` from
    the checkerboard ground state, half of them sublattice-flipped, with momenta at the bath
    temperature (equilibrium snapshots at ``T``, paper 003 App. B's "equilibrium
    configurations at a low temperature").
    """

    size: int = attrs.field(default=40, validator=positive_int)
    hopping: float = 1.0
    g: float = 3.5
    k: float = 1.0
    kappa: float = 0.18
    mass: float = 5.0
    coupling: str = "n-1/2"
    filling: float = 0.5
    mu: float | None = None
    temperature: float = 0.1
    n_random: int = attrs.field(default=200, validator=non_negative_int)
    hot_temperature: float = attrs.field(default=5.0, validator=positive)
    n_runs: int = attrs.field(default=4, validator=non_negative_int)
    snapshots_per_run: int = attrs.field(default=100, validator=non_negative_int)
    burn_in: int = attrs.field(default=0, validator=non_negative_int)
    snapshot_every: int = attrs.field(default=50, validator=positive_int)
    omega_tau: float = attrs.field(default=0.09, validator=positive)
    dt_omega: float = attrs.field(default=0.022, validator=positive)
    chunk: int = attrs.field(default=8, validator=positive_int)
    seed: int = 0
    start: str = "hot"

    def __attrs_post_init__(self) -> None:
        self.model()  # validates the physics
        if self.start not in ("hot", "cdw"):
            raise ValueError(f"start must be 'hot' or 'cdw', got {self.start!r}")

    def model(self) -> HolsteinModel:
        """The Holstein model the labels come from."""
        return HolsteinModel(
            SquareLattice(self.size, self.size),
            HolsteinParams(self.hopping, self.g, self.k, self.kappa, self.mass, self.coupling),
            ElectronEnsemble(
                self.temperature,
                filling=None if self.mu is not None else self.filling,
                mu=self.mu,
            ),
        )

    @property
    def n_samples(self) -> int:
        """Random configurations plus quench snapshots."""
        return self.n_random + self.n_runs * self.snapshots_per_run


def hot_start_spread(temperature: float, kappa: float, k: float) -> float:
    """Spread of the authors' hot start, ``sqrt(T0 / kappa)``; ``sqrt(T0 / k)`` if
    ``kappa <= 0`` (where the script's variance ``T0 / kappa`` has no meaning)."""
    return math.sqrt(temperature / kappa) if kappa > 0 else math.sqrt(temperature / k)


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
    saved = io.last_state(path)
    if saved is None or "quench_Q" not in saved:
        return None
    q = torch.as_tensor(saved["quench_Q"], device=device)
    p = torch.as_tensor(saved["quench_P"], device=device)
    gen = torch.Generator(device=device)
    gen.set_state(torch.frombuffer(bytearray(saved["quench_rng"]), dtype=torch.uint8))
    return integrator.init(q, p, rng=gen, t0=float(saved["quench_t"])), int(saved["quench_step"])


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
        The finished HDF5 file; work in progress lives in the folder ``<path>.partial``.
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
        data = io.load_dataset(final)
        if data.attributes.get("config") != json.dumps(attrs.asdict(config), sort_keys=True):
            raise ValueError(
                f"{str(final)!r} was generated with another configuration; use another path"
            )
        return data
    dev = torch.device(device)
    model = config.model()
    lattice = model.lattice
    done = io.open_partial(final, lattice.shape, attrs.asdict(config), "quench")
    total = config.n_samples
    bar = tqdm(total=total, initial=done, desc="exact labels", disable=not progress, unit="config")
    # random configurations: sample i is drawn from a generator seeded by (seed, i)
    std = hot_start_spread(config.hot_temperature, config.kappa, config.k)
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
            shape = (config.n_runs, *lattice.shape)
            if config.start == "hot":
                q0 = rng.normal(scale=std, size=shape)
                p_temperature = config.hot_temperature
            else:  # the two CDW domains, alternating between runs
                cdw = _ref_ed.ground_state(model).Q
                q0 = np.stack([cdw if r % 2 == 0 else np.roll(cdw, 1, axis=0)
                               for r in range(config.n_runs)])  # fmt: skip
                p_temperature = config.temperature
            p0 = rng.normal(scale=math.sqrt(p_temperature * config.mass), size=q0.shape)
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
    return _finish_dataset(final)


def _finish_dataset(final: Path) -> io.Dataset:
    """Join the partial dataset into its final file (sealed with its hash) and load it."""
    io.finalise(final)
    return io.load_dataset(final)


# =============================================================================== training


@attrs.frozen(kw_only=True)
class TrainConfig:
    """Settings of force-field training (defaults: paper 003 App. B and paper 002 sec. III).

    Attributes
    ----------
    network : str
        A key of :data:`reference.nn.PAPER_ARCHITECTURES` (``paper003_mlp``, ``paper002_gnn``,
        ``paper002_mpnn``, ``paper004_enn``, ``paper002_mlp``, ``paper001_mlp``).
    hidden : tuple of int
        Replaces the hidden widths of an MLP, GNN or MPNN (empty: the paper's).
    r_c : float
        Replaces the descriptor cutoff of an MLP (0: the paper's); the input width follows
        the descriptor size.
    target : {"electronic", "total"}
        What the network learns. ``"total"`` is the papers' choice, the whole force
        ``F_i``; ``"electronic"`` (default) is ``g (n_i - c)`` only, with the elastic force
        ``-k Q_i - kappa sum_j' Q_j`` added exactly when the model drives dynamics. The
        elastic part is linear, known and large in hot configurations; leaving it out
        spends the network on the part that needs it (see specs/equations/training.md).
    epochs : int
        Upper limit of passes over the training configurations (paper 003: 500).
    batch_size : int
        Configurations per optimiser step (paper 003: 1, i.e. all sites of one lattice).
    learning_rate : float
        Adam's initial step (papers 002-004: 1e-3).
    lr_factor, lr_patience, min_learning_rate
        The learning rate is multiplied by ``lr_factor`` after ``lr_patience`` epochs without
        a better validation loss, down to ``min_learning_rate``.
    patience : int
        Early stopping: training ends after this many epochs without a better validation
        loss, and the best weights are kept.
    validation_fraction : float
        Share of the *configurations* held out (paper 002: 0.3). Sites of one configuration
        are never split between training and validation: they are strongly correlated.
    standardise : bool
        Train in standardised inputs and outputs; the affine maps are folded into the
        first and last layers afterwards, so the saved network is the paper's architecture.
        The equivariant network's input scale is then calibrated so that its freshly
        initialised outputs have unit spread: each of its layers squares the amplitude of
        its input (the auxiliary products), so the output is a polynomial of degree
        ``2^(layers + 1)`` in the input scale and a unit-variance input is not enough.
    clip_gradient : float
        Rescale each step's gradient to at most this norm; 0 (the papers' setting) leaves
        it alone. Worth setting for the equivariant network on hot configurations.
    head : {"force", "levels"}
        ``"force"`` (the papers'): a descriptor MLP's last layer is the force. ``"levels"``
        (beyond the papers, descriptor MLPs and ``target = "electronic"`` only): the last
        layer gives the weights and levels of a local density of states with ``poles``
        poles, and :func:`reference.nn.level_head` applies the Fermi function of the
        labels' temperature and chemical potential (which must be fixed, not the filling).
    poles : int
        Levels of the ``"levels"`` head.
    init : {"auto", "uniform", "he", "paper"}
        The initial weights (:func:`reference.nn.init_weights`). ``"auto"``: ``"uniform"``
        (torch's default for linear layers) for the descriptor MLPs, whose held-out error on
        hot configurations it lowers by about a third against ``"he"`` (measured,
        benchmarks/README.md), and
        ``"he"`` for the other networks.
    dtype : {"float32", "float64"}
    time_limit_minutes : float
        Stop (keeping the best weights) after this much training time; 0 means no limit.
    checkpoint_every : int
        Epochs between checkpoints.
    seed : int
        Seeds the initial weights, the split and the batch order.
    """

    network: str = "paper003_mlp"
    hidden: tuple[int, ...] = ()
    r_c: float = attrs.field(default=0.0, converter=float, validator=non_negative)
    target: str = "electronic"
    epochs: int = attrs.field(default=500, validator=positive_int)
    batch_size: int = attrs.field(default=1, validator=positive_int)
    learning_rate: float = attrs.field(default=1e-3, validator=positive)
    lr_factor: float = attrs.field(default=0.5, validator=positive)
    lr_patience: int = attrs.field(default=10, validator=positive_int)
    min_learning_rate: float = attrs.field(default=1e-6, validator=positive)
    patience: int = attrs.field(default=30, validator=positive_int)
    validation_fraction: float = attrs.field(default=0.3, validator=positive)
    standardise: bool = True
    clip_gradient: float = attrs.field(default=0.0, validator=non_negative)
    head: str = "force"
    poles: int = attrs.field(default=4, validator=positive_int)
    init: str = "auto"
    dtype: str = "float32"
    time_limit_minutes: float = attrs.field(default=0.0, validator=non_negative)
    checkpoint_every: int = attrs.field(default=1, validator=positive_int)
    seed: int = 0

    def __attrs_post_init__(self) -> None:
        if self.network not in PAPER_ARCHITECTURES:
            raise ValueError(
                f"network must be one of {sorted(PAPER_ARCHITECTURES)}, got {self.network!r}"
            )
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(
                f"validation_fraction must lie in (0, 1), got {self.validation_fraction!r}"
            )
        if not 0.0 < self.lr_factor < 1.0:
            raise ValueError(f"lr_factor must lie in (0, 1), got {self.lr_factor!r}")
        if self.target not in ("electronic", "total"):
            raise ValueError(f"target must be 'electronic' or 'total', got {self.target!r}")
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {self.dtype!r}")
        if any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in self.hidden):
            raise ValueError(f"hidden must hold integers >= 1, got {self.hidden!r}")
        if self.init not in ("auto", *INIT_SCHEMES):
            raise ValueError(f"init must be one of {('auto', *INIT_SCHEMES)}, got {self.init!r}")
        if self.head not in ("force", "levels"):
            raise ValueError(f"head must be 'force' or 'levels', got {self.head!r}")
        body = self._body()  # validates the combination
        if self.head == "levels" and not isinstance(body, MLPArchitecture):
            raise ValueError(
                f"head 'levels' applies to the descriptor MLPs only, not {self.network!r}"
            )
        if self.head == "levels" and self.target != "electronic":
            raise ValueError(
                "head 'levels' learns the electronic force: it needs target 'electronic'"
            )

    def architecture(
        self, physics: HolsteinParams | None = None, electrons: ElectronEnsemble | None = None
    ) -> Architecture:
        """The network to train: the paper's, with :attr:`hidden` widths if given, and the
        ``"levels"`` head, which needs the labels' Holstein parameters and electrons (at a
        fixed chemical potential)."""
        body = self._body()
        if self.head == "force":
            return body
        if physics is None or electrons is None:
            raise ValueError("head 'levels' needs the Holstein parameters and the electrons")
        if electrons.mu is None:
            raise ValueError(
                "head 'levels' needs labels at a fixed chemical potential (mu), not at a fixed "
                "filling"
            )
        head = LevelHead(
            self.poles, physics.g, electrons.temperature, electrons.mu, physics.coupling.offset
        )
        assert isinstance(body, MLPArchitecture)
        return attrs.evolve(body, widths=(*body.widths[:-1], 2 * self.poles), head=head)

    def _body(self) -> Architecture:
        """The paper's network with :attr:`hidden` and :attr:`r_c`, without a head."""
        arch = PAPER_ARCHITECTURES[self.network]
        if self.r_c:
            if not isinstance(arch, MLPArchitecture):
                raise ValueError(f"r_c applies to the descriptor MLPs only, not {self.network!r}")
            group = D4 if arch.descriptor == "d4" else CS
            size = decompose_neighbourhood(group, self.r_c).size
            arch = attrs.evolve(arch, widths=(size, *arch.widths[1:]), r_c=self.r_c)
        if not self.hidden:
            return arch
        if isinstance(arch, MLPArchitecture):
            return attrs.evolve(arch, widths=(arch.widths[0], *self.hidden, 1))
        if isinstance(arch, GNNArchitecture):
            return attrs.evolve(arch, channels=(arch.channels[0], *self.hidden, 1))
        if isinstance(arch, MPNNArchitecture):
            return attrs.evolve(arch, channels=(1, *self.hidden))
        return attrs.evolve(arch, hidden=self.hidden)

    def init_scheme(self, arch: Architecture) -> str:
        """The initialisation of ``arch`` (:attr:`init`, with ``"auto"`` resolved)."""
        if self.init != "auto":
            return self.init
        return "uniform" if isinstance(arch, MLPArchitecture) else "he"

    @property
    def torch_dtype(self) -> torch.dtype:
        """The training precision."""
        return _DTYPES[self.dtype]


_DTYPES = {"float32": torch.float32, "float64": torch.float64}
# settings that may change between a checkpoint and its resumption
_RESUMABLE = ("epochs", "patience", "time_limit_minutes", "checkpoint_every")
CHECKPOINT_FORMAT = "holstein-mlff/train-checkpoint/1"
MODEL_FORMAT = "holstein-mlff/model/1"


def split_by_configuration(
    n_configurations: int, validation_fraction: float, seed: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Random disjoint training and validation indices of whole configurations.

    Returns sorted ``(train, validation)`` index arrays; the validation set holds
    ``round(fraction * n)`` configurations, at least one, and so does the training set.
    """
    if n_configurations < 2:
        raise ValueError(
            f"a dataset needs at least 2 configurations to split, got {n_configurations}"
        )
    n_val = min(max(1, round(validation_fraction * n_configurations)), n_configurations - 1)
    order = np.random.default_rng([seed, 7]).permutation(n_configurations)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


@attrs.frozen(eq=False)
class _Scales:
    """Affine maps of standardised training: inputs ``(x - shift) / scale``, outputs
    ``out_scale * y + out_shift``; a time channel sees ``(1/t) / time_scale``."""

    shift: Tensor
    scale: Tensor
    out_shift: Tensor
    out_scale: Tensor
    time_scale: float = 1.0

    def to(self, device: torch.device) -> _Scales:
        return _Scales(
            self.shift.to(device), self.scale.to(device), self.out_shift.to(device),
            self.out_scale.to(device), self.time_scale,
        )  # fmt: skip


def _inputs(arch: Architecture, Q: Tensor, lattice: SquareLattice) -> Tensor:
    """What the trainable part sees: descriptors for an MLP, the field otherwise."""
    if isinstance(arch, MLPArchitecture):
        describe = (
            descriptors.d4_descriptor if arch.descriptor == "d4" else descriptors.cs_descriptor
        )
        chunks = [describe(Q[i : i + 16], lattice, arch.r_c) for i in range(0, len(Q), 16)]
        return torch.cat(chunks)
    return Q


def _fit_scales(
    arch: Architecture, x: Tensor, forces: Tensor, standardise: bool, dtype: torch.dtype
) -> _Scales:
    one = torch.ones((), dtype=dtype)
    zero = torch.zeros((), dtype=dtype)
    if not standardise:
        width = x.shape[-1] if isinstance(arch, MLPArchitecture) else 1
        return _Scales(torch.zeros(width, dtype=dtype), torch.ones(width, dtype=dtype), zero, one)
    f_std = forces.std().to(dtype)
    f_std = f_std if f_std > 0 else one
    if isinstance(arch, MLPArchitecture):
        flat = x.reshape(-1, x.shape[-1])
        std = flat.std(dim=0)
        std = torch.where(std > 1e-12 * std.max().clamp_min(1e-300), std, torch.ones_like(std))
        shift, scale = flat.mean(dim=0).to(dtype), std.to(dtype)
    elif isinstance(arch, GNNArchitecture | ENNArchitecture):
        # GNN: a shift would not commute with the open-boundary aggregation of tiles;
        # ENN: a shift would break the IR structure. Scale only.
        shift, scale = torch.zeros(1, dtype=dtype), x.std().reshape(1).to(dtype)
    else:  # MPNN: layer normalisation already standardises its first block
        shift, scale = torch.zeros(1, dtype=dtype), torch.ones(1, dtype=dtype)
    if isinstance(arch, MLPArchitecture) and arch.head is not None:
        return _Scales(shift, scale, zero, one)  # the head's output is in physical units
    # an energy model cannot add a constant force (it would need E = -c sum Q): no shift
    out_shift = zero if isinstance(arch, MPNNArchitecture) else forces.mean().to(dtype)
    return _Scales(shift, scale, out_shift, f_std)


def _calibrate_input_scale(
    network: nn.Network, x: Tensor, lattice: SquareLattice, scales: _Scales
) -> _Scales:
    """Multiply the input scale by the factor at which the initial network's outputs on
    ``x`` have unit standard deviation (bisection in log scale over 1e-2 to 1e2; the
    spread falls as the inputs shrink, down to a constant output set by the biases)."""
    lo, hi = 1e-2, 1e2
    with torch.no_grad():
        for _ in range(40):
            mid = math.sqrt(lo * hi)
            spread = float(nn.enn_forward(network, x / (scales.scale * mid), lattice).std())
            if not math.isfinite(spread) or spread > 1.0:
                lo = mid
            else:
                hi = mid
    return attrs.evolve(scales, scale=scales.scale * math.sqrt(lo * hi))


def _standardised_forces(
    network: nn.Network,
    x: Tensor,
    lattice: SquareLattice,
    scales: _Scales,
    train: bool,
    times: Tensor | None = None,
) -> Tensor:
    """Forces of the network in standardised coordinates, mapped back to physical units."""
    arch = network.architecture
    if isinstance(arch, MLPArchitecture):
        y = nn.mlp_forward(network, (x - scales.shift) / scales.scale)
        if arch.head is not None:  # the first descriptor feature is Q_i itself
            return nn.level_head(y, x[..., 0], arch.head)
    elif isinstance(arch, GNNArchitecture):
        # the time channel 1/t' = (1/t) / time_scale
        shifted = None if times is None else times * scales.time_scale
        y = nn.gnn_forward(network, x / scales.scale, lattice, shifted)
    elif isinstance(arch, MPNNArchitecture):
        if train:
            y = nn.mpnn_forces(network, x, lattice)
        else:
            y = nn._mpnn_forces(network, x, lattice, create_graph=False)
    else:
        y = nn.enn_forward(network, x / scales.scale, lattice)
    return scales.out_scale * y + scales.out_shift


def fold_standardisation(network: nn.Network, scales: _Scales) -> Weights:
    """The float64 weights of ``network`` with the standardising maps folded in.

    The result, evaluated on raw inputs, equals ``out_scale * network((x - shift) / scale)
    + out_shift``: the first layer absorbs ``(x - shift) / scale`` (descriptor MLP; the GNN's
    scale), the last layer the output map.
    """
    w = network.to_weights()
    arrays = dict(w.arrays)
    arch = network.architecture
    shift = scales.shift.detach().cpu().double().numpy()
    scale = scales.scale.detach().cpu().double().numpy()
    s = float(scales.out_scale)
    m = float(scales.out_shift)
    if isinstance(arch, MLPArchitecture):
        last = len(arch.widths) - 2
        w0 = arrays["layers.0.weight"] / scale[None, :]
        arrays["layers.0.weight"] = w0
        arrays["layers.0.bias"] = arrays["layers.0.bias"] - w0 @ shift
        if arch.head is None:  # (a head's output map is the identity)
            arrays[f"layers.{last}.weight"] = s * arrays[f"layers.{last}.weight"]
            arrays[f"layers.{last}.bias"] = s * arrays[f"layers.{last}.bias"] + m
    elif isinstance(arch, GNNArchitecture):
        last = len(arch.channels) - 2
        for name in ("self_weight", "neighbour_weight"):
            first = arrays[f"layers.0.{name}"].copy()
            first[:, 0] /= scale[0]
            if arch.time_channel:
                first[:, 1] /= scales.time_scale
            arrays[f"layers.0.{name}"] = first
            arrays[f"layers.{last}.{name}"] = s * arrays[f"layers.{last}.{name}"]
        arrays[f"layers.{last}.bias"] = s * arrays[f"layers.{last}.bias"] + m
    elif isinstance(arch, MPNNArchitecture):
        arrays["readout.update.weight"] = s * arrays["readout.update.weight"]
        arrays["readout.update.bias"] = s * arrays["readout.update.bias"]
    else:
        # the first auxiliary layer holds copies (degree 1 in Q) and CG products (degree 2)
        paths = _auxiliary_paths(arch.point_group, arch.input_channels())
        for name, sources in paths.items():
            degree = np.array([1 if right == "" else 2 for _, _, right, _, _ in sources])
            arrays[f"layers.0.{name}.weight"] = (
                arrays[f"layers.0.{name}.weight"] / scale[0] ** degree[None, :]
            )
        arrays["readout.weight"] = s * arrays["readout.weight"]
        arrays["readout.bias"] = s * arrays["readout.bias"] + m
    return Weights(arch, arrays)


@attrs.frozen(eq=False)
class ErrorStats:
    """Force errors ``delta = F_ML - F_exact`` over a set of sites."""

    rmse: float
    mae: float
    std: float
    mean: float
    max_abs: float
    n_configurations: int
    n_sites: int

    @classmethod
    def of(cls, predicted: NDArray[np.float64], exact: NDArray[np.float64]) -> ErrorStats:
        delta = (predicted - exact).ravel()
        return cls(
            rmse=float(np.sqrt(np.mean(delta**2))),
            mae=float(np.mean(np.abs(delta))),
            std=float(np.std(delta)),
            mean=float(np.mean(delta)),
            max_abs=float(np.max(np.abs(delta))),
            n_configurations=int(predicted.shape[0]),
            n_sites=int(delta.size),
        )


@attrs.frozen(eq=False)
class TrainResult:
    """What :func:`train_network` returns.

    Attributes
    ----------
    weights : Weights
        The best (lowest validation loss) float64 weights, standardisation folded in.
    history : list of dict
        Per epoch: ``epoch``, ``train_rmse``, ``val_rmse``, ``learning_rate``, ``seconds``.
    train, validation : ErrorStats
        Errors of the returned weights on the two sets.
    predictions : dict of arrays
        ``val_exact``, ``val_ml`` (n_val, Lx, Ly) and ``train_exact``, ``train_ml`` (a subset
        of at most 64 training configurations) for parity plots and histograms.
    best_epoch : int
    stopped : str
        Why training ended: ``"epochs"``, ``"early stopping"`` or ``"time limit"``.
    seconds : float
        Training wall time, summed over resumptions.
    """

    weights: Weights
    history: list[dict[str, float]]
    train: ErrorStats
    validation: ErrorStats
    predictions: dict[str, NDArray[np.float64]]
    best_epoch: int
    stopped: str
    seconds: float

    def summary(self) -> dict[str, Any]:
        """Errors, stopping information and history as JSON-ready values."""
        return {
            "validation": attrs.asdict(self.validation),
            "train": attrs.asdict(self.train),
            "best_epoch": self.best_epoch,
            "epochs_run": len(self.history),
            "stopped": self.stopped,
            "training_seconds": self.seconds,
            "threads": torch.get_num_threads(),
            "history": self.history,
        }


def _predict(
    network: nn.Network,
    x: Tensor,
    lattice: SquareLattice,
    scales: _Scales,
    batch: int,
    times: Tensor | None = None,
) -> Tensor:
    out = []
    for i in range(0, len(x), batch):
        xb = x[i : i + batch]
        tb = None if times is None else times[i : i + batch]
        if isinstance(network.architecture, MPNNArchitecture):
            out.append(_standardised_forces(network, xb, lattice, scales, False, tb).detach())
        else:
            with torch.no_grad():
                out.append(_standardised_forces(network, xb, lattice, scales, False, tb))
    return torch.cat(out)


def _checkpoint_identity(
    config: TrainConfig,
    arch: Architecture,
    data_hash: str,
    lattice: SquareLattice,
    sites: NDArray[np.bool_],
) -> str:
    settings = {k: v for k, v in attrs.asdict(config).items() if k not in _RESUMABLE}
    digest = hashlib.sha256(sites.tobytes()).hexdigest()
    where = {"periodic": list(lattice.periodic), "sites": digest}
    return json.dumps(
        {"config": settings, "architecture": io.architecture_to_json(arch), "dataset": data_hash,
         "lattice": where},
        sort_keys=True,
        default=list,
    )  # fmt: skip


def train_network(
    config: TrainConfig,
    dataset: io.Dataset,
    checkpoint: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    progress: bool = True,
    on_epoch: Callable[[int], Any] | None = None,
    lattice: SquareLattice | None = None,
    sites: NDArray[np.bool_] | None = None,
    times: NDArray[np.float64] | None = None,
) -> TrainResult:
    """Train ``config.network`` on the exact forces of ``dataset``.

    Adam on the mean-square force error, mini-batches of whole configurations,
    validation on held-out configurations, learning-rate reduction on plateaus and early
    stopping with the best weights kept (paper 003 App. B; paper 002 sec. III).

    Parameters
    ----------
    config : TrainConfig
    dataset : fast.io.Dataset
        Configurations ``Q`` and exact forces ``F`` of shape ``(n, Lx, Ly)``; its
        ``config`` attribute gives the Holstein parameters (:func:`physics_of`).
    checkpoint : path-like
        Written (atomically) every ``config.checkpoint_every`` epochs with the weights,
        optimiser, scheduler and generator state; if it exists, training resumes from it and
        ends with the same weights as an uninterrupted run. Load it only with
        ``torch.load(..., weights_only=True)``.
    device : str or torch.device
    progress : bool
        Show a progress bar over epochs.
    on_epoch : callable, optional
        Called with the epoch number after each epoch (tests use it to interrupt).
    lattice : SquareLattice, optional
        The lattice of the configurations (default: periodic, of their shape); paper 001's
        lattice is open along x.
    sites : (Lx, Ly) bool, optional
        The sites whose forces are learned and scored (default: all). Paper 001 trains on
        the central columns only, away from the electrodes. The predictions then hold the
        selected sites only, shape ``(n, n_selected)``.
    times : (n,) float, optional
        The time of every configuration (> 0), fed as ``1/t`` to a time-conditioned GNN
        (paper 000); required by such a network and refused by any other.

    Returns
    -------
    TrainResult

    Raises
    ------
    ValueError
        If the checkpoint belongs to another architecture, configuration or dataset.
    """
    dev = torch.device(device)
    dtype = config.torch_dtype
    arch = (
        config.architecture(physics_of(dataset), electrons_of(dataset))
        if config.head != "force"
        else config.architecture()
    )
    shape = tuple(dataset.Q.shape[1:])
    lattice = SquareLattice(*shape) if lattice is None else lattice
    if lattice.shape != shape:
        raise ValueError(f"lattice has shape {lattice.shape}, the dataset {shape}")
    time_channel = isinstance(arch, GNNArchitecture) and arch.time_channel
    if time_channel != (times is not None):
        raise ValueError(
            f"times must be given exactly for a time-conditioned network ({config.network} "
            f"{'has' if time_channel else 'has no'} time channel)"
        )
    t_all = None if times is None else np.asarray(times, dtype=np.float64)
    if t_all is not None and (t_all.shape != (len(dataset),) or not np.all(t_all > 0)):
        raise ValueError(f"times must hold {len(dataset)} positive values, one per configuration")
    mask = np.ones(shape, dtype=bool) if sites is None else np.asarray(sites)
    if mask.dtype != np.bool_ or mask.shape != shape or not mask.any():
        raise ValueError(f"sites must be a boolean array of shape {shape} selecting some site")
    data_hash = str(
        dataset.attributes.get("content_hash", io.content_hash({"Q": dataset.Q, "F": dataset.F}))
    )
    if t_all is not None:
        data_hash = hashlib.sha256((data_hash + t_all.tobytes().hex()).encode()).hexdigest()
    identity = _checkpoint_identity(config, arch, data_hash, lattice, mask)
    train_idx, val_idx = split_by_configuration(
        len(dataset), config.validation_fraction, config.seed
    )
    q = torch.as_tensor(dataset.Q, dtype=torch.float64)
    holstein = HolsteinModel(lattice, physics_of(dataset), ElectronEnsemble(1.0))
    elastic = elastic_force(q, holstein).numpy() if config.target == "electronic" else 0.0
    exact = dataset.F[:, mask]  # (n, S): the learned sites
    forces = torch.as_tensor((dataset.F - elastic)[:, mask], dtype=dtype)
    x = _inputs(arch, q, lattice).to(dtype)
    # a descriptor MLP sees each site alone: keep only the learned sites' descriptors
    per_site = isinstance(arch, MLPArchitecture)
    if per_site:
        x = x[:, torch.as_tensor(mask)]
    mask_t = torch.as_tensor(mask, device=dev)

    def select(y: Tensor) -> Tensor:
        """The learned sites of a network output, ``(n, S)``."""
        return y if per_site else y[:, mask_t]

    scales = _fit_scales(arch, x[train_idx], forces[train_idx], config.standardise, dtype)
    if t_all is not None:
        scales = attrs.evolve(scales, time_scale=float(np.mean(1.0 / t_all[train_idx])))
    scales = scales.to(dev)
    t_dev = None if t_all is None else torch.as_tensor(t_all, dtype=dtype, device=dev)
    x, forces = x.to(dev), forces.to(dev)

    scheme: Any = config.init_scheme(arch)
    initial = init_weights(arch, np.random.default_rng(config.seed), scheme)
    network = nn.Network(arch, initial, dtype=dtype, device=dev)
    if isinstance(arch, ENNArchitecture) and config.standardise:
        scales = _calibrate_input_scale(network, x[train_idx[:4]], lattice, scales)
    optimiser = torch.optim.Adam(network.parameters(), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimiser, factor=config.lr_factor, patience=config.lr_patience,
        min_lr=config.min_learning_rate,
    )  # fmt: skip
    generator = torch.Generator()
    generator.manual_seed(config.seed)
    history: list[dict[str, float]] = []
    best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
    best_val, best_epoch, epoch, elapsed = math.inf, 0, 0, 0.0
    path = Path(checkpoint)
    if path.exists():
        saved = torch.load(path, map_location=dev, weights_only=True)
        if saved.get("format") != CHECKPOINT_FORMAT or saved.get("identity") != identity:
            raise ValueError(
                f"checkpoint {str(path)!r} belongs to another network, training "
                "configuration or dataset; delete it or use another output folder"
            )
        network.load_state_dict(saved["network"])
        optimiser.load_state_dict(saved["optimiser"])
        scheduler.load_state_dict(saved["scheduler"])
        generator.set_state(saved["generator"])
        best_state = saved["best_network"]
        best_val, best_epoch = float(saved["best_val"]), int(saved["best_epoch"])
        epoch, elapsed = int(saved["epoch"]), float(saved["seconds"])
        history = [dict(h) for h in saved["history"]]

    def save() -> None:
        payload = {
            "format": CHECKPOINT_FORMAT,
            "identity": identity,
            "network": network.state_dict(),
            "optimiser": optimiser.state_dict(),
            "scheduler": scheduler.state_dict(),
            "generator": generator.get_state(),
            "best_network": best_state,
            "best_val": best_val,
            "best_epoch": best_epoch,
            "epoch": epoch,
            "seconds": elapsed,
            "history": history,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda p: torch.save(payload, p))

    def stop_reason() -> str | None:
        if epoch - best_epoch >= config.patience and best_epoch > 0:
            return "early stopping"
        if config.time_limit_minutes and elapsed >= 60 * config.time_limit_minutes:
            return "time limit"
        if epoch >= config.epochs:
            return "epochs"
        return None

    n_train = len(train_idx)
    train_t = torch.as_tensor(train_idx, device=dev)
    bar = tqdm(total=config.epochs, initial=epoch, desc="training", unit="epoch",
               disable=not progress)  # fmt: skip
    while (stopped := stop_reason()) is None:
        start = time.perf_counter()
        order = train_t[torch.randperm(n_train, generator=generator).to(dev)]
        total = torch.zeros((), dtype=torch.float64, device=dev)
        network.train()
        for i in range(0, n_train, config.batch_size):
            batch = order[i : i + config.batch_size]
            tb = None if t_dev is None else t_dev[batch]
            predicted = select(_standardised_forces(network, x[batch], lattice, scales, True, tb))
            loss = torch.mean(((predicted - forces[batch]) / scales.out_scale) ** 2)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            if config.clip_gradient:
                torch.nn.utils.clip_grad_norm_(network.parameters(), config.clip_gradient)
            optimiser.step()
            total += loss.detach().double() * len(batch)
        network.eval()
        val_pred = select(
            _predict(
                network, x[val_idx], lattice, scales, max(config.batch_size, 8),
                None if t_dev is None else t_dev[val_idx],
            )
        )  # fmt: skip
        val_mse = float(torch.mean((val_pred - forces[val_idx]) ** 2))
        scheduler.step(val_mse)
        epoch += 1
        elapsed += time.perf_counter() - start
        history.append({
            "epoch": epoch,
            "train_rmse": math.sqrt(float(total) / n_train) * float(scales.out_scale),
            "val_rmse": math.sqrt(val_mse),
            "learning_rate": float(optimiser.param_groups[0]["lr"]),
            "seconds": elapsed,
        })  # fmt: skip
        if val_mse < best_val * (1 - 1e-4):
            best_val, best_epoch = val_mse, epoch
            best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
        bar.update(1)
        bar.set_postfix(val_rmse=f"{history[-1]['val_rmse']:.2e}")
        if epoch % config.checkpoint_every == 0 or stop_reason() is not None:
            save()
        if on_epoch is not None:
            on_epoch(epoch)
    bar.close()

    network.load_state_dict(best_state)
    weights = fold_standardisation(network, scales)
    final = nn.Network.from_weights(weights, dtype=torch.float64, device=dev)
    q_dev = q.to(dev)
    x64 = x.double() if isinstance(arch, MLPArchitecture) else q_dev
    zero, one = (torch.tensor(v, dtype=torch.float64, device=dev) for v in (0.0, 1.0))
    unit = _Scales(zero, one, zero, one)
    shown = train_idx[:: max(1, n_train // 64)][:64]
    # errors are reported on the total force (the exact elastic part adds none)
    elastic_sel = elastic[:, mask] if isinstance(elastic, np.ndarray) else 0.0
    t64 = None if t_all is None else torch.as_tensor(t_all, dtype=torch.float64, device=dev)
    full = select(_predict(final, x64, lattice, unit, 8, t64)).cpu().numpy() + elastic_sel
    if sites is None:  # every site: keep the lattice shape
        full, exact = full.reshape(dataset.F.shape), dataset.F
    predictions = {
        "val_exact": exact[val_idx],
        "val_ml": full[val_idx],
        "train_exact": exact[shown],
        "train_ml": full[shown],
    }
    return TrainResult(
        weights=weights,
        history=history,
        train=ErrorStats.of(full[train_idx], exact[train_idx]),
        validation=ErrorStats.of(predictions["val_ml"], predictions["val_exact"]),
        predictions=predictions,
        best_epoch=best_epoch,
        stopped=stopped,
        seconds=elapsed,
    )


# =============================================================================== trained models


def physics_json(physics: HolsteinParams) -> str:
    """Holstein parameters as JSON text (the coupling by its string value)."""
    values = attrs.asdict(physics)
    values["coupling"] = physics.coupling.value
    return json.dumps(values, sort_keys=True)


def physics_of(dataset: io.Dataset) -> HolsteinParams:
    """The Holstein parameters a dataset was labelled with (its ``physics`` attribute, or the
    parameters in its ``config``)."""
    try:
        config = json.loads(dataset.attributes.get("physics") or dataset.attributes["config"])
        names = [a.name for a in attrs.fields(HolsteinParams)]
        return HolsteinParams(**{name: config[name] for name in names})
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"the dataset does not record its Holstein parameters ({exc})") from None


def electrons_of(dataset: io.Dataset) -> ElectronEnsemble | None:
    """The electrons a dataset was labelled with (temperature, and the chemical potential or
    the filling, from its ``config``), or None if it does not record them."""
    try:
        config = json.loads(dataset.attributes["config"])
        mu = config.get("mu")
        if mu is not None:
            return ElectronEnsemble(float(config["temperature"]), filling=None, mu=float(mu))
        return ElectronEnsemble(float(config["temperature"]), filling=float(config["filling"]))
    except (KeyError, TypeError, ValueError, json.JSONDecodeError):
        return None


def save_model(
    path: str | os.PathLike[str],
    weights: Weights,
    physics: HolsteinParams,
    target: str,
    metadata: Mapping[str, Any] | None = None,
    *,
    ensemble: ElectronEnsemble | None = None,
) -> None:
    """Write a trained network with its architecture, target and the physics it learned
    (Holstein parameters and, if given, the electrons' temperature and filling or ``mu``).

    The file holds only tensors, strings and numbers, so :func:`load_model` can read it
    with ``torch.load(..., weights_only=True)``; it is written atomically.
    """
    payload = {
        "format": MODEL_FORMAT,
        "architecture": io.architecture_to_json(weights.architecture),
        "physics": physics_json(physics),
        "target": target,
        "ensemble": json.dumps(None if ensemble is None else attrs.asdict(ensemble)),
        "metadata": json.dumps(dict(metadata or {}), sort_keys=True, default=str),
        "code_version": fast.__version__,
        "weights": {k: torch.as_tensor(v) for k, v in weights.arrays.items()},
    }
    atomic_write(Path(path), lambda p: torch.save(payload, p))


@attrs.frozen(eq=False)
class TrainedModel:
    """A network loaded by :func:`load_model`: weights, physics, target and metadata."""

    weights: Weights
    physics: HolsteinParams
    target: str
    metadata: dict[str, Any]
    ensemble: ElectronEnsemble | None = None

    def force_field(
        self,
        lattice: SquareLattice,
        *,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
        time: float | None = None,
    ) -> MLForceField:
        """The model as the force provider of any integrator on ``lattice``; a
        time-conditioned network (paper 000) needs the start ``time`` and then follows the
        integrator's clock."""
        return MLForceField(self.network(dtype=dtype, device=device), lattice, self, time)

    def network(
        self, *, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"
    ) -> nn.Network:
        """The weights as a :class:`fast.nn.Network` on ``device``."""
        return nn.Network.from_weights(self.weights, dtype=dtype, device=device)


def load_model(
    path: str | os.PathLike[str],
    *,
    architecture: Architecture | None = None,
    physics: HolsteinParams | None = None,
    ensemble: ElectronEnsemble | None = None,
) -> TrainedModel:
    """Read a model written by :func:`save_model` (``weights_only`` loading).

    Parameters
    ----------
    path : path-like
    architecture, physics, ensemble : optional
        If given, the file must hold exactly this architecture / these Holstein parameters /
        this electron ensemble (temperature, filling or chemical potential).

    Raises
    ------
    ValueError
        If the file is not a model of this package or does not match ``architecture`` or
        ``physics``.
    """
    p = Path(path)
    try:
        saved = torch.load(p, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"model file {str(p)!r} does not exist") from None
    except Exception as exc:
        raise ValueError(f"{str(p)!r} is not a readable model file: {exc}") from None
    if not isinstance(saved, dict) or saved.get("format") != MODEL_FORMAT:
        raise ValueError(f"{str(p)!r} is not a model file of this package")
    arch = io.architecture_from_json(saved["architecture"])
    if architecture is not None and arch != architecture:
        raise ValueError(f"model {str(p)!r} is a {arch}, expected {architecture}")
    params = HolsteinParams(**json.loads(saved["physics"]))
    if physics is not None and params != physics:
        raise ValueError(
            f"model {str(p)!r} was trained for {params}, but the experiment has {physics}"
        )
    arrays = {k: v.numpy().astype(np.float64) for k, v in saved["weights"].items()}
    try:
        weights = Weights(arch, arrays)
    except ValueError as exc:
        raise ValueError(f"model {str(p)!r} is inconsistent: {exc}") from None
    target = saved.get("target")
    if target not in ("electronic", "total"):
        raise ValueError(f"model {str(p)!r} does not say what it learned (target {target!r})")
    stored = json.loads(saved.get("ensemble", "null"))
    electrons = None if stored is None else ElectronEnsemble(**stored)
    if ensemble is not None and electrons is not None and electrons != ensemble:
        raise ValueError(
            f"model {str(p)!r} was trained for {electrons}, but the experiment has {ensemble}"
        )
    return TrainedModel(weights, params, target, json.loads(saved["metadata"]), electrons)


class MLForceField:
    """A trained network driving the dynamics: its forces (tiled on large lattices), plus the
    exact elastic force for a model that learned the electronic part only.

    Forces come back in the dtype of ``Q`` (the integrators keep float64 states; the
    network may run in float32).
    """

    def __init__(
        self,
        network: nn.Network,
        lattice: SquareLattice,
        model: TrainedModel,
        time: float | None = None,
    ) -> None:
        self.lattice = lattice
        self.network = nn.NetworkForceField(network, lattice, time)
        self.target = model.target
        self.holstein = HolsteinModel(lattice, model.physics, ElectronEnsemble(1.0))
        self._model = model

    @property
    def time(self) -> float | None:
        """The time fed to a time-conditioned network (paper 000), else None."""
        return self.network.time

    def at_time(self, time: float) -> MLForceField:
        """A copy at ``time`` (the integrators call it for a time-conditioned network)."""
        network = self.network.weights
        assert isinstance(network, nn.Network)
        return MLForceField(network, self.lattice, self._model, time)

    def forces(self, Q: Tensor) -> Tensor:
        """Predicted total forces, shape ``(..., Lx, Ly)``."""
        f = self.network.forces(Q).to(Q.dtype)
        if self.target == "electronic":
            f = f + elastic_force(Q, self.holstein)
        return f
