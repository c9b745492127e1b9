r"""Laser melting of the CDW with exact Ehrenfest dynamics (paper 000), a small runnable job.

Run ``python -m reference.programs.laser --config specs/experiments/exact_laser.toml``
(run folder ``runs/exact_laser``).
A half-filled periodic Holstein lattice starts in its checkerboard CDW ground state with
weak lattice noise (paper 000, sec. II: effective temperature :math:`10^{-5}`), one noise
realisation per ensemble member. A Gaussian laser pulse (eq. 10), coupled by the Peierls
substitution (eq. 11), excites the electrons; the single-particle density matrix and the
classical lattice then evolve together (eqs. 6-9, :func:`reference.ehrenfest.ehrenfest_step`).
Each recorded frame also holds the adiabatic reference density :math:`n^{\rm ad}` of eq. 19
in the instantaneous eigenbasis of :math:`h(Q, \mathbf{A}(t))`, so that the deviation
:math:`\chi = n^{\rm nad} - n^{\rm ad}` (eq. 20) can be inspected.

The run folder receives

``config.json``
    the resolved settings with the derived ``g``, ``mass``, ``tau0`` and ``Q0``;
``trajectory.h5``
    datasets ``t`` (n_frames,), ``Q``, ``P``, ``n_nad``, ``n_ad``
    (n_frames, ensemble, L, L), ``energy`` and ``work`` (n_frames, ensemble), with the
    attributes ``config`` and ``code_version``;
``metrics.json``
    ``t/tau0``, the order parameter :math:`O(t)` (eq. 13), the spatial fluctuation
    :math:`\sigma(t)`, the energy-minus-work conservation check, :math:`\chi` statistics and
    timings;
``figures/``
    ``order_parameter.png`` (:math:`O` and :math:`\sigma` against :math:`t/\tau_0`) and
    ``densities.png`` (:math:`n^{\rm ad}` and :math:`n^{\rm nad}` of one site on each
    sublattice, first member, with the distribution of :math:`\chi`).

Run as a program, the job uses one BLAS thread unless ``OPENBLAS_NUM_THREADS`` (or
``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``) is set: its matrices are small, and threaded BLAS
made it slower, up to ten-fold on a busy 2-core machine. Every file is written under a
temporary name and renamed, so an interrupted run leaves no half-written file.

Readings of the paper (also in ``specs/experiments/exact_laser.toml``):

* Paper 000 states "the adiabatic regime characterized by the ratio
  :math:`r = \tau_0/\tau_{\rm el} = 0.2`". Taken literally the phonons would be five times
  faster than the electrons, which is the anti-adiabatic regime; we read it as
  :math:`\tau_{\rm el}/\tau_0 = 0.2`, i.e. :math:`\Omega = 0.2`, :math:`\tau_0 = 5`,
  :math:`m = k/\Omega^2 = 25`.
* The pulse centre :math:`t_0` is not stated; :math:`t_0 = 3` (six pulse widths after the
  start, so the field is :math:`e^{-18}` of its peak at :math:`t = 0`).
* :math:`\sigma(t)` has no formula in the paper; see
  :func:`reference.observables.spatial_fluctuation`.
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
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray
from tqdm.auto import tqdm

import reference
from reference import ed, ehrenfest, observables, runio
from reference.lattice import SquareLattice, sublattice_sign
from reference.model import HolsteinModel, vector_potential
from reference.sections import LaserPhysics, PulseSettings

__all__ = ["LaserConfig", "load_config", "main", "run_exact_laser"]

log = logging.getLogger("reference.programs.laser")

SECTION = "laser"


@attrs.frozen(kw_only=True)
class LaserConfig:
    r"""Settings of the exact laser run; defaults follow paper 000 on a small lattice.

    The file holds ``[laser]`` (the run: the attributes below), ``[physics]``
    (:class:`reference.sections.LaserPhysics`: paper 000, sec. II, half filling,
    ``-g n_i Q_i`` coupling, :math:`\lambda = g^2/(m\Omega^2 W) = 0.375` with
    ``W = 8|t_nn|`` and :math:`m\Omega^2 = k = 1`, so :math:`g = \sqrt3`, no :math:`\kappa`,
    ``m = 25``) and ``[pulse]`` (:class:`reference.sections.PulseSettings`: eq. 10,
    :math:`\mathcal{A} = 0.6`, :math:`\Omega_p = 1.5`, :math:`\sigma_p = \tau_0/10`,
    polarisation (1, 1)), the sections the laser workflow reads too. Times are in units of
    :math:`\tau_{\rm el} = 1/|t_{nn}|`.

    Attributes
    ----------
    size : int
        Linear size ``L`` of the periodic ``L x L`` lattice (even).
    ensemble : int
        Number of noise realisations.
    steps, record_every : int
        Ehrenfest steps and steps per recorded frame.
    seed : int
        One seed; member ``a`` draws from the ``a``-th spawned stream.
    dt : float
        Time step.
    initial_temperature : float
        Effective temperature of the lattice noise around the CDW at ``t = 0`` (paper 000:
        :math:`10^{-5}`; :func:`reference.ehrenfest.initial_state`).
    physics : LaserPhysics
    pulse : PulseSettings
    """

    size: int = attrs.field(default=10, validator=runio.positive_int)
    ensemble: int = attrs.field(default=4, validator=runio.positive_int)
    steps: int = attrs.field(default=4000, validator=runio.positive_int)
    record_every: int = attrs.field(default=5, validator=runio.positive_int)
    seed: int = 2026
    dt: float = attrs.field(default=0.05, validator=runio.positive)
    initial_temperature: float = attrs.field(default=1e-5, validator=runio.non_negative)
    physics: LaserPhysics = attrs.field(factory=LaserPhysics)
    pulse: PulseSettings = attrs.field(factory=PulseSettings)

    def __attrs_post_init__(self) -> None:
        if self.size < 2 or self.size % 2:
            raise ValueError(f"size must be an even integer >= 2, got {self.size!r}")
        if self.record_every > self.steps:
            raise ValueError(
                f"record_every must be <= steps ({self.steps}), got {self.record_every!r}"
            )

    @property
    def tau0(self) -> float:
        """The bare phonon time :math:`\\tau_0 = 1/\\Omega`, paper 000's time unit."""
        return self.physics.tau0

    def model(self) -> HolsteinModel:
        """Return the Holstein model of the run.

        Returns
        -------
        HolsteinModel
            ``physics`` on the periodic ``size x size`` lattice.
        """
        return self.physics.model(self.size)


