"""Settings of the voltage workflow (paper 001): the sections of its experiment file with the
papers' defaults and their checks, and the quantities its stages derive from them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

from fast.ml.models import physics_json
from fast.ml.training import TrainConfig
from fast.nn import receptive_radius
from fast.runs.runner import MemoryNeed
from fast.runs.settings import check_precision, check_recording, dense_bytes, network_bytes
from fast.runs.trained import (
    TrainedWorkflow,
)
from reference.lattice import SquareLattice
from reference.model import Electrodes, HolsteinModel
from reference.runio import non_negative, non_negative_int, positive, positive_int
from reference.sections import ElectrodeSettings, VoltagePhysics

__all__ = [
    "BrownianSettings",
    "VoltageAnalyseSettings",
    "VoltageCompareSettings",
    "VoltageDatasetConfig",
    "VoltageDatasetSettings",
    "VoltageSettings",
    "VoltageTrainConfig",
    "driven_model",
    "edge_columns",
]


# ============================================================================ settings


@attrs.frozen(kw_only=True)
class BrownianSettings:
    r"""``[brownian]``: the overdamped dynamics of every run (paper 001: :math:`\gamma = 1`,
    ``dt = 0.1``) on the ``Lx x Ly`` lattice (paper 001: 40 x 30), open along x (the
    electrodes) and periodic along y. Runs start from the equilibrium CDW plus Gaussian noise
    of standard deviation ``initial_noise`` and last ``steps`` steps, recorded every
    ``record_every``."""

    Lx: int = attrs.field(default=40, validator=positive_int)
    Ly: int = attrs.field(default=30, validator=positive_int)
    damping: float = attrs.field(default=1.0, validator=positive)
    dt: float = attrs.field(default=0.1, validator=positive)
    initial_noise: float = attrs.field(default=0.01, validator=non_negative)
    steps: int = attrs.field(default=1000, validator=positive_int)
    record_every: int = attrs.field(default=1, validator=positive_int)
    checkpoint_every: int = attrs.field(default=50, validator=positive_int)

    def __attrs_post_init__(self) -> None:
        if self.Lx < 4:
            raise ValueError(f"Lx must be an integer >= 4, got {self.Lx!r}")
        if self.Ly < 2 or self.Ly % 2:
            raise ValueError(f"Ly must be an even integer >= 2 (periodic y), got {self.Ly!r}")
        check_recording(self.steps, self.record_every, self.checkpoint_every)

    @property
    def lattice(self) -> SquareLattice:
        """``Lx x Ly``, open along x (the electrodes), periodic along y."""
        return SquareLattice(self.Lx, self.Ly, periodic_x=False, periodic_y=True)


@attrs.frozen(kw_only=True)
class VoltageDatasetSettings:
    """``[dataset]``: exact runs for training (paper 001: 1096 configurations from NEGF
    runs, sites within about 10 lattice constants of either electrode left out)."""

    n_runs: int = attrs.field(default=8, validator=positive_int)
    snapshot_every: int = attrs.field(default=10, validator=positive_int)
    exclude_columns: int = attrs.field(default=10, validator=non_negative_int)


@attrs.frozen(kw_only=True)
class VoltageCompareSettings:
    """``[compare]``: held-out exact runs and the ML runs driven like them.

    ``frozen_columns`` outermost columns per side follow the exact run in the ML run
    (paper 001 and the authors' script: six). ``precision`` is that of the network.
    """

    ensemble: int = attrs.field(default=8, validator=positive_int)
    frozen_columns: int = attrs.field(default=6, validator=positive_int)
    precision: str = "float64"

    def __attrs_post_init__(self) -> None:
        check_precision(self.precision)


@attrs.frozen(kw_only=True)
class VoltageAnalyseSettings:
    r"""``[analyse]``: a site is metallic when :math:`|\phi_i|` < ``metal_threshold``."""

    metal_threshold: float = attrs.field(default=0.25, validator=positive)
    force_frames: int = attrs.field(default=40, validator=positive_int)

    def __attrs_post_init__(self) -> None:
        if not 0.0 < self.metal_threshold < 1.0:
            raise ValueError(f"metal_threshold must lie in (0, 1), got {self.metal_threshold!r}")


@attrs.frozen(kw_only=True)
class VoltageTrainConfig(TrainConfig):
    """``[train]`` of the voltage workflow: paper 001's network and learning rate (1e-4)."""

    network: str = "paper001_mlp"
    learning_rate: float = attrs.field(default=1e-4, validator=positive)


@attrs.frozen(kw_only=True)
class VoltageSettings(TrainedWorkflow):
    """A voltage experiment file. Sections: ``[experiment]`` (``name``, ``kind = "voltage"``,
    ``seed``), ``[physics]`` (:class:`reference.sections.VoltagePhysics`), ``[electrodes]``,
    ``[brownian]``, ``[dataset]``, ``[train]``, ``[compare]``,
    ``[analyse]``; every key has a paper default."""

    name: str = "voltage"
    kind: str = "voltage"
    seed: int = 0
    physics: VoltagePhysics = attrs.field(factory=VoltagePhysics)
    electrodes: ElectrodeSettings = attrs.field(factory=ElectrodeSettings)
    brownian: BrownianSettings = attrs.field(factory=BrownianSettings)
    dataset: VoltageDatasetSettings = attrs.field(factory=VoltageDatasetSettings)
    train: VoltageTrainConfig = attrs.field(factory=VoltageTrainConfig)
    compare: VoltageCompareSettings = attrs.field(factory=VoltageCompareSettings)
    analyse: VoltageAnalyseSettings = attrs.field(factory=VoltageAnalyseSettings)

    def __attrs_post_init__(self) -> None:
        self.check_kind("voltage")
        self.check_seeds()
        radius = receptive_radius(self.architecture())
        p, d, c = self.brownian, self.dataset, self.compare
        if p.Ly < 2 * radius + 1:
            raise ValueError(
                f"brownian.Ly ({p.Ly}) must exceed twice the network's receptive radius "
                f"({radius}) so that no neighbourhood wraps onto itself"
            )
        for name, columns in (("dataset.exclude_columns", d.exclude_columns),
                              ("compare.frozen_columns", c.frozen_columns)):  # fmt: skip
            if columns < radius:
                raise ValueError(
                    f"{name} ({columns}) must be at least the network's receptive radius "
                    f"({radius}): the model must see whole neighbourhoods, inside the lattice"
                )
            if 2 * columns >= p.Lx:
                raise ValueError(
                    f"{name} ({columns}) must leave columns in between: 2 * {columns} < Lx = {p.Lx}"
                )
        if d.snapshot_every > self.brownian.steps:
            raise ValueError(
                f"dataset.snapshot_every must be <= brownian.steps ({self.brownian.steps}), "
                f"got {d.snapshot_every!r}"
            )

    def dataset_config(self) -> VoltageDatasetConfig:
        """The :class:`VoltageDatasetConfig` of the ``dataset`` stage.

        Returns
        -------
        VoltageDatasetConfig
            ``[physics]``, ``[electrodes]``, ``[brownian]``, the run count and snapshot
            spacing of ``[dataset]``, and the experiment's seed.
        """
        return VoltageDatasetConfig(
            physics=self.physics,
            electrodes=self.electrodes,
            brownian=self.brownian,
            n_runs=self.dataset.n_runs,
            snapshot_every=self.dataset.snapshot_every,
            seed=self.seed,
        )

    def model(self) -> HolsteinModel:
        """The model on the ``[brownian]`` lattice (:func:`driven_model`).

        Returns
        -------
        HolsteinModel
            Half-filled, on the ``Lx x Ly`` lattice open along x.
        """
        return driven_model(self.physics, self.brownian)

    def reservoirs(self) -> Electrodes:
        """The leads and baths at the physics' temperature.

        Returns
        -------
        Electrodes
            Of ``[electrodes]`` (bias and couplings).
        """
        return self.electrodes.electrodes(self.physics)

    def train_sites(self) -> NDArray[np.bool_]:
        """The learned sites: columns at least ``exclude_columns`` from either edge.

        Returns
        -------
        (Lx, Ly) bool ndarray
            True at the columns at least ``exclude_columns`` from either edge.
        """
        return edge_columns(self.brownian, self.dataset.exclude_columns, inside=True)

    def boundary(self) -> NDArray[np.bool_]:
        """The ``frozen_columns`` outermost columns per side, which follow the exact run.

        Returns
        -------
        (Lx, Ly) bool ndarray
            True at the ``frozen_columns`` outermost columns per side.
        """
        return edge_columns(self.brownian, self.compare.frozen_columns, inside=False)

    def memory_estimate(self) -> dict[str, MemoryNeed]:
        """The peak memory of each stage (:func:`fast.runs.runner.check_memory`), within a
        factor of about two: NEGF solves dense complex ``N x N`` problems for every run of a
        batch at once.

        Returns
        -------
        dict of str to MemoryNeed
            ``dataset``, ``train``, ``simulate`` and ``analyse``.
        """
        b, d, c, t = self.brownian, self.dataset, self.compare, self.train
        n = float(b.Lx * b.Ly)
        samples = self.dataset_config().n_samples * n * 8 * 3
        frames = (b.steps // b.record_every + 1) * c.ensemble * n * 8 * 3
        return {
            "dataset": MemoryNeed(
                samples + dense_bytes(n, d.n_runs, complex_valued=True),
                "the NEGF runs ([brownian] Lx, Ly, [dataset] n_runs)",
            ),
            "train": MemoryNeed(
                samples + network_bytes(self.architecture(), t.batch_size * n, t.dtype),
                "the dataset and a batch's activations ([dataset], [train] batch_size)",
            ),
            "simulate": MemoryNeed(
                frames + dense_bytes(n, c.ensemble, complex_valued=True),
                "the held-out NEGF runs ([brownian] Lx, Ly, steps, [compare] ensemble)",
            ),
            "analyse": MemoryNeed(2 * frames, "the recorded frames of both runs"),
        }

    def headline(self, metrics: Mapping[str, Any]) -> str:
        """The metallic fraction at the end of the NEGF and ML runs.

        Parameters
        ----------
        metrics : mapping
            The run's ``metrics.json`` (its ``domain_wall.xi_lattice`` entry).

        Returns
        -------
        str
            ``"xi(t_end) NEGF <value>, ML <value>"``.
        """
        xi = metrics["domain_wall"]["xi_lattice"]
        return f"xi(t_end) NEGF {xi['exact_final']:.3f}, ML {xi['ml_final']:.3f}"

    def derived(self) -> dict[str, Any]:
        """Derived quantities recorded in ``experiment.json``.

        Returns
        -------
        dict
            ``physics_params`` and ``time_unit``.
        """
        return {
            "physics_params": json.loads(physics_json(self.physics.params())),
            "time_unit": "1/gamma (Brownian damping)",
        }


def edge_columns(brownian: BrownianSettings, count: int, *, inside: bool) -> NDArray[np.bool_]:
    """The ``count`` outermost columns per side (``inside=False``) or the rest.

    Parameters
    ----------
    brownian : BrownianSettings
        Gives the lattice shape ``(Lx, Ly)``; columns are the x index.
    count : int
        Columns per side (>= 0).
    inside : bool
        False: the edge columns; True: every other column.

    Returns
    -------
    (Lx, Ly) bool ndarray
        True at the selected columns (every row).
    """
    edge = np.zeros((brownian.Lx, brownian.Ly), dtype=bool)
    edge[:count] = True
    edge[brownian.Lx - count :] = True
    return ~edge if inside else edge


@attrs.frozen(kw_only=True)
class VoltageDatasetConfig:
    """Settings of paper 001's training set: snapshots of exact NEGF-Brownian runs.

    ``n_runs`` runs of ``brownian.steps`` steps start from the equilibrium CDW plus noise
    (:func:`cdw_initial_states`) and are sampled every ``snapshot_every`` steps; every
    snapshot holds the exact forces and densities of all sites.
    """

    physics: VoltagePhysics = attrs.field(factory=VoltagePhysics)
    electrodes: ElectrodeSettings = attrs.field(factory=ElectrodeSettings)
    brownian: BrownianSettings = attrs.field(factory=BrownianSettings)
    n_runs: int = attrs.field(default=8, validator=positive_int)
    snapshot_every: int = attrs.field(default=10, validator=positive_int)
    seed: int = 0

    @property
    def n_samples(self) -> int:
        """Snapshots in all: ``n_runs * (steps // snapshot_every)``."""
        return self.n_runs * (self.brownian.steps // self.snapshot_every)

    def model(self) -> HolsteinModel:
        """The model on the ``[brownian]`` lattice (:func:`driven_model`).

        Returns
        -------
        HolsteinModel
            Half-filled, on the ``Lx x Ly`` lattice open along x.
        """
        return driven_model(self.physics, self.brownian)

    def reservoirs(self) -> Electrodes:
        """The leads and baths at the physics' temperature.

        Returns
        -------
        Electrodes
            Of ``electrodes`` (bias and couplings).
        """
        return self.electrodes.electrodes(self.physics)


def driven_model(physics: VoltagePhysics, brownian: BrownianSettings) -> HolsteinModel:
    """The Holstein model on the open-x lattice of ``brownian``; its electrons (half filling
    at ``physics.temperature``) define the initial CDW, the NEGF densities ignore them.

    Parameters
    ----------
    physics : VoltagePhysics
        The ``[physics]`` section.
    brownian : BrownianSettings
        Gives the ``Lx x Ly`` lattice, open along x and periodic along y.

    Returns
    -------
    HolsteinModel
        Half-filled at ``physics.temperature``, on the ``Lx x Ly`` lattice open along x.
    """
    return physics.model(brownian.lattice)
