"""The coarsening workflow's report: L(t) of every estimator, the effective exponent with its
bands, snapshots of phi_i and n_i, the scaling collapse, the wall mobility; ``report.md`` and
``metrics.json``; and its campaign summary: the exponent of every estimator at every point
beside the papers' values and the walls' mobility."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import fast
from fast.runs.analysis import read_arrays
from fast.runs.coarsening_settings import DEGENERATE_ALPHA, ESTIMATORS
from fast.runs.report import (
    CampaignEntry,
    Quantity,
    Reader,
    against_parameters,
    campaign_table,
    combine_replicas,
    estimate,
    fmt,
    group_settings,
    replica_groups,
    styled_points,
)
from reference import runio

if TYPE_CHECKING:
    from fast.runs.coarsening_settings import CoarseningSettings

__all__ = ["LABELS", "PAPERS_ALPHA", "campaign_summary", "papers_alpha", "write_report"]

LABELS = {
    "eq15": "eq. 15 as printed",
    "first_moment": "first moment, background removed",
    "second_moment": "second moment",
    "peak_width": "peak half-weight radius",
    "correlation": "C(r) = 1/2",
    "walls": "inverse wall density",
}
"""How the report names each estimator of :data:`fast.runs.coarsening_settings.ESTIMATORS`."""

PAPERS_ALPHA = {
    (0.1, 0.5): 0.059,
    (0.2, 0.5): 0.115,
    (0.3, 0.5): 0.155,
    (0.1, 0.4): 0.059,
    (0.1, 0.3): 0.059,
}
"""The papers' late-stage exponents by (T, filling): 0.059, 0.115, 0.155 at T = 0.1, 0.2, 0.3
and half filling (paper 003 Fig. 7a, paper 002 Fig. 7b, paper 004 Fig. 6); at T = 0.1 "well
approximated by 0.059" for f = 0.4 and 0.3 too (paper 003 Fig. 7b)."""

ALLEN_CAHN = 0.5
"""The exponent of curvature-driven growth, which the TDGL control must recover."""


def papers_alpha(physics: Mapping[str, Any], provider: str) -> tuple[float, str] | None:
    """The exponent a point should be compared with, and where it comes from: the papers'
    for a Holstein point at their temperature and filling (fixed filling, or ``mu = 0`` at
    half filling), Allen-Cahn's 1/2 for the TDGL control; ``None`` otherwise.

    Parameters
    ----------
    physics : mapping
        The point's ``[physics]`` settings (``temperature``, ``filling``, ``mu``).
    provider : {"cluster", "mlp", "exact", "tdgl"}
        The point's ``[forces] provider``.

    Returns
    -------
    (float, str) or None
        The exponent and its source (``"papers 002-004"`` or ``"Allen-Cahn"``).
    """
    if provider == "tdgl":
        return ALLEN_CAHN, "Allen-Cahn"
    temperature, filling, mu = physics.get("temperature"), physics.get("filling"), physics.get("mu")
    if temperature is None or filling is None or (mu is not None and (mu != 0 or filling != 0.5)):
        return None
    for (t, f), alpha in PAPERS_ALPHA.items():
        if math.isclose(temperature, t, abs_tol=1e-9) and math.isclose(filling, f, abs_tol=1e-9):
            return alpha, "papers 002-004"
    return None


def _window(ax: Any, summary: Mapping[str, Any]) -> None:
    lo, hi = summary["window"]
    ax.axvspan(lo, hi, color="0.9", zorder=0, label="fit window")


def _lengths(arrays: Mapping[str, Any], summary: Mapping[str, Any], path: Path) -> None:
    plt = runio.pyplot()
    t = arrays["t"]
    fig, ax = plt.subplots(figsize=(5.6, 4.2), layout="constrained")
    _window(ax, summary)
    for name in ESTIMATORS:
        length = arrays[f"L_{name}"]
        keep = (t > 0) & np.isfinite(length) & (length > 0)
        fit = summary["estimators"][name].get("fit")
        label = f"{LABELS[name]} ({'n/a' if fit is None else format(fit['alpha'], '.3f')})"
        ax.loglog(t[keep], length[keep], "-", lw=1.3, label=label)
    ax.set_xlabel(summary["time_label"])
    ax.set_ylabel("L (lattice spacings)")
    ax.set_title("L(t) of every estimator (plain-fit alpha)", fontsize=10)
    ax.legend(fontsize=7)
    runio.save_figure(fig, path)


