"""Force-field training (paper 003 App. B; paper 002 sec. III), resumable to the same weights.

Adam on the mean-square force error, mini-batches of whole configurations, validation on
held-out configurations, learning-rate reduction on plateaus and early stopping with the best
weights kept. :func:`train_network` is the whole procedure; its steps are
:func:`prepare_training` (inputs, targets, split, standardisation), the epoch loop with its
checkpoint (:class:`TrainingState`), and :func:`evaluate` (errors and predictions of the best
weights).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor
from tqdm.auto import tqdm

from fast import nn
from fast.ml.configuration import TrainConfig
from fast.ml.datasets import Dataset, content_hash, electrons_of, physics_of
from fast.ml.models import Architecture, architecture_to_json
from fast.ml.standardise import (
    Scales,
    calibrate_input_scale,
    fit_scales,
    fold_standardisation,
    network_inputs,
    predict,
    standardised_forces,
)
from fast.model import elastic_force
from reference.lattice import SquareLattice
from reference.model import ElectronEnsemble, HolsteinModel
from reference.nn import (
    ENNArchitecture,
    GNNArchitecture,
    MLPArchitecture,
    Weights,
    init_weights,
)
from reference.runio import atomic_write, reading

log = logging.getLogger("fast.ml")

__all__ = [
    "CHECKPOINT_FORMAT",
    "HISTORY_COLUMNS",
    "ErrorStats",
    "TrainConfig",  # (from fast.ml.configuration)
    "TrainResult",
    "TrainingProblem",
    "TrainingState",
    "evaluate",
    "prepare_training",
    "split_by_configuration",
    "train_network",
]


# settings that may change between a checkpoint and its resumption
_RESUMABLE = ("epochs", "patience", "time_limit_minutes", "checkpoint_every")
CHECKPOINT_FORMAT = "holstein-mlff/train-checkpoint/1"


def split_by_configuration(
    n_configurations: int, validation_fraction: float, seed: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Random disjoint training and validation indices of whole configurations.

    Parameters
    ----------
    n_configurations : int
        The number of configurations ``n`` (at least 2).
    validation_fraction : float
        The share held out, in (0, 1).
    seed : int
        Seeds the permutation (with the stream tag 7).

    Returns
    -------
    train : int64 ndarray
        Sorted indices of the training configurations (at least one).
    validation : int64 ndarray
        Sorted indices of the validation configurations: ``round(fraction * n)``, at least
        one.

    Raises
    ------
    ValueError
        If ``n_configurations < 2``.
    """
    if n_configurations < 2:
        raise ValueError(
            f"a dataset needs at least 2 configurations to split, got {n_configurations}"
        )
    n_val = min(max(1, round(validation_fraction * n_configurations)), n_configurations - 1)
    order = np.random.default_rng([seed, 7]).permutation(n_configurations)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


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
        """The statistics of ``predicted - exact`` over all their entries.

        Parameters
        ----------
        predicted : (n, ...) float64
            Model forces; the first axis counts configurations.
        exact : (n, ...) float64
            Exact forces, the shape of ``predicted``.

        Returns
        -------
        ErrorStats
            RMSE, mean absolute error, standard deviation, mean and largest absolute error,
            with ``n`` configurations and the number of entries as sites.
        """
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
        """Errors, stopping information and history as JSON-ready values.

        Returns
        -------
        dict
            ``validation`` and ``train`` (the :class:`ErrorStats` fields), ``best_epoch``,
            ``epochs_run``, ``stopped``, ``training_seconds``, ``threads`` (torch's thread
            count now) and ``history``.
        """
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
        {"config": settings, "architecture": architecture_to_json(arch), "dataset": data_hash,
         "lattice": where},
        sort_keys=True,
        default=list,
    )  # fmt: skip


