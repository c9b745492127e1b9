"""What every workflow that trains a network shares: the model-file checks and the train stage.

The quench, voltage and laser workflows all label exact data, train a network on it and drive
dynamics with the trained model. :class:`TrainedWorkflow` holds their common settings logic
(the experiment's seed seeds every stage; the network ``[train]`` describes; what a model file
in the run folder must hold) and :func:`train_stage` their common ``train`` stage.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs
import h5py
import numpy as np
import torch
from numpy.typing import NDArray

from fast.dynamics import Integrator
from fast.ml.datasets import Dataset, load_dataset
from fast.ml.models import Architecture, architecture_to_json, load_model, save_model
from fast.ml.provenance import on_device
from fast.ml.training import TrainConfig, train_network
from fast.runs.runner import MemoryNeed, Stage, fingerprint
from fast.runs.trajectories import StoredTrajectory, load_trajectory, run_dynamics
from fast.runs.units import UNITS_FOLDER, Unit, run_units
from reference import runio
from reference.lattice import SquareLattice

__all__ = [
    "CHECKPOINT_FILE",
    "DATASET_FILE",
    "HISTORY_FILE",
    "MODEL_FILE",
    "TRAIN_OUTPUTS",
    "IntegratorFactory",
    "TrainedWorkflow",
    "ensemble_run",
    "run_block",
    "simulation_run",
    "train_stage",
]

log = logging.getLogger("fast.runs")

DATASET_FILE = "dataset.h5"
"""The training set of a workflow whose ``dataset`` stage writes one (quench, voltage)."""
MODEL_FILE = "model.pt"
CHECKPOINT_FILE = "train_checkpoint.pt"
HISTORY_FILE = "training.csv"
"""The training history, a row per epoch, written as the epochs end."""
TRAIN_OUTPUTS = (MODEL_FILE, "training.json", "predictions.h5", CHECKPOINT_FILE, HISTORY_FILE)
"""What the train stage writes (its checkpoint included)."""


class TrainedWorkflow:
    """Settings logic shared by the workflows that train a network.

    A subclass is a frozen attrs class with ``name``, ``kind``, ``seed``, ``physics`` (with
    ``params()``) and ``train`` (:class:`fast.ml.training.TrainConfig`) sections, and sets
    ``STAGES``.
    """

    STAGES: ClassVar[tuple[Stage, ...]]
    name: str
    kind: str
    seed: int
    train: TrainConfig
    physics: Any

    def check_seeds(self) -> None:
        """The seed is set once, in ``[experiment]``, and seeds every stage."""
        if self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        if self.train.seed != 0:
            raise ValueError("set the seed in [experiment] (it seeds every stage), not in [train]")

    def memory_estimate(self) -> dict[str, MemoryNeed]:
        """The peak memory of each stage; each workflow gives its own.

        Returns
        -------
        dict of str to MemoryNeed
            By stage name (:meth:`fast.runs.runner.Workflow.memory_estimate`).
        """
        raise NotImplementedError

    def campaign_summary(self, entries: Sequence[Any], folder: Path) -> str:
        """A campaign's section on this workflow's points; each workflow gives its own.

        Parameters
        ----------
        entries : sequence of fast.runs.report.CampaignEntry
            One per point of the campaign of this workflow.
        folder : Path
            The campaign folder; figures go to ``folder / "figures"``.

        Returns
        -------
        str
            Markdown (:meth:`fast.runs.runner.Workflow.campaign_summary`).
        """
        raise NotImplementedError

    def _check_dataset(self, path: Path) -> str | None:
        """The content hash of the dataset at ``path``, after checking that it was generated
        with this experiment's settings; None without such a file (or a workflow whose
        training data is no dataset file)."""
        config = getattr(self, "dataset_config", None)
        if config is None or not path.exists():
            return None
        with runio.reading(path, "dataset", "delete it to generate it again"):
            with h5py.File(path, "r") as fh:
                stored, digest = fh.attrs.get("config"), fh.attrs.get("content_hash")
            stored = stored.decode() if isinstance(stored, bytes) else stored
        expected = json.dumps(runio.to_jsonable(attrs.asdict(config())), sort_keys=True)
        if stored != expected:
            raise ValueError(
                f"{str(path)!r} was generated with other settings than this experiment's "
                "(its physics, dynamics, dataset sections or seed); delete it (the dataset "
                "stage reruns) or use a new --out"
            )
        return None if digest is None else str(digest)

    def check_kind(self, kind: str) -> None:
        """``[experiment] kind`` names this workflow.

        Parameters
        ----------
        kind : str
            The workflow's key in :data:`fast.runs.registry.WORKFLOWS`.

        Raises
        ------
        ValueError
            If :attr:`kind` is another.
        """
        if self.kind != kind:
            raise ValueError(f"kind must be {kind!r} for this class, got {self.kind!r}")

    def fingerprint(self, stage: str) -> str:
        """SHA-256 of the settings ``stage`` depends on (:func:`fast.runs.runner.fingerprint`).

        Parameters
        ----------
        stage : str
            The name of one of the workflow's stages.

        Returns
        -------
        str
            Hexadecimal digest.
        """
        return fingerprint(self, stage)

    def summary(self, metrics: Mapping[str, Any]) -> str:
        """One line about the finished run: the held-out force error and the workflow's own
        headline (:meth:`headline`).

        Parameters
        ----------
        metrics : mapping
            The run's ``metrics.json`` (with ``force_error_held_out.std``).

        Returns
        -------
        str
            ``"report.md written: held-out force error std ..., <headline>"``.
        """
        error = metrics["force_error_held_out"]["std"]
        return f"report.md written: held-out force error std {error:.3g}, {self.headline(metrics)}"

    def derived(self) -> dict[str, Any]:
        """Derived quantities recorded in ``experiment.json`` (none unless a workflow says).

        Returns
        -------
        dict
            Empty here.
        """
        return {}

    def headline(self, metrics: Mapping[str, Any]) -> str:
        """The workflow's headline result in ``metrics``.

        Parameters
        ----------
        metrics : mapping
            The run's ``metrics.json``.

        Returns
        -------
        str
            A short phrase for :meth:`summary`.
        """
        raise NotImplementedError

    def train_config(self) -> TrainConfig:
        """``[train]`` with the experiment's seed.

        Returns
        -------
        TrainConfig
            The ``[train]`` section with ``seed`` set to ``[experiment] seed``.
        """
        return attrs.evolve(self.train, seed=self.seed)

    def architecture(self) -> Architecture:
        """The network ``[train]`` describes. The ``"levels"`` head needs equilibrium labels at
        a fixed chemical potential, which only the quench workflow (which overrides this) has.

        Returns
        -------
        Architecture
            The network of ``[train]`` with the ``"force"`` head.

        Raises
        ------
        ValueError
            If ``[train] head`` is not ``"force"``.
        """
        if self.train.head != "force":
            raise ValueError(
                f"[train] head = {self.train.head!r} needs equilibrium labels at a fixed "
                "chemical potential: it applies to quench experiments only"
            )
        return self.train.architecture()

    def model_checks(self) -> dict[str, Any]:
        """What a model file in the run folder must hold (:func:`fast.ml.models.load_model`).

        Returns
        -------
        dict
            Keyword arguments of :func:`fast.ml.models.load_model`: ``architecture`` and
            ``physics`` (and, in workflows that record them, ``ensemble``).
        """
        return {"architecture": self.architecture(), "physics": self.physics.params()}

    def check_folder(self, folder: Path, redone: Sequence[str]) -> None:
        """The files in ``folder`` must belong to this experiment (unless their stage is
        about to be redone): a dataset made with this experiment's settings, a model file of
        this network and physics trained on that dataset, a training checkpoint of this
        network.

        Parameters
        ----------
        folder : Path
            The run folder.
        redone : sequence of str
            Names of the stages about to be redone: their files do not count.

        Raises
        ------
        ValueError
            Naming the file that belongs to another experiment and what to do.
        """
        dataset_hash = None
        if "dataset" not in redone:
            dataset_hash = self._check_dataset(folder / DATASET_FILE)
        if "train" in redone:
            return
        model_file = folder / MODEL_FILE
        if model_file.exists():
            trained_on = load_model(model_file, **self.model_checks()).metadata.get("dataset_hash")
            if dataset_hash is not None and trained_on not in (None, dataset_hash):
                raise ValueError(
                    f"{str(model_file)!r} was trained on another dataset than "
                    f"{str(folder / DATASET_FILE)!r}; delete it (the train stage reruns) or "
                    "use a new --out"
                )
        checkpoint = folder / CHECKPOINT_FILE
        if not checkpoint.exists():
            return
        try:
            saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
            architecture = json.loads(saved["identity"])["architecture"]
        except Exception as exc:
            raise ValueError(f"{str(checkpoint)!r} is not a training checkpoint: {exc}") from None
        if architecture != architecture_to_json(self.architecture()):
            raise ValueError(
                f"{str(checkpoint)!r} is a checkpoint of another network; use a new --out"
            )


def train_stage(
    experiment: TrainedWorkflow,
    folder: Path,
    device: torch.device,
    progress: bool,
    *,
    lattice: SquareLattice | None = None,
    sites: NDArray[np.bool_] | None = None,
    data: Dataset | None = None,
    times: NDArray[np.float64] | None = None,
) -> None:
    """Train on ``data`` (default: ``dataset.h5``) into ``model.pt``, ``training.json`` and
    ``predictions.h5``.

    Parameters
    ----------
    experiment : TrainedWorkflow
        The experiment (its ``[train]`` section, seed and model checks).
    folder : Path
        The run folder; the checkpoint and the history ``training.csv`` go there too.
    device : torch.device
        Where the network trains.
    progress : bool
        Show a progress bar over epochs.
    lattice : SquareLattice, optional
        The configurations' lattice, as in :func:`fast.ml.training.train_network`.
    sites : (Lx, Ly) bool, optional
        The learned sites, as there.
    data : Dataset, optional
        The training set; None (default): ``<folder>/dataset.h5``.
    times : (n,) float64, optional
        The configurations' times for a time-conditioned network, as there.
    """
    data = load_dataset(folder / DATASET_FILE) if data is None else data
    config = experiment.train_config()
    result = train_network(
        config, data, folder / CHECKPOINT_FILE, device=device, progress=progress,
        lattice=lattice, sites=sites, times=times, history_file=folder / HISTORY_FILE,
    )  # fmt: skip
    checks = experiment.model_checks()
    summary = {
        "network": config.network,
        "architecture": repr(result.weights.architecture),
        "parameters": sum(v.size for v in result.weights.arrays.values()),
        "target": config.target,
        "device": str(device),
        **result.summary(),
    }
    runio.write_hdf5(folder / "predictions.h5", result.predictions, config)
    runio.write_json(folder / "training.json", summary)
    save_model(
        folder / MODEL_FILE,
        result.weights,
        checks["physics"],
        config.target,
        {"experiment": experiment.name, "validation_std": result.validation.std,
         "dataset_hash": data.attributes.get("content_hash"), "trained_sites": int(
             result.predictions["val_exact"][0].size)},
        ensemble=checks.get("ensemble"),
    )  # fmt: skip
    log.info(
        "train: %s, held-out force error std %.4g (RMSE %.4g) after %d epochs, %.0f s",
        config.network, result.validation.std, result.validation.rmse, len(result.history),
        result.seconds,
    )  # fmt: skip


def _identity(
    experiment: TrainedWorkflow, name: str, stream: int, model_hash: str, **extra: int
) -> str:
    """A run's identity: the ``simulate`` fingerprint, its name, noise stream and model."""
    return json.dumps({"fingerprint": fingerprint(experiment, "simulate"), "run": name,
                       "stream": stream, "model": model_hash} | extra)  # fmt: skip


