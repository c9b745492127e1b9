"""What every workflow's report stage shares: the force-field figures and tables, the start of
``metrics.json``, number formatting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import fast
from fast.runs.analysis import read_arrays
from reference import runio

__all__ = ["error_table", "fmt", "start_report"]


def fmt(value: float | None, spec: str) -> str:
    """``value`` formatted, or ``n/a`` where JSON stored a missing or non-finite number."""
    return "n/a" if value is None or not np.isfinite(value) else format(value, spec)


def error_table(rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
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
    plt = runio.pyplot()
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
    runio.save_figure(fig, figures / "parity.png")

    delta = (pred["val_ml"] - pred["val_exact"]).ravel()
    fig, ax = plt.subplots(figsize=(4.6, 3.6))
    ax.hist(delta, bins=120, color="tab:orange", density=True)
    ax.set_yscale("log")
    ax.set_xlabel(r"$\delta = F_{\rm ML} - F_{\rm exact}$ (held out)")
    ax.set_ylabel("density")
    ax.set_title(rf"$\sigma_\delta$ = {np.std(delta):.3g}", fontsize=10)
    fig.tight_layout()
    runio.save_figure(fig, figures / "error_histogram.png")


def _training_curve(history: list[dict[str, float]], figures: Path) -> None:
    plt = runio.pyplot()
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
    runio.save_figure(fig, figures / "training_curve.png")


def start_report(
    name: str, folder: Path
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Read what every report uses, draw the force-field figures and start the metrics:
    ``(training, summary, timings, arrays, metrics)``."""
    figures = folder / "figures"
    training = json.loads((folder / "training.json").read_text())
    summary = json.loads((folder / "analysis.json").read_text())
    timings = json.loads((folder / "simulate_timings.json").read_text())
    arrays = read_arrays(folder / "analysis.h5")
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
