"""Campaign summaries (issue 18, item 2): every workflow gathers its points into one table
(replicas as mean +- standard error) and figures that put the points side by side, from run
folders laid out as the real analyse and report stages write them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fast.runs import laser_report, quench_report, voltage_report
from fast.runs.analysis import write_arrays
from fast.runs.report import (
    CampaignEntry,
    combine_replicas,
    numeric_parameters,
    replica_groups,
)
from reference import runio

OMEGA = 0.5


def _stats(std: float) -> dict[str, Any]:
    """An ``ErrorStats`` as ``attrs.asdict`` writes it."""
    return {"rmse": std, "mae": 0.8 * std, "std": std, "mean": 0.0, "max_abs": 5 * std,
            "n_configurations": 4, "n_sites": 400}  # fmt: skip


def _finish(folder: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    runio.write_json(folder / "metrics.json", metrics)
    return metrics


def _quench_point(
    root: Path,
    name: str,
    values: dict[str, Any],
    alpha: float | None,
    bootstrap: float = 0.01,
    regression: float = 0.05,
    finished: bool = True,
) -> CampaignEntry:
    """A quench run folder as ``_stage_analyse`` and ``write_report`` leave it, with
    ``L = 2 t^alpha`` (``alpha = None``: the fit failed)."""
    folder = root / "points" / name
    folder.mkdir(parents=True)
    t = np.arange(0.0, 500.0, 10.0)
    length = 2.0 * np.maximum(t, 1.0) ** (0.4 if alpha is None else alpha)
    write_arrays(folder / "analysis.h5", {
        "t": t, "L": length, "fit_window": t > 100, "S_avg_final": np.ones((8, 8)),
        "collapse_frames": np.array([25, 49]), "collapse_x": np.ones((2, 5)),
        "collapse_y": np.ones((2, 5)),
    })  # fmt: skip
    summary = {
        "t_omega_end": float(t[-1] * OMEGA),
        "L_final": float(length[-1]),
        "growth_exponent": None if alpha is None else {
            "alpha": alpha, "alpha_stderr_regression": regression,
            "alpha_std_bootstrap": bootstrap, "n_points": 39, "prefactor": 2.0,
            "window_t_omega": [55.0, float(t[-1] * OMEGA)],
        },
        "fit_error": "need at least 3 frames in the fit window" if alpha is None else None,
    }  # fmt: skip
    runio.write_json(folder / "analysis.json", summary)
    if not finished:
        return CampaignEntry(name, values, folder, None)
    metrics = {"experiment": "q", "code_version": "0", "force_error_held_out": _stats(0.02),
               "force_error_training": _stats(0.01), "network": "gnn", "parameters": 100,
               "training_seconds": 1.0, "epochs_run": 3, "stopped": "max epochs",
               "growth": summary, "timings": {"ml_seconds_per_step": 0.01}}  # fmt: skip
    return CampaignEntry(name, values, folder, _finish(folder, metrics))


@pytest.fixture
def unrendered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Figures are built but not rendered (an empty file stands for each), to keep the tests
    that check the text fast; the others render theirs."""

    def save(fig: Any, path: Path, dpi: int = 110) -> None:
        runio.pyplot().close(fig)
        path.write_bytes(b"")

    monkeypatch.setattr(runio, "save_figure", save)


def _row(markdown: str, start: str) -> str:
    """The one table row that starts with ``start``."""
    rows = [line for line in markdown.splitlines() if line.startswith(start)]
    assert len(rows) == 1, (start, markdown)
    return rows[0]


def test_replicas_combine_into_mean_and_standard_error(tmp_path: Path) -> None:
    alphas = {0.1: (0.40, 0.46), 0.2: (0.30, 0.34)}
    entries = [
        _quench_point(
            tmp_path,
            f"T-{t}__replica-{r}",
            {"physics.temperature": t, "experiment.seed": 11 + r},
            alpha,
            bootstrap=math.nan if r else 0.01,
        )
        for t, pair in alphas.items()
        for r, alpha in enumerate(pair)
    ]
    text = quench_report.campaign_summary(entries, tmp_path)
    # two replicas: mean, and std(ddof=1) / sqrt(2) = |a - b| / 2
    assert "| 0.1 | 2 | 0.430 +- 0.030 |" in text
    assert "| 0.2 | 2 | 0.320 +- 0.020 |" in text
    assert "standard error" in text and "experiment.seed" in text
    for figure in ("domain_length.png", "alpha_vs_physics_temperature.png"):
        assert f"(figures/{figure})" in text
        assert (tmp_path / "figures" / figure).stat().st_size > 0


def test_a_single_run_shows_its_own_error_bootstrap_else_regression(
    tmp_path: Path, unrendered: None
) -> None:
    entries = [
        _quench_point(tmp_path, "a", {"physics.temperature": 0.1}, 0.41, bootstrap=0.02),
        _quench_point(
            tmp_path, "b", {"physics.temperature": 0.2}, 0.35, bootstrap=math.nan, regression=0.05
        ),
    ]
    text = quench_report.campaign_summary(entries, tmp_path)
    assert "| 0.1 | 1 | 0.410 +- 0.020 |" in text
    assert "| 0.2 | 1 | 0.350 +- 0.050 |" in text
    assert "One row per point" in text


