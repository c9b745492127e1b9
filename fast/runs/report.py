"""What every workflow's report stage shares: the force-field figures and tables, the start of
``metrics.json``, number formatting; and the pieces of a campaign's summary (points grouped
into replicas, a table of their numbers, figures against a swept setting)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import attrs
import h5py
import numpy as np

import fast
from fast.runs.analysis import read_arrays
from reference import runio

__all__ = [
    "SEED_SETTING",
    "CampaignEntry",
    "GroupValue",
    "Quantity",
    "Reader",
    "against_parameters",
    "campaign_table",
    "combine_replicas",
    "error_table",
    "estimate",
    "fmt",
    "group_settings",
    "group_values",
    "metric_reader",
    "numeric_parameters",
    "plot_against",
    "replica_groups",
    "settings_label",
    "start_report",
    "styled_points",
]


def fmt(value: float | None, spec: str) -> str:
    """``value`` formatted, or ``n/a`` where JSON stored a missing or non-finite number.

    Parameters
    ----------
    value : float or None
        The number (None where JSON stored ``null``).
    spec : str
        A format specification (e.g. ``".3f"``).

    Returns
    -------
    str
        ``format(value, spec)``, or ``"n/a"``.
    """
    return "n/a" if value is None or not np.isfinite(value) else format(value, spec)


def error_table(rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Markdown rows of force-error statistics, then the three force-field figures.

    Parameters
    ----------
    rows : list of (str, dict)
        Each set's name (e.g. ``"held out"``) and its error statistics (the fields of
        :class:`fast.ml.training.ErrorStats`: ``n_configurations``, ``rmse``, ``mae``,
        ``std``, ``max_abs``).

    Returns
    -------
    list of str
        The table's lines, then links to ``figures/parity.png``,
        ``figures/error_histogram.png`` and ``figures/training_curve.png``.
    """
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
    """Read what every report uses, draw the force-field figures and start the metrics.

    Parameters
    ----------
    name : str
        The experiment's name (the metrics' ``experiment``).
    folder : Path
        The run folder: it holds ``training.json``, ``analysis.json``,
        ``simulate_timings.json``, ``analysis.h5`` and ``predictions.h5``; the parity, error
        histogram and training-curve figures go to ``folder / "figures"``.

    Returns
    -------
    training, summary, timings : dict
        The contents of ``training.json``, ``analysis.json`` and ``simulate_timings.json``.
    arrays : dict of str to ndarray
        The arrays of ``analysis.h5``.
    metrics : dict
        The start of ``metrics.json``: experiment, code version, force errors, network,
        parameter count, training time, epochs run and why training stopped.
    """
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


# ============================================================================ campaigns

SEED_SETTING = "experiment.seed"
"""The setting that tells replicas apart: points that differ only in it form one group."""


@attrs.frozen
class CampaignEntry:
    """One point of a campaign, as its summary sees it.

    Parameters
    ----------
    name
        The point's folder name (under ``<campaign>/points/``).
    values
        Its swept settings by dotted path, e.g.
        ``{"physics.temperature": 0.1, "experiment.seed": 11}``.
    folder
        The point's run folder.
    metrics
        Its ``metrics.json``, or ``None`` while the point has not finished.
    """

    name: str
    values: dict[str, Any]
    folder: Path
    metrics: dict[str, Any] | None


Reader: TypeAlias = Callable[[CampaignEntry], tuple[float, float | None] | None]
"""A run's value and its own error (``None`` or NaN if it has none) from its campaign entry,
or ``None`` where the run lacks the value."""


@attrs.frozen
class GroupValue:
    """A quantity of one replica group (:func:`combine_replicas`).

    Parameters
    ----------
    settings
        The group's swept settings other than the seed.
    mean
        The mean over the group's runs that have the quantity.
    error
        The error of that mean (NaN where unknown).
    count
        How many runs the mean is over.
    """

    settings: dict[str, Any]
    mean: float
    error: float
    count: int


