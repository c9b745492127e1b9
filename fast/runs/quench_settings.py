"""Settings of the quench workflow (papers 002, 003, 004): the sections of its experiment
file with the papers' defaults and their checks, and the quantities its stages derive."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import attrs
import torch

from fast.ml.datasets import DatasetSettings, QuenchDatasetConfig
from fast.ml.models import Architecture, physics_json
from fast.ml.training import TrainConfig
from fast.nn import receptive_radius
from fast.runs.runner import MemoryNeed, TimeNeed
from fast.runs.settings import (
    check_precision,
    check_receptive_radius,
    check_recording,
    check_square_size,
    dense_bytes,
    network_bytes,
    probe_seconds,
    torch_dtype,
)
from fast.runs.trained import (
    TrainedWorkflow,
)
from reference.nn import GNNArchitecture
from reference.runio import non_negative_int, positive, positive_int
from reference.sections import Langevin, Physics

__all__ = [
    "AnalyseSettings",
    "CompareSettings",
    "DatasetSettings",
    "Langevin",
    "Physics",
    "QuenchSettings",
    "SimulateSettings",
]


# ============================================================================ settings


@attrs.frozen(kw_only=True)
class SimulateSettings:
    """``[simulate]``: the large ML quench (paper 003: 200x200; authors: 25,000 steps).

    ``members_per_unit > 0`` runs the ensemble as units of that many members, each with its
    own noise stream, which a cluster can spread (:func:`fast.runs.trained.ensemble_run`);
    ``0`` runs it as one batch."""

    size: int = attrs.field(default=200, validator=positive_int)
    ensemble: int = attrs.field(default=4, validator=positive_int)
    steps: int = attrs.field(default=25000, validator=positive_int)
    record_every: int = attrs.field(default=100, validator=positive_int)
    checkpoint_every: int = attrs.field(default=1000, validator=positive_int)
    precision: str = "float32"
    members_per_unit: int = attrs.field(default=0, validator=non_negative_int)

    def __attrs_post_init__(self) -> None:
        check_square_size(self.size)
        check_recording(self.steps, self.record_every, self.checkpoint_every)
        check_precision(self.precision)


@attrs.frozen(kw_only=True)
class CompareSettings:
    """``[compare]``: exact and ML Langevin from the same states and noise (paper 003 Fig. 3:
    40x40, 30 runs, ``C_ij`` at steps 200, 1000, 9000). ``ensemble = 0`` skips it.

    ``cluster_radius > 0`` adds a third arm with the same states and noise, driven by the
    local-cluster force of that radius (:class:`fast.ed.ClusterForceField`; at fixed ``mu``,
    or at fixed filling with one global ``mu`` per configuration): the no-training baseline
    the network should beat (beyond the papers).

    ``members_per_unit > 0`` runs each arm as units of that many members (the same blocks
    and noise in every arm), which a cluster can spread: 30 members with
    ``members_per_unit = 1`` are 30 units per arm (:func:`fast.runs.trained.ensemble_run`);
    ``0`` runs each arm as one batch."""

    size: int = attrs.field(default=40, validator=positive_int)
    ensemble: int = attrs.field(default=30, validator=non_negative_int)
    times: tuple[int, ...] = (200, 1000, 9000)
    checkpoint_every: int = attrs.field(default=200, validator=positive_int)
    cluster_radius: float = attrs.field(default=0.0, converter=float)
    members_per_unit: int = attrs.field(default=0, validator=non_negative_int)

    def __attrs_post_init__(self) -> None:
        if not math.isfinite(self.cluster_radius) or self.cluster_radius < 0:
            raise ValueError(f"cluster_radius must be >= 0 (0: off), got {self.cluster_radius!r}")
        if not self.times or any(
            isinstance(t, bool) or not isinstance(t, int) or t < 1 for t in self.times
        ):
            raise ValueError(f"times must be a non-empty list of integers >= 1, got {self.times!r}")
        if list(self.times) != sorted(set(self.times)):
            raise ValueError(f"times must be strictly increasing, got {self.times!r}")
        check_square_size(self.size)
        check_recording(max(self.times), self.record_every, self.checkpoint_every)

    @property
    def record_every(self) -> int:
        """Frames are recorded at the greatest common divisor of the comparison times."""
        return math.gcd(*self.times)


@attrs.frozen(kw_only=True)
class AnalyseSettings:
    """``[analyse]``: the growth-law fit window and the bootstrap of its uncertainty."""

    fit_from_fraction: float = attrs.field(default=0.1, validator=positive)
    fit_max_length_fraction: float = attrs.field(default=0.25, validator=positive)
    bootstrap: int = attrs.field(default=200, validator=non_negative_int)
    collapse_frames: int = attrs.field(default=4, validator=positive_int)

    def __attrs_post_init__(self) -> None:
        for name in ("fit_from_fraction", "fit_max_length_fraction"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in (0, 1], got {getattr(self, name)!r}")


@attrs.frozen(kw_only=True)
class QuenchSettings(TrainedWorkflow):
    """A whole experiment file. Sections: ``[experiment]`` (``name``, ``kind``, ``seed``),
    ``[physics]``, ``[langevin]``, ``[dataset]``, ``[train]``, ``[simulate]``, ``[compare]``,
    ``[analyse]``; every key has a paper default."""

    name: str = "quench"
    kind: str = "quench"
    seed: int = 0
    physics: Physics = attrs.field(factory=Physics)
    langevin: Langevin = attrs.field(factory=Langevin)
    dataset: DatasetSettings = attrs.field(factory=DatasetSettings)
    train: TrainConfig = attrs.field(factory=TrainConfig)
    simulate: SimulateSettings = attrs.field(factory=SimulateSettings)
    compare: CompareSettings = attrs.field(factory=CompareSettings)
    analyse: AnalyseSettings = attrs.field(factory=AnalyseSettings)

    def architecture(self) -> Architecture:
        """The network ``[train]`` describes, for the labels of ``[physics]``.

        Returns
        -------
        Architecture
            With the ``"levels"`` head (if asked for) built for the Holstein parameters and
            electrons of ``[physics]``.

        Raises
        ------
        ValueError
            For the ``"levels"`` head with electrons at a fixed filling.
        """
        return self.train.architecture(self.physics.params(), self.physics.ensemble())

    def __attrs_post_init__(self) -> None:
        self.check_kind("quench")
        self.check_seeds()
        arch = self.architecture()
        if isinstance(arch, GNNArchitecture) and arch.time_channel:
            raise ValueError(
                f"network {self.train.network!r} takes a time input; the quench workflow has none"
            )
        sizes = {"dataset.size": self.dataset.size, "simulate.size": self.simulate.size}
        if self.compare.ensemble:
            sizes["compare.size"] = self.compare.size
        check_receptive_radius(receptive_radius(arch), sizes)

    @property
    def omega(self) -> float:
        """``sqrt(k/m)``, the inverse time unit of paper 003."""
        return self.physics.omega

    @property
    def dt(self) -> float:
        """The time step ``dt_omega / omega``."""
        return self.langevin.dt(self.physics)

    @property
    def gamma(self) -> float:
        """The friction ``omega_tau k / omega``."""
        return self.langevin.gamma(self.physics)

    def dataset_config(self) -> QuenchDatasetConfig:
        """The :class:`fast.ml.datasets.QuenchDatasetConfig` of the ``dataset`` stage: this
        experiment's own sections.

        Returns
        -------
        QuenchDatasetConfig
            ``[physics]``, ``[langevin]``, ``[dataset]`` and the experiment's seed.
        """
        return QuenchDatasetConfig(
            physics=self.physics, langevin=self.langevin, dataset=self.dataset, seed=self.seed
        )

    def model_checks(self) -> dict[str, Any]:
        """What a model file must hold: also the electrons' temperature and filling or mu.

        Returns
        -------
        dict
            Keyword arguments of :func:`fast.ml.models.load_model`: ``architecture``,
            ``physics`` and ``ensemble``.
        """
        return super().model_checks() | {"ensemble": self.physics.ensemble()}

    def memory_estimate(self) -> dict[str, MemoryNeed]:
        """The peak memory of each stage (:func:`fast.runs.runner.check_memory`): within a
        factor of about two; it refuses what cannot fit, not what barely does.

        Returns
        -------
        dict of str to MemoryNeed
            ``dataset``, ``train``, ``simulate`` (the larger of the ML run and the exact
            comparison) and ``analyse``.
        """
        d, t, sim, cmp = self.dataset, self.train, self.simulate, self.compare
        arch, n = self.architecture(), d.size**2
        samples = float(self.dataset_config().n_samples) * n * 8 * 4  # Q, F, n, labels
        frames = (sim.steps // sim.record_every + 1) * sim.ensemble * float(sim.size) ** 2
        needs = {
            "dataset": MemoryNeed(
                samples + dense_bytes(n, d.chunk),
                "the exact labels ([dataset] size, chunk, n_random, n_runs, snapshots_per_run)",
            ),
            "train": MemoryNeed(
                samples + network_bytes(arch, float(t.batch_size) * n, t.dtype),
                "the dataset and a batch's activations ([dataset] sizes, [train] batch_size)",
            ),
            "simulate": MemoryNeed(
                network_bytes(arch, float(sim.ensemble) * sim.size**2, sim.precision),
                "the ML forces on the large lattice ([simulate] size, ensemble)",
            ),
            "analyse": MemoryNeed(
                frames * (4 if sim.size > 64 else 8) * 2,
                "the recorded frames ([simulate] size, ensemble, steps / record_every)",
            ),
        }
        if cmp.ensemble:
            exact = MemoryNeed(
                dense_bytes(cmp.size**2, cmp.ensemble),
                "the exact forces of the comparison ([compare] size, ensemble)",
            )
            if exact.bytes > needs["simulate"].bytes:
                needs["simulate"] = exact
        return needs

    def time_estimate(self, device: torch.device) -> dict[str, TimeNeed]:
        """Run-time estimates of the ``dataset``, ``train`` and ``simulate`` stages from
        probes of about half a second each on ``device``.

        ``dataset``: one exact force evaluation per random configuration and per step of the
        snapshot runs (``n_random + n_runs x (burn_in + snapshots_per_run x
        snapshot_every)``), at the probed cost per configuration. ``train``: ``epochs``
        passes over the training part of the data, each configuration costing about three
        forward evaluations of the (untrained) network (forward and backward); an upper
        bound, since early stopping or ``time_limit_minutes`` may end it sooner (the limit
        caps it). ``simulate``: the ML Langevin steps of every member on the large lattice,
        plus the comparison's exact (and cluster) steps up to its last time.

        Parameters
        ----------
        device : torch.device
            Where the probes run (and the run would).

        Returns
        -------
        dict of str to TimeNeed
            ``dataset``, ``train`` and ``simulate``.
        """
        from fast import ed
        from fast.nn import Network, NetworkForceField
        from reference.lattice import SquareLattice

        d, t, sim, cmp = self.dataset, self.train, self.simulate, self.compare
        rng = torch.Generator().manual_seed(0)

        def configurations(count: int, size: int) -> torch.Tensor:
            q = torch.randn(count, size, size, generator=rng, dtype=torch.float64) * 2.0
            return q.to(device)

        batch = max(1, min(d.chunk, 8))
        q = configurations(batch, d.size)
        model = self.physics.model(d.size)
        per_label = probe_seconds(lambda: ed.total_force(q, model), device) / batch
        labels = d.n_random + d.n_runs * (d.burn_in + d.snapshots_per_run * d.snapshot_every)
        estimates = {"dataset": TimeNeed(per_label * labels, (
            f"{labels} exact force evaluations of {d.size}x{d.size} at {per_label:.3g} s each"
        ))}  # fmt: skip

        dtype = torch_dtype(t.dtype)
        network = Network(self.architecture(), dtype=dtype, device=device)
        field = NetworkForceField(network, SquareLattice(d.size, d.size))
        one = configurations(1, d.size).to(dtype)
        per_sample = 3.0 * probe_seconds(lambda: field.forces(one), device)
        samples = (1.0 - t.validation_fraction) * self.dataset_config().n_samples
        train = t.epochs * samples * per_sample
        limit = 60.0 * t.time_limit_minutes
        capped = limit > 0 and train > limit
        estimates["train"] = TimeNeed(min(train, limit) if capped else train, (
            f"at most {t.epochs} epochs of {samples:.0f} configurations at {per_sample:.3g} s"
            + (f", capped by time_limit_minutes = {t.time_limit_minutes:g}" if capped else "")
        ))  # fmt: skip

        members = sim.ensemble if sim.members_per_unit == 0 else min(sim.members_per_unit,
                                                                     sim.ensemble)  # fmt: skip
        big = NetworkForceField(
            Network(self.architecture(), dtype=torch_dtype(sim.precision), device=device),
            SquareLattice(sim.size, sim.size),
        )
        qs = configurations(members, sim.size).to(torch_dtype(sim.precision))
        per_step = probe_seconds(lambda: big.forces(qs), device) / members
        seconds = per_step * sim.steps * sim.ensemble
        what = (f"{sim.steps} ML steps of {sim.ensemble} members on {sim.size}x{sim.size} at "
                f"{per_step * 1e3:.3g} ms per step and member")  # fmt: skip
        if cmp.ensemble:
            small = self.physics.model(cmp.size)
            qc = configurations(min(cmp.ensemble, 4), cmp.size)
            exact = probe_seconds(lambda: ed.total_force(qc, small), device) / len(qc)
            if cmp.cluster_radius > 0:
                exact += probe_seconds(
                    lambda: ed.cluster_force(qc, small, cmp.cluster_radius), device
                ) / len(qc)
            steps = max(cmp.times)
            seconds += exact * steps * cmp.ensemble
            what += (f"; the comparison's {steps} exact steps of {cmp.ensemble} members on "
                     f"{cmp.size}x{cmp.size} at {exact:.3g} s per step and member")  # fmt: skip
        estimates["simulate"] = TimeNeed(seconds, what)
        return estimates

    def headline(self, metrics: Mapping[str, Any]) -> str:
        """The growth exponent of the large ML quench.

        Parameters
        ----------
        metrics : mapping
            The run's ``metrics.json`` (with ``growth.growth_exponent``).

        Returns
        -------
        str
            ``"alpha = <value>"`` (``n/a`` without a fit).
        """
        growth = metrics["growth"]["growth_exponent"]
        return f"alpha = {'n/a' if growth is None else format(growth['alpha'], '.3f')}"

    def derived(self) -> dict[str, Any]:
        """Derived quantities recorded in ``experiment.json`` next to the settings.

        Returns
        -------
        dict
            ``dt``, ``gamma``, ``omega`` (in the model's units) and ``physics_params`` (the
            Holstein parameters).
        """
        return {
            "dt": self.dt, "gamma": self.gamma, "omega": self.omega,
            "physics_params": json.loads(physics_json(self.physics.params())),
        }  # fmt: skip