@attrs.frozen(eq=False)
class TrainingProblem:
    """Everything :func:`train_network` trains on, prepared once by :func:`prepare_training`.

    Attributes
    ----------
    arch : Architecture
        The network to train.
    lattice : SquareLattice
    mask : (Lx, Ly) bool
        The learned and scored sites.
    q : (n, Lx, Ly) float64 tensor, on the CPU
        The configurations.
    x : tensor, on the device
        What the trainable part sees (descriptors of the learned sites, or the field).
    forces : (n, S) tensor, on the device
        The targets at the learned sites (the electronic force for ``target = "electronic"``).
    exact : (n, S) float64
        The exact total forces at the learned sites.
    elastic : (n, Lx, Ly) float64 or 0.0
        The exact elastic force left out of the targets.
    train_idx, val_idx : int64 arrays
        Training and validation configurations.
    scales : Scales
        The standardisation, on the device.
    times : (n,) float64 or None
        Time of every configuration, for a time-conditioned network.
    identity : str
        What a checkpoint of this training must record (:func:`_checkpoint_identity`).
    """

    arch: Architecture
    lattice: SquareLattice
    mask: NDArray[np.bool_]
    q: Tensor
    x: Tensor
    forces: Tensor
    exact: NDArray[np.float64]
    elastic: NDArray[np.float64] | float
    train_idx: NDArray[np.int64]
    val_idx: NDArray[np.int64]
    scales: Scales
    times: NDArray[np.float64] | None
    identity: str

    @property
    def per_site(self) -> bool:
        """Whether the trainable part sees each learned site alone (a descriptor MLP)."""
        return isinstance(self.arch, MLPArchitecture)

    def select(self, y: Tensor) -> Tensor:
        """The learned sites of a network output.

        Parameters
        ----------
        y : torch.Tensor
            Forces of ``n`` configurations: ``(n, S)`` from a descriptor MLP (already the
            learned sites), ``(n, Lx, Ly)`` from any other network.

        Returns
        -------
        (n, S) torch.Tensor
            The forces at the learned sites (``mask``), in the order of the mask.
        """
        return y if self.per_site else y[:, torch.as_tensor(self.mask, device=y.device)]

    def device_times(self, dtype: torch.dtype) -> Tensor | None:
        """:attr:`times` as a tensor on the device of :attr:`x`, or None.

        Parameters
        ----------
        dtype : torch.dtype
            The tensor's dtype (the training precision, or float64 to evaluate).

        Returns
        -------
        (n,) torch.Tensor or None
            None when the network is not time-conditioned.
        """
        return None if self.times is None else torch.as_tensor(self.times, dtype=dtype,
                                                               device=self.x.device)  # fmt: skip


def prepare_training(
    config: TrainConfig,
    dataset: Dataset,
    device: torch.device,
    lattice: SquareLattice | None = None,
    sites: NDArray[np.bool_] | None = None,
    times: NDArray[np.float64] | None = None,
) -> TrainingProblem:
    """Check the inputs of :func:`train_network` and prepare its inputs, targets, split and
    standardisation.

    Parameters
    ----------
    config : TrainConfig
        The training settings.
    dataset : Dataset
        Configurations and exact forces ``(n, Lx, Ly)``, recording their Holstein parameters.
    device : torch.device
        Where the network trains (inputs, targets and scales go there).
    lattice : SquareLattice, optional
        The lattice of the configurations; None (default): periodic, of their shape.
    sites : (Lx, Ly) bool, optional
        The learned and scored sites; None (default): all.
    times : (n,) float64, optional
        The time (> 0) of every configuration, exactly for a time-conditioned network.

    Returns
    -------
    TrainingProblem
        Inputs and targets on ``device``, the split, the standardisation and the
        checkpoint identity.

    Raises
    ------
    ValueError
        If the lattice does not match the dataset, ``times`` is given for a network without
        a time channel (or missing for one, or not positive), or ``sites`` is not a boolean
        array of the lattice's shape selecting some site.
    """
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
        dataset.attributes.get("content_hash", content_hash({"Q": dataset.Q, "F": dataset.F}))
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
    forces = torch.as_tensor((dataset.F - elastic)[:, mask], dtype=dtype)
    x = network_inputs(arch, q, lattice).to(dtype)
    if isinstance(arch, MLPArchitecture):  # each site alone: only the learned sites' inputs
        x = x[:, torch.as_tensor(mask)]
    scales = fit_scales(arch, x[train_idx], forces[train_idx], config.standardise, dtype)
    if t_all is not None:
        scales = attrs.evolve(scales, time_scale=float(np.mean(1.0 / t_all[train_idx])))
    return TrainingProblem(
        arch=arch, lattice=lattice, mask=mask, q=q, x=x.to(device), forces=forces.to(device),
        exact=dataset.F[:, mask], elastic=elastic, train_idx=train_idx, val_idx=val_idx,
        scales=scales.to(device), times=t_all, identity=identity,
    )  # fmt: skip


