"""Settings of the laser workflow (paper 000): the sections of its experiment file with the
papers' defaults and their checks, and the quantities its stages derive from them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from fast.ml.models import physics_json
from fast.ml.training import TrainConfig
from fast.nn import receptive_radius
from fast.runs.runner import MemoryNeed
from fast.runs.settings import (
    check_checkpoints,
    check_precision,
    check_receptive_radius,
    check_square_size,
    dense_bytes,
    network_bytes,
)
from fast.runs.trained import (
    TrainedWorkflow,
)
from reference.dynamics import BathSchedule
from reference.model import HolsteinModel
from reference.nn import GNNArchitecture
from reference.runio import non_negative, positive, positive_int
from reference.sections import LaserPhysics, PulseSettings

__all__ = [
    "EhrenfestSettings",
    "LaserCompareSettings",
    "LaserDatasetSettings",
    "LaserSettings",
    "LaserTrainConfig",
    "RecoverySettings",
]


# ============================================================================ settings


@attrs.frozen(kw_only=True)
class EhrenfestSettings:
    """``[ehrenfest]``: the exact runs on the periodic ``size x size`` lattice (paper 000:
    20 x 20), ``dt`` in code units, to ``end_tau0``; frames every ``record_every`` steps.
    Every run starts in the CDW with lattice noise of ``initial_temperature`` (paper 000,
    sec. II: ``T ~ 1e-5``)."""

    size: int = attrs.field(default=20, validator=positive_int)
    dt: float = attrs.field(default=0.05, validator=positive)
    end_tau0: float = attrs.field(default=400.0, validator=positive)
    record_every: int = attrs.field(default=20, validator=positive_int)
    checkpoint_every: int = attrs.field(default=1000, validator=positive_int)
    initial_temperature: float = attrs.field(default=1e-5, validator=non_negative)

    def __attrs_post_init__(self) -> None:
        check_square_size(self.size)
        check_checkpoints(self.record_every, self.checkpoint_every)

    def steps(self, tau0: float) -> int:
        """Steps to ``end_tau0``.

        Parameters
        ----------
        tau0 : float
            Paper 000's time unit ``1/Omega`` in code units.

        Returns
        -------
        int
            ``round(end_tau0 * tau0 / dt)``, at least 1.
        """
        return max(1, round(self.end_tau0 * tau0 / self.dt))


@attrs.frozen(kw_only=True)
class LaserDatasetSettings:
    """``[dataset]``: paper 000 trains on snapshots of 30 runs between steps 2500 and 20000;
    here ``n_runs`` runs, frames with ``t >= from_tau0`` every ``snapshot_every`` frames."""

    n_runs: int = attrs.field(default=28, validator=positive_int)
    from_tau0: float = attrs.field(default=20.0, validator=positive)
    snapshot_every: int = attrs.field(default=5, validator=positive_int)


@attrs.frozen(kw_only=True)
class RecoverySettings:
    r"""``[recovery]``: the ML stage (eqs. 27-31). Friction
    :math:`\gamma(t) = \gamma_0 + \Delta\gamma e^{-(t - t_1)/\tau_\gamma}` from ``t1_tau0`` on;
    ``temperature`` of the noise (eq. 29) or, if not given, measured from the training runs'
    momenta at ``t >= t1`` by equipartition (eq. 30); ``dt`` of the ML Langevin step."""

    t1_tau0: float = attrs.field(default=80.0, validator=positive)
    gamma0: float = attrs.field(default=0.003, validator=non_negative)
    delta_gamma: float = attrs.field(default=0.017, validator=non_negative)
    tau_tau0: float = attrs.field(default=25.0, validator=positive)
    temperature: float | None = None
    dt: float = attrs.field(default=0.05, validator=positive)

    def __attrs_post_init__(self) -> None:
        if self.temperature is not None and not self.temperature > 0:
            raise ValueError(f"temperature must be > 0 (or left out), got {self.temperature!r}")

    def schedule(self, tau0: float) -> BathSchedule:
        """The :class:`reference.dynamics.BathSchedule` in code units.

        Parameters
        ----------
        tau0 : float
            Paper 000's time unit ``1/Omega`` in code units (scales ``t1_tau0`` and
            ``tau_tau0``).

        Returns
        -------
        BathSchedule
            The friction schedule ``gamma(t)`` of the recovery stage.
        """
        return BathSchedule(gamma0=self.gamma0, delta_gamma=self.delta_gamma,
                            t1=self.t1_tau0 * tau0, tau=self.tau_tau0 * tau0)  # fmt: skip


@attrs.frozen(kw_only=True)
class LaserCompareSettings:
    """``[compare]``: held-out exact runs and the ML recovery from their states at t1."""

    ensemble: int = attrs.field(default=30, validator=positive_int)
    precision: str = "float64"

    def __attrs_post_init__(self) -> None:
        check_precision(self.precision)


@attrs.frozen(kw_only=True)
class LaserTrainConfig(TrainConfig):
    """``[train]`` of the laser workflow: paper 000's time-conditioned GNN (Table I)."""

    network: str = "paper000_gnn"


