"""The ``report`` stage of an experiment: figures, ``report.md`` and ``metrics.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

import fast
from fast.experiment import _read_arrays, densities_from_forces
from fast.simulation import load_trajectory
from reference import _runio, observables

if TYPE_CHECKING:
    from fast.experiment import Experiment
    from fast.laser import LaserExperiment
    from fast.voltage import VoltageExperiment


def _fmt(value: float | None, spec: str) -> str:
    """``value`` formatted, or ``n/a`` where JSON stored a missing or non-finite number."""
    return "n/a" if value is None or not np.isfinite(value) else format(value, spec)


def _error_table(rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Markdown rows of force-error statistics, then the three force-field figures."""
    lines = [
        "| set | configurations | RMSE | MAE | error std | max abs |",
        "|---|---|---|---|---|---|",
    ]
    for name, stats in rows:
        lines.append(
            f"| {name} | {stats['n_configurations']} | {stats['rmse']:.4g} | {stats['mae']:.4g} "
            f"| {stats['std']:.4g} | {stats['max_abs']:.3g} |"
        )
    return [
        *lines,
        "",
        "![parity](figures/parity.png) ![errors](figures/error_histogram.png)",
        "![training](figures/training_curve.png)",
        "",
    ]


def _parity(folder: Path, figures: Path) -> None:
    plt = _runio.pyplot()
    with h5py.File(folder / "predictions.h5", "r") as fh:
        pred = {k: fh[k][...] for k in fh}
    fig, ax = plt.subplots(figsize=(4.4, 4.2))
    for part, colour in (("train", "tab:blue"), ("val", "tab:orange")):
        exact, ml = pred[f"{part}_exact"].ravel(), pred[f"{part}_ml"].ravel()
        pick = np.random.default_rng(0).permutation(exact.size)[:20000]
        label = "training" if part == "train" else "held out"
        ax.plot(exact[pick], ml[pick], ".", ms=1.5, alpha=0.5, color=colour, label=label)
    lo = min(pred["val_exact"].min(), pred["train_exact"].min())
    hi = max(pred["val_exact"].max(), pred["train_exact"].max())
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    ax.set_xlabel(r"$F_{\rm exact}$")
    ax.set_ylabel(r"$F_{\rm ML}$")
    ax.legend(markerscale=6, fontsize=8)
    fig.tight_layout()
    _runio.save_figure(fig, figures / "parity.png")

    delta = (pred["val_ml"] - pred["val_exact"]).ravel()
    fig, ax = plt.subplots(figsize=(4.6, 3.6))
    ax.hist(delta, bins=120, color="tab:orange", density=True)
    ax.set_yscale("log")
    ax.set_xlabel(r"$\delta = F_{\rm ML} - F_{\rm exact}$ (held out)")
    ax.set_ylabel("density")
    ax.set_title(rf"$\sigma_\delta$ = {np.std(delta):.3g}", fontsize=10)
    fig.tight_layout()
    _runio.save_figure(fig, figures / "error_histogram.png")