def simulation_run(
    experiment: TrainedWorkflow,
    folder: Path,
    name: str,
    integrator: Integrator,
    *start: torch.Tensor,
    steps: int,
    stream: int,
    record_every: int,
    checkpoint_every: int,
    device: torch.device,
    progress: bool,
    model_hash: str = "",
    frame_dtype: str = "float64",
    t0: float = 0.0,
    block: int | None = None,
) -> StoredTrajectory:
    """One run of the ``simulate`` stage into ``<folder>/<name>.h5``, resumably.

    The run starts from ``integrator.init(*start, t0=t0)``; its noise comes from the
    experiment's seed and ``stream`` (runs that share a stream share their noise, so an
    exact and an ML run see the same kicks), and ``block``, the index of a block of members
    run as a unit of its own (:func:`ensemble_run`). The run's identity holds the
    ``simulate`` fingerprint, the name, the stream, the block and, for ML runs, the model's
    content hash, so a trajectory of other settings or another model is never taken for
    this one.

    Parameters
    ----------
    experiment : TrainedWorkflow
        The experiment (its seed and ``simulate`` fingerprint).
    folder : Path
        Where the run's file goes.
    name : str
        The run's name (its file is ``<name>.h5``).
    integrator : Integrator
        The dynamics (exact or ML forces).
    *start : torch.Tensor
        The initial state's tensors for ``integrator.init``, e.g. ``Q`` and ``P``
        ``(ensemble, Lx, Ly)`` on ``device``.
    steps : int
        Steps to run.
    stream : int
        The noise stream (with the experiment's seed).
    record_every : int
        Steps between recorded frames.
    checkpoint_every : int
        Steps between checkpoints (a multiple of ``record_every``).
    device : torch.device
        Where the run computes (and its generator lives).
    progress : bool
        Show a progress bar.
    model_hash : str
        The driving model's content hash; empty (default) for exact runs.
    frame_dtype : {"float64", "float32"}
        Precision of the stored frames (default float64).
    t0 : float
        The start time (default 0).
    block : int, optional
        The index of the block of members this run is (:func:`ensemble_run`); None
        (default): the whole ensemble.

    Returns
    -------
    StoredTrajectory
        The finished run read back from ``<folder>/<name>.h5``.
    """
    gen = torch.Generator(device=device)
    entropy = [experiment.seed, stream, 1] + ([] if block is None else [block])
    gen.manual_seed(int(np.random.default_rng(entropy).integers(2**62)))
    identity = _identity(experiment, name, stream, model_hash,
                         **({} if block is None else {"block": block}))  # fmt: skip
    return run_dynamics(
        integrator, integrator.init(*start, rng=gen, t0=t0), steps, folder / f"{name}.h5",
        identity=identity, record_every=record_every, checkpoint_every=checkpoint_every,
        progress=progress, description=name, frame_dtype=frame_dtype,
    )  # fmt: skip