def _effective(
    arrays: Mapping[str, Any], summary: Mapping[str, Any], reference: tuple[float, str] | None,
    path: Path,
) -> None:  # fmt: skip
    plt = runio.pyplot()
    t = arrays["alpha_eff_t"]
    fig, ax = plt.subplots(figsize=(5.6, 4.2), layout="constrained")
    _window(ax, summary)
    for i, name in enumerate(ESTIMATORS):
        colour = f"C{i}"
        ax.fill_between(t, arrays[f"alpha_eff_{name}_lower"], arrays[f"alpha_eff_{name}_upper"],
                        color=colour, alpha=0.2, lw=0)  # fmt: skip
        ax.semilogx(t, arrays[f"alpha_eff_{name}"], "o-", ms=2.5, color=colour,
                    label=LABELS[name])  # fmt: skip
    ax.axhline(ALLEN_CAHN, color="k", ls=":", lw=1, label="Allen-Cahn 1/2")
    if reference is not None and reference[1] != "Allen-Cahn":
        ax.axhline(reference[0], color="k", ls="--", lw=1, label=f"{reference[1]}: {reference[0]}")
    ax.set_xlabel(summary["time_label"])
    ax.set_ylabel(r"$\alpha_{\rm eff} = d\ln L / d\ln t$")
    ax.set_title("effective exponent, bands: bootstrap over members (68 %)", fontsize=10)
    ax.legend(fontsize=7)
    runio.save_figure(fig, path)


_CLOSE_UP = 48
"""The side of the corner of the lattice the n_i snapshots show (paper 003 Fig. 8 is a
close-up: on a whole large lattice the checkerboard aliases)."""


def _snapshots(arrays: Mapping[str, Any], summary: Mapping[str, Any], path: Path) -> None:
    """phi_i of the first member and a close-up of its n_i (paper 003 Figs. 4 and 8)."""
    plt = runio.pyplot()
    frames = arrays["snapshot_frames"]
    t = arrays["t"]
    fig, axes = plt.subplots(2, len(frames), figsize=(3.0 * len(frames), 6.0), squeeze=False,
                             layout="constrained")  # fmt: skip
    phi_scale = float(np.max(np.abs(arrays["snapshot_phi"]))) or 1.0
    for column, frame in enumerate(frames):
        top = axes[0][column].imshow(arrays["snapshot_phi"][column].T, origin="lower",
                                     cmap="RdBu_r", vmin=-phi_scale, vmax=phi_scale)  # fmt: skip
        close_up = arrays["snapshot_n"][column][:_CLOSE_UP, :_CLOSE_UP]
        bottom = axes[1][column].imshow(close_up.T, origin="lower", cmap="viridis", vmin=0.0,
                                        vmax=1.0)  # fmt: skip
        axes[0][column].set_title(f"{summary['time_label']} = {t[frame]:.0f}", fontsize=9)
        for row in (0, 1):
            axes[row][column].set_xticks([])
            axes[row][column].set_yticks([])
    fig.colorbar(top, ax=axes[0].tolist(), shrink=0.8, label=r"$\phi_i$")
    side = min(_CLOSE_UP, arrays["snapshot_n"].shape[-1])
    fig.colorbar(bottom, ax=axes[1].tolist(), shrink=0.8, label=rf"$n_i$ ({side}x{side} corner)")
    runio.save_figure(fig, path)


def _collapse(arrays: Mapping[str, Any], summary: Mapping[str, Any], path: Path) -> None:
    plt = runio.pyplot()
    t = arrays["t"]
    fig, ax = plt.subplots(figsize=(5.0, 4.0), layout="constrained")
    for frame, x, y in zip(arrays["collapse_frames"], arrays["collapse_x"], arrays["collapse_y"],
                           strict=True):  # fmt: skip
        keep = (x > 0) & (y > 1e-12 * y.max())
        ax.loglog(x[keep], y[keep], "o", ms=2.5, label=f"{summary['time_label']} = {t[frame]:.0f}")
    if len(arrays["collapse_x"]):
        x = np.geomspace(2.0, max(float(np.max(arrays["collapse_x"])), 3.0), 20)
        y_max = float(np.max(arrays["collapse_y"]))
        ax.loglog(x, 0.1 * y_max * (x / 2.0) ** -3, "k--", lw=1, label=r"Porod $q^{-3}$")
    ax.set_xlabel(r"$q\,L(t)$ (headline estimator)")
    ax.set_ylabel(r"$S(q,t)/L^2(t)$")
    ax.set_title("dynamical scaling (paper 003 eq. 16)", fontsize=10)
    ax.legend(fontsize=7)
    runio.save_figure(fig, path)