def _training_curve(history: list[dict[str, float]], figures: Path) -> None:
    plt = _runio.pyplot()
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    ax.semilogy(epochs, [h["train_rmse"] for h in history], label="training RMSE")
    ax.semilogy(epochs, [h["val_rmse"] for h in history], label="held-out RMSE")
    ax.set_xlabel("epoch")
    ax.set_ylabel("force RMSE")
    twin = ax.twinx()
    twin.semilogy(epochs, [h["learning_rate"] for h in history], "k:", lw=0.8)
    twin.set_ylabel("learning rate (dotted)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _runio.save_figure(fig, figures / "training_curve.png")


def _snapshots(experiment: Experiment, folder: Path, figures: Path) -> None:
    plt = _runio.pyplot()
    stored = load_trajectory(folder / "trajectory.h5")
    model = experiment.physics.model(experiment.simulate.size)
    frames = np.unique(np.linspace(1, len(stored.t) - 1, 4).astype(int))
    n = densities_from_forces(stored.Q[frames, 0], stored.forces[frames, 0], model)
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
    _runio.save_figure(fig, figures / "domains.png")


def _growth(experiment: Experiment, arrays: dict[str, Any], summary: dict[str, Any],
            figures: Path) -> None:  # fmt: skip
    plt = _runio.pyplot()
    t_omega = arrays["t"] * experiment.omega
    fig, ax = plt.subplots(figsize=(4.8, 3.8))
    ax.loglog(t_omega[1:], arrays["L"][1:], "o-", ms=3, label=r"$L(t)$ from $S(\mathbf{k})$")
    growth = summary["growth_exponent"]
    if growth is not None:
        window = arrays["fit_window"].astype(bool)
        tt = np.geomspace(t_omega[window][0], t_omega[window][-1], 40)
        errors = [growth["alpha_stderr_regression"], growth["alpha_std_bootstrap"]]
        error = max((e for e in errors if e is not None), default=None)
        label = rf"fit $\alpha$ = {growth['alpha']:.3f} $\pm$ {_fmt(error, '.3f')}"
        ax.loglog(tt, growth["prefactor"] * (tt / experiment.omega) ** growth["alpha"], "k--",
                  label=label)  # fmt: skip
    ax.set_xlabel(r"$t\,\omega$")
    ax.set_ylabel(r"$L$ (lattice spacings)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _runio.save_figure(fig, figures / "domain_length.png")

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
    _runio.save_figure(fig, figures / "scaling_collapse.png")


def _agreement_table(steps: list[int], arm: dict[str, Any]) -> list[str]:
    """Markdown rows of one arm's C(r) agreement with the exact arm, per comparison step."""
    rows = [
        "| step | max abs difference of C(r) | max z | share of r within 2 sigma |",
        "|---|---|---|---|",
    ]
    for step, d, z, w in zip(steps, arm["max_abs_difference"], arm["max_z"],
                             arm["fraction_within_2_sigma"], strict=True):  # fmt: skip
        rows.append(f"| {step} | {_fmt(d, '.3g')} | {_fmt(z, '.2f')} | {_fmt(w, '.2f')} |")
    return rows


def _correlations(experiment: Experiment, arrays: dict[str, Any], figures: Path) -> None:
    plt = _runio.pyplot()
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
    _runio.save_figure(fig, figures / "correlation_comparison.png")


def _common(
    name: str, folder: Path
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Read what every report uses, draw the force-field figures and start the metrics:
    ``(training, summary, timings, arrays, metrics)``."""
    figures = folder / "figures"
    training = json.loads((folder / "training.json").read_text())
    summary = json.loads((folder / "analysis.json").read_text())
    timings = json.loads((folder / "simulate_timings.json").read_text())
    arrays = _read_arrays(folder / "analysis.h5")
    _parity(folder, figures)
    _training_curve(training["history"], figures)
    metrics: dict[str, Any] = {
        "experiment": name,
        "code_version": fast.__version__,
        "force_error_held_out": training["validation"],
        "force_error_training": training["train"],
        "network": training["network"],
        "parameters": training["parameters"],
        "training_seconds": training["training_seconds"],
        "epochs_run": training["epochs_run"],
        "stopped": training["stopped"],
    }
    return training, summary, timings, arrays, metrics


def write_report(experiment: Experiment, folder: Path) -> None:
    """Draw every figure and write ``report.md`` and ``metrics.json`` into ``folder``."""
    figures = folder / "figures"
    training, summary, timings, arrays, metrics = _common(experiment.name, folder)
    _snapshots(experiment, folder, figures)
    _growth(experiment, arrays, summary, figures)
    if experiment.compare.ensemble:
        _correlations(experiment, arrays, figures)

    metrics |= {"growth": summary, "timings": timings}
    if "compare_exact_seconds_per_step" in timings:
        metrics["speedup_ml_vs_exact_at_compare_size"] = (
            timings["compare_exact_seconds_per_step"] / timings["compare_ml_seconds_per_step"]
        )
    _runio.write_json(folder / "metrics.json", metrics)

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
    lines += _error_table([("held out", v), ("training", training["train"])])
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
            f"{_fmt(growth['alpha_stderr_regression'], '.3f')} (regression) +- "
            f"{_fmt(growth['alpha_std_bootstrap'], '.3f')} (bootstrap over "
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
        cc = summary["correlation_comparison"]
        speed = metrics["speedup_ml_vs_exact_at_compare_size"]
        lines += [
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
    text = "\n".join(lines)
    _runio.atomic_write(folder / "report.md", lambda p: p.write_text(text))


# ============================================================================ voltage workflow


def _density_maps(experiment: VoltageExperiment, arrays: dict[str, Any], figures: Path) -> None:
    plt = _runio.pyplot()
    t = arrays["t"]
    frames = np.unique(np.linspace(0, len(t) - 1, 4).astype(int))
    frozen = experiment.compare.frozen_columns
    lx = experiment.physics.Lx
    height = 2 * 2.6 * experiment.physics.Ly / lx + 1.3
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
    _runio.save_figure(fig, figures / "density_maps.png")


def _xi(arrays: dict[str, Any], figures: Path) -> None:
    plt = _runio.pyplot()
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
    _runio.save_figure(fig, figures / "domain_wall.png")


def write_voltage_report(experiment: VoltageExperiment, folder: Path) -> None:
    """Figures, ``report.md`` and ``metrics.json`` of a voltage experiment (paper 001)."""
    figures = folder / "figures"
    training, summary, timings, arrays, metrics = _common(experiment.name, folder)
    _density_maps(experiment, arrays, figures)
    _xi(arrays, figures)
    speedup = timings["exact_seconds_per_step"] / timings["ml_seconds_per_step"]
    metrics |= {
        "force_error_on_held_out_runs": summary["force_error_on_held_out_runs"],
        "domain_wall": {k: summary[k] for k in ("xi_free", "xi_lattice")},
        "timings": timings,
        "speedup_ml_vs_exact": speedup,
    }
    _runio.write_json(folder / "metrics.json", metrics)

    p, b, cmp = experiment.physics, experiment.brownian, experiment.compare
    v, h = training["validation"], summary["force_error_on_held_out_runs"]
    lines = [
        f"# {experiment.name}: voltage-driven CDW-to-metal transition (paper 001)",
        "",
        f"{p.Lx}x{p.Ly} lattice (open along x, periodic along y), t = {p.hopping}, "
        f"g = {p.g:.4g}, k = {p.k}, kappa = {p.kappa}, coupling {p.coupling}; leads "
        f"Gamma = {p.gamma_lead}, baths Gamma = {p.gamma_bath}, V = {p.voltage}, "
        f"T = {p.temperature}. Brownian dynamics, gamma = {b.damping}, dt = {b.dt}, "
        f"{b.steps} steps. NEGF forces with the exact energy integral. "
        f"Code version {fast.__version__}.",
        "",
        "## Force field",
        "",
        f"`{training['network']}` ({training['parameters']:,} parameters, learns the "
        f"{training['target']} force) trained on the columns {experiment.dataset.exclude_columns}"
        f" to {p.Lx - 1 - experiment.dataset.exclude_columns} of "
        f"{experiment.dataset.n_runs} NEGF runs for {training['epochs_run']} epochs "
        f"({training['stopped']}; best epoch {training['best_epoch']}) in "
        f"{training['training_seconds']:.0f} s on {training['device']}.",
        "",
    ]
    lines += _error_table(
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
            f"| {x['exact_final']:.3f} +- {_fmt(x['exact_final_stderr'], '.3f')} "
            f"| {x['ml_final']:.3f} +- {_fmt(x['ml_final_stderr'], '.3f')} "
            f"| {x['max_abs_difference_of_means']:.3f} | {_fmt(x['max_z'], '.2f')} "
            f"| {_fmt(x['fraction_of_frames_within_2_sigma'], '.2f')} |"
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
    _runio.atomic_write(folder / "report.md", lambda p: p.write_text(text))


# ============================================================================ laser workflow


def _order_parameter(experiment: LaserExperiment, arrays: dict[str, Any], figures: Path) -> None:
    plt = _runio.pyplot()
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
    _runio.save_figure(fig, figures / "order_parameter.png")


def _zeta_maps(experiment: LaserExperiment, arrays: dict[str, Any], figures: Path) -> None:
    plt = _runio.pyplot()
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
    _runio.save_figure(fig, figures / "zeta_maps.png")


def write_laser_report(experiment: LaserExperiment, folder: Path) -> None:
    """Figures, ``report.md`` and ``metrics.json`` of a laser experiment (paper 000)."""
    figures = folder / "figures"
    training, summary, timings, arrays, metrics = _common(experiment.name, folder)
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
    _runio.write_json(folder / "metrics.json", metrics)

    p, pulse, r = experiment.physics, experiment.pulse, experiment.recovery
    v, h = training["validation"], summary["force_error_on_held_out_runs"]
    lines = [
        f"# {experiment.name}: CDW melting by a laser pulse and its recovery (paper 000)",
        "",
        f"{p.size}x{p.size} periodic lattice, t = {p.hopping}, g = {p.g:.4g}, k = {p.k}, "
        f"kappa = {p.kappa}, Omega = {p.phonon_frequency} (tau0 = {p.tau0:g}, m = {p.mass:g}), "
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
    lines += _error_table(
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
            f"{_fmt(x['exact_final_stderr'], '.3f')} | {x['ml_final']:.3f} +- "
            f"{_fmt(x['ml_final_stderr'], '.3f')} | {x['max_abs_difference_of_means']:.3f} "
            f"| {_fmt(x['max_z'], '.2f')} | {_fmt(x['fraction_of_frames_within_2_sigma'], '.2f')} |"
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
    _runio.atomic_write(folder / "report.md", lambda path: path.write_text(text))
