"""The voltage workflow's report: density maps, the domain-wall position xi(t); ``report.md``
and ``metrics.json``; and its campaign summary: xi(t) of every point, the final metallic
fraction against the swept settings."""

from __future__ import annotations

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
    from fast.runs.voltage_settings import VoltageSettings


def _density_maps(experiment: VoltageSettings, arrays: dict[str, Any], figures: Path) -> None:
    plt = runio.pyplot()
    t = arrays["t"]
    frames = np.unique(np.linspace(0, len(t) - 1, 4).astype(int))
    frozen = experiment.compare.frozen_columns
    lx = experiment.brownian.Lx
    height = 2 * 2.6 * experiment.brownian.Ly / lx + 1.3
    fig, axes = plt.subplots(2, len(frames), figsize=(2.9 * len(frames), height), squeeze=False)
    for row, (key, label) in enumerate((("n_exact_run0", "NEGF"), ("n_ml_run0", "ML"))):
        for ax, f in zip(axes[row], frames, strict=True):
            im = ax.imshow(arrays[key][f].T, origin="lower", cmap="viridis", vmin=0, vmax=1)
            for x in (frozen - 0.5, lx - frozen - 0.5):
                ax.axvline(x, color="w", lw=0.8, ls="--")
            ax.set_title(f"{label}, t = {t[f]:.0f}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8, label=r"$n_i$")
    fig.suptitle("run 0: the left electrode (x = 0) sits at $\\mu_L = -V$; dashed: the columns "
                 "that follow the NEGF run", fontsize=9)  # fmt: skip
    runio.save_figure(fig, figures / "density_maps.png")


def _xi(arrays: dict[str, Any], figures: Path) -> None:
    plt = runio.pyplot()
    t = arrays["t"]
    fig, axes = plt.subplots(1, 2, figsize=(9.2, 3.6), squeeze=False)
    for ax, region, title in zip(axes[0], ("free", "lattice"),
                                 ("ML-driven columns", "whole lattice (paper 001 Fig. 4)"),
                                 strict=True):  # fmt: skip
        for name, colour, label in (("exact", "tab:red", "NEGF"), ("ml", "tab:blue", "ML")):
            xi = arrays[f"xi_{region}_{name}"]  # (frames, runs)
            ax.plot(t, xi, color=colour, lw=0.4, alpha=0.4)
            mean = xi.mean(axis=1)
            err = xi.std(axis=1, ddof=1) / np.sqrt(xi.shape[1]) if xi.shape[1] > 1 else 0 * mean
            ax.fill_between(t, mean - err, mean + err, color=colour, alpha=0.3)
            ax.plot(t, mean, color=colour, lw=1.6, label=f"{label} (mean of {xi.shape[1]})")
        ax.set_xlabel(r"$t\,\gamma$")
        ax.set_title(title, fontsize=10)
    axes[0][0].set_ylabel(r"metallic fraction $\xi$")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    runio.save_figure(fig, figures / "domain_wall.png")


def write_voltage_report(experiment: VoltageSettings, folder: Path) -> None:
    """Figures, ``report.md`` and ``metrics.json`` of a voltage experiment (paper 001).

    Parameters
    ----------
    experiment : VoltageSettings
        The experiment's settings.
    folder : Path
        The run folder, holding the earlier stages' outputs; figures go to
        ``folder / "figures"``.
    """
    figures = folder / "figures"
    training, summary, timings, arrays, metrics = start_report(experiment.name, folder)
    _density_maps(experiment, arrays, figures)
    _xi(arrays, figures)
    speedup = timings["exact_seconds_per_step"] / timings["ml_seconds_per_step"]
    metrics |= {
        "force_error_on_held_out_runs": summary["force_error_on_held_out_runs"],
        "domain_wall": {k: summary[k] for k in ("xi_free", "xi_lattice")},
        "timings": timings,
        "speedup_ml_vs_exact": speedup,
    }
    runio.write_json(folder / "metrics.json", metrics)

    p, b, cmp = experiment.physics, experiment.brownian, experiment.compare
    e = experiment.electrodes
    v, h = training["validation"], summary["force_error_on_held_out_runs"]
    lines = [
        f"# {experiment.name}: voltage-driven CDW-to-metal transition (paper 001)",
        "",
        f"{b.Lx}x{b.Ly} lattice (open along x, periodic along y), t = {p.hopping}, "
        f"g = {p.g:.4g}, k = {p.k}, kappa = {p.kappa}, coupling {p.coupling}; leads "
        f"Gamma = {e.gamma_lead}, baths Gamma = {e.gamma_bath}, V = {e.voltage}, "
        f"T = {p.temperature}. Brownian dynamics, gamma = {b.damping}, dt = {b.dt}, "
        f"{b.steps} steps. NEGF forces with the exact energy integral. "
        f"Code version {fast.__version__}.",
        "",
        "## Force field",
        "",
        f"`{training['network']}` ({training['parameters']:,} parameters, learns the "
        f"{training['target']} force) trained on the columns {experiment.dataset.exclude_columns}"
        f" to {b.Lx - 1 - experiment.dataset.exclude_columns} of "
        f"{experiment.dataset.n_runs} NEGF runs for {training['epochs_run']} epochs "
        f"({training['stopped']}; best epoch {training['best_epoch']}) in "
        f"{training['training_seconds']:.0f} s on {training['device']}.",
        "",
    ]
    lines += error_table(
        [
            ("held-out snapshots", v),
            ("training", training["train"]),
            ("held-out runs, ML-driven sites", h),
        ]
    )
    lines += [
        f"## NEGF vs ML Brownian dynamics ({cmp.ensemble} held-out runs)",
        "",
        f"Both start from the same states and draw the same noise; in the ML runs the "
        f"{cmp.frozen_columns} outermost columns per side follow the NEGF run (paper 001: "
        "nucleation at the electrodes is outside the model's scope).",
        "",
        "| region | xi(t_end) NEGF | xi(t_end) ML | max difference of means | max z "
        "| frames within 2 sigma |",
        "|---|---|---|---|---|---|",
    ]
    for region in ("free", "lattice"):
        x = summary[f"xi_{region}"]
        lines.append(
            f"| {'ML-driven columns' if region == 'free' else 'whole lattice'} "
            f"| {x['exact_final']:.3f} +- {fmt(x['exact_final_stderr'], '.3f')} "
            f"| {x['ml_final']:.3f} +- {fmt(x['ml_final_stderr'], '.3f')} "
            f"| {x['max_abs_difference_of_means']:.3f} | {fmt(x['max_z'], '.2f')} "
            f"| {fmt(x['fraction_of_frames_within_2_sigma'], '.2f')} |"
        )
    lines += [
        "",
        f"Step time for {cmp.ensemble} runs: NEGF {timings['exact_seconds_per_step'] * 1e3:.1f} "
        f"ms, ML {timings['ml_seconds_per_step'] * 1e3:.1f} ms ({speedup:.1f}x) on "
        f"{timings['device']}.",
        "",
        "![density maps](figures/density_maps.png)",
        "![xi](figures/domain_wall.png)",
        "",
    ]
    text = "\n".join(lines)
    runio.atomic_write(folder / "report.md", lambda p: p.write_text(text))


# ============================================================================ campaign


def _final_xi(region: str, arm: str, legend: str, column: str) -> Quantity:
    """``xi(t_end)`` of ``region`` (``"lattice"``, ``"free"``) and ``arm`` (``"exact"``,
    ``"ml"``) with its standard error over the point's runs."""
    key = f"domain_wall.xi_{region}.{arm}_final"
    return Quantity(column, metric_reader(key, f"{key}_stderr"), legend=legend)


_LATTICE = (_final_xi("lattice", "exact", "NEGF", "xi(t_end) NEGF"),
            _final_xi("lattice", "ml", "ML", "xi(t_end) ML"))  # fmt: skip
_FREE = (_final_xi("free", "exact", "NEGF", "xi(t_end) NEGF, ML-driven columns"),
         _final_xi("free", "ml", "ML", "xi(t_end) ML, ML-driven columns"))  # fmt: skip
_FORCE_ERROR = Quantity(
    "force error std, held-out runs", metric_reader("force_error_on_held_out_runs.std"), ".3g"
)


def _domain_walls(entries: Sequence[CampaignEntry], path: Path) -> bool:
    """The whole-lattice metallic fraction xi(t) of every finished point with an
    ``analysis.h5`` (mean over its runs; NEGF solid, ML dashed) on one plot; whether any was
    drawn."""
    plt = runio.pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.2), layout="constrained")
    for entry, colour, label in styled_points(entries):
        if (entry.folder / "analysis.h5").is_file():
            arrays = read_arrays(entry.folder / "analysis.h5")
            ax.plot(arrays["t"], arrays["xi_lattice_exact"].mean(axis=1), "-", lw=1.2,
                    color=colour, label=label)  # fmt: skip
            ax.plot(arrays["t"], arrays["xi_lattice_ml"].mean(axis=1), "--", lw=1.2,
                    color=colour)  # fmt: skip
    if not ax.has_data():
        plt.close(fig)
        return False
    ax.set_xlabel(r"$t\,\gamma$")
    ax.set_ylabel(r"metallic fraction $\xi$ (whole lattice)")
    ax.set_title("every point, mean over its runs: NEGF solid, ML dashed", fontsize=9)
    if len(ax.get_legend_handles_labels()[0]) <= 12:
        ax.legend(fontsize=7)
    runio.save_figure(fig, path)
    return True