def _mobility(arrays: Mapping[str, Any], summary: Mapping[str, Any], path: Path) -> None:
    plt = runio.pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 3.8), layout="constrained")
    _window(ax, summary)
    t, mobility = arrays["mobility_t"], arrays["mobility"]
    keep = np.isfinite(mobility) & (mobility > 0)
    ax.loglog(t[keep], mobility[keep], "-", lw=1.2, label="members' mean")
    ax.set_xlabel(summary["time_label"])
    ax.set_ylabel("wall bonds changed per unit time")
    ax.set_title("wall mobility between consecutive frames", fontsize=10)
    ax.legend(fontsize=7)
    runio.save_figure(fig, path)


def _estimate(fit: Mapping[str, Any] | None) -> str:
    if fit is None:
        return "n/a"
    if fit.get("degenerate"):
        return f"degenerate ({fit['alpha']:.3g})"
    error = fit.get("alpha_bootstrap_error")
    return f"{fit['alpha']:.3f} +- {fmt(error, '.3f')}"


def _members(fit: Mapping[str, Any] | None) -> str:
    if fit is None:
        return "n/a"
    values = [v for v in fit["alpha_members"] if v is not None and math.isfinite(v)]
    if not values:
        return "n/a"
    return f"{min(values):.3f} to {max(values):.3f}"