@attrs.frozen
class Quantity:
    """A number of a finished run that a campaign compares across its points.

    Parameters
    ----------
    column
        Its header in the campaign's table.
    read
        Its value and the run's own error from an entry (:data:`Reader`).
    spec
        The format of value and error in the table.
    legend
        Its label where it shares a plot panel with other quantities (e.g. ``"ML"``).
    """

    column: str
    read: Reader
    spec: str = ".3f"
    legend: str = ""


def metric_reader(path: str, error: str | None = None) -> Reader:
    """A :data:`Reader` of the number at the dotted ``path`` of a run's metrics (e.g.
    ``"domain_wall.xi_lattice.ml_final"``), with its error at the dotted ``error``.

    Parameters
    ----------
    path : str
        Dotted key path of the value into ``metrics.json``; a missing key or a ``null``
        reads as no value.
    error : str, optional
        Dotted key path of its error; None (default), a missing key or a ``null``: no error.

    Returns
    -------
    Reader
        ``(value, error)``, or ``None`` where the run has no value.
    """

    def dig(metrics: Mapping[str, Any], dotted: str) -> float | None:
        value: Any = metrics
        for key in dotted.split("."):
            if not isinstance(value, Mapping) or value.get(key) is None:
                return None
            value = value[key]
        return float(value)

    def read(entry: CampaignEntry) -> tuple[float, float | None] | None:
        value = dig(entry.metrics or {}, path)
        if value is None:
            return None
        return value, None if error is None else dig(entry.metrics or {}, error)

    return read


def group_settings(entry: CampaignEntry) -> dict[str, Any]:
    """The swept settings of ``entry`` other than the seed (:data:`SEED_SETTING`).

    Parameters
    ----------
    entry : CampaignEntry
        A point of the campaign.

    Returns
    -------
    dict
        Values by dotted path.
    """
    return {k: v for k, v in entry.values.items() if k != SEED_SETTING}


def replica_groups(entries: Sequence[CampaignEntry]) -> list[list[CampaignEntry]]:
    """The finished entries grouped into replicas.

    Parameters
    ----------
    entries : sequence of CampaignEntry
        The campaign's points; those without metrics are left out.

    Returns
    -------
    list of list of CampaignEntry
        Entries whose swept settings other than the seed are equal, one list per group, in
        the order the groups first appear.
    """
    groups: dict[str, list[CampaignEntry]] = {}
    for entry in entries:
        if entry.metrics is not None:
            key = repr(sorted(group_settings(entry).items(), key=lambda item: item[0]))
            groups.setdefault(key, []).append(entry)
    return list(groups.values())


def combine_replicas(estimates: Sequence[tuple[float, float | None]]) -> tuple[float, float, int]:
    """The mean of replicas' values and its error.

    Parameters
    ----------
    estimates : sequence of (float, float or None)
        Each replica's value and its own error (``None`` or NaN where it has none); replicas
        with a non-finite value are left out.

    Returns
    -------
    mean, error : float
        The mean of the finite values and its error. With two or more replicas the error
        is their standard error ``std(ddof=1) / sqrt(count)`` (it holds each run's own
        scatter already); with one, that run's own error (NaN if none); with none,
        ``(nan, nan, 0)``.
    count : int
        The number of replicas with a finite value.
    """
    finite = [(v, e) for v, e in estimates if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan, 0
    if len(finite) == 1:
        value, error = finite[0]
        return value, math.nan if error is None else float(error), 1
    values = np.array([v for v, _ in finite])
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values))), len(values)


def group_values(groups: Sequence[Sequence[CampaignEntry]], quantity: Quantity) -> list[GroupValue]:
    """``quantity`` of each replica group, combined by :func:`combine_replicas`.

    Parameters
    ----------
    groups : sequence of sequence of CampaignEntry
        Replica groups of finished entries (:func:`replica_groups`).
    quantity : Quantity
        What to read from each run.

    Returns
    -------
    list of GroupValue
        One per group in which at least one run has the quantity.
    """
    out = []
    for group in groups:
        mean, error, count = combine_replicas(
            [r for r in (quantity.read(e) for e in group) if r is not None]
        )
        if count:
            out.append(GroupValue(group_settings(group[0]), mean, error, count))
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def numeric_parameters(entries: Sequence[CampaignEntry]) -> list[str]:
    """The swept settings a quantity can be plotted against.

    Parameters
    ----------
    entries : sequence of CampaignEntry
        The points to plot.

    Returns
    -------
    list of str
        The dotted paths, other than the seed, that are finite numbers in every entry and take
        at least two values, in the order of the sweep.
    """
    names = dict.fromkeys(k for e in entries for k in e.values if k != SEED_SETTING)
    return [
        n
        for n in names
        if all(n in e.values and _is_number(e.values[n]) for e in entries)
        and len({e.values[n] for e in entries}) > 1
    ]


