"""The quench workflow's report: domain snapshots, L(t) and its fit, the scaling collapse,
exact-versus-ML C(r); ``report.md`` and ``metrics.json``; and its campaign summary: L(t) of
every point, the growth exponent against the swept settings."""

from __future__ import annotations

import json
import math
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
from fast.runs.trajectories import load_trajectory
from reference import ed, observables, runio

if TYPE_CHECKING:
    from fast.runs.quench_settings import QuenchSettings


def _snapshots(experiment: QuenchSettings, folder: Path, figures: Path) -> None:
    plt = runio.pyplot()
    stored = load_trajectory(folder / "trajectory.h5")
    model = experiment.physics.model(experiment.simulate.size)
    frames = np.unique(np.linspace(1, len(stored.t) - 1, 4).astype(int))
    n = ed.densities_from_forces(stored.Q[frames, 0], stored.forces[frames, 0], model)
    phi = observables.local_cdw_order(n, model.lattice)
    fig, axes = plt.subplots(1, len(frames), figsize=(3.2 * len(frames), 3.3), squeeze=False)
    for ax, f, field in zip(axes[0], frames, phi, strict=True):
        im = ax.imshow(field.T, origin="lower", cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_title(rf"$t\omega$ = {stored.t[f] * experiment.omega:.0f}")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label=r"local CDW order $\phi_i$")
    size = experiment.simulate.size
    fig.suptitle(f"ML Langevin quench on {size}x{size}: CDW domains coarsen")
    runio.save_figure(fig, figures / "domains.png")