@attrs.frozen(kw_only=True)
class LaserSettings(TrainedWorkflow):
    """A laser experiment file. Sections: ``[experiment]`` (``name``, ``kind = "laser"``,
    ``seed``), ``[physics]`` (:class:`reference.sections.LaserPhysics`), ``[pulse]``
    (:class:`reference.sections.PulseSettings`), ``[ehrenfest]``, ``[dataset]``, ``[train]``,
    ``[recovery]``, ``[compare]``; every key has a paper default."""

    name: str = "laser"
    kind: str = "laser"
    seed: int = 0
    physics: LaserPhysics = attrs.field(factory=LaserPhysics)
    pulse: PulseSettings = attrs.field(factory=PulseSettings)
    ehrenfest: EhrenfestSettings = attrs.field(factory=EhrenfestSettings)
    dataset: LaserDatasetSettings = attrs.field(factory=LaserDatasetSettings)
    train: LaserTrainConfig = attrs.field(factory=LaserTrainConfig)
    recovery: RecoverySettings = attrs.field(factory=RecoverySettings)
    compare: LaserCompareSettings = attrs.field(factory=LaserCompareSettings)

    def __attrs_post_init__(self) -> None:
        self.check_kind("laser")
        self.check_seeds()
        arch = self.architecture()
        if not (isinstance(arch, GNNArchitecture) and arch.time_channel):
            raise ValueError(
                f"train.network must take a time input (paper000_gnn), got {self.train.network!r}"
            )
        check_receptive_radius(receptive_radius(arch), {"ehrenfest.size": self.ehrenfest.size})
        e, r = self.ehrenfest, self.recovery
        frame_time = e.dt * e.record_every
        if not self.dataset.from_tau0 < r.t1_tau0 < e.end_tau0:
            raise ValueError(
                f"need dataset.from_tau0 < recovery.t1_tau0 < ehrenfest.end_tau0, got "
                f"{self.dataset.from_tau0}, {r.t1_tau0}, {e.end_tau0}"
            )
        ratio = frame_time / r.dt
        if abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
            raise ValueError(
                f"recovery.dt ({r.dt}) must divide the frame interval ehrenfest.dt * "
                f"record_every = {frame_time}"
            )

    # ------------------------------------------------------------------ derived
    def model(self) -> HolsteinModel:
        """The model on the periodic ``[ehrenfest] size`` square.

        Returns
        -------
        HolsteinModel
            At the ``[physics]`` parameters, half filling.
        """
        return self.physics.model(self.ehrenfest.size)

    @property
    def frame_time(self) -> float:
        """Time between recorded frames."""
        return self.ehrenfest.dt * self.ehrenfest.record_every

    @property
    def t1_frame(self) -> int:
        """The recorded frame where the recovery stage starts (nearest to ``t1``)."""
        return round(self.recovery.t1_tau0 * self.physics.tau0 / self.frame_time)

    def memory_estimate(self) -> dict[str, MemoryNeed]:
        """The peak memory of each stage (:func:`fast.runs.runner.check_memory`), within a
        factor of about two: every Ehrenfest run carries a dense complex density matrix, and
        every recorded frame five arrays of the lattice.

        Returns
        -------
        dict of str to MemoryNeed
            ``dataset``, ``train`` and ``simulate``.
        """
        e, d, c, t = self.ehrenfest, self.dataset, self.compare, self.train
        n = float(e.size) ** 2
        frames = e.steps(self.physics.tau0) // e.record_every + 1
        runs = MemoryNeed(
            dense_bytes(n, d.n_runs, complex_valued=True) + frames * d.n_runs * n * 8 * 5,
            "the Ehrenfest runs and their frames ([ehrenfest] size, end_tau0, record_every, "
            "[dataset] n_runs)",
        )
        return {
            "dataset": runs,
            "train": MemoryNeed(
                runs.bytes + network_bytes(self.architecture(), t.batch_size * n, t.dtype),
                "the training frames and a batch's activations ([dataset], [train] batch_size)",
            ),
            "simulate": MemoryNeed(
                dense_bytes(n, c.ensemble, complex_valued=True) + frames * c.ensemble * n * 8 * 5,
                "the held-out Ehrenfest runs ([ehrenfest] size, [compare] ensemble)",
            ),
        }

    def headline(self, metrics: Mapping[str, Any]) -> str:
        """The CDW order at the end of the exact and ML recovery.

        Parameters
        ----------
        metrics : mapping
            The run's ``metrics.json`` (its ``recovery.O`` entry).

        Returns
        -------
        str
            ``"O(t_end) exact <value>, ML <value>"``.
        """
        o = metrics["recovery"]["O"]
        return f"O(t_end) exact {o['exact_final']:.3f}, ML {o['ml_final']:.3f}"

    def derived(self) -> dict[str, Any]:
        """Derived quantities recorded in ``experiment.json``.

        Returns
        -------
        dict
            ``physics_params``, ``tau0``, ``mass``, ``Q0``, ``steps`` (of an exact run),
            ``t1`` (the recovery's start, code units) and ``time_unit``.
        """
        p = self.physics
        return {
            "physics_params": json.loads(physics_json(p.params())),
            "tau0": p.tau0, "mass": p.mass, "Q0": p.q0,
            "steps": self.ehrenfest.steps(p.tau0), "t1": self.t1_frame * self.frame_time,
            "time_unit": "1/|t_nn| (tau_el); tau0 = 1/Omega",
        }  # fmt: skip