def write_report(experiment: CoarseningSettings, folder: Path) -> None:
    """Draw every figure and write ``report.md`` and ``metrics.json`` into ``folder``.

    Parameters
    ----------
    experiment : CoarseningSettings
        The experiment's settings.
    folder : Path
        The run folder, holding the earlier stages' outputs; figures go to
        ``folder / "figures"``.
    """
    figures = folder / "figures"
    summary = json.loads((folder / "analysis.json").read_text())
    timings = json.loads((folder / "simulate_timings.json").read_text())
    arrays = read_arrays(folder / "analysis.h5")
    reference = papers_alpha(summary["physics"], summary["provider"])
    _lengths(arrays, summary, figures / "lengths.png")
    _effective(arrays, summary, reference, figures / "effective_exponent.png")
    _snapshots(arrays, summary, figures / "snapshots.png")
    _collapse(arrays, summary, figures / "scaling_collapse.png")
    _mobility(arrays, summary, figures / "wall_mobility.png")
    metrics = {
        "experiment": experiment.name, "code_version": fast.__version__,
        "growth": summary, "timings": timings,
        "reference_alpha": None if reference is None else {"alpha": reference[0],
                                                           "source": reference[1]},
    }  # fmt: skip
    runio.write_json(folder / "metrics.json", metrics)

    run, p, forces = experiment.coarsening, experiment.physics, experiment.forces
    if forces.provider == "tdgl":
        g = experiment.tdgl
        physics = (
            f"Allen-Cahn control: TDGL model A (paper 002 eqs. 4-5) with K = {g.K:g}, "
            f"A = {g.A:g}, phi0 = {g.phi0:g}, Gamma = {g.Gamma:g}, dt = {g.dt:g}, "
            f"T = {experiment.temperature:g}; times in TDGL units."
        )
    else:
        electrons = f"mu = {p.mu:g}" if p.mu is not None else f"filling {p.filling:g}"
        provider = {"cluster": f"local-cluster forces, r_c = {forces.r_c:g}",
                    "exact": "exact diagonalisation",
                    "mlp": f"the network in `{forces.model_file}`"}[forces.provider]  # fmt: skip
        physics = (
            f"Holstein model (t = {p.hopping:g}, g = {p.g:g}, k = {p.k:g}, kappa = {p.kappa:g}, "
            f"m = {p.mass:g}, coupling {p.coupling}), {electrons}, quench to T = {p.temperature:g} "
            f"from a hot start at T0 = {experiment.langevin.initial_temperature:g}; {provider}; "
            f"Langevin omega tau = {experiment.langevin.omega_tau:g}, "
            f"dt omega = {experiment.langevin.dt_omega:g}."
        )
    lo, hi = summary["window"]
    walls = summary["walls"]
    lines = [
        f"# {experiment.name}: domain coarsening after a thermal quench",
        "",
        f"{physics} Code version {fast.__version__}.",
        "",
        f"{run.size}x{run.size} lattice, {run.ensemble} members, {run.steps} steps "
        f"({summary['time_label']} up to {summary['t_end']:.4g}), "
        f"{timings['seconds_per_step_and_member'] * 1e3:.1f} ms per step and member "
        f"({timings['seconds_per_step'] * 1e3:.1f} ms per step of the ensemble"
        + (", summed over its units, which may run side by side" if run.members_per_unit else "")
        + f") on {timings['device']}, {timings['threads']} thread"
        + ("s" if timings["threads"] != 1 else "")
        + " per process.",
        "",
        f"## Growth exponents over {summary['time_label']} in [{lo:.4g}, {hi:.4g}] "
        f"({summary['window_frames']} frames)",
        "",
        "Errors: half the width of the 16-84 % range of the exponent over "
        f"{summary['bootstrap']} bootstrap resamples of the members (n/a without). The ensemble "
        "length is read from the members' mean S(k), C(r) or wall count. An offset fit is "
        f"*degenerate* where its exponent exceeds {DEGENERATE_ALPHA:g}: L(t) bends up in the "
        "window, and (a + b t)^alpha runs to its exponential limit.",
        "",
        "| estimator | L at window start | L at the end | alpha, L = A t^alpha | "
        "alpha, L = (a + b t)^alpha | members' own alpha (plain) |",
        "|---|---|---|---|---|---|",
    ]
    for name in ESTIMATORS:
        entry = summary["estimators"][name]
        mark = " (headline)" if name == summary["headline"] else ""
        lines.append(
            f"| {LABELS[name]}{mark} | {fmt(entry['L_window_start'], '.3g')} | "
            f"{fmt(entry['L_final'], '.3g')} | {_estimate(entry.get('fit'))} | "
            f"{_estimate(entry.get('offset_fit'))} | {_members(entry.get('fit'))} |"
        )
    lines.append("")
    if reference is not None:
        lines += [f"Reference: alpha = {reference[0]} ({reference[1]}).", ""]
    verdict = (
        "**walls frozen**: a fitted exponent over this window is not a growth law"
        if walls["frozen"] else "walls moving"
    )  # fmt: skip
    lines += [
        f"Wall mobility: {fmt(walls['mobility_window_mean'], '.3g')} of the wall bonds change "
        f"per unit {summary['time_label']} between frames in the window; "
        f"{fmt(walls['window_turnover'], '.2f')} of the wall bonds changed between the "
        f"window's first and last frames (threshold {walls['frozen_share']:g}): {verdict}. "
        f"In the window the mobility falls as t^{fmt(walls['mobility_exponent'], '.2f')}; walls "
        "moved by curvature at the speed dL/dt of L ~ t^alpha would give alpha - 1.",
        "",
        f"Porod exponent at late times (S(q) ~ q^-gamma on {summary['porod']['q_window']}): "
        f"{fmt(summary['porod']['late'], '.2f')} (3 for sharp walls in 2D).",
        "",
        "Finite size: the inverse wall density at the window's end is "
        f"{summary['finite_size']['L_walls_at_window_end_over_size']:.2f} of the lattice side.",
        "",
        "![L(t)](figures/lengths.png) ![effective exponent](figures/effective_exponent.png)",
        "",
        "![snapshots of phi_i and n_i, first member](figures/snapshots.png)",
        "",
        "![scaling collapse](figures/scaling_collapse.png) "
        "![wall mobility](figures/wall_mobility.png)",
        "",
    ]
    text = "\n".join(lines)
    runio.atomic_write(folder / "report.md", lambda path: path.write_text(text))


# ============================================================================ campaign