def campaign_summary(entries: Sequence[CampaignEntry], folder: Path) -> str:
    """The voltage section of a campaign's ``report.md``; draws its figures into
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
        Markdown: a table of the final metallic fraction xi(t_end) of the NEGF and ML runs
        (whole lattice and ML-driven columns) and the ML force error along the held-out NEGF
        runs, per replica group (:func:`fast.runs.report.campaign_table`); xi(t) of every
        point on one plot; xi(t_end) and the force error against each numeric swept setting,
        with error bars.
    """
    finished = [e for e in entries if e.metrics is not None]
    if not finished:
        return "No point of the campaign has finished: no domain-wall summary yet.\n"
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    lines = [
        "## CDW-to-metal transition across the campaign",
        "",
        *campaign_table(entries, (*_LATTICE, *_FREE, _FORCE_ERROR)),
        "xi(t_end): the metallic fraction at the end of the runs; a point's own error is the "
        "standard error over its held-out runs.",
        "",
    ]
    if _domain_walls(finished, folder / "figures" / "domain_wall.png"):
        lines.append("![xi(t) of every point](figures/domain_wall.png)")
    panels = [
        (r"$\xi(t_{\rm end})$, whole lattice", _LATTICE),
        (r"$\xi(t_{\rm end})$, ML-driven columns", _FREE),
        ("force error std, held-out runs", (_FORCE_ERROR,)),
    ]
    lines += against_parameters(finished, panels, folder, "xi")
    return "\n".join([*lines, ""])