@attrs.define(eq=False)
class TrainingState:
    """The training loop's progress: what a checkpoint saves and a resumption restores."""

    network: nn.Network
    optimiser: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau
    generator: torch.Generator
    best_state: dict[str, Tensor]
    history: list[dict[str, float]] = attrs.field(factory=list)
    best_val: float = math.inf
    best_epoch: int = 0
    epoch: int = 0
    elapsed: float = 0.0

    def stop_reason(self, config: TrainConfig) -> str | None:
        """Why training ends now.

        Parameters
        ----------
        config : TrainConfig
            Gives ``patience``, ``time_limit_minutes`` and ``epochs``.

        Returns
        -------
        str or None
            ``"early stopping"``, ``"time limit"`` or ``"epochs"``; None while training goes
            on.
        """
        if self.epoch - self.best_epoch >= config.patience and self.best_epoch > 0:
            return "early stopping"
        if config.time_limit_minutes and self.elapsed >= 60 * config.time_limit_minutes:
            return "time limit"
        if self.epoch >= config.epochs:
            return "epochs"
        return None

    def save(self, path: Path, identity: str) -> None:
        """Write the checkpoint atomically (tensors, numbers and strings only).

        Parameters
        ----------
        path : Path
            The checkpoint file (its folder is created).
        identity : str
            What the training is (:attr:`TrainingProblem.identity`); :meth:`restore` checks it.
        """
        payload = {
            "format": CHECKPOINT_FORMAT,
            "identity": identity,
            "network": self.network.state_dict(),
            "optimiser": self.optimiser.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "best_network": self.best_state,
            "best_val": self.best_val,
            "best_epoch": self.best_epoch,
            "epoch": self.epoch,
            "seconds": self.elapsed,
            "history": self.history,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda p: torch.save(payload, p))

    def restore(self, path: Path, identity: str, device: torch.device) -> None:
        """Continue from the checkpoint at ``path``, which must have ``identity``.

        Parameters
        ----------
        path : Path
            A checkpoint written by :meth:`save`.
        identity : str
            The training's :attr:`TrainingProblem.identity`.
        device : torch.device
            Where the restored tensors go.

        Raises
        ------
        ValueError
            If the checkpoint cannot be read or belongs to another network, training
            configuration or dataset.
        """
        with reading(path, "training checkpoint", "delete it to train from the start"):
            saved = torch.load(path, map_location=device, weights_only=True)
            if not isinstance(saved, dict):
                raise TypeError(f"expected a dict, got {type(saved).__name__}")
            if saved.get("format") != CHECKPOINT_FORMAT or saved.get("identity") != identity:
                raise ValueError(
                    f"checkpoint {str(path)!r} belongs to another network, training "
                    "configuration or dataset; delete it or use another output folder"
                )
            self.network.load_state_dict(saved["network"])
            self.optimiser.load_state_dict(saved["optimiser"])
            self.scheduler.load_state_dict(saved["scheduler"])
            self.generator.set_state(saved["generator"])
            self.best_state = saved["best_network"]
            self.best_val, self.best_epoch = float(saved["best_val"]), int(saved["best_epoch"])
            self.epoch, self.elapsed = int(saved["epoch"]), float(saved["seconds"])
            self.history = [dict(h) for h in saved["history"]]


def _start(config: TrainConfig, problem: TrainingProblem, device: torch.device) -> TrainingState:
    """The initial network (and, for the ENN, the calibrated input scale), optimiser,
    scheduler and batch-order generator."""
    scheme: Any = config.init_scheme(problem.arch)
    initial = init_weights(problem.arch, np.random.default_rng(config.seed), scheme)
    network = nn.Network(problem.arch, initial, dtype=config.torch_dtype, device=device)
    optimiser = torch.optim.Adam(network.parameters(), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimiser, factor=config.lr_factor, patience=config.lr_patience,
        min_lr=config.min_learning_rate,
    )  # fmt: skip
    generator = torch.Generator()
    generator.manual_seed(config.seed)
    best = {k: v.detach().clone() for k, v in network.state_dict().items()}
    return TrainingState(network, optimiser, scheduler, generator, best)