def test_unfinished_points_are_left_out(tmp_path: Path, unrendered: None) -> None:
    done = _quench_point(tmp_path, "done", {"physics.temperature": 0.1}, 0.4)
    waiting = _quench_point(tmp_path, "waiting", {"physics.temperature": 0.3}, 0.9,
                            finished=False)  # fmt: skip
    # a half-written arrays file: reading it would fail, so the summary must not touch it
    (waiting.folder / "analysis.h5").write_text("not hdf5")
    text = quench_report.campaign_summary([done, waiting], tmp_path)
    assert "1 of 2 points finished" in text
    assert "| 0.1 | 1 | 0.400 +- 0.010 |" in text
    assert "| 0.3 |" not in text and "0.900" not in text
    # one finished value of the swept setting: nothing to plot against
    assert not list((tmp_path / "figures").glob("alpha_vs_*.png"))


def test_nothing_finished_is_one_line_and_no_figures(tmp_path: Path) -> None:
    entries = [_quench_point(tmp_path, "w", {"physics.temperature": 0.1}, 0.4, finished=False)]
    for summary in (quench_report.campaign_summary, voltage_report.campaign_summary,
                    laser_report.campaign_summary):  # fmt: skip
        text = summary(entries, tmp_path)
        assert text.count("\n") == 1 and "finished" in text
    assert not (tmp_path / "figures").exists()


def test_failed_fit_is_named_and_left_out_of_alpha(tmp_path: Path, unrendered: None) -> None:
    entries = [
        _quench_point(tmp_path, "ok", {"experiment.seed": 1}, 0.5, bootstrap=0.03),
        _quench_point(tmp_path, "bad", {"experiment.seed": 2}, None),
    ]
    text = quench_report.campaign_summary(entries, tmp_path)
    # replicas only: one row, no swept number to plot against, L(t) of both points still drawn
    assert "| 2 | 0.500 +- 0.030 (1 of 2 replicas) |" in text
    assert "`bad` (need at least 3 frames in the fit window)" in text
    assert "_vs_" not in text
    assert (tmp_path / "figures" / "domain_length.png").is_file()


def test_two_swept_settings_give_a_figure_each(tmp_path: Path, unrendered: None) -> None:
    entries = [
        _quench_point(
            tmp_path,
            f"p{i}",
            {"physics.temperature": t, "physics.g": g, "train.network": "gnn"},
            0.3 + 0.1 * t + g,
        )
        for i, (t, g) in enumerate([(0.1, 0.0), (0.2, 0.0), (0.1, 0.1), (0.2, 0.1)])
    ]
    text = quench_report.campaign_summary(entries, tmp_path)
    assert "| physics.temperature | physics.g | train.network | replicas | alpha |" in text
    assert _row(text, "| 0.2 | 0.1 | gnn |").startswith("| 0.2 | 0.1 | gnn | 1 | 0.420 +- 0.010")
    for name in ("physics_temperature", "physics_g"):
        assert (tmp_path / "figures" / f"alpha_vs_{name}.png").is_file()
    assert not list((tmp_path / "figures").glob("alpha_vs_train*"))


def _ensemble(exact: float, exact_se: float, ml: float, ml_se: float) -> dict[str, Any]:
    """A :func:`fast.runs.analysis.compare_ensembles` summary."""
    return {"exact_final": exact, "exact_final_stderr": exact_se, "ml_final": ml,
            "ml_final_stderr": ml_se, "max_abs_difference_of_means": abs(ml - exact),
            "max_z": 1.0, "fraction_of_frames_within_2_sigma": 1.0}  # fmt: skip


def _voltage_point(root: Path, name: str, voltage: float, xi: float) -> CampaignEntry:
    """A voltage run folder as ``_stage_analyse`` and ``write_voltage_report`` leave it."""
    folder = root / "points" / name
    folder.mkdir(parents=True)
    t = np.linspace(0.0, 40.0, 21)
    ramp = np.outer(t / t[-1], [xi - 0.01, xi + 0.01])  # (frames, runs)
    write_arrays(folder / "analysis.h5", {
        "t": t, "boundary": np.zeros((6, 4), bool), "xi_lattice_exact": ramp,
        "xi_lattice_ml": ramp * 0.9, "xi_free_exact": ramp, "xi_free_ml": ramp * 0.9,
        "force_frames": np.arange(3), "n_exact_run0": np.ones((21, 6, 4)),
        "n_ml_run0": np.ones((21, 6, 4)),
    })  # fmt: skip
    held_out = _stats(0.03) | {"frames": 3, "sites": "the ML-driven (free) sites"}
    summary = {"ensemble": 2, "t_end": 40.0, "xi_lattice": _ensemble(xi, 0.01, 0.9 * xi, 0.02),
               "xi_free": _ensemble(xi, 0.01, 0.9 * xi, 0.02),
               "force_error_on_held_out_runs": held_out}  # fmt: skip
    runio.write_json(folder / "analysis.json", summary)
    metrics = {"experiment": "v", "force_error_held_out": _stats(0.02),
               "force_error_on_held_out_runs": held_out,
               "domain_wall": {k: summary[k] for k in ("xi_free", "xi_lattice")},
               "timings": {}, "speedup_ml_vs_exact": 10.0}  # fmt: skip
    return CampaignEntry(name, {"electrodes.voltage": voltage}, folder, _finish(folder, metrics))