def _fit_reader(name: str, fit: str) -> Reader:
    """A run's exponent of estimator ``name`` (``fit``: ``"fit"`` or ``"offset_fit"``) with
    its bootstrap error, else the regression's standard error."""

    def read(entry: CampaignEntry) -> tuple[float, float | None] | None:
        growth = (entry.metrics or {}).get("growth") or {}
        value = ((growth.get("estimators") or {}).get(name) or {}).get(fit)
        if value is None or value.get("alpha") is None or value.get("degenerate"):
            return None
        error = value.get("alpha_bootstrap_error")
        if error is None:
            error = value.get("alpha_stderr")
        return float(value["alpha"]), error

    return read


def _walls_reader(key: str) -> Reader:
    def read(entry: CampaignEntry) -> tuple[float, float | None] | None:
        value = (((entry.metrics or {}).get("growth") or {}).get("walls") or {}).get(key)
        return None if value is None else (float(value), None)

    return read


def _quantities(fit: str) -> list[Quantity]:
    return [Quantity(f"alpha {name}", _fit_reader(name, fit), legend=LABELS[name])
            for name in ESTIMATORS]  # fmt: skip


_WALLS = [
    Quantity("wall turnover over the window", _walls_reader("window_turnover"), ".2f"),
    Quantity("wall mobility", _walls_reader("mobility_window_mean"), ".3g"),
]


def _all_lengths(entries: Sequence[CampaignEntry], path: Path) -> bool:
    """L(t) of every finished point's headline estimator on one log-log plot."""
    curves = []
    for entry, colour, label in styled_points(entries):
        growth = (entry.metrics or {}).get("growth") or {}
        if (entry.folder / "analysis.h5").is_file() and growth.get("headline"):
            arrays = read_arrays(entry.folder / "analysis.h5")
            curves.append((arrays["t"], arrays[f"L_{growth['headline']}"], colour, label,
                           growth["time_label"], growth["headline"]))  # fmt: skip
    if not curves:
        return False
    plt = runio.pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.2), layout="constrained")
    for t, length, colour, label, _, _ in curves:
        keep = (t > 0) & np.isfinite(length) & (length > 0)
        ax.loglog(t[keep], length[keep], "-", lw=1.2, color=colour, label=label)
    ax.set_xlabel(" / ".join(sorted({c[4] for c in curves})))
    ax.set_ylabel("L (lattice spacings)")
    ax.set_title("L(t) of every point: " + ", ".join(sorted({LABELS[c[5]] for c in curves})),
                 fontsize=9)  # fmt: skip
    if len(ax.get_legend_handles_labels()[0]) <= 12:
        ax.legend(fontsize=7)
    runio.save_figure(fig, path)
    return True


def _all_effective(entries: Sequence[CampaignEntry], path: Path) -> bool:
    """The effective exponent of every finished point's headline estimator, with its
    bootstrap band, on one plot beside Allen-Cahn's 1/2 and the papers' values."""
    curves = []
    for entry, colour, label in styled_points(entries):
        growth = (entry.metrics or {}).get("growth") or {}
        name = growth.get("headline")
        if not (entry.folder / "analysis.h5").is_file() or not name:
            continue
        arrays = read_arrays(entry.folder / "analysis.h5")
        if f"alpha_eff_{name}" in arrays:
            curves.append((arrays, name, colour, label, growth))
    if not curves:
        return False
    plt = runio.pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.2), layout="constrained")
    for arrays, name, colour, label, _ in curves:
        t = arrays["alpha_eff_t"]
        ax.fill_between(t, arrays[f"alpha_eff_{name}_lower"], arrays[f"alpha_eff_{name}_upper"],
                        color=colour, alpha=0.15, lw=0)  # fmt: skip
        ax.semilogx(t, arrays[f"alpha_eff_{name}"], "o-", ms=2.0, lw=1.0, color=colour,
                    label=label)  # fmt: skip
    ax.axhline(ALLEN_CAHN, color="k", ls=":", lw=1, label="Allen-Cahn 1/2")
    papers = sorted({(e.metrics or {}).get("reference_alpha", {}).get("alpha") for e in entries
                     if ((e.metrics or {}).get("reference_alpha") or {}).get("source")
                     == "papers 002-004"})  # fmt: skip
    for alpha in papers:
        ax.axhline(alpha, color="0.4", ls="--", lw=0.8)
    if papers:
        ax.plot([], [], color="0.4", ls="--", lw=0.8, label="papers: " +
                ", ".join(format(a, "g") for a in papers))  # fmt: skip
    window = curves[0][4].get("window")
    if window is not None:
        ax.axvspan(*window, color="0.93", zorder=0, label="fit window")
    ax.set_xlabel(" / ".join(sorted({c[4].get("time_label", "t") for c in curves})))
    ax.set_ylabel(r"$\alpha_{\rm eff} = d\ln L / d\ln t$")
    ax.set_title("effective exponent of every point: " +
                 ", ".join(sorted({LABELS[c[1]] for c in curves})), fontsize=9)  # fmt: skip
    if len(ax.get_legend_handles_labels()[0]) <= 14:
        ax.legend(fontsize=6.5)
    runio.save_figure(fig, path)
    return True