def _epoch(config: TrainConfig, problem: TrainingProblem, state: TrainingState) -> None:
    """One pass over the training configurations, then validation, the learning-rate
    schedule and the record of the best weights."""
    start = time.perf_counter()
    network, scales, dev = state.network, problem.scales, problem.x.device
    times = problem.device_times(config.torch_dtype)
    n_train = len(problem.train_idx)
    train_t = torch.as_tensor(problem.train_idx, device=dev)
    order = train_t[torch.randperm(n_train, generator=state.generator).to(dev)]
    total = torch.zeros((), dtype=torch.float64, device=dev)
    network.train()
    for i in range(0, n_train, config.batch_size):
        batch = order[i : i + config.batch_size]
        tb = None if times is None else times[batch]
        predicted = problem.select(
            standardised_forces(network, problem.x[batch], problem.lattice, scales, tb)
        )
        loss = torch.mean(((predicted - problem.forces[batch]) / scales.out_scale) ** 2)
        state.optimiser.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        if config.clip_gradient:
            torch.nn.utils.clip_grad_norm_(network.parameters(), config.clip_gradient)
        state.optimiser.step()
        total += loss.detach().double() * len(batch)
    network.eval()
    val = problem.val_idx
    val_pred = problem.select(
        predict(
            network, problem.x[val], problem.lattice, scales, max(config.batch_size, 8),
            None if times is None else times[val],
        )
    )  # fmt: skip
    val_mse = float(torch.mean((val_pred - problem.forces[val]) ** 2))
    state.scheduler.step(val_mse)
    state.epoch += 1
    state.elapsed += time.perf_counter() - start
    state.history.append({
        "epoch": state.epoch,
        "train_rmse": math.sqrt(float(total) / n_train) * float(scales.out_scale),
        "val_rmse": math.sqrt(val_mse),
        "learning_rate": float(state.optimiser.param_groups[0]["lr"]),
        "seconds": state.elapsed,
    })  # fmt: skip
    if val_mse < state.best_val * (1 - 1e-4):
        state.best_val, state.best_epoch = val_mse, state.epoch
        state.best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}


HISTORY_COLUMNS = ("epoch", "train_rmse", "val_rmse", "learning_rate", "seconds")
"""The columns of a training history file (``train_network(history_file=...)``)."""


class _HistoryFile:
    """The CSV history of a training run: rewritten at the start to the epochs the state
    holds (a resume drops what came after the checkpoint), then appended epoch by epoch."""

    def __init__(self, path: Path, history: list[dict[str, float]]) -> None:
        self.path = path
        lines = [",".join(HISTORY_COLUMNS)] + [self._row(h) for h in history]
        text = "\n".join(lines) + "\n"
        atomic_write(path, lambda p: p.write_text(text))

    @staticmethod
    def _row(entry: dict[str, float]) -> str:
        return ",".join(format(entry[c], ".10g") for c in HISTORY_COLUMNS)

    def append(self, entry: dict[str, float]) -> None:
        with open(self.path, "a") as fh:
            fh.write(self._row(entry) + "\n")


def _fit(
    config: TrainConfig,
    problem: TrainingProblem,
    state: TrainingState,
    path: Path,
    progress: bool,
    on_epoch: Callable[[int], Any] | None,
    rows: _HistoryFile | None = None,
) -> str:
    """Run epochs until a stop reason holds, checkpointing as configured; return the reason.
    Each epoch is logged (``fast.ml`` at DEBUG) and appended to ``rows``."""
    bar = tqdm(total=config.epochs, initial=state.epoch, desc="training", unit="epoch",
               disable=not progress)  # fmt: skip
    while (stopped := state.stop_reason(config)) is None:
        _epoch(config, problem, state)
        bar.update(1)
        last = state.history[-1]
        bar.set_postfix(val_rmse=f"{last['val_rmse']:.2e}")
        log.debug("epoch %d: training RMSE %.4g, held-out RMSE %.4g, learning rate %.3g, %.1f s",
                  last["epoch"], last["train_rmse"], last["val_rmse"], last["learning_rate"],
                  last["seconds"])  # fmt: skip
        if rows is not None:
            rows.append(last)
        if state.epoch % config.checkpoint_every == 0 or state.stop_reason(config) is not None:
            state.save(path, problem.identity)
        if on_epoch is not None:
            on_epoch(state.epoch)
    bar.close()
    return stopped


