"""What every workflow that trains a network shares: the model-file checks and the train stage.

The quench, voltage and laser workflows all label exact data, train a network on it and drive
dynamics with the trained model. :class:`TrainedWorkflow` holds their common settings logic
(the experiment's seed seeds every stage; the network ``[train]`` describes; what a model file
in the run folder must hold) and :func:`train_stage` their common ``train`` stage.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
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
from fast.ml.training import TrainConfig, train_network
from fast.runs.runner import MemoryNeed, Stage, fingerprint
from fast.runs.trajectories import StoredTrajectory, run_dynamics
from reference import runio
from reference.lattice import SquareLattice

__all__ = [
    "CHECKPOINT_FILE",
    "DATASET_FILE",
    "MODEL_FILE",
    "TRAIN_OUTPUTS",
    "TrainedWorkflow",
    "simulation_run",
    "train_stage",
]

log = logging.getLogger("fast.runs")

DATASET_FILE = "dataset.h5"
"""The training set of a workflow whose ``dataset`` stage writes one (quench, voltage)."""
MODEL_FILE = "model.pt"
CHECKPOINT_FILE = "train_checkpoint.pt"
TRAIN_OUTPUTS = (MODEL_FILE, "training.json", "predictions.h5", CHECKPOINT_FILE)
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
        """The peak memory of each stage; each workflow gives its own."""
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
        """``[experiment] kind`` names this workflow."""
        if self.kind != kind:
            raise ValueError(f"kind must be {kind!r} for this class, got {self.kind!r}")

    def fingerprint(self, stage: str) -> str:
        """SHA-256 of the settings ``stage`` depends on (:func:`fast.runs.runner.fingerprint`)."""
        return fingerprint(self, stage)

    def summary(self, metrics: Mapping[str, Any]) -> str:
        """One line about the finished run: the held-out force error and the workflow's own
        headline (:meth:`headline`)."""
        error = metrics["force_error_held_out"]["std"]
        return f"report.md written: held-out force error std {error:.3g}, {self.headline(metrics)}"

    def derived(self) -> dict[str, Any]:
        """Derived quantities recorded in ``experiment.json`` (none unless a workflow says)."""
        return {}

    def headline(self, metrics: Mapping[str, Any]) -> str:
        """The workflow's headline result in ``metrics``."""
        raise NotImplementedError

    def train_config(self) -> TrainConfig:
        """``[train]`` with the experiment's seed."""
        return attrs.evolve(self.train, seed=self.seed)

    def architecture(self) -> Architecture:
        """The network ``[train]`` describes. The ``"levels"`` head needs equilibrium labels at
        a fixed chemical potential, which only the quench workflow (which overrides this) has.
        """
        if self.train.head != "force":
            raise ValueError(
                f"[train] head = {self.train.head!r} needs equilibrium labels at a fixed "
                "chemical potential: it applies to quench experiments only"
            )
        return self.train.architecture()

    def model_checks(self) -> dict[str, Any]:
        """What a model file in the run folder must hold (:func:`fast.ml.models.load_model`)."""
        return {"architecture": self.architecture(), "physics": self.physics.params()}

    def check_folder(self, folder: Path, redone: Sequence[str]) -> None:
        """The files in ``folder`` must belong to this experiment (unless their stage is
        about to be redone): a dataset made with this experiment's settings, a model file of
        this network and physics trained on that dataset, a training checkpoint of this
        network."""
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
    ``predictions.h5``; ``lattice``, ``sites`` and ``times`` as in
    :func:`fast.ml.training.train_network`."""
    data = load_dataset(folder / DATASET_FILE) if data is None else data
    config = experiment.train_config()
    result = train_network(
        config, data, folder / CHECKPOINT_FILE, device=device, progress=progress,
        lattice=lattice, sites=sites, times=times,
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
) -> StoredTrajectory:
    """One run of the ``simulate`` stage into ``<folder>/<name>.h5``, resumably.

    The run starts from ``integrator.init(*start, t0=t0)``; its noise comes from the
    experiment's seed and ``stream`` (runs that share a stream share their noise, so an
    exact and an ML run see the same kicks). The run's identity holds the ``simulate``
    fingerprint, the name, the stream and, for ML runs, the model's content hash, so a
    trajectory of other settings or another model is never taken for this one.
    """
    gen = torch.Generator(device=device)
    gen.manual_seed(int(np.random.default_rng([experiment.seed, stream, 1]).integers(2**62)))
    identity = json.dumps({"fingerprint": fingerprint(experiment, "simulate"), "run": name,
                           "stream": stream, "model": model_hash})  # fmt: skip
    return run_dynamics(
        integrator, integrator.init(*start, rng=gen, t0=t0), steps, folder / f"{name}.h5",
        identity=identity, record_every=record_every, checkpoint_every=checkpoint_every,
        progress=progress, description=name, frame_dtype=frame_dtype,
    )  # fmt: skip
