"""Settings of the coarsening workflow (issue 19): thermal quenches at scale with a force
provider chosen by name, and domain growth measured every way.

Sections: ``[experiment]``, ``[physics]`` and ``[langevin]`` (shared with the quench,
:mod:`reference.sections`), ``[forces]`` (which provider drives the lattice), ``[tdgl]`` (the
Allen-Cahn control's parameters), ``[coarsening]`` (lattice, ensemble, run length) and
``[analyse]`` (fit window, bootstrap, background cut, headline estimator).

Time: the Holstein providers run in the time unit of paper 003, ``1/omega`` with
``omega = sqrt(k/m)``; every time of ``[analyse]`` is a ``t omega``. The TDGL control has no
phonon: its times are its own code times (``omega`` is taken as 1), so that the same window
numbers apply to both.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from fast.ml.models import TrainedModel, load_model, physics_json
from fast.nn import receptive_radius
from fast.runs.runner import MemoryNeed
from fast.runs.settings import (
    check_precision,
    check_receptive_radius,
    check_recording,
    check_square_size,
    dense_bytes,
    network_bytes,
)
from reference.ed import cluster_offsets
from reference.runio import non_negative_int, positive, positive_int
from reference.sections import Langevin, Physics

__all__ = [
    "DEGENERATE_ALPHA",
    "ESTIMATORS",
    "EXACT_MAX_SIZE",
    "PROVIDERS",
    "CoarseningAnalyseSettings",
    "CoarseningRunSettings",
    "CoarseningSettings",
    "ForcesSettings",
    "TdglSettings",
]

PROVIDERS = ("cluster", "mlp", "exact", "tdgl")
"""The force providers of ``[forces] provider``."""

EXACT_MAX_SIZE = 32
"""The largest lattice side the ``exact`` provider accepts: a dense ``N x N`` diagonalisation
per member and step (``N = 1024`` at 32 x 32: about 0.3 s a step and member on a laptop
core, 32 MiB a matrix); larger lattices are the local clusters' or the network's."""

ESTIMATORS = ("eq15", "first_moment", "second_moment", "peak_width", "correlation", "walls")
"""The domain lengths the analyse stage measures, by name: paper 003 eq. (15) as printed,
the background-corrected first moment (window 2), the second moment, the peak's half-weight
radius, ``C(r) = 1/2`` of phi (paper 002 eq. 26) and the inverse wall density
(:mod:`reference.observables`)."""

DEGENERATE_ALPHA = 5.0
"""An offset fit ``L = (a + b t)^alpha`` whose exponent exceeds this is degenerate: where
``L(t)`` bends upwards in log-log, the least squares run to ``a/b -> inf`` with ``alpha b / a``
fixed, the exponential limit, and ``alpha`` means nothing."""


@attrs.frozen(kw_only=True)
class ForcesSettings:
    """``[forces]``: what drives the lattice.

    ``provider``:

    * ``"cluster"``: the local-cluster forces of radius ``r_c`` (:class:`fast.ed.ClusterForceField`;
      1.0 is 5 sites, 2.0 is 13), at the fixed filling of ``[physics]`` (one global chemical
      potential per configuration) or at its fixed ``mu``; no training;
    * ``"mlp"``: the trained network in ``model_file`` (from an earlier run's ``model.pt``; a
      path relative to the working directory), checked against ``[physics]`` when loaded, its
      content hash part of the trajectory's identity. ``match_electrons = false`` admits a
      model trained at another electron temperature or filling (the bath is always that of
      ``[physics]``);
    * ``"exact"``: exact diagonalisation (:class:`fast.ed.ExactForceField`), for lattices up to
      :data:`EXACT_MAX_SIZE`;
    * ``"tdgl"``: the Allen-Cahn control, model A of ``[tdgl]`` (paper 002 eq. 4).
    """

    provider: str = "cluster"
    r_c: float = attrs.field(default=1.0, converter=float)
    model_file: str = ""
    match_electrons: bool = True

    def __attrs_post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {list(PROVIDERS)}, got {self.provider!r}")
        if not math.isfinite(self.r_c) or self.r_c < 0:
            raise ValueError(f"r_c must be >= 0 (lattice spacings), got {self.r_c!r}")
        if self.provider == "mlp" and not self.model_file:
            raise ValueError("model_file must name a trained model (model.pt) for provider 'mlp'")
        if self.provider != "mlp" and self.model_file:
            raise ValueError(
                f"model_file is read by provider 'mlp' only; leave it out for {self.provider!r}"
            )


@attrs.frozen(kw_only=True)
class TdglSettings:
    r"""``[tdgl]``: model A, :math:`\partial_t\phi = -\Gamma\,\delta\mathcal{F}/\delta\phi + \eta`
    with :math:`\mathcal{F} = \sum_i [K \sum_\delta (\phi_{i+\delta} - \phi_i)^2
    + A(\phi_i^2 - \phi_0^2)^2]` (paper 002 eqs. 4-5; :func:`fast.dynamics.tdgl`), read by
    ``[forces] provider = "tdgl"`` only.

    Defaults: walls :math:`\phi_0 \tanh(x/w)` of width :math:`w = \sqrt{K/A}/\phi_0 = 1`
    spacing (wider walls need a larger lattice before the domains are much larger than the
    walls; the lattice's pinning of a wall falls like :math:`e^{-\pi^2 w}`, negligible here),
    the explicit step under half its stability limit. ``temperature`` is that of the noise, by
    default ``[physics]``'s; the quench starts from
    :math:`\phi_i \sim N(0, \text{initial\_spread}^2)`.
    """

    K: float = attrs.field(default=0.5, validator=positive)
    A: float = attrs.field(default=0.5, validator=positive)
    phi0: float = attrs.field(default=1.0, validator=positive)
    Gamma: float = attrs.field(default=1.0, validator=positive)
    dt: float = attrs.field(default=0.08, validator=positive)
    temperature: float | None = None
    initial_spread: float = attrs.field(default=0.1, validator=positive)

    def __attrs_post_init__(self) -> None:
        if self.temperature is not None and not (
            math.isfinite(self.temperature) and self.temperature >= 0
        ):
            raise ValueError(
                "temperature must be >= 0 (or left out: that of [physics]), got "
                f"{self.temperature!r}"
            )
        limit = self.stability_limit
        if self.dt >= limit:
            raise ValueError(
                f"dt must be < {limit:.4g} = 2 / (Gamma (16 K + 8 A phi0^2)), the stability "
                f"limit of the explicit step, got {self.dt!r}"
            )

    @property
    def stability_limit(self) -> float:
        """The largest stable explicit step: ``2 / (Gamma lambda_max)`` with ``lambda_max``
        the largest curvature of the free energy about the ordered state (``16 K`` from the
        Laplacian, ``8 A phi0^2`` from the double well)."""
        return 2.0 / (self.Gamma * (16.0 * self.K + 8.0 * self.A * self.phi0**2))


@attrs.frozen(kw_only=True)
class CoarseningRunSettings:
    """``[coarsening]``: the quench ensemble (paper 003: 200 x 200, 25,000 steps).

    ``ensemble`` members (replicas of the quench with their own hot starts and noise) run as
    one batch, or with ``members_per_unit > 0`` as units of that many members that a cluster
    can spread (:func:`fast.runs.trained.ensemble_run`; the setting changes the noise, so it
    is part of the stage's fingerprint). ``precision``: that of the network (``"mlp"``) and
    of the stored frames."""

    size: int = attrs.field(default=200, validator=positive_int)
    ensemble: int = attrs.field(default=4, validator=positive_int)
    steps: int = attrs.field(default=25000, validator=positive_int)
    record_every: int = attrs.field(default=100, validator=positive_int)
    checkpoint_every: int = attrs.field(default=1000, validator=positive_int)
    members_per_unit: int = attrs.field(default=0, validator=non_negative_int)
    precision: str = "float32"

    def __attrs_post_init__(self) -> None:
        check_square_size(self.size)
        check_recording(self.steps, self.record_every, self.checkpoint_every)
        check_precision(self.precision)

    @property
    def frames(self) -> int:
        """Recorded frames, the initial state included."""
        return self.steps // self.record_every + 1


@attrs.frozen(kw_only=True)
class CoarseningAnalyseSettings:
    r"""``[analyse]``: how domain growth is measured.

    ``window = [from, to]``: the late-stage fit window in ``t omega`` (TDGL: its own time),
    for the plain fit :math:`L = A t^\alpha` (paper 003 eq. 17) and the offset fit
    :math:`L = (a + bt)^\alpha` of every estimator (:data:`ESTIMATORS`); paper 003 fits
    roughly :math:`t\omega \in [55, 550]`. ``bootstrap`` resamples of the members give every
    error and band (0: none). ``q_cut`` bounds the CDW peak region of the background-corrected
    lengths (:func:`reference.observables.structure_factor_background`). ``headline``: the
    estimator whose exponent a run's summary line shows. ``exponent_spacing``: the effective
    exponent is taken between frames at least this factor apart in time (linear frames are
    thinned to a log grid). ``collapse_frames``: late frames of the scaling collapse.
    ``frozen_share``: a fit is flagged "walls frozen" when fewer than this share of the
    wall bonds changed between the window's first and last frames
    (:func:`reference.observables.wall_mobility` over the whole window; see
    :func:`fast.runs.coarsening.wall_verdict`).
    """

    window: tuple[float, float] = (55.0, 550.0)
    bootstrap: int = attrs.field(default=200, validator=non_negative_int)
    q_cut: float = attrs.field(default=0.5 * math.pi, validator=positive)
    headline: str = "first_moment"
    exponent_spacing: float = attrs.field(default=1.25, validator=positive)
    collapse_frames: int = attrs.field(default=4, validator=positive_int)
    frozen_share: float = attrs.field(default=0.5, validator=positive)

    def __attrs_post_init__(self) -> None:
        lo, hi = self.window
        if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo < hi):
            raise ValueError(f"window must be [from, to] with 0 <= from < to, got {self.window!r}")
        if self.headline not in ESTIMATORS:
            raise ValueError(f"headline must be one of {list(ESTIMATORS)}, got {self.headline!r}")
        if self.bootstrap == 1:
            raise ValueError("bootstrap must be 0 (no errors) or at least 2 resamples, got 1")
        if self.q_cut >= math.pi:
            raise ValueError(
                "q_cut must be < pi so that the background region holds momenta, got "
                f"{self.q_cut!r}"
            )
        if self.exponent_spacing <= 1.0:
            raise ValueError(
                f"exponent_spacing must be > 1 (a factor in time), got {self.exponent_spacing!r}"
            )
        if self.frozen_share >= 1.0:
            raise ValueError(f"frozen_share must lie in (0, 1), got {self.frozen_share!r}")


@attrs.frozen(kw_only=True)
class CoarseningSettings:
    """A whole coarsening experiment file; every key has a default (paper 003's quench on
    200 x 200 with 5-site cluster forces at half filling)."""

    name: str = "coarsening"
    kind: str = "coarsening"
    seed: int = 0
    physics: Physics = attrs.field(factory=Physics)
    langevin: Langevin = attrs.field(factory=Langevin)
    forces: ForcesSettings = attrs.field(factory=ForcesSettings)
    tdgl: TdglSettings = attrs.field(factory=TdglSettings)
    coarsening: CoarseningRunSettings = attrs.field(factory=CoarseningRunSettings)
    analyse: CoarseningAnalyseSettings = attrs.field(factory=CoarseningAnalyseSettings)

    def __attrs_post_init__(self) -> None:
        if self.kind != "coarsening":
            raise ValueError(f"kind must be 'coarsening' for this class, got {self.kind!r}")
        if self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        run, forces = self.coarsening, self.forces
        if forces.provider == "exact" and run.size > EXACT_MAX_SIZE:
            raise ValueError(
                f"coarsening.size must be <= {EXACT_MAX_SIZE} for provider 'exact' (a dense "
                f"diagonalisation per member and step), got {run.size}; use 'cluster' or 'mlp'"
            )
        if forces.provider == "cluster":
            check_receptive_radius(math.floor(forces.r_c), {"coarsening.size": run.size})
        if forces.provider != "tdgl" and self.physics.g == 0.0:
            raise ValueError("physics.g must be non-zero: the densities are read from the forces")
        end = run.steps * self.dt * self.time_unit
        lo, hi = self.analyse.window
        if hi > end * (1 + 1e-9):
            raise ValueError(
                f"analyse.window ends at {self.time_label} = {hi:g}, after the run's end "
                f"({end:g} = steps x dt); shorten it or run longer"
            )
        frame = run.record_every * self.dt * self.time_unit
        inside = math.floor(hi / frame + 1e-9) - math.ceil(lo / frame - 1e-9) + 1
        if inside < 4:
            raise ValueError(
                f"analyse.window [{lo:g}, {hi:g}] holds {inside} recorded frames (one every "
                f"{frame:g}); the offset fit needs at least 4: widen it or record more often"
            )

    @property
    def holstein(self) -> bool:
        """Whether the lattice is the Holstein model's (every provider but ``"tdgl"``)."""
        return self.forces.provider != "tdgl"

    @property
    def omega(self) -> float:
        """``sqrt(k/m)``, the inverse time unit of paper 003."""
        return self.physics.omega

    @property
    def time_unit(self) -> float:
        """The factor from code time to the reduced time of ``[analyse]``: ``omega`` for the
        Holstein providers, 1 for TDGL."""
        return self.omega if self.holstein else 1.0

    @property
    def time_label(self) -> str:
        """The reduced time's name in reports."""
        return "t omega" if self.holstein else "t (TDGL units)"

    @property
    def dt(self) -> float:
        """The time step in code units: ``[langevin] dt_omega / omega``, or ``[tdgl] dt``."""
        return self.langevin.dt(self.physics) if self.holstein else self.tdgl.dt

    @property
    def gamma(self) -> float:
        """The Langevin friction ``omega_tau k / omega``."""
        return self.langevin.gamma(self.physics)

    @property
    def temperature(self) -> float:
        """The temperature of the dynamics: ``[physics]``'s, or ``[tdgl] temperature``."""
        if not self.holstein and self.tdgl.temperature is not None:
            return self.tdgl.temperature
        return self.physics.temperature

    def model_path(self) -> Path:
        """The ``mlp`` provider's model file, made absolute (units on other machines read it).

        Returns
        -------
        Path
            ``[forces] model_file`` with ``~`` expanded, resolved against the working
            directory.
        """
        return Path(self.forces.model_file).expanduser().resolve()

    def load_network(self) -> TrainedModel:
        """The ``mlp`` provider's model, checked against ``[physics]`` (and its electrons,
        unless ``match_electrons = false``) and the lattice (its receptive field must not wrap).

        Returns
        -------
        TrainedModel
            The loaded model (weights float64).

        Raises
        ------
        ValueError
            Naming the file, if it is missing, not a model, or of other physics.
        """
        network = load_model(
            self.model_path(),
            physics=self.physics.params(),
            ensemble=self.physics.ensemble() if self.forces.match_electrons else None,
        )
        check_receptive_radius(
            receptive_radius(network.weights.architecture),
            {"coarsening.size": self.coarsening.size},
        )
        return network

    def memory_estimate(self) -> dict[str, MemoryNeed]:
        """The peak memory of each stage (:func:`fast.runs.runner.check_memory`), within a
        factor of about two.

        Returns
        -------
        dict of str to MemoryNeed
            ``simulate`` (by provider; for ``"mlp"`` the network is read when its file
            exists) and ``analyse``.
        """
        run, provider = self.coarsening, self.forces.provider
        sites = float(run.size) ** 2
        batch = float(run.ensemble if run.members_per_unit == 0 else min(run.members_per_unit,
                                                                         run.ensemble))  # fmt: skip
        if provider == "exact":
            simulate = MemoryNeed(dense_bytes(sites, batch), "the exact forces ([coarsening] "
                                  "size, ensemble or members_per_unit)")  # fmt: skip
        elif provider == "mlp" and self.model_path().is_file():
            arch = self.load_network().weights.architecture
            simulate = MemoryNeed(network_bytes(arch, batch * sites, run.precision),
                                  "the network's forces ([coarsening] size, ensemble)")  # fmt: skip
        elif provider == "cluster":
            m = float(len(cluster_offsets(self.forces.r_c)))
            simulate = MemoryNeed(
                8.0 * batch * sites * (3.0 * m + 12.0) + 4.0 * 8.0 * batch * 2**22,
                "the clusters' levels and weights of every site and an eigh batch "
                "([coarsening] size, ensemble or members_per_unit, [forces] r_c)",
            )
        else:
            simulate = MemoryNeed(
                8.0 * 16.0 * batch * sites, "the fields and forces ([coarsening] size, ensemble)"
            )
        resamples = max(self.analyse.bootstrap, 1)
        analyse = MemoryNeed(
            8.0 * sites * (6.0 * resamples + 8.0 * run.ensemble),
            "a frame's structure factors and correlation maps of every member and bootstrap "
            "resample ([coarsening] size, ensemble, [analyse] bootstrap)",
        )
        return {"simulate": simulate, "analyse": analyse}

    def derived(self) -> dict[str, Any]:
        """Derived quantities recorded in ``experiment.json`` next to the settings.

        Returns
        -------
        dict
            ``dt``, ``time_unit``, ``time_label``, ``temperature_of_dynamics`` and
            ``t_end_reduced``; for the Holstein providers also ``gamma``, ``omega`` and
            ``physics_params``; for ``"mlp"`` the absolute ``model_file``.
        """
        out: dict[str, Any] = {
            "dt": self.dt, "time_unit": self.time_unit, "time_label": self.time_label,
            "temperature_of_dynamics": self.temperature,
            "t_end_reduced": self.coarsening.steps * self.dt * self.time_unit,
        }  # fmt: skip
        if self.holstein:
            out |= {"gamma": self.gamma, "omega": self.omega,
                    "physics_params": json.loads(physics_json(self.physics.params()))}  # fmt: skip
        if self.forces.provider == "mlp":
            out["model_file"] = str(self.model_path())
        return out

    def headline(self, metrics: Mapping[str, Any]) -> str:
        """The headline estimator's exponents (plain and offset fits) and the walls' verdict.

        Parameters
        ----------
        metrics : mapping
            The run's ``metrics.json`` (its ``growth`` entry).

        Returns
        -------
        str
            E.g. ``"alpha(first_moment) = 0.345 (offset fit 0.412)"``, with
            ``", walls frozen in the window"`` when the walls did not move.
        """
        growth = metrics["growth"]
        name = growth["headline"]
        entry = growth["estimators"][name]
        plain, offset = entry.get("fit"), entry.get("offset_fit")
        if offset is None:
            shifted = "n/a"
        elif offset.get("degenerate"):
            shifted = f"degenerate: L(t) bends up, alpha > {DEGENERATE_ALPHA:g}"
        else:
            shifted = format(offset["alpha"], ".3f")
        text = (
            f"alpha({name}) = {'n/a' if plain is None else format(plain['alpha'], '.3f')} "
            f"(offset fit {shifted})"
        )
        walls = growth["walls"]
        if walls.get("frozen"):
            text += ", walls frozen in the window"
        return text
