r"""Voltage-driven CDW-to-metal transition with exact NEGF forces (paper 001), a small runnable job.

Run ``python -m reference.programs.voltage --config specs/experiments/exact_voltage.toml --out
runs/exact_voltage``. A Holstein lattice, open along x and periodic along y, sits between two
wide-band electrodes on the columns ``x = 0`` (left, :math:`\mu_L = -V`) and ``x = Lx - 1``
(right, :math:`\mu_R = 0`), every site also touching a weak bath at :math:`\epsilon_F = 0`
(paper 001, sec. II and App. A). The lattice starts in the equilibrium checkerboard CDW
(:func:`reference.ed.ground_state` of the closed lattice at half filling) plus weak noise
and follows overdamped Brownian dynamics (paper 001, eq. 3) driven by the nonequilibrium
steady-state force of :class:`reference.negf.NEGFForceField` (eq. 4). The metal nucleates
at the left electrode and its front advances into the CDW; :math:`\xi(t)` is the metallic
fraction of the lattice (paper 001, Fig. 4; :func:`reference.observables.domain_wall_position`).

The run folder receives

``config.json``
    the resolved settings (with the derived coupling ``g``);
``trajectory.h5``
    datasets ``t`` (n_frames,), ``Q`` and ``n`` (n_frames, Lx, Ly), ``xi`` (n_frames,),
    ``frozen`` (Lx, Ly) and the attributes ``config`` and ``code_version``;
``metrics.json``
    ``t``, ``xi(t)``, the particle currents out of each reservoir at the last frame
    (left lead, right lead, baths, and their sum, which vanishes in a steady state),
    the density range, the Riemann-sum aliasing bound and timings;
``figures/``
    ``density_map.png`` (:math:`n_i` at four times) and ``domain_wall.png`` (:math:`\xi(t)`).

Run as a program, the job uses one BLAS thread unless ``OPENBLAS_NUM_THREADS`` (or
``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``) is set: its matrices are small, and threaded BLAS
made it slower, up to ten-fold on a busy 2-core machine. Every file is written under a
temporary name and renamed, so an interrupted run leaves no half-written file.

Choices the paper leaves open, or that the time budget forces (also in
``specs/experiments/exact_voltage.toml``):

* **Voltage.** Paper 001 does not state ``V``; ``V = 3`` is our choice. This lattice's
  CDW has its gap edges at about :math:`\pm 2.6` (softer on the lead columns). A scan on the
  default 12 x 6 lattice (metallic fraction :math:`\xi` from :math:`t = 2.5` to 30) gave
  ``V = 2.0``: 0.04 to 0.07 (only the lead column turns metallic); ``V = 2.5``: 0.08 to
  0.29 (the front creeps); ``V = 3.0``: 0.14 to 0.61 (nucleation at once, then about one
  column per 3 time units); ``V = 3.5``: 0.18 to 0.67. ``V = 3`` shows nucleation at the
  left electrode and a front that moves during the run. On this short lattice the front
  stops at :math:`\xi \approx 0.6` (about 5 columns before the right lead, whose
  :math:`\mu_R = 0` keeps the CDW next to it stable) after :math:`t \approx 20-25`; the
  metallic region is depleted (:math:`n_i \approx 0.1-0.3`), drained by the left lead.
* **Bath broadening and energy step.** The density is a Riemann sum over energy
  (paper 001, App. A: step 0.003). A level of half width :math:`\Gamma_m` sampled with
  step :math:`\Delta\epsilon` carries a relative error up to about
  :math:`2e^{-2\pi\Gamma_m/\Delta\epsilon}` (Poisson summation), and levels away from the
  leads have :math:`\Gamma_m \approx \Gamma_{\rm bath}`. With the paper's
  :math:`\Gamma_{\rm bath} = 0.001` even the paper's step errs by up to 0.07 in :math:`n_i`
  on this lattice, and a step of 0.01 produces densities outside [0, 1]; an accurate step
  (0.001) costs ten times this run's budget. The run therefore uses
  :math:`\Gamma_{\rm bath} = 0.01` (still a weak bath next to :math:`\Gamma_{\rm lead} = 1`)
  with step 0.01: the bound is :math:`2e^{-2\pi} \approx 4\times 10^{-3}` and the
  measured density error about :math:`2\times 10^{-3}`. ``metrics.json`` records the bound.
* **Energy window.** A fixed window ``(-7, 1.5)`` instead of the paper's implicit one: below
  it :func:`reference.negf.negf_densities` adds the Lorentzian tails exactly
  (``tail_correction``), and above it every Fermi factor is below :math:`e^{-15}`.
* **Frozen columns.** Paper 001 holds the columns next to each electrode at values from a
  reference NEGF run; in an exact run there is nothing to copy, so ``frozen_columns = c``
  holds the ``c`` outermost columns on each side (lead columns included) at their initial
  values (the ``frozen`` mask of :func:`reference.dynamics.brownian`). Default 0.
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    # Run as a program: the matrices are small (N <= a few hundred), where multithreaded
    # BLAS only adds overhead, and on a busy machine its spinning threads can slow a run
    # ten-fold. One thread unless the caller chose otherwise (set before NumPy loads).
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import argparse
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

import reference
from reference import dynamics, ed, negf, observables, runio
from reference.lattice import SquareLattice
from reference.model import Electrodes, HolsteinModel
from reference.sections import ElectrodeSettings, VoltagePhysics

__all__ = ["NEGFElectrodes", "VoltageConfig", "load_config", "main", "run_exact_voltage"]

log = logging.getLogger("reference.programs.voltage")

SECTION = "voltage"


def _window(instance: object, attribute: attrs.Attribute[Any], value: tuple[float, float]) -> None:
    lower, upper = value
    if not (math.isfinite(lower) and math.isfinite(upper) and upper > lower):
        raise ValueError(f"{attribute.name} must be finite with upper > lower, got {value!r}")


@attrs.frozen(kw_only=True)
class NEGFElectrodes(ElectrodeSettings):
    """``[electrodes]`` of the exact run: paper 001's, with a ten times wider bath
    (``gamma_bath = 0.01``) so that the energy Riemann sum is accurate (module docstring)."""

    gamma_bath: float = attrs.field(default=0.01, validator=runio.positive)


@attrs.frozen(kw_only=True)
class VoltageConfig:
    """Settings of the exact voltage-driven run; defaults follow paper 001 on a small lattice.

    The file holds ``[voltage]`` (the run: the attributes below), ``[physics]``
    (:class:`reference.sections.VoltagePhysics`: paper 001, sec. IV, ``t_nn = 1``,
    :math:`\\lambda = g^2/(Wk) = 0.28` with ``W = 8``, ``k = 1``, :math:`\\kappa/k = 0.18`,
    :math:`k_BT = 0.1`) and ``[electrodes]`` (:class:`NEGFElectrodes`). Time is in units of
    :math:`1/\\gamma`, :math:`\\delta t = 0.1/\\gamma`. Deviations (voltage, bath broadening,
    energy step and window, lattice size) are explained in the module docstring.

    Attributes
    ----------
    Lx, Ly : int
        Lattice size; open along x (electrodes on the first and last column), periodic
        along y (``Ly`` even).
    steps, record_every : int
        Brownian steps and steps per recorded frame.
    seed : int
        Seed of the initial noise and of the Brownian noise.
    damping, dt : float
        Brownian friction :math:`\\gamma` and time step.
    energy_step : float
        Riemann-sum step of the NEGF energy integral (paper 001: 0.003).
    energy_window : (float, float)
        Integration window; the tail below it is added exactly.
    tail_correction : bool
        Add the Lorentzian tails below the window.
    initial_noise : float
        Standard deviation of the Gaussian noise added to the initial CDW.
    frozen_columns : int
        Columns held fixed next to each electrode (lead columns included).
    metal_threshold : float
        A site is metallic when :math:`|\\phi_i|` is below this.
    physics : VoltagePhysics
    electrodes : NEGFElectrodes
    """

    Lx: int = attrs.field(default=12, validator=runio.positive_int)
    Ly: int = attrs.field(default=6, validator=runio.positive_int)
    steps: int = attrs.field(default=400, validator=runio.positive_int)
    record_every: int = attrs.field(default=10, validator=runio.positive_int)
    seed: int = 2026
    damping: float = attrs.field(default=1.0, validator=runio.positive)
    dt: float = attrs.field(default=0.1, validator=runio.positive)
    energy_step: float = attrs.field(default=0.01, validator=runio.positive)
    energy_window: tuple[float, float] = attrs.field(
        converter=runio.float_pair, default=(-7.0, 1.5), validator=_window
    )
    tail_correction: bool = True
    initial_noise: float = attrs.field(default=0.01, validator=runio.non_negative)
    frozen_columns: int = attrs.field(default=0, validator=runio.non_negative_int)
    metal_threshold: float = attrs.field(default=0.25, validator=runio.positive)
    physics: VoltagePhysics = attrs.field(factory=VoltagePhysics)
    electrodes: NEGFElectrodes = attrs.field(factory=NEGFElectrodes)

    def __attrs_post_init__(self) -> None:
        if self.Lx < 4:
            raise ValueError(f"Lx must be an integer >= 4, got {self.Lx!r}")
        if self.Ly < 2 or self.Ly % 2:
            raise ValueError(f"Ly must be an even integer >= 2 (periodic y), got {self.Ly!r}")
        if self.record_every > self.steps:
            raise ValueError(
                f"record_every must be <= steps ({self.steps}), got {self.record_every!r}"
            )
        if 2 * self.frozen_columns >= self.Lx - 1:
            raise ValueError(
                f"frozen_columns must leave at least two free columns, i.e. be < "
                f"(Lx - 1) / 2 = {(self.Lx - 1) / 2}, got {self.frozen_columns!r}"
            )
        if not 0.0 < self.metal_threshold < 1.0:
            raise ValueError(f"metal_threshold must lie in (0, 1), got {self.metal_threshold!r}")

    @property
    def lattice(self) -> SquareLattice:
        """The lattice, open along x and periodic along y."""
        return SquareLattice(self.Lx, self.Ly, periodic_x=False, periodic_y=True)

    @property
    def voltage(self) -> float:
        """The applied voltage ``V`` (:math:`\\mu_L = -V`)."""
        return self.electrodes.voltage

    def model(self) -> HolsteinModel:
        """Return the Holstein model; its electrons (half filling at ``temperature``) define
        the initial equilibrium CDW; the NEGF densities ignore them.

        Returns
        -------
        HolsteinModel
            ``physics`` on :attr:`lattice`.
        """
        return self.physics.model(self.lattice)

    def reservoirs(self) -> Electrodes:
        """Return the leads and baths.

        Returns
        -------
        Electrodes
            ``electrodes`` at the temperature of ``physics``.
        """
        return self.electrodes.electrodes(self.physics)

    def frozen_mask(self) -> NDArray[np.bool_]:
        """Return the mask of the frozen columns, shape ``(Lx, Ly)``.

        Returns
        -------
        (Lx, Ly) bool
            True on the first and last ``frozen_columns`` columns (all False for 0).
        """
        mask = np.zeros((self.Lx, self.Ly), dtype=bool)
        if self.frozen_columns:
            mask[: self.frozen_columns] = True
            mask[-self.frozen_columns :] = True
        return mask

    @property
    def aliasing_bound(self) -> float:
        """Bound :math:`2e^{-2\\pi\\Gamma_{\\min}/\\Delta\\epsilon}` on the Riemann-sum error.

        The relative error of a level of half width at least :math:`\\Gamma_{\\min}` (the
        smaller of the two broadenings) in the energy sum; 2 when a broadening is zero.
        """
        gamma_min = min(self.electrodes.gamma_bath, self.electrodes.gamma_lead)
        return 2.0 * math.exp(-2.0 * math.pi * gamma_min / self.energy_step)


def load_config(path: str | os.PathLike[str] | None = None, **overrides: Any) -> VoltageConfig:
    """Return a :class:`VoltageConfig` from a TOML file and overrides.

    The file holds ``[voltage]``, ``[physics]`` and ``[electrodes]``; ``overrides`` are run
    keys or ``"physics.<key>"``, ``"electrodes.<key>"``; ``None`` values are ignored.

    Parameters
    ----------
    path : path-like, optional
        The TOML file; the defaults alone when omitted.
    **overrides : object
        Settings that replace the file's (see above).

    Returns
    -------
    VoltageConfig
        The validated settings.

    Raises
    ------
    ValueError
        On an unknown key or an invalid value.
    """
    return runio.load_config(VoltageConfig, SECTION, path, overrides)


def _plot(
    folder: Path,
    config: VoltageConfig,
    t: NDArray[np.float64],
    n: NDArray[np.float64],
    xi: NDArray[np.float64],
) -> None:
    plt = runio.pyplot()
    frames = np.unique(np.linspace(0, len(t) - 1, 4).round().astype(int))
    ncols = 2 if len(frames) > 2 else len(frames)
    nrows = -(-len(frames) // ncols)
    panel_width = 4.2
    panel_height = max(panel_width * config.Ly / config.Lx, 1.2) + 0.7
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel_width * ncols + 1.2, panel_height * nrows + 0.6),
        squeeze=False,
        layout="constrained",
    )
    image = None
    for ax, f in zip(axes.ravel(), frames, strict=False):
        # x (across the electrodes) runs horizontally, y vertically.
        image = ax.imshow(n[f].T, origin="lower", cmap="RdBu_r", vmin=0.0, vmax=1.0)
        ax.set_title(f"$t\\gamma$ = {t[f]:.0f}, $\\xi$ = {xi[f]:.2f}", fontsize=9)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.axvspan(-1.3, -0.6, color="gold")
        ax.axvspan(config.Lx - 0.4, config.Lx + 0.3, color="gray")
        ax.set_xlim(-1.3, config.Lx + 0.3)
    for ax in axes.ravel()[len(frames) :]:
        ax.set_visible(False)
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="$n_i$")
    fig.suptitle(
        f"NEGF Brownian dynamics, V = {config.voltage:g}: left lead ($\\mu_L = -V$) gold, "
        "right lead grey",
        fontsize=10,
    )
    runio.save_figure(fig, folder / "density_map.png")

    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    ax.plot(t, xi, "o-", ms=3, color="C2")
    ax.set_xlabel(r"$t\,\gamma$")
    ax.set_ylabel(r"metallic fraction $\xi$")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"CDW-metal interface, {config.Lx} x {config.Ly}, V = {config.voltage:g}")
    fig.tight_layout()
    runio.save_figure(fig, folder / "domain_wall.png")


def run_exact_voltage(
    config: VoltageConfig, out: str | os.PathLike[str], *, progress: bool = True
) -> dict[str, Any]:
    """Run the driven Brownian dynamics, write the run folder ``out`` and return the metrics.

    Parameters
    ----------
    config : VoltageConfig
        The settings of the run (e.g. from :func:`load_config`).
    out : path-like
        Run folder; created if needed.
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict
        The contents of ``metrics.json``.

    Raises
    ------
    ValueError
        If ``out`` is not writable, or another run holds it (:func:`reference.runio.lock_folder`).
    """
    folder = runio.prepare_run_folder(out)
    with runio.lock_folder(folder):
        return _run_in_folder(config, folder, progress)


def _run_in_folder(config: VoltageConfig, folder: Path, progress: bool) -> dict[str, Any]:
    """The body of :func:`run_exact_voltage`, in the locked run folder."""
    runio.write_json(
        folder / "config.json",
        attrs.asdict(config) | {"aliasing_bound": config.aliasing_bound},
    )
    if config.aliasing_bound > 1e-2:
        log.warning(
            "energy_step %.4g is coarse for gamma_bath %.4g: bath-limited levels may be off by "
            "up to %.0f %% of their weight",
            config.energy_step, config.electrodes.gamma_bath, 100 * min(config.aliasing_bound, 1.0),
        )  # fmt: skip
    model, electrodes, lattice = config.model(), config.reservoirs(), config.lattice
    mask = config.frozen_mask()

    start = time.perf_counter()
    q_cdw = ed.ground_state(model).Q
    rng = np.random.default_rng(config.seed)
    q0 = q_cdw + rng.normal(scale=config.initial_noise, size=lattice.shape)
    setup_seconds = time.perf_counter() - start

    force_field = negf.NEGFForceField(
        model, electrodes, config.energy_step, config.energy_window, config.tail_correction
    )
    integrator = dynamics.brownian(
        force_field,
        gamma=config.damping,
        temperature=config.physics.temperature,
        dt=config.dt,
        frozen=mask if mask.any() else None,
    )
    log.info(
        "%dx%d lattice, V=%g, %d Brownian steps of dt=%g (energy step %g)",
        config.Lx, config.Ly, config.voltage, config.steps, config.dt, config.energy_step,
    )  # fmt: skip
    start = time.perf_counter()
    trajectory = dynamics.simulate(
        integrator,
        integrator.init(q0, rng=rng),
        config.steps,
        record_every=config.record_every,
        progress=progress,
        description="NEGF Brownian",
    )
    dynamics_seconds = time.perf_counter() - start

    start = time.perf_counter()
    t, Q = trajectory.t, trajectory.Q
    n = ed.densities_from_forces(Q, trajectory.forces, model)
    xi = observables.domain_wall_position(n, lattice, config.metal_threshold)
    currents = negf.particle_currents(
        Q[-1], model, electrodes, config.energy_step, config.energy_window
    )
    left, right = float(currents[0].sum()), float(currents[-1].sum())
    bath = float(currents[1:-1].sum())
    analysis_seconds = time.perf_counter() - start

    runio.write_hdf5(
        folder / "trajectory.h5",
        {"t": t, "Q": Q, "n": n, "xi": xi, "frozen": mask},
        config,
        {
            "time_unit": "1/gamma (Brownian damping), paper 001",
            "layout": "frames x Lx x Ly; x = 0 touches the left lead (mu_L = -V)",
        },
    )
    metrics: dict[str, Any] = {
        "t": t,
        "xi": xi,
        "xi_final": float(xi[-1]),
        "voltage": config.voltage,
        "currents_final": {
            "left_lead": left,
            "right_lead": right,
            "baths": bath,
            "sum": left + right + bath,
            "convention": "particles per unit time entering the lattice from each reservoir "
            "(Meir-Wingreen, reference.negf.particle_currents); the sum vanishes in a steady state",
        },
        "density_range": [float(n.min()), float(n.max())],
        "aliasing_bound": config.aliasing_bound,
        "timings": {
            "setup_seconds": setup_seconds,
            "dynamics_seconds": dynamics_seconds,
            "seconds_per_step": dynamics_seconds / config.steps,
            "analysis_seconds": analysis_seconds,
        },
        "code_version": reference.__version__,
    }
    start = time.perf_counter()
    _plot(folder / "figures", config, t, n, xi)
    metrics["timings"]["plot_seconds"] = time.perf_counter() - start
    runio.write_json(folder / "metrics.json", metrics)
    return metrics


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point of ``python -m reference.programs.voltage``.

    Parameters
    ----------
    argv : sequence of str, optional
        The command-line arguments (without the program name); ``sys.argv[1:]`` when
        omitted. ``--help`` lists them.

    Returns
    -------
    int
        The process exit code: 0 on success, 2 for bad settings or a file error, 1 for
        an unexpected error (see :func:`reference.runio.run_cli`).
    """
    parser = argparse.ArgumentParser(
        prog="python -m reference.programs.voltage",
        description="Voltage-driven CDW-to-metal transition: NEGF forces, Brownian dynamics "
        "(paper 001).",
    )
    parser.add_argument(
        "--out", default="runs/exact_voltage", help="run folder (default: runs/exact_voltage)"
    )
    parser.add_argument(
        "--config",
        help="TOML file with [voltage], [physics], [electrodes] (exact_voltage.toml)",
    )
    parser.add_argument("--steps", type=int, help="number of Brownian steps")
    parser.add_argument("--record-every", type=int, dest="record_every", help="steps per frame")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--voltage", type=float, help="applied voltage V (mu_L = -V)")
    parser.add_argument("--energy-step", type=float, dest="energy_step", help="NEGF energy step")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    overrides = {k: getattr(args, k) for k in ("steps", "record_every", "seed", "energy_step")}
    overrides["electrodes.voltage"] = args.voltage

    def job() -> str:
        config = load_config(args.config, **overrides)
        metrics = run_exact_voltage(config, args.out, progress=not args.quiet)
        c = metrics["currents_final"]
        return (
            f"wrote {args.out}: xi(t_end) = {metrics['xi_final']:.3f}, currents left/right/bath "
            f"= {c['left_lead']:+.4f}/{c['right_lead']:+.4f}/{c['baths']:+.4f}, "
            f"{metrics['timings']['seconds_per_step'] * 1e3:.0f} ms/step"
        )

    return runio.run_cli(job)


if __name__ == "__main__":
    raise SystemExit(main())