def _growth(experiment: QuenchSettings, arrays: dict[str, Any], summary: dict[str, Any],
            figures: Path) -> None:  # fmt: skip
    plt = runio.pyplot()
    t_omega = arrays["t"] * experiment.omega
    fig, ax = plt.subplots(figsize=(4.8, 3.8))
    ax.loglog(t_omega[1:], arrays["L"][1:], "o-", ms=3, label=r"$L(t)$ from $S(\mathbf{k})$")
    growth = summary["growth_exponent"]
    if growth is not None:
        window = arrays["fit_window"].astype(bool)
        tt = np.geomspace(t_omega[window][0], t_omega[window][-1], 40)
        errors = [growth["alpha_stderr_regression"], growth["alpha_std_bootstrap"]]
        error = max((e for e in errors if e is not None), default=None)
        label = rf"fit $\alpha$ = {growth['alpha']:.3f} $\pm$ {fmt(error, '.3f')}"
        ax.loglog(tt, growth["prefactor"] * (tt / experiment.omega) ** growth["alpha"], "k--",
                  label=label)  # fmt: skip
    ax.set_xlabel(r"$t\,\omega$")
    ax.set_ylabel(r"$L$ (lattice spacings)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    runio.save_figure(fig, figures / "domain_length.png")

    fig, ax = plt.subplots(figsize=(4.8, 3.8))
    for frame, x, y in zip(arrays["collapse_frames"], arrays["collapse_x"], arrays["collapse_y"],
                           strict=True):  # fmt: skip
        keep = y > 1e-8 * y.max()  # drop shells where S vanishes to rounding
        ax.semilogy(x[keep], y[keep], "o-", ms=2.5, label=rf"$t\omega$ = {t_omega[frame]:.0f}")
    ax.set_xlabel(r"$|\mathbf{q}|\,L(t)$")
    ax.set_ylabel(r"$S(q, t) / L^2(t)$")
    ax.legend(fontsize=8)
    ax.set_title("dynamical scaling (paper 003 eq 16)", fontsize=10)
    fig.tight_layout()
    runio.save_figure(fig, figures / "scaling_collapse.png")


def _agreement_table(steps: list[int], arm: dict[str, Any]) -> list[str]:
    """Markdown rows of one arm's C(r) agreement with the exact arm, per comparison step."""
    rows = [
        "| step | max abs difference of C(r) | max z | share of r within 2 sigma |",
        "|---|---|---|---|",
    ]
    for step, d, z, w in zip(steps, arm["max_abs_difference"], arm["max_z"],
                             arm["fraction_within_2_sigma"], strict=True):  # fmt: skip
        rows.append(f"| {step} | {fmt(d, '.3g')} | {fmt(z, '.2f')} | {fmt(w, '.2f')} |")
    return rows


def _correlations(experiment: QuenchSettings, arrays: dict[str, Any], figures: Path) -> None:
    plt = runio.pyplot()
    times = experiment.compare.times
    fig, axes = plt.subplots(1, len(times), figsize=(3.6 * len(times), 3.4), squeeze=False)
    for i, (ax, step) in enumerate(zip(axes[0], times, strict=True)):
        r = arrays["r"]
        ax.errorbar(r, arrays["C_exact"][i], arrays["C_exact_err"][i], fmt="^", ms=3,
                    color="tab:red", label="exact (ED)")  # fmt: skip
        ax.errorbar(r, arrays["C_ml"][i], arrays["C_ml_err"][i], fmt="o", ms=2.5, mfc="none",
                    color="tab:blue", label="ML")  # fmt: skip
        if "C_cluster" in arrays:
            ax.errorbar(r, arrays["C_cluster"][i], arrays["C_cluster_err"][i], fmt="s", ms=2.5,
                        mfc="none", color="tab:green",
                        label=f"cluster r_c = {experiment.compare.cluster_radius:g}")  # fmt: skip
        ax.set_xlim(0, min(r.max(), 12))
        ax.set_title(f"step {step}")
        ax.set_xlabel("$r$")
    axes[0][0].set_ylabel(r"$C(r) = \langle Q_i Q_j \rangle$")
    axes[0][0].legend(fontsize=8)
    size = experiment.compare.size
    fig.suptitle(f"{size}x{size}, {experiment.compare.ensemble} runs, same states and noise")
    fig.tight_layout()
    runio.save_figure(fig, figures / "correlation_comparison.png")


def write_report(experiment: QuenchSettings, folder: Path) -> None:
    """Draw every figure and write ``report.md`` and ``metrics.json`` into ``folder``.

    Parameters
    ----------
    experiment : QuenchSettings
        The experiment's settings.
    folder : Path
        The run folder, holding the earlier stages' outputs; figures go to
        ``folder / "figures"``.
    """
    figures = folder / "figures"
    training, summary, timings, arrays, metrics = start_report(experiment.name, folder)
    _snapshots(experiment, folder, figures)
    _growth(experiment, arrays, summary, figures)
    if experiment.compare.ensemble:
        _correlations(experiment, arrays, figures)

    metrics |= {"growth": summary, "timings": timings}
    if "compare_exact_seconds_per_step" in timings:
        metrics["speedup_ml_vs_exact_at_compare_size"] = (
            timings["compare_exact_seconds_per_step"] / timings["compare_ml_seconds_per_step"]
        )
    runio.write_json(folder / "metrics.json", metrics)

    v = training["validation"]
    growth = summary["growth_exponent"]
    sim, cmp = experiment.simulate, experiment.compare
    lines = [
        f"# {experiment.name}: thermal quench of the Holstein model",
        "",
        f"Physics: t = {experiment.physics.hopping}, g = {experiment.physics.g}, "
        f"k = {experiment.physics.k}, kappa = {experiment.physics.kappa}, "
        f"m = {experiment.physics.mass}, "
        + (
            f"fixed chemical potential mu = {experiment.physics.mu}, "
            if experiment.physics.mu is not None
            else f"filling {experiment.physics.filling}, "
        )
        + f"coupling {experiment.physics.coupling}, "
        f"quench to T = {experiment.physics.temperature}. Code version {fast.__version__}.",
        "",
        "## Force field",
        "",
        f"`{training['network']}` ({training['parameters']:,} parameters, learns the "
        f"{training['target']} force) trained on {experiment.dataset.size}x"
        f"{experiment.dataset.size} exact labels for {training['epochs_run']} epochs "
        f"({training['stopped']}; best epoch {training['best_epoch']}) in "
        f"{training['training_seconds']:.0f} s on {training['device']} "
        f"({training['threads']} threads).",
        "",
    ]
    lines += error_table([("held out", v), ("training", training["train"])])
    lines += [
        f"## Coarsening on {sim.size}x{sim.size} (ML Langevin, {sim.ensemble} runs, "
        f"{sim.steps} steps, {timings['ml_seconds_per_step'] * 1e3:.1f} ms/step)",
        "",
        "![domains](figures/domains.png)",
        "",
    ]
    if growth is not None:
        lines += [
            f"Growth law L ~ t^alpha: alpha = {growth['alpha']:.3f} +- "
            f"{fmt(growth['alpha_stderr_regression'], '.3f')} (regression) +- "
            f"{fmt(growth['alpha_std_bootstrap'], '.3f')} (bootstrap over "
            f"{experiment.simulate.ensemble} runs; few runs make it rough), {growth['n_points']} "
            f"frames with t omega in [{growth['window_t_omega'][0]:.0f}, "
            f"{growth['window_t_omega'][1]:.0f}]. Paper 003 finds alpha below the Allen-Cahn "
            "1/2 at half filling on much longer runs.",
        ]
    else:
        lines.append(f"No growth exponent: {summary.get('fit_error')}")
    lines += [
        "",
        "![L(t)](figures/domain_length.png) ![collapse](figures/scaling_collapse.png)",
        "",
    ]
    if cmp.ensemble:
        lines += _comparison_section(experiment, summary, timings, metrics)
    text = "\n".join(lines)
    runio.atomic_write(folder / "report.md", lambda p: p.write_text(text))


def _comparison_section(
    experiment: QuenchSettings,
    summary: dict[str, Any],
    timings: dict[str, Any],
    metrics: dict[str, Any],
) -> list[str]:
    """The report's exact-versus-ML section (and the cluster arm's, if it ran)."""
    cmp = experiment.compare
    cc = summary["correlation_comparison"]
    speed = metrics["speedup_ml_vs_exact_at_compare_size"]
    lines = [
        f"## Exact vs ML dynamics on {cmp.size}x{cmp.size} ({cmp.ensemble} runs)",
        "",
        "Both runs start from the same hot states and draw the same noise.",
        "",
        *_agreement_table(cc["steps"], cc),
        "",
        f"Step time at {cmp.size}x{cmp.size}: exact "
        f"{timings['compare_exact_seconds_per_step'] * 1e3:.1f} ms, ML "
        f"{timings['compare_ml_seconds_per_step'] * 1e3:.1f} ms ({speed:.1f}x).",
        "",
    ]
    if "cluster_comparison" in summary:
        cl = summary["cluster_comparison"]
        lines += [
            f"Third arm, the same states and noise driven by the local-cluster force "
            f"(r_c = {cl['r_c']:g}, no training; "
            f"{timings['compare_cluster_seconds_per_step'] * 1e3:.1f} ms per step), "
            "against exact:",
            "",
            *_agreement_table(cc["steps"], cl),
            "",
        ]
    lines += ["![C(r)](figures/correlation_comparison.png)", ""]
    return lines


# ============================================================================ campaign


def _growth_summary(entry: CampaignEntry) -> dict[str, Any] | None:
    """The point's analyse summary: ``metrics["growth"]``, else its ``analysis.json``."""
    growth = (entry.metrics or {}).get("growth")
    if growth is None and (entry.folder / "analysis.json").is_file():
        growth = json.loads((entry.folder / "analysis.json").read_text())
    return growth if isinstance(growth, dict) else None


def _alpha(entry: CampaignEntry) -> tuple[float, float | None] | None:
    """The growth exponent and its error: the bootstrap over the ensemble, else (NaN or
    none) the regression's standard error; ``None`` where the fit failed."""
    fit = (_growth_summary(entry) or {}).get("growth_exponent")
    if fit is None or fit.get("alpha") is None:
        return None
    error = fit.get("alpha_std_bootstrap")
    if error is None or not math.isfinite(error):
        error = fit.get("alpha_stderr_regression")
    return float(fit["alpha"]), error


def _final_length(entry: CampaignEntry) -> tuple[float, float | None] | None:
    length = (_growth_summary(entry) or {}).get("L_final")
    return None if length is None else (float(length), None)


_ALPHA = Quantity("alpha", _alpha)
_QUANTITIES = (
    _ALPHA,
    Quantity("L(t_end)", _final_length, ".3g"),
    Quantity("held-out force error std", metric_reader("force_error_held_out.std"), ".3g"),
)


def _domain_lengths(entries: Sequence[CampaignEntry], path: Path) -> bool:
    """L(t) of every finished point with an ``analysis.h5`` on one log-log plot, against
    ``t omega`` where every point's summary gives ``t_omega_end`` (else code time); whether
    any was drawn."""
    curves = []
    for entry, colour, label in styled_points(entries):
        if (entry.folder / "analysis.h5").is_file():
            arrays = read_arrays(entry.folder / "analysis.h5")
            end = (_growth_summary(entry) or {}).get("t_omega_end")
            omega = end / arrays["t"][-1] if end is not None and arrays["t"][-1] > 0 else None
            curves.append((arrays["t"], arrays["L"], omega, colour, label))
    if not curves:
        return False
    in_omega = all(c[2] is not None for c in curves)
    plt = runio.pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.2), layout="constrained")
    for t, length, omega, colour, label in curves:
        x = t * omega if in_omega else t
        keep = (x > 0) & (length > 0)
        ax.loglog(x[keep], length[keep], "-", lw=1.2, color=colour, label=label)
    ax.set_xlabel(r"$t\,\omega$" if in_omega else "$t$ (code units)")
    ax.set_ylabel(r"$L$ (lattice spacings)")
    ax.set_title(r"$L(t)$ from $S(\mathbf{k})$, every point", fontsize=10)
    if len(ax.get_legend_handles_labels()[0]) <= 12:
        ax.legend(fontsize=7)
    runio.save_figure(fig, path)
    return True


