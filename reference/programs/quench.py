"""An exact-diagonalisation Langevin thermal quench of the Holstein model (no machine learning).

Run ``python -m reference.programs.quench --out runs/exact_quench``. A random
lattice at a high temperature is quenched at ``t = 0`` into a bath at
``T = 0.1`` with paper 003's parameters; exact-diagonalisation forces drive
BAOAB Langevin dynamics of a small ensemble, and the run folder receives

``config.json``
    the resolved configuration;
``trajectory.h5``
    datasets ``t`` (n_frames,), ``Q``, ``P``, ``n`` (n_frames, ensemble, Lx, Ly),
    with the configuration and code version as attributes;
``metrics.json``
    ``L(t)`` from the structure factor (paper 003, eq. 15) and from ``C(r) = 1/2``
    (paper 002, eq. 26), the fitted growth exponent (paper 003, eq. 17) and timings;
``figures/``
    ``phi_snapshots.png``, ``structure_factor.png``, ``domain_length.png``.

Every file is written under a temporary name and renamed, so an interrupted
run never leaves a half-written file behind. Later issues replace the engine
with :mod:`fast` and trained models; the folder layout stays.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

import reference
from reference import dynamics, ed, observables, runio
from reference.lattice import SquareLattice
from reference.model import HolsteinModel
from reference.sections import Langevin, Physics

__all__ = ["QuenchConfig", "load_config", "main", "run_exact_quench"]

log = logging.getLogger("reference.programs.quench")


def _positive_int(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be an integer >= 1, got {value!r}")


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


@attrs.frozen(kw_only=True)
class QuenchConfig:
    """Settings of the exact quench; defaults follow paper 003 on a small lattice.

    The physics and the quench are the sections every quench experiment file shares
    (:class:`reference.sections.Physics`, :class:`reference.sections.Langevin`; paper 003:
    ``t = 1, g = 3.5, k = 1, kappa = 0.18``, ``m = 5`` from the authors' script, coupling
    ``n - 1/2``, half filling, quench to ``T = 0.1``, ``dt = 0.022 / omega`` and
    ``omega * gamma / k = 0.09``, hot start ``Q ~ N(0, 5 / kappa)``, ``P ~ N(0, 5 m)``). The
    run itself is ``size``, ``ensemble``, ``steps``, ``record_every`` and ``seed``; the growth
    law is fitted for ``t >= fit_from_fraction t_end`` while ``L < fit_max_length_fraction L``.
    """

    size: int = attrs.field(default=16, validator=_positive_int)
    ensemble: int = attrs.field(default=2, validator=_positive_int)
    steps: int = attrs.field(default=3000, validator=_positive_int)
    record_every: int = attrs.field(default=50, validator=_positive_int)
    seed: int = 2023
    physics: Physics = attrs.field(factory=Physics)
    langevin: Langevin = attrs.field(factory=Langevin)
    fit_from_fraction: float = attrs.field(default=0.1, validator=_positive)
    fit_max_length_fraction: float = attrs.field(default=0.25, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.size < 4 or self.size % 2:
            raise ValueError(f"size must be an even integer >= 4, got {self.size!r}")
        if self.record_every > self.steps:
            raise ValueError(
                f"record_every must be <= steps ({self.steps}), got {self.record_every!r}"
            )
        for name in ("fit_from_fraction", "fit_max_length_fraction"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in (0, 1], got {getattr(self, name)!r}")

    def model(self) -> HolsteinModel:
        """Return the Holstein model of the quench.

        Returns
        -------
        HolsteinModel
            ``physics`` on the periodic ``size x size`` lattice.
        """
        return self.physics.model(self.size)

    @property
    def omega(self) -> float:
        """The oscillator frequency ``sqrt(k/m)``, inverse time unit of paper 003."""
        return self.physics.omega

    @property
    def dt(self) -> float:
        """The time step ``dt_omega / omega``."""
        return self.langevin.dt(self.physics)

    @property
    def gamma(self) -> float:
        """The friction coefficient from ``omega * tau = omega_tau`` with ``tau = gamma / k``."""
        return self.langevin.gamma(self.physics)


def load_config(path: str | os.PathLike[str] | None = None, **overrides: Any) -> QuenchConfig:
    """Return a :class:`QuenchConfig` from a TOML file and overrides.

    The file holds ``[quench]`` (the run), ``[physics]`` and ``[langevin]`` (the sections every
    quench experiment file shares). ``overrides`` are run keys, ``"physics.<key>"`` or
    ``"langevin.<key>"``, or ``temperature`` (the bath's); ``None`` values are ignored.

    Parameters
    ----------
    path : path-like, optional
        The TOML file; the defaults alone when omitted.
    **overrides : object
        Settings that replace the file's (see above).

    Returns
    -------
    QuenchConfig
        The validated settings.

    Raises
    ------
    ValueError
        On an unknown key or an invalid value.
    """
    if "temperature" in overrides:
        overrides["physics.temperature"] = overrides.pop("temperature")
    return runio.load_config(QuenchConfig, "quench", path, overrides)


def _write_trajectory(
    path: Path,
    config: QuenchConfig,
    t: NDArray[np.float64],
    Q: NDArray[np.float64],
    P: NDArray[np.float64],
    n: NDArray[np.float64],
) -> None:
    import h5py

    def write(p: Path) -> None:
        with h5py.File(p, "w") as fh:
            fh.attrs["config"] = json.dumps(attrs.asdict(config))
            fh.attrs["code_version"] = reference.__version__
            fh.attrs["time_unit"] = "code units (hbar = |t_nn| = 1); t * omega is paper 003's time"
            fh.attrs["layout"] = "frames x ensemble x Lx x Ly"
            fh.create_dataset("t", data=t)
            fh.create_dataset("Q", data=Q, compression="gzip")
            fh.create_dataset("P", data=P, compression="gzip")
            fh.create_dataset("n", data=n, compression="gzip")

    runio.atomic_write(path, write)


def _domain_lengths(
    n: NDArray[np.float64], lattice: SquareLattice
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Return the ensemble-averaged S(k), L from S, and L from C(r) = 1/2, per frame."""
    s_avg = observables.structure_factor(n, lattice).mean(axis=1)
    l_s = np.array([observables.domain_length_from_structure_factor(s, lattice) for s in s_avg])
    phi = observables.local_cdw_order(n, lattice)
    l_c = np.full(len(n), np.nan)
    for frame, phi_frame in enumerate(phi):
        try:
            c_map = observables.correlation_map(phi_frame, lattice).mean(axis=0)
            r, c_r = observables.radial_average(c_map, lattice)
            l_c[frame] = observables.domain_length_from_correlation(r, c_r)
        except ValueError:
            continue  # no crossing of 1/2 (or a uniform field): leave NaN
    return s_avg, l_s, l_c


def _plot(
    folder: Path,
    config: QuenchConfig,
    t: NDArray[np.float64],
    n: NDArray[np.float64],
    s_avg: NDArray[np.float64],
    l_s: NDArray[np.float64],
    l_c: NDArray[np.float64],
    fit: observables.GrowthFit | None,
    fit_mask: NDArray[np.bool_],
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    lattice = SquareLattice(config.size, config.size)
    t_omega = t * config.omega
    frames = np.unique(np.linspace(1, len(t) - 1, 4).astype(int))
    phi = observables.local_cdw_order(n[:, 0], lattice)

    def save(fig: Any, name: str) -> None:
        runio.atomic_write(folder / name, lambda p: fig.savefig(p, dpi=110, format="png"))
        plt.close(fig)

    fig, axes = plt.subplots(1, len(frames), figsize=(3.2 * len(frames), 3.2), squeeze=False)
    for ax, f in zip(axes[0], frames, strict=True):
        im = ax.imshow(phi[f].T, origin="lower", cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_title(f"$t\\omega$ = {t_omega[f]:.0f}")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label=r"$\phi_i$")
    fig.suptitle("Local CDW order after a thermal quench (exact forces)")
    save(fig, "phi_snapshots.png")

    fig, axes = plt.subplots(1, len(frames), figsize=(3.2 * len(frames), 3.2), squeeze=False)
    # Unshifted FFT layout, k = 2 pi m / L in [0, 2 pi): the CDW peak (pi, pi) sits mid-panel.
    step = 2 * np.pi / config.size
    extent = (-step / 2, 2 * np.pi - step / 2, -step / 2, 2 * np.pi - step / 2)
    for ax, f in zip(axes[0], frames, strict=True):
        top = float(s_avg[f].max())
        norm = LogNorm(vmin=max(top * 1e-4, 1e-300), vmax=max(top, 1e-300))
        ax.imshow(s_avg[f].T, origin="lower", cmap="magma", extent=extent, norm=norm)
        ax.set_title(f"$S(\\mathbf{{k}})$, $t\\omega$ = {t_omega[f]:.0f}")
        ax.set_xlabel("$k_x$")
        ax.set_ylabel("$k_y$")
    save(fig, "structure_factor.png")

    fig, ax = plt.subplots(figsize=(4.8, 3.8))
    ax.loglog(t_omega[1:], l_s[1:], "o-", ms=3, label="from $S(\\mathbf{k})$ (003 eq 15)")
    if np.isfinite(l_c[1:]).any():
        ax.loglog(t_omega[1:], l_c[1:], "s-", ms=3, label="from $C(r)=1/2$ (002 eq 26)")
    if fit is not None:
        tt = np.geomspace(t_omega[fit_mask][0], t_omega[fit_mask][-1], 50)
        ax.loglog(
            tt,
            fit.prefactor * (tt / config.omega) ** fit.alpha,
            "k--",
            label=f"fit $\\alpha$ = {fit.alpha:.3f} $\\pm$ {fit.alpha_stderr:.3f}",
        )
    ax.set_xlabel(r"$t\,\omega$")
    ax.set_ylabel("$L(t)$")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, "domain_length.png")


def run_exact_quench(
    config: QuenchConfig, out: str | os.PathLike[str], *, progress: bool = True
) -> dict[str, Any]:
    """Run the quench, write the run folder ``out`` and return the metrics.

    Parameters
    ----------
    config : QuenchConfig
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


def _run_in_folder(config: QuenchConfig, folder: Path, progress: bool) -> dict[str, Any]:
    """The body of :func:`run_exact_quench`, in the locked run folder."""
    runio.write_json(
        folder / "config.json", attrs.asdict(config) | {"dt": config.dt, "gamma": config.gamma}
    )

    model = config.model()
    p, lattice = model.params, model.lattice
    rng = np.random.default_rng(config.seed)
    shape = (config.ensemble, *lattice.shape)
    hot = config.langevin.initial_temperature
    q0 = rng.normal(scale=math.sqrt(hot / p.kappa), size=shape)
    p0 = rng.normal(scale=math.sqrt(hot * p.mass), size=shape)
    force_field = ed.ExactForceField(model)
    make = (
        dynamics.langevin_baoab if config.langevin.integrator == "baoab"
        else dynamics.langevin_vv_ou
    )  # fmt: skip
    integrator = make(
        force_field,
        mass=p.mass,
        gamma=config.gamma,
        temperature=config.physics.temperature,
        dt=config.dt,
    )
    log.info(
        "quench %dx%d, ensemble %d, %d steps of dt=%.4f (gamma=%.4f)",
        config.size, config.size, config.ensemble, config.steps, config.dt, config.gamma,
    )  # fmt: skip
    start = time.perf_counter()
    trajectory = dynamics.simulate(
        integrator,
        integrator.init(q0, p0, rng=rng),
        config.steps,
        record_every=config.record_every,
        progress=progress,
        description="ED Langevin quench",
    )
    dynamics_seconds = time.perf_counter() - start

    start = time.perf_counter()
    n = ed.densities(trajectory.Q, model)
    s_avg, l_s, l_c = _domain_lengths(n, lattice)
    t = trajectory.t
    # Fit the growth law after the initial transient and before the domains
    # feel the finite lattice (L below a fraction of the linear size).
    late = (t >= config.fit_from_fraction * t[-1]) & (t > 0)
    late &= l_s < config.fit_max_length_fraction * config.size
    fit: observables.GrowthFit | None
    try:
        fit = observables.fit_growth_exponent(t[late], l_s[late])
    except ValueError:
        fit = None
    analysis_seconds = time.perf_counter() - start

    _write_trajectory(folder / "trajectory.h5", config, t, trajectory.Q, trajectory.P, n)
    metrics: dict[str, Any] = {
        "t": t.tolist(),
        "t_omega": (t * config.omega).tolist(),
        "L_structure_factor": l_s.tolist(),
        "L_correlation": [None if not np.isfinite(x) else float(x) for x in l_c],
        "growth_exponent": None
        if fit is None
        else {
            "alpha": fit.alpha,
            "alpha_stderr": fit.alpha_stderr,
            "prefactor": fit.prefactor,
            "n_points": fit.n_points,
            "fit_window_t": [float(t[late][0]), float(t[late][-1])],
            "source": "L from S(k), paper 003 eq 15; L ~ t^alpha, paper 003 eq 17",
            "caveat": "small lattice: domains reach the system size quickly, so alpha is "
            "a finite-size, early-time estimate, not paper 003's late-stage exponent",
        },
        "final_staggered_order": np.abs(observables.staggered_order(trajectory.Q[-1], lattice))
        .mean()
        .item(),
        "timings": {
            "dynamics_seconds": dynamics_seconds,
            "seconds_per_step": dynamics_seconds / config.steps,
            "analysis_seconds": analysis_seconds,
        },
        "code_version": reference.__version__,
    }
    _plot(folder / "figures", config, t, n, s_avg, l_s, l_c, fit, late)
    runio.write_json(folder / "metrics.json", metrics)
    return metrics


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point of ``python -m reference.programs.quench``.

    Parameters
    ----------
    argv : sequence of str, optional
        The command-line arguments (without the program name); ``sys.argv[1:]`` when
        omitted. ``--help`` lists them.

    Returns
    -------
    int
        The process exit code: 0 on success, 2 for bad settings or a file error (the message goes to
        standard error).
    """
    parser = argparse.ArgumentParser(
        prog="python -m reference.programs.quench",
        description="Exact-diagonalisation Langevin thermal quench of the Holstein model "
        "(paper 003 parameters).",
    )
    parser.add_argument(
        "--out", default="runs/exact_quench", help="run folder (default: runs/exact_quench)"
    )
    parser.add_argument(
        "--config",
        help="TOML file with [quench], [physics] and [langevin], e.g. "
        "specs/experiments/exact_quench.toml",
    )
    parser.add_argument("--size", type=int, help="linear lattice size L (even, >= 4)")
    parser.add_argument("--ensemble", type=int, help="number of independent runs")
    parser.add_argument("--steps", type=int, help="number of Langevin steps")
    parser.add_argument("--record-every", type=int, dest="record_every", help="steps per frame")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--temperature", type=float, help="bath temperature k_B T")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    overrides = {
        k: getattr(args, k)
        for k in ("size", "ensemble", "steps", "record_every", "seed", "temperature")
    }
    try:
        config = load_config(args.config, **overrides)
        metrics = run_exact_quench(config, args.out, progress=not args.quiet)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    growth = metrics["growth_exponent"]
    alpha = "n/a" if growth is None else f"{growth['alpha']:.3f} +- {growth['alpha_stderr']:.3f}"
    print(
        f"wrote {args.out}: L(t_end) = {metrics['L_structure_factor'][-1]:.2f}, alpha = {alpha}, "
        f"{metrics['timings']['seconds_per_step'] * 1e3:.1f} ms/step"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
