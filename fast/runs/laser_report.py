"""The laser workflow's report: O(t) and sigma(t) of the exact and ML recovery, zeta maps;
``report.md`` and ``metrics.json``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import fast
from fast.runs.report import error_table, fmt, start_report
from reference import runio

if TYPE_CHECKING:
    from fast.runs.laser_settings import LaserSettings


def _order_parameter(experiment: LaserSettings, arrays: dict[str, Any], figures: Path) -> None:
    plt = runio.pyplot()
    tau0 = experiment.physics.tau0
    t, t_ml = arrays["t"] / tau0, arrays["t_ml"] / tau0
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 3.6), squeeze=False)
    for ax, name, label in zip(axes[0], ("O", "sigma"),
                               (r"$O(t)$ (eq. 13)", r"$\sigma(t)$"), strict=True):  # fmt: skip
        for key, x, colour, who in (("exact", t, "k", "exact Ehrenfest"),
                                    ("ml", t_ml, "tab:red", "ML + bath")):  # fmt: skip
            values = arrays[f"{name}_{key}"]  # (frames, runs)
            mean = values.mean(axis=1)
            spread = values.std(axis=1, ddof=1) if values.shape[1] > 1 else 0 * mean
            ax.fill_between(x, mean - spread, mean + spread, color=colour, alpha=0.15)
            ax.plot(x, mean, color=colour, lw=1.4, label=f"{who} (mean, band: spread)")
        ax.axvline(t_ml[0], color="grey", lw=0.8, ls=":")
        ax.set_xlabel(r"$t/\tau_0$")
        ax.set_ylabel(label)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{experiment.compare.ensemble} held-out runs; the ML recovery starts at the "
                 "dotted line from the exact states", fontsize=9)  # fmt: skip
    fig.tight_layout()
    runio.save_figure(fig, figures / "order_parameter.png")


def _zeta_maps(experiment: LaserSettings, arrays: dict[str, Any], figures: Path) -> None:
    plt = runio.pyplot()
    frames, tau0 = arrays["zeta_frames"], experiment.physics.tau0
    limit = float(np.max(np.abs(arrays["zeta_exact"]))) or 1.0
    fig, axes = plt.subplots(2, len(frames), figsize=(3.0 * len(frames), 6.0), squeeze=False)
    for row, (key, label) in enumerate((("zeta_exact", "exact"), ("zeta_ml", "ML"))):
        for ax, field, f in zip(axes[row], arrays[key], frames, strict=True):
            im = ax.imshow(field.T, origin="lower", cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(rf"{label}, $t/\tau_0$ = {arrays['t'][f] / tau0:.0f}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8, label=r"$\zeta_i$ (eq. 32)")
    runio.save_figure(fig, figures / "zeta_maps.png")


def write_laser_report(experiment: LaserSettings, folder: Path) -> None:
    """Figures, ``report.md`` and ``metrics.json`` of a laser experiment (paper 000)."""
    figures = folder / "figures"
    training, summary, timings, arrays, metrics = start_report(experiment.name, folder)
    _order_parameter(experiment, arrays, figures)
    _zeta_maps(experiment, arrays, figures)
    per_time = (timings["exact_seconds_per_step"] / timings["exact_dt"]) / (
        timings["ml_seconds_per_step"] / timings["ml_dt"]
    )
    metrics |= {
        "force_error_on_held_out_runs": summary["force_error_on_held_out_runs"],
        "recovery": {k: summary[k] for k in ("O", "sigma", "t1")},
        "timings": timings,
        "speedup_ml_vs_exact_per_unit_time": per_time,
    }
    runio.write_json(folder / "metrics.json", metrics)

    p, pulse, r = experiment.physics, experiment.pulse, experiment.recovery
    size = experiment.ehrenfest.size
    v, h = training["validation"], summary["force_error_on_held_out_runs"]
    lines = [
        f"# {experiment.name}: CDW melting by a laser pulse and its recovery (paper 000)",
        "",
        f"{size}x{size} periodic lattice, t = {p.hopping}, g = {p.g:.4g}, k = {p.k}, "
        f"kappa = {p.kappa}, Omega = {p.omega:g} (tau0 = {p.tau0:g}, m = {p.mass:g}), "
        f"coupling {p.coupling}, filling {p.filling}. Pulse (eq. 10 as the "
        f"{'vector potential' if pulse.quantity == 'potential' else 'electric field'}): "
        f"amplitude {pulse.amplitude}, frequency {pulse.frequency}, width {pulse.width}, "
        f"centre {pulse.centre}. Exact "
        f"Ehrenfest dt = {experiment.ehrenfest.dt} to t = {experiment.ehrenfest.end_tau0:g} "
        f"tau0. Code version {fast.__version__}.",
        "",
        "## Adiabatic force field",
        "",
        f"`{training['network']}` ({training['parameters']:,} parameters, time input 1/t) "
        f"trained on the adiabatic forces (eq. 22) of {experiment.dataset.n_runs} exact runs "
        f"from t = {experiment.dataset.from_tau0:g} tau0 for {training['epochs_run']} epochs "
        f"({training['stopped']}; best epoch {training['best_epoch']}) in "
        f"{training['training_seconds']:.0f} s on {training['device']}.",
        "",
    ]
    lines += error_table(
        [("held-out snapshots", v), ("training", training["train"]), ("held-out runs", h)]
    )
    lines += [
        f"## Recovery: exact Ehrenfest vs ML Langevin ({experiment.compare.ensemble} held-out "
        "runs)",
        "",
        f"From t1 = {summary['t1'] / p.tau0:.1f} tau0 the ML runs start from the exact states "
        f"and follow the learned adiabatic force plus a bath with gamma(t) = {r.gamma0} + "
        f"{r.delta_gamma} exp(-(t - t1) / {r.tau_tau0:g} tau0) at T = "
        f"{timings['bath_temperature']:.3g} ("
        + ("measured from the training runs by equipartition, eq. 30"
           if timings["bath_temperature_measured"] else "given") + ").",
        "",
        "| observable | exact at t1 | exact at end | ML at end | max difference of means "
        "| max z | frames within 2 sigma |",
        "|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for name in ("O", "sigma"):
        x = summary[name]
        lines.append(
            f"| {name} | {x['exact_at_t1']:.3f} | {x['exact_final']:.3f} +- "
            f"{fmt(x['exact_final_stderr'], '.3f')} | {x['ml_final']:.3f} +- "
            f"{fmt(x['ml_final_stderr'], '.3f')} | {x['max_abs_difference_of_means']:.3f} "
            f"| {fmt(x['max_z'], '.2f')} | {fmt(x['fraction_of_frames_within_2_sigma'], '.2f')} |"
        )
    lines += [
        "",
        f"Step time for {experiment.compare.ensemble} runs: exact Ehrenfest "
        f"{timings['exact_seconds_per_step'] * 1e3:.1f} ms (dt {timings['exact_dt']}), ML "
        f"{timings['ml_seconds_per_step'] * 1e3:.1f} ms (dt {timings['ml_dt']}): "
        f"{per_time:.1f}x per unit of simulated time, on {timings['device']}.",
        "",
        "![O(t)](figures/order_parameter.png)",
        "![zeta](figures/zeta_maps.png)",
        "",
    ]
    text = "\n".join(lines)
    runio.atomic_write(folder / "report.md", lambda path: path.write_text(text))