def campaign_summary(entries: Sequence[CampaignEntry], folder: Path) -> str:
    """The quench section of a campaign's ``report.md``; draws its figures into
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
        Markdown: a table of the growth exponent alpha, the final domain length and the
        held-out force error per replica group (:func:`fast.runs.report.campaign_table`),
        the points whose fit failed, L(t) of every point on one log-log plot and alpha
        against each numeric swept setting with error bars.
    """
    finished = [e for e in entries if e.metrics is not None]
    if not finished:
        return "No point of the campaign has finished: no domain-growth summary yet.\n"
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    lines = [
        "## Domain growth across the campaign",
        "",
        *campaign_table(entries, _QUANTITIES),
        "alpha: the exponent of the fit L ~ t^alpha in each point's window; a point's own error "
        "is the bootstrap over its ensemble members, or the regression's standard error where "
        "the bootstrap is not available.",
        "",
    ]
    failed = [e for e in finished if _alpha(e) is None]
    if failed:
        lines += [
            "No growth exponent for: "
            + "; ".join(f"`{e.name}` ({(_growth_summary(e) or {}).get('fit_error')})"
                        for e in failed)
            + ".",
            "",
        ]  # fmt: skip
    if _domain_lengths(finished, folder / "figures" / "domain_length.png"):
        lines.append("![L(t) of every point](figures/domain_length.png)")
    lines += against_parameters(finished, [(r"growth exponent $\alpha$", [_ALPHA])], folder,
                                "alpha")  # fmt: skip
    return "\n".join([*lines, ""])