def _late_snapshots(entries: Sequence[CampaignEntry], path: Path) -> bool:
    """phi_i of every finished point's first member at its last snapshot, above a close-up of
    n_i (paper 003 Figs. 4 and 8, one column per point)."""
    columns = []
    for entry, _, label in styled_points(entries):
        growth = (entry.metrics or {}).get("growth") or {}
        if not (entry.folder / "analysis.h5").is_file():
            continue
        arrays = read_arrays(entry.folder / "analysis.h5")
        if "snapshot_phi" in arrays and len(arrays["snapshot_frames"]):
            t = arrays["t"][arrays["snapshot_frames"][-1]]
            title = f"{label}\n{growth.get('time_label', 't')} = {t:.0f}"
            columns.append((arrays["snapshot_phi"][-1], arrays["snapshot_n"][-1], title))
    if not columns:
        return False
    plt = runio.pyplot()
    fig, axes = plt.subplots(2, len(columns), figsize=(2.6 * len(columns) + 0.8, 5.6),
                             squeeze=False, layout="constrained")  # fmt: skip
    phi_scale = max(float(np.max(np.abs(c[0]))) for c in columns) or 1.0
    for column, (phi, n, title) in enumerate(columns):
        top = axes[0][column].imshow(phi.T, origin="lower", cmap="RdBu_r", vmin=-phi_scale,
                                     vmax=phi_scale)  # fmt: skip
        bottom = axes[1][column].imshow(n[:_CLOSE_UP, :_CLOSE_UP].T, origin="lower",
                                        cmap="viridis", vmin=0.0, vmax=1.0)  # fmt: skip
        axes[0][column].set_title(title, fontsize=7)
        for row in (0, 1):
            axes[row][column].set_xticks([])
            axes[row][column].set_yticks([])
    fig.colorbar(top, ax=axes[0].tolist(), shrink=0.8, label=r"$\phi_i$")
    side = min(_CLOSE_UP, columns[0][1].shape[-1])
    fig.colorbar(bottom, ax=axes[1].tolist(), shrink=0.8, label=rf"$n_i$ ({side}x{side} corner)")
    runio.save_figure(fig, path)
    return True


def _flagged(entries: Sequence[CampaignEntry], test: Callable[[Mapping[str, Any]], bool]) -> str:
    return ", ".join(f"`{e.name}`" for e in entries if test((e.metrics or {}).get("growth") or {}))


def _cell(value: Any) -> str:
    return format(value, "g") if isinstance(value, float) else str(value)