IntegratorFactory = Callable[[torch.device], Integrator]
"""Builds a run's integrator on a device; picklable (a :func:`functools.partial` of a
module-level function), so that a unit on another machine builds its own."""


def ensemble_run(
    experiment: TrainedWorkflow,
    folder: Path,
    name: str,
    make_integrator: IntegratorFactory,
    q0: torch.Tensor,
    p0: torch.Tensor,
    *,
    members_per_unit: int,
    steps: int,
    stream: int,
    record_every: int,
    checkpoint_every: int,
    device: torch.device,
    progress: bool,
    model_hash: str = "",
    frame_dtype: str = "float64",
) -> StoredTrajectory:
    """An ensemble of Langevin runs (members along the first axis of ``q0``, ``p0``) into
    ``<folder>/<name>.h5``, as one run or as units of ``members_per_unit`` members each.

    ``members_per_unit = 0`` (or at least the ensemble) is one run
    (:func:`simulation_run`). Otherwise block ``b`` (members ``b m`` to ``(b + 1) m - 1``)
    is a :class:`fast.runs.units.Unit` that runs in ``<folder>/units/<name>/block-<b>/``
    under that folder's lock, with its own noise stream (the experiment's seed, ``stream``
    and ``b``); the units run where :func:`fast.runs.units.run_units` sends them, and their
    frames are joined along the member axis into ``<name>.h5``. The initial states are
    those of the whole ensemble, so only the noise depends on ``members_per_unit`` (it is
    a setting, part of the stage's fingerprint), never on where or in which order the
    units ran.

    Parameters
    ----------
    experiment : TrainedWorkflow
        The experiment (its seed and ``simulate`` fingerprint).
    folder : Path
        The run folder.
    name : str
        The run's name (its file is ``<name>.h5``).
    make_integrator : IntegratorFactory
        Builds the dynamics on a device (picklable, for units on other machines).
    q0, p0 : (ensemble, Lx, Ly) torch.Tensor
        The members' initial distortions and momenta.
    members_per_unit : int
        Members per unit (``m`` above); 0: one run.
    steps : int
        Steps to run.
    stream : int
        The noise stream (with the experiment's seed).
    record_every : int
        Steps between recorded frames.
    checkpoint_every : int
        Steps between checkpoints (a multiple of ``record_every``).
    device : torch.device
        Where the run (or each unit) computes.
    progress : bool
        Show a progress bar (a single run only; units show none).
    model_hash : str
        The driving model's content hash; empty (default) for exact runs.
    frame_dtype : {"float64", "float32"}
        Precision of the stored frames (default float64).

    Returns
    -------
    StoredTrajectory
        The whole ensemble's frames, ``Q`` and ``forces`` ``(frames, ensemble, Lx, Ly)``.

    Raises
    ------
    ValueError
        If ``<name>.h5`` holds another run.
    """
    ensemble = int(q0.shape[0])
    common: dict[str, Any] = dict(
        steps=steps, stream=stream, record_every=record_every,
        checkpoint_every=checkpoint_every, model_hash=model_hash, frame_dtype=frame_dtype,
    )  # fmt: skip
    if members_per_unit == 0 or members_per_unit >= ensemble:
        return simulation_run(experiment, folder, name, make_integrator(device), q0, p0,
                              device=device, progress=progress, **common)  # fmt: skip
    final = folder / f"{name}.h5"
    identity = _identity(experiment, name, stream, model_hash, members_per_unit=members_per_unit)
    if final.exists():
        stored = load_trajectory(final)
        if stored.attributes.get("identity") != identity:
            raise ValueError(f"{str(final)!r} holds another run; use another output folder")
        return stored
    m, where = members_per_unit, (folder / UNITS_FOLDER / name).resolve()
    units = []
    for b, s in enumerate(range(0, ensemble, m)):
        args = (experiment, str(folder), name, make_integrator, q0[s : s + m].cpu(),
                p0[s : s + m].cpu(), b, common, str(device))  # fmt: skip
        units.append(Unit(f"{where}/block-{b:03d}", run_block, args))
    log.info("%s: %d members as %d units", name, ensemble, len(units))
    run_units(units)
    blocks = [_block_folder(folder, name, b) / f"{name}.h5" for b in range(len(units))]
    _join_blocks(final, blocks, identity)
    shutil.rmtree(folder / UNITS_FOLDER / name)
    with contextlib.suppress(OSError):  # other runs' units may still be there
        (folder / UNITS_FOLDER).rmdir()
    return load_trajectory(final)