def _text(value: Any) -> str:
    return format(value, "g") if isinstance(value, float) else str(value)


def settings_label(settings: Mapping[str, Any]) -> str:
    """``path = value`` of every setting, joined by commas; ``all points`` for none.

    Parameters
    ----------
    settings : mapping
        Setting values by dotted path (floats formatted with ``g``).

    Returns
    -------
    str
        E.g. ``"physics.temperature = 0.1, physics.filling = 0.5"``.
    """
    return ", ".join(f"{k} = {_text(v)}" for k, v in settings.items()) or "all points"


def estimate(mean: float, error: float, spec: str) -> str:
    """``mean +- error`` formatted with ``spec``; the mean alone where the error is not
    finite, ``n/a`` where the mean is not.

    Parameters
    ----------
    mean : float
        The value.
    error : float
        Its error (NaN where unknown).
    spec : str
        A format specification for both (e.g. ``".3f"``).

    Returns
    -------
    str
        E.g. ``"0.342 +- 0.012"``.
    """
    if not math.isfinite(error):
        return fmt(mean, spec)
    return f"{fmt(mean, spec)} +- {format(error, spec)}"


def campaign_table(entries: Sequence[CampaignEntry], quantities: Sequence[Quantity]) -> list[str]:
    """Markdown lines: how many points finished, how replicas combine, and a table with one
    row per replica group.

    Parameters
    ----------
    entries : sequence of CampaignEntry
        The campaign's points; unfinished ones are counted, not shown.
    quantities : sequence of Quantity
        The table's number columns.

    Returns
    -------
    list of str
        Each row holds the group's swept settings (the seed left out), its number of finished
        replicas and every quantity as ``mean +- error`` (:func:`combine_replicas`), with
        ``(k of n replicas)`` where only ``k`` of its ``n`` replicas have the quantity.
    """
    groups = replica_groups(entries)
    finished = sum(len(g) for g in groups)
    settings = list(dict.fromkeys(k for e in entries for k in group_settings(e)))
    lines = []
    if finished < len(entries):
        lines += [f"{finished} of {len(entries)} points finished; the others are left out.", ""]
    if any(len(g) > 1 for g in groups):
        lines.append(
            f"Points that differ only in `{SEED_SETTING}` are replicas and share a row: the "
            "mean over the replicas +- its standard error (their standard deviation, ddof = 1, "
            "over the square root of their number); a row of one point shows that point's own "
            "error."
        )
    else:
        lines.append("One row per point; +- is the point's own error.")
    lines += [
        "",
        "| " + " | ".join([*settings, "replicas", *(q.column for q in quantities)]) + " |",
        "|" + "---|" * (len(settings) + 1 + len(quantities)),
    ]
    for group in groups:
        cells = [_text(group_settings(group[0]).get(k, "")) for k in settings] + [str(len(group))]
        for q in quantities:
            mean, error, count = combine_replicas(
                [r for r in (q.read(e) for e in group) if r is not None]
            )
            note = f" ({count} of {len(group)} replicas)" if count < len(group) else ""
            cells.append(estimate(mean, error, q.spec) + note)
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


_SERIES_STYLES = ("o-", "s--", "^:", "v-.")