def evaluate(
    weights: Weights, problem: TrainingProblem, dataset: Dataset, whole_lattice: bool
) -> tuple[ErrorStats, ErrorStats, dict[str, NDArray[np.float64]]]:
    """Errors of the float64 ``weights`` on the training and validation configurations and
    the predictions for parity plots. Errors are on the total force (the exact elastic part
    adds none).

    Parameters
    ----------
    weights : Weights
        The trained network, standardisation folded in.
    problem : TrainingProblem
        The prepared training (inputs, split, learned sites).
    dataset : Dataset
        The training set (its total forces ``F`` when ``whole_lattice``).
    whole_lattice : bool
        True: the arrays keep the lattice shape ``(Lx, Ly)`` (all sites learned); False:
        they hold the learned sites, ``(S,)`` per configuration.

    Returns
    -------
    train, validation : ErrorStats
        The errors on the two sets.
    predictions : dict of str to float64 ndarray
        ``val_exact``, ``val_ml``, ``train_exact`` and ``train_ml`` (at most 64 training
        configurations).
    """
    dev = problem.x.device
    final = nn.Network.from_weights(weights, dtype=torch.float64, device=dev)
    final.eval()
    x64 = problem.x.double() if problem.per_site else problem.q.to(dev)
    zero, one = (torch.tensor(v, dtype=torch.float64, device=dev) for v in (0.0, 1.0))
    unit = Scales(zero, one, zero, one)
    train_idx, val_idx = problem.train_idx, problem.val_idx
    shown = train_idx[:: max(1, len(train_idx) // 64)][:64]
    elastic = problem.elastic
    elastic_sel = elastic[:, problem.mask] if isinstance(elastic, np.ndarray) else 0.0
    t64 = problem.device_times(torch.float64)
    full = problem.select(predict(final, x64, problem.lattice, unit, 8, t64)).cpu().numpy()
    full = full + elastic_sel
    exact = problem.exact
    if whole_lattice:
        full, exact = full.reshape(dataset.F.shape), dataset.F
    predictions = {
        "val_exact": exact[val_idx],
        "val_ml": full[val_idx],
        "train_exact": exact[shown],
        "train_ml": full[shown],
    }
    train = ErrorStats.of(full[train_idx], exact[train_idx])
    validation = ErrorStats.of(predictions["val_ml"], predictions["val_exact"])
    return train, validation, predictions


def train_network(
    config: TrainConfig,
    dataset: Dataset,
    checkpoint: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    progress: bool = True,
    on_epoch: Callable[[int], Any] | None = None,
    lattice: SquareLattice | None = None,
    sites: NDArray[np.bool_] | None = None,
    times: NDArray[np.float64] | None = None,
    history_file: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Train ``config.network`` on the exact forces of ``dataset``.

    Adam on the mean-square force error, mini-batches of whole configurations,
    validation on held-out configurations, learning-rate reduction on plateaus and early
    stopping with the best weights kept (paper 003 App. B; paper 002 sec. III).

    Parameters
    ----------
    config : TrainConfig
        The network and training settings.
    dataset : Dataset
        Configurations ``Q`` and exact forces ``F`` of shape ``(n, Lx, Ly)``; its
        ``config`` attribute gives the Holstein parameters
        (:func:`fast.ml.datasets.physics_of`).
    checkpoint : path-like
        Written (atomically) every ``config.checkpoint_every`` epochs with the weights,
        optimiser, scheduler and generator state; if it exists, training resumes from it and
        ends with the same weights as an uninterrupted run. Load it only with
        ``torch.load(..., weights_only=True)``.
    device : str or torch.device
        Where the network trains (default ``"cpu"``).
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
    history_file : path-like, optional
        A CSV file that gets one row per epoch as it ends (epoch, training and held-out
        RMSE, learning rate, seconds); on a resume, rows of epochs after the checkpoint
        are dropped first, so the file always matches the history.

    Returns
    -------
    TrainResult
        The best weights, history, errors and predictions.

    Raises
    ------
    ValueError
        If the checkpoint belongs to another architecture, configuration or dataset.
    """
    dev = torch.device(device)
    problem = prepare_training(config, dataset, dev, lattice, sites, times)
    state = _start(config, problem, dev)
    if isinstance(problem.arch, ENNArchitecture) and config.standardise:
        scales = calibrate_input_scale(
            state.network, problem.x[problem.train_idx[:4]], problem.lattice, problem.scales
        )
        problem = attrs.evolve(problem, scales=scales)
    path = Path(checkpoint)
    if path.exists():
        state.restore(path, problem.identity, dev)
    rows = None if history_file is None else _HistoryFile(Path(history_file), state.history)
    stopped = _fit(config, problem, state, path, progress, on_epoch, rows)
    state.network.load_state_dict(state.best_state)
    weights = fold_standardisation(state.network, problem.scales)
    train, validation, predictions = evaluate(weights, problem, dataset, sites is None)
    return TrainResult(
        weights=weights,
        history=state.history,
        train=train,
        validation=validation,
        predictions=predictions,
        best_epoch=state.best_epoch,
        stopped=stopped,
        seconds=state.elapsed,
    )