def _block_folder(folder: Path, name: str, block: int) -> Path:
    return folder / UNITS_FOLDER / name / f"block-{block:03d}"


def run_block(
    experiment: TrainedWorkflow,
    folder: str,
    name: str,
    make_integrator: IntegratorFactory,
    q0: torch.Tensor,
    p0: torch.Tensor,
    block: int,
    common: Mapping[str, Any],
    device: str,
) -> float:
    """One unit of :func:`ensemble_run` (what a worker executes): runs or resumes block
    ``block`` in its own folder, under its lock (waiting for a copy of itself that still
    runs).

    Parameters
    ----------
    experiment : TrainedWorkflow
        The experiment.
    folder : str
        The run folder; the block's folder is ``<folder>/units/<name>/block-<block>``.
    name : str
        The ensemble run's name.
    make_integrator : IntegratorFactory
        Builds the dynamics on ``device``.
    q0, p0 : (m, Lx, Ly) torch.Tensor
        The block's initial distortions and momenta (on the CPU; moved to ``device``).
    block : int
        The block's index (its noise stream).
    common : mapping
        The keyword arguments of :func:`simulation_run` shared by every block (``steps``,
        ``stream``, ``record_every``, ``checkpoint_every``, ``model_hash``, ``frame_dtype``).
    device : str
        Where the block computes.

    Returns
    -------
    float
        The wall seconds of its steps (summed over resumptions).
    """
    dev = torch.device(device)
    where = _block_folder(Path(folder), name, block)
    where.mkdir(parents=True, exist_ok=True)
    with runio.lock_folder(where, wait=True), on_device(dev):
        for tmp in where.rglob(runio.TEMPORARY):  # a dead writer's: the lock is ours
            tmp.unlink(missing_ok=True)
        stored = simulation_run(experiment, where, name, make_integrator(dev), q0.to(dev),
                                p0.to(dev), device=dev, progress=False, block=block,
                                **common)  # fmt: skip
    return float(stored.attributes["seconds"])


def _join_blocks(final: Path, blocks: Sequence[Path], identity: str) -> None:
    """Join the blocks' trajectories along the member axis into ``final``: the layout of
    :func:`fast.runs.trajectories.run_dynamics`, ``seconds`` summed over the blocks."""
    parts = [load_trajectory(path) for path in blocks]
    first = parts[0]
    for path, part in zip(blocks[1:], parts[1:], strict=True):
        if not np.array_equal(part.t, first.t):
            raise ValueError(f"{str(path)!r} has other frame times than its first block")

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as fh:
            fh.attrs.update({k: v for k, v in first.attributes.items() if k != "identity"})
            fh.attrs["identity"] = identity
            fh.attrs["seconds"] = sum(float(p.attributes["seconds"]) for p in parts)
            fh.attrs["blocks"] = len(parts)
            fh.create_dataset("t", data=first.t)
            for field in ("Q", "forces"):
                data = np.concatenate([getattr(p, field) for p in parts], axis=1)
                fh.create_dataset(field, data=data, chunks=(1, *data.shape[1:]))

    runio.atomic_write(final, write)