def load_config(path: str | os.PathLike[str] | None = None, **overrides: Any) -> LaserConfig:
    """Return a :class:`LaserConfig` from a TOML file and overrides.

    The file holds ``[laser]``, ``[physics]`` and ``[pulse]``; ``overrides`` are run keys or
    ``"physics.<key>"``, ``"pulse.<key>"``; ``None`` values are ignored.

    Parameters
    ----------
    path : path-like, optional
        The TOML file; the defaults alone when omitted.
    **overrides : object
        Settings that replace the file's (see above).

    Returns
    -------
    LaserConfig
        The validated settings.

    Raises
    ------
    ValueError
        On an unknown key or an invalid value.
    """
    return runio.load_config(LaserConfig, SECTION, path, overrides)


@attrs.frozen
class _Frames:
    """Recorded frames, ensemble on the second axis."""

    t: NDArray[np.float64]
    Q: NDArray[np.float64]
    P: NDArray[np.float64]
    n_nad: NDArray[np.float64]
    n_ad: NDArray[np.float64]
    energy: NDArray[np.float64]
    work: NDArray[np.float64]


def _evolve(config: LaserConfig, progress: bool) -> _Frames:
    """Run every ensemble member and record ``(t, Q, P, n_nad, n_ad, energy, work)``."""
    model, pulse = config.model(), config.pulse.pulse()
    q_cdw = ed.ground_state(model).Q
    streams = np.random.SeedSequence(config.seed).spawn(config.ensemble)
    states = [
        ehrenfest.initial_state(
            model,
            noise_temperature=config.initial_temperature,
            rng=np.random.default_rng(s),
            Q=q_cdw,
        )
        for s in streams
    ]
    records: dict[str, list[Any]] = {k: [] for k in ("t", "Q", "P", "nad", "ad", "E", "W")}

    def record(t: float) -> None:
        a = vector_potential(t, pulse)
        records["t"].append(t)
        records["Q"].append(np.stack([s.Q for s in states]))
        records["P"].append(np.stack([s.P for s in states]))
        records["nad"].append(
            np.stack([ehrenfest.nonadiabatic_densities(s.rho, model) for s in states])
        )
        records["ad"].append(
            np.stack([ehrenfest.adiabatic_densities(s.rho, s.Q, model, a) for s in states])
        )
        records["E"].append([ehrenfest.ehrenfest_energy(s, model, pulse)["total"] for s in states])
        records["W"].append([s.work for s in states])

    record(states[0].t)
    for step in tqdm(
        range(1, config.steps + 1), desc="Ehrenfest", disable=not progress, unit="step"
    ):
        states = [ehrenfest.ehrenfest_step(s, model, config.dt, pulse) for s in states]
        if step % config.record_every == 0:
            record(states[0].t)
    return _Frames(
        t=np.asarray(records["t"], dtype=np.float64),
        Q=np.asarray(records["Q"], dtype=np.float64),
        P=np.asarray(records["P"], dtype=np.float64),
        n_nad=np.asarray(records["nad"], dtype=np.float64),
        n_ad=np.asarray(records["ad"], dtype=np.float64),
        energy=np.asarray(records["E"], dtype=np.float64),
        work=np.asarray(records["W"], dtype=np.float64),
    )


