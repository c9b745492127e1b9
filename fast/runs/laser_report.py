"""The laser workflow's report: O(t) and sigma(t) of the exact and ML recovery, zeta maps;
``report.md`` and ``metrics.json``; and its campaign summary: O(t) of every point, the
recovered order against the swept settings."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import fast
from fast.runs.analysis import read_arrays
from fast.runs.report import (
    CampaignEntry,
    Quantity,
    against_parameters,
    campaign_table,
    error_table,
    fmt,
    metric_reader,
    start_report,
    styled_points,
)
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
    """Figures, ``report.md`` and ``metrics.json`` of a laser experiment (paper 000).

    Parameters
    ----------
    experiment : LaserSettings
        The experiment's settings.
    folder : Path
        The run folder, holding the earlier stages' outputs; figures go to
        ``folder / "figures"``.
    """
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


# ============================================================================ campaign


def _final(name: str, arm: str, legend: str, column: str) -> Quantity:
    """``name`` (``"O"``, ``"sigma"``) of ``arm`` (``"exact"``, ``"ml"``) at the end of the
    recovery, with its standard error over the point's runs."""
    key = f"recovery.{name}.{arm}_final"
    return Quantity(column, metric_reader(key, f"{key}_stderr"), legend=legend)


_MELTED = Quantity("O(t1) exact", metric_reader("recovery.O.exact_at_t1"), legend="exact at t1")
_ORDER = (_final("O", "exact", "exact", "O(t_end) exact"),
          _final("O", "ml", "ML", "O(t_end) ML"))  # fmt: skip
_SPREAD = (_final("sigma", "exact", "exact", "sigma(t_end) exact"),
           _final("sigma", "ml", "ML", "sigma(t_end) ML"))  # fmt: skip
_FORCE_ERROR = Quantity(
    "force error std, held-out runs", metric_reader("force_error_on_held_out_runs.std"), ".3g"
)


def _tau0(entry: CampaignEntry) -> float | None:
    """The point's ``tau0`` from its ``analysis.json`` (``None`` without it)."""
    path = entry.folder / "analysis.json"
    return json.loads(path.read_text()).get("tau0") if path.is_file() else None


def _order_curves(entries: Sequence[CampaignEntry], path: Path) -> bool:
    """O(t) of every finished point with an ``analysis.h5`` (mean over its runs; exact
    solid, ML recovery dashed) on one plot, against ``t / tau0`` where every point gives
    ``tau0`` (else code time); whether any was drawn."""
    curves = []
    for entry, colour, label in styled_points(entries):
        if (entry.folder / "analysis.h5").is_file():
            curves.append((read_arrays(entry.folder / "analysis.h5"), _tau0(entry), colour,
                           label))  # fmt: skip
    if not curves:
        return False
    in_tau0 = all(c[1] for c in curves)
    plt = runio.pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.2), layout="constrained")
    for arrays, tau0, colour, label in curves:
        scale = tau0 if in_tau0 else 1.0
        ax.plot(arrays["t"] / scale, arrays["O_exact"].mean(axis=1), "-", lw=1.2, color=colour,
                label=label)  # fmt: skip
        ax.plot(arrays["t_ml"] / scale, arrays["O_ml"].mean(axis=1), "--", lw=1.2,
                color=colour)  # fmt: skip
    ax.set_xlabel(r"$t/\tau_0$" if in_tau0 else r"$t$ (units of $1/|t_{nn}|$)")
    ax.set_ylabel(r"$O(t)$ (eq. 13)")
    ax.set_title("every point, mean over its runs: exact solid, ML recovery dashed", fontsize=9)
    if len(ax.get_legend_handles_labels()[0]) <= 12:
        ax.legend(fontsize=7)
    runio.save_figure(fig, path)
    return True


def campaign_summary(entries: Sequence[CampaignEntry], folder: Path) -> str:
    """The laser section of a campaign's ``report.md``; draws its figures into
    ``folder / "figures"``.

    Parameters
    ----------
    entries : sequence of CampaignEntry
        The campaign's points; only finished ones (with metrics) are shown.
    folder : Path
        The campaign folder.

    Returns
    -------
    str
        Markdown: a table of the CDW order O at t1 (how far the pulse melted it), O and the
        spread sigma at the end of the exact and ML recovery, and the ML force error along
        the held-out runs, per replica group (:func:`fast.runs.report.campaign_table`); O(t)
        of every point on one plot; the final O, sigma and force error against each numeric
        swept setting, with error bars.
    """
    finished = [e for e in entries if e.metrics is not None]
    if not finished:
        return "No point of the campaign has finished: no recovery summary yet.\n"
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    lines = [
        "## Melting and recovery across the campaign",
        "",
        *campaign_table(entries, (_MELTED, *_ORDER, *_SPREAD, _FORCE_ERROR)),
        "O and sigma at the end of the recovery; a point's own error is the standard error "
        "over its held-out runs.",
        "",
    ]
    if _order_curves(finished, folder / "figures" / "order_parameter.png"):
        lines.append("![O(t) of every point](figures/order_parameter.png)")
    panels = [
        (r"$O(t_{\rm end})$", (*_ORDER, _MELTED)),
        (r"$\sigma(t_{\rm end})$", _SPREAD),
        ("force error std, held-out runs", (_FORCE_ERROR,)),
    ]
    lines += against_parameters(finished, panels, folder, "recovery")
    return "\n".join([*lines, ""])