def test_voltage_summary_tabulates_and_plots_the_metallic_fraction(tmp_path: Path) -> None:
    entries = [_voltage_point(tmp_path, f"V-{v}", v, xi)
               for v, xi in ((1.0, 0.2), (2.0, 0.5), (3.0, 0.8))]  # fmt: skip
    text = voltage_report.campaign_summary(entries, tmp_path)
    # NEGF then ML on the whole lattice: one run per voltage, so the run's own error
    assert "| 2 | 1 | 0.500 +- 0.010 | 0.450 +- 0.020 |" in text
    assert _row(text, "| 3 |").endswith("| 0.03 |")  # force error: no +- of its own
    for figure in ("domain_wall.png", "xi_vs_electrodes_voltage.png"):
        assert f"(figures/{figure})" in text
        assert (tmp_path / "figures" / figure).is_file()


def _laser_point(root: Path, name: str, values: dict[str, Any], order: float) -> CampaignEntry:
    """A laser run folder as ``_stage_analyse`` and ``write_laser_report`` leave it."""
    folder = root / "points" / name
    folder.mkdir(parents=True)
    t = np.linspace(0.0, 100.0, 51)
    o = np.outer(np.abs(np.cos(t / 30.0)), [order, order])
    write_arrays(folder / "analysis.h5", {
        "t": t, "t_ml": t[20:], "O_exact": o, "O_ml": o[20:], "sigma_exact": o,
        "sigma_ml": o[20:], "zeta_frames": np.array([20, 35, 50]),
        "zeta_exact": np.zeros((3, 4, 4)), "zeta_ml": np.zeros((3, 4, 4)),
    })  # fmt: skip
    held_out = _stats(0.04) | {"frames": 40}
    recovery = {
        name: _ensemble(order, 0.01, order + 0.01, math.nan)
        | {"exact_at_t1": 0.1, "exact_final_spread": 0.02}
        for name in ("O", "sigma")
    }
    summary = {"ensemble": 2, "t1": 40.0, "tau0": 2.0, **recovery,
               "force_error_on_held_out_runs": held_out}  # fmt: skip
    runio.write_json(folder / "analysis.json", summary)
    metrics = {"experiment": "l", "force_error_held_out": _stats(0.02),
               "force_error_on_held_out_runs": held_out,
               "recovery": recovery | {"t1": 40.0}, "timings": {},
               "speedup_ml_vs_exact_per_unit_time": 5.0}  # fmt: skip
    return CampaignEntry(name, values, folder, _finish(folder, metrics))


def test_laser_summary_combines_replicas_of_the_recovered_order(tmp_path: Path) -> None:
    entries = [
        _laser_point(
            tmp_path, f"A-{a}__replica-{r}", {"pulse.amplitude": a, "experiment.seed": r}, order
        )
        for a, orders in ((0.5, (0.6, 0.7)), (1.0, (0.2, 0.2)))
        for r, order in enumerate(orders)
    ]
    text = laser_report.campaign_summary(entries, tmp_path)
    # O(t1) exact, then O(t_end) exact: mean 0.65, standard error |0.6 - 0.7| / 2 = 0.05
    assert "| 0.5 | 2 | 0.100 +- 0.000 | 0.650 +- 0.050 | 0.660 +- 0.050 |" in text
    assert "| 1 | 2 | 0.100 +- 0.000 | 0.200 +- 0.000 |" in text
    for figure in ("order_parameter.png", "recovery_vs_pulse_amplitude.png"):
        assert (tmp_path / "figures" / figure).is_file()


def test_combine_replicas_and_numeric_parameters() -> None:
    mean, error, count = combine_replicas([])
    assert math.isnan(mean) and math.isnan(error) and count == 0
    assert combine_replicas([(0.5, None), (math.nan, 0.1)])[2] == 1
    mean, error, count = combine_replicas([(1.0, 9.0), (2.0, 9.0), (6.0, 9.0)])
    assert (mean, count) == (3.0, 3)
    assert error == pytest.approx(math.sqrt(7.0 / 3.0))  # std(ddof=1) = sqrt(7)
    entries = [
        CampaignEntry(
            f"p{i}",
            {
                "physics.temperature": t,
                "physics.g": 1.0,
                "flag.on": True,
                "train.network": n,
                "experiment.seed": i,
            },
            Path(),
            {},
        )
        for i, (t, n) in enumerate([(0.1, "a"), (0.2, "b")])
    ]
    assert numeric_parameters(entries) == ["physics.temperature"]
    unfinished = CampaignEntry("u", {"physics.temperature": 0.1}, Path(), None)
    assert [len(g) for g in replica_groups([*entries, unfinished])] == [1, 1]