def _side_by_side(entries: Sequence[CampaignEntry]) -> list[str]:
    """Markdown rows: per replica group, the reference exponent beside the headline
    estimator's plain and offset fits, the walls' turnover and how many replicas' walls
    froze."""
    groups = replica_groups(entries)
    settings = list(dict.fromkeys(k for g in groups for k in group_settings(g[0])))
    lines = [
        "| " + " | ".join([*settings, "replicas", "reference alpha", "estimator",
                           "alpha, plain fit", "alpha, offset fit", "wall turnover",
                           "walls frozen"]) + " |",
        "|" + "---|" * (len(settings) + 7),
    ]  # fmt: skip
    for group in groups:
        first = (group[0].metrics or {}).get("growth") or {}
        reference = (group[0].metrics or {}).get("reference_alpha")
        name = first.get("headline", "")
        swept = group_settings(group[0])
        cells = [_cell(swept[k]) if k in swept else "" for k in settings]
        cells += [
            str(len(group)),
            "n/a" if reference is None else f"{reference['alpha']:g} ({reference['source']})",
            LABELS.get(name, name),
        ]  # fmt: skip
        for reader, spec in ((_fit_reader(name, "fit"), ".3f"),
                             (_fit_reader(name, "offset_fit"), ".3f"),
                             (_walls_reader("window_turnover"), ".2f")):  # fmt: skip
            mean, error, count = combine_replicas(
                [r for r in (reader(e) for e in group) if r is not None]
            )
            note = f" ({count} of {len(group)})" if count < len(group) else ""
            cells.append(estimate(mean, error, spec) + note)
        frozen = sum(bool(((e.metrics or {}).get("growth") or {}).get("walls", {}).get("frozen"))
                     for e in group)  # fmt: skip
        cells.append(f"{frozen} of {len(group)}")
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def campaign_summary(entries: Sequence[CampaignEntry], folder: Path) -> str:
    """The coarsening section of a campaign's ``report.md``; draws its figures into
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
        Markdown: per replica group the reference exponent (the papers' alpha where the
        point's temperature and filling match theirs, Allen-Cahn's 1/2 for TDGL) beside the
        headline estimator's plain and offset fits, the walls' turnover and how many replicas'
        walls froze; the plain-fit and the offset-fit exponent of every estimator with the
        walls' turnover and mobility (:func:`fast.runs.report.campaign_table`); the points
        whose walls are frozen; L(t) and the effective exponent of every point on one plot
        each; late-time snapshots of phi_i and n_i per point; alpha against each numeric swept
        setting.
    """
    finished = [e for e in entries if e.metrics is not None]
    if not finished:
        return "No point of the campaign has finished: no coarsening summary yet.\n"
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    lines = [
        "## Coarsening across the campaign",
        "",
        "### Ours beside the papers",
        "",
        "Reference: the papers' alpha (0.059, 0.115, 0.155 at T = 0.1, 0.2, 0.3, f = 0.5; 0.059 "
        "at f = 0.4, 0.3, T = 0.1; papers 002-004) where the point's temperature and filling "
        "match, 1/2 (Allen-Cahn) for the TDGL control. Ours: the headline estimator, replicas "
        "combined as mean +- standard error (one replica: its bootstrap error over members). "
        "Wall turnover: the share of wall bonds that changed between the fit window's first and "
        "last frames; walls count as frozen below each point's `frozen_share`.",
        "",
        *_side_by_side(finished),
        "### alpha of L = A t^alpha (paper 003 eq. 17), every estimator",
        "",
        *campaign_table(entries, [*_quantities("fit"), *_WALLS]),
        "### alpha of L = (a + b t)^alpha, every estimator",
        "",
        *campaign_table(entries, _quantities("offset_fit")),
        "A point's own error is the bootstrap over its members; degenerate offset fits (L(t) "
        "bending up in the window) count as missing.",
        "",
    ]
    frozen = _flagged(finished, lambda g: bool((g.get("walls") or {}).get("frozen")))
    if frozen:
        lines += [f"Walls frozen in the fit window (the exponent is not a growth law): {frozen}.",
                  ""]  # fmt: skip
    figures = folder / "figures"
    if _all_lengths(finished, figures / "coarsening_lengths.png"):
        lines.append("![L(t) of every point](figures/coarsening_lengths.png)")
    if _all_effective(finished, figures / "coarsening_effective_exponent.png"):
        lines.append("![effective exponent of every point]"
                     "(figures/coarsening_effective_exponent.png)")  # fmt: skip
    if _late_snapshots(finished, figures / "coarsening_snapshots.png"):
        lines += ["", "Late-time snapshots, first member of each point: phi_i (top) and a "
                  "close-up of n_i (bottom).", "",
                  "![late snapshots of every point](figures/coarsening_snapshots.png)"]  # fmt: skip
    lines += against_parameters(
        finished,
        [(r"$\alpha$, $L = A t^\alpha$", _quantities("fit")),
         (r"$\alpha$, $L = (a + bt)^\alpha$", _quantities("offset_fit"))],
        folder,
        "coarsening_alpha",
    )  # fmt: skip
    return "\n".join([*lines, ""])