def _plot(
    folder: Path,
    config: LaserConfig,
    frames: _Frames,
    order: NDArray[np.float64],
    sigma: NDArray[np.float64],
    sites: tuple[tuple[int, int], tuple[int, int]],
) -> None:
    plt = runio.pyplot()
    lattice = SquareLattice(config.size, config.size)
    tt = frames.t / config.tau0
    members = np.asarray(observables.staggered_order(frames.Q, lattice))
    t_pulse = config.pulse.centre / config.tau0

    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    for a in range(config.ensemble):
        ax.plot(tt, np.abs(members[:, a]), color="C0", lw=0.8, alpha=0.35)
    ax.plot(tt, order, color="k", lw=1.8, label=r"$O(t)$ (eq. 13)")
    ax.plot(tt, sigma, color="C2", lw=1.8, label=r"$\sigma(t)$")
    ax.axvline(t_pulse, color="C3", ls="--", lw=1, label=f"pulse centre $t_0$ = {t_pulse:g}")
    ax.set_xlabel(r"$t/\tau_0$")
    ax.set_ylabel("lattice order")
    ax.set_ylim(bottom=0.0)
    ax.set_title(
        f"Laser pulse on the CDW, {config.size}x{config.size}, {config.ensemble} members "
        r"(faint: $|Q^\alpha_{\pi,\pi}|$)",
        fontsize=9,
    )
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    runio.save_figure(fig, folder / "order_parameter.png")

    fig, (ax, hist) = plt.subplots(1, 2, figsize=(8.4, 3.6), gridspec_kw={"width_ratios": [3, 1]})
    for (x, y), colour in zip(sites, ("C3", "C0"), strict=True):
        ax.plot(tt, frames.n_nad[:, 0, x, y], color=colour, lw=0.7, alpha=0.4)
        ax.plot(tt, frames.n_ad[:, 0, x, y], color=colour, lw=1.6, label=f"site ({x}, {y})")
    ax.plot([], [], color="gray", lw=0.7, alpha=0.5, label=r"$n^{\rm nad}_i$ (faint)")
    ax.plot([], [], color="gray", lw=1.6, label=r"$n^{\rm ad}_i$ (eq. 19)")
    ax.axvline(t_pulse, color="k", ls="--", lw=0.8)
    ax.set_xlabel(r"$t/\tau_0$")
    ax.set_ylabel(r"$n_i$")
    ax.set_ylim(0.0, 1.0)
    ax.set_title("Densities on the two sublattices (member 0)", fontsize=9)
    ax.legend(fontsize=7, loc="center right")
    chi = (frames.n_nad - frames.n_ad).ravel()
    hist.hist(chi, bins=60, color="C7")
    hist.set_xlabel(r"$\chi_i = n^{\rm nad}_i - n^{\rm ad}_i$")
    hist.set_yticks([])
    hist.set_title("all sites and frames", fontsize=9)
    fig.tight_layout()
    runio.save_figure(fig, folder / "densities.png")