def plot_against(
    parameter: str,
    panels: Sequence[tuple[str, Sequence[tuple[str, Sequence[GroupValue]]]]],
    path: Path,
) -> None:
    """Draw quantities against a swept setting with error bars and save the figure.

    Parameters
    ----------
    parameter : str
        The dotted path of a numeric swept setting: the x axis.
    panels : sequence of (str, sequence of (str, sequence of GroupValue))
        One panel each: its y label and its series, each a legend label (may be empty) and
        the values of the replica groups (:func:`group_values`). Every series has one line
        per value of the other swept settings: one colour per such value (per series where
        nothing else is swept), one line style per series.
    path : Path
        The PNG file to write.
    """

    def other(v: GroupValue) -> str:
        return settings_label({k: x for k, x in v.settings.items() if k != parameter})

    by_series = len({other(v) for _, series in panels for _, vs in series for v in vs}) <= 1
    plt = runio.pyplot()
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.8 * len(panels), 3.8), squeeze=False, layout="constrained"
    )
    colours: dict[str, Any] = {}
    for ax, (ylabel, series) in zip(axes[0], panels, strict=True):
        for style, (name, values) in zip(_SERIES_STYLES * len(series), series, strict=False):
            lines: dict[str, list[GroupValue]] = {}
            for v in values:
                if parameter in v.settings:
                    lines.setdefault("" if by_series else other(v), []).append(v)
            for rest, line in lines.items():
                line = sorted(line, key=lambda v: float(v.settings[parameter]))
                colour = colours.setdefault(name if by_series else rest, f"C{len(colours) % 10}")
                ax.errorbar(
                    [v.settings[parameter] for v in line], [v.mean for v in line],
                    yerr=np.nan_to_num([v.error for v in line]), fmt=style, ms=4, capsize=3,
                    color=colour, label=", ".join(s for s in (name, rest) if s) or None,
                )  # fmt: skip
        if not ax.has_data():
            ax.text(0.5, 0.5, "no finished values", ha="center", transform=ax.transAxes)
        ax.set_xlabel(parameter)
        ax.set_ylabel(ylabel)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    runio.save_figure(fig, path)


def against_parameters(
    entries: Sequence[CampaignEntry],
    panels: Sequence[tuple[str, Sequence[Quantity]]],
    folder: Path,
    stem: str,
) -> list[str]:
    """Figures of quantities against every numeric swept setting, and their image links.

    Parameters
    ----------
    entries : sequence of CampaignEntry
        The campaign's points; only finished ones are plotted.
    panels : sequence of (str, sequence of Quantity)
        One panel each: its y label and its quantities (their ``legend`` labels the lines).
    folder : Path
        The campaign folder; figures go to ``folder / "figures" / f"{stem}_vs_<setting>.png"``.
    stem : str
        The start of the figures' file names.

    Returns
    -------
    list of str
        Markdown image links, one per setting of :func:`numeric_parameters` (none for a
        sweep without a numeric setting).
    """
    finished = [e for e in entries if e.metrics is not None]
    groups = replica_groups(finished)
    links = []
    for parameter in numeric_parameters(finished):
        name = f"{stem}_vs_{re.sub(r'[^A-Za-z0-9]+', '_', parameter)}.png"
        drawn = [(ylabel, [(q.legend, group_values(groups, q)) for q in quantities])
                 for ylabel, quantities in panels]  # fmt: skip
        plot_against(parameter, drawn, folder / "figures" / name)
        links.append(f"![{stem} against {parameter}](figures/{name})")
    return links


def styled_points(entries: Sequence[CampaignEntry]) -> list[tuple[CampaignEntry, Any, str | None]]:
    """The finished entries, each with a colour and a legend label, for curves of every point
    on one plot.

    Parameters
    ----------
    entries : sequence of CampaignEntry
        The campaign's points; unfinished ones are left out.

    Returns
    -------
    list of (CampaignEntry, colour, label)
        Replicas share their group's colour (viridis, in the order of the sweep); the first
        entry of a group carries the group's label (:func:`settings_label`, with its number
        of replicas), the others ``None``, so the legend names each group once.
    """
    groups = replica_groups(entries)
    colours = runio.pyplot().get_cmap("viridis")(np.linspace(0.0, 0.9, max(len(groups), 1)))
    out: list[tuple[CampaignEntry, Any, str | None]] = []
    for colour, group in zip(colours, groups, strict=False):
        label = settings_label(group_settings(group[0]))
        if len(group) > 1:
            label += f" ({len(group)} replicas)"
        out += [(e, colour, label if i == 0 else None) for i, e in enumerate(group)]
    return out