def run_exact_laser(
    config: LaserConfig, out: str | os.PathLike[str], *, progress: bool = True
) -> dict[str, Any]:
    """Run the Ehrenfest ensemble, write the run folder ``out`` and return the metrics.

    Parameters
    ----------
    config : LaserConfig
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


def _run_in_folder(config: LaserConfig, folder: Path, progress: bool) -> dict[str, Any]:
    """The body of :func:`run_exact_laser`, in the locked run folder."""
    runio.write_json(
        folder / "config.json",
        attrs.asdict(config) | {"tau0": config.tau0, "Q0": config.physics.q0},
    )
    lattice = SquareLattice(config.size, config.size)
    log.info(
        "%dx%d lattice, %d members, %d Ehrenfest steps of dt=%g (tau0=%g)",
        config.size, config.size, config.ensemble, config.steps, config.dt, config.tau0,
    )  # fmt: skip
    start = time.perf_counter()
    frames = _evolve(config, progress)
    dynamics_seconds = time.perf_counter() - start

    start = time.perf_counter()
    order = observables.ensemble_order_parameter(frames.Q, lattice)
    sigma = observables.spatial_fluctuation(frames.Q, config.physics.q0, lattice)
    drift = frames.energy - frames.energy[0] - frames.work  # (frames, ensemble)
    max_drift = float(np.abs(drift).max())
    chi = np.abs(frames.n_nad - frames.n_ad)
    chi_mean = chi.mean(axis=(1, 2, 3))
    sign = sublattice_sign(lattice)
    site_a = (0, 0) if sign[0, 0] > 0 else (0, 1)
    site_b = (site_a[0] + 1, site_a[1])
    after = frames.t > config.pulse.centre + 3 * config.pulse.width
    i_min = int(np.argmin(np.where(after, order, np.inf))) if after.any() else len(order) - 1
    analysis_seconds = time.perf_counter() - start

    runio.write_hdf5(
        folder / "trajectory.h5",
        {
            "t": frames.t,
            "Q": frames.Q,
            "P": frames.P,
            "n_nad": frames.n_nad,
            "n_ad": frames.n_ad,
            "energy": frames.energy,
            "work": frames.work,
        },
        config,
        {
            "time_unit": "tau_el = 1/|t_nn|; t / tau0 is paper 000's time (tau0 = 1/Omega)",
            "layout": "frames x ensemble x L x L (energy, work: frames x ensemble)",
        },
    )
    energy0 = float(np.abs(frames.energy[0]).max())
    metrics: dict[str, Any] = {
        "t": frames.t,
        "t_tau0": frames.t / config.tau0,
        "order_parameter": order,
        "spatial_fluctuation": sigma,
        "order_initial": float(order[0]),
        "order_final": float(order[-1]),
        "order_min_after_pulse": float(order[i_min]),
        "order_mean_after_pulse": float(order[after].mean()) if after.any() else None,
        "t_tau0_of_min": float(frames.t[i_min] / config.tau0),
        "absorbed_work": frames.work[-1],
        "energy_conservation": {
            "max_abs_energy_minus_work_drift": max_drift,
            "relative_to_initial_energy": max_drift / max(energy0, 1e-300),
            "relative_to_absorbed_work": max_drift / max(float(np.abs(frames.work).max()), 1e-300),
            "definition": "max over frames and members of |E(t) - E(0) - W(t)|",
        },
        "chi": {
            "mean_abs_per_frame": chi_mean,
            "mean_abs": float(chi.mean()),
            "max_abs": float(chi.max()),
            "sites_plotted": [list(site_a), list(site_b)],
        },
        "timings": {
            "dynamics_seconds": dynamics_seconds,
            "seconds_per_step_per_member": dynamics_seconds / (config.steps * config.ensemble),
            "analysis_seconds": analysis_seconds,
        },
        "code_version": reference.__version__,
    }
    start = time.perf_counter()
    _plot(folder / "figures", config, frames, order, sigma, (site_a, site_b))
    metrics["timings"]["plot_seconds"] = time.perf_counter() - start
    runio.write_json(folder / "metrics.json", metrics)
    return metrics


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point of ``python -m reference.programs.laser``.

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
        prog="python -m reference.programs.laser",
        description="Laser melting of the CDW: Ehrenfest density-matrix dynamics (paper 000).",
    )
    parser.add_argument(
        "--out", default="runs/exact_laser", help="run folder (default: runs/exact_laser)"
    )
    parser.add_argument(
        "--config",
        help="TOML file with [laser], [physics], [pulse], e.g. specs/experiments/exact_laser.toml",
    )
    parser.add_argument("--size", type=int, help="linear lattice size L (even)")
    parser.add_argument("--ensemble", type=int, help="number of noise realisations")
    parser.add_argument("--steps", type=int, help="number of Ehrenfest steps")
    parser.add_argument("--record-every", type=int, dest="record_every", help="steps per frame")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--amplitude", type=float, dest="pulse_amplitude", help="pulse amplitude")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    names = ("size", "ensemble", "steps", "record_every", "seed")
    overrides = {k: getattr(args, k) for k in names} | {"pulse.amplitude": args.pulse_amplitude}

    def job() -> str:
        config = load_config(args.config, **overrides)
        m = run_exact_laser(config, args.out, progress=not args.quiet)
        return (
            f"wrote {args.out}: O = {m['order_initial']:.3f} -> "
            f"min {m['order_min_after_pulse']:.3f} (t/tau0 = {m['t_tau0_of_min']:.1f}) -> "
            f"{m['order_final']:.3f}, max |E - E0 - W| = "
            f"{m['energy_conservation']['max_abs_energy_minus_work_drift']:.1e}, "
            f"{m['timings']['seconds_per_step_per_member'] * 1e3:.1f} ms/step/member"
        )

    return runio.run_cli(job)


if __name__ == "__main__":
    raise SystemExit(main())
