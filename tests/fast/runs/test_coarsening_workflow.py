"""The coarsening workflow (issue 19): every stage on a tiny lattice, skipping and redoing
stages, each provider, one-line errors for bad settings, the campaign summary, and the
Allen-Cahn control: a T = 0 TDGL quench through the same pipeline recovers alpha = 1/2."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fast.cli import main
from fast.runs import coarsening_report
from fast.runs.analysis import read_arrays
from fast.runs.coarsening import CoarseningExperiment as Experiment
from fast.runs.coarsening import wall_verdict
from fast.runs.coarsening_settings import ESTIMATORS
from fast.runs.registry import load_experiment
from fast.runs.report import CampaignEntry
from fast.runs.runner import run_experiment
from fast.runs.trajectories import load_trajectory

ROOT = Path(__file__).resolve().parents[3]
STAGES = tuple(stage.name for stage in Experiment.STAGES)

TINY = """
[experiment]
name = "tiny"
kind = "coarsening"
seed = 4

[physics]
temperature = 0.1

[forces]
provider = "cluster"
r_c = 1.0

[coarsening]
size = 12
ensemble = 3
steps = 60
record_every = 5
checkpoint_every = 20

[analyse]
window = [0.3, 1.3]
bootstrap = 10
"""


def _write(tmp_path: Path, text: str, name: str = "e.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny experiment run through every stage once: (experiment file, run folder)."""
    base = tmp_path_factory.mktemp("coarsening")
    path = _write(base, TINY, "tiny.toml")
    out = base / "run"
    assert main(["run", str(path), "--out", str(out), "--quiet", "--device", "cpu"]) == 0
    return path, out


def test_every_stage_writes_its_files_and_the_report_shows_them(
    finished: tuple[Path, Path],
) -> None:
    _, out = finished
    assert list(json.loads((out / "stages.json").read_text())) == list(STAGES)
    for name in ("trajectory.h5", "simulate_timings.json", "analysis.h5", "analysis.json",
                 "metrics.json", "report.md"):  # fmt: skip
        assert (out / name).exists(), name
    assert not list(out.glob("*.partial")) and not (out / "units").exists()
    report = (out / "report.md").read_text()
    figures = re.findall(r"\]\((figures/[^)]+)\)", report)
    assert len(figures) == 5
    for figure in figures:
        assert (out / figure).stat().st_size > 1000
    for name in coarsening_report.LABELS.values():
        assert name in report
    assert "alpha = 0.059 (papers 002-004)" in report  # T = 0.1, half filling


def test_the_analysis_measures_every_estimator_per_member_and_for_the_ensemble(
    finished: tuple[Path, Path],
) -> None:
    _, out = finished
    arrays = read_arrays(out / "analysis.h5")
    metrics = json.loads((out / "metrics.json").read_text())
    growth = metrics["growth"]
    frames = 60 // 5 + 1
    assert arrays["t"].shape == (frames,)
    for name in ESTIMATORS:
        assert arrays[f"L_{name}"].shape == (frames,)
        assert arrays[f"L_{name}_members"].shape == (frames, 3)
        assert np.isfinite(arrays[f"L_{name}"][1:]).sum() > 0, name
        fit = growth["estimators"][name]["fit"]
        assert fit is not None and len(fit["alpha_members"]) == 3
        assert fit["alpha_bootstrap_error"] is not None
        assert "offset_fit" in growth["estimators"][name]
    # the walls' length of the ensemble is that of the members' mean wall count
    members = arrays["L_walls_members"]
    np.testing.assert_allclose(1 / arrays["L_walls"], (1 / members).mean(axis=1), rtol=1e-12)
    assert arrays["mobility"].shape == (frames - 1,)
    assert np.all((arrays["mobility"] >= 0) & (arrays["mobility"] * 0.022 * 5 <= 1 + 1e-12))
    walls = growth["walls"]
    assert walls["frozen"] == wall_verdict(walls["window_turnover"], walls["frozen_share"])
    assert arrays["snapshot_phi"].shape[1:] == (12, 12) == arrays["snapshot_n"].shape[1:]
    assert metrics["reference_alpha"] == {"alpha": 0.059, "source": "papers 002-004"}
    assert metrics["timings"]["seconds_per_step"] > 0


def test_frozen_walls_are_flagged_below_the_threshold() -> None:
    assert wall_verdict(0.2, 0.5) and not wall_verdict(0.8, 0.5)
    assert not wall_verdict(math.nan, 0.5)  # no walls at all: nothing to call frozen


def test_finished_stages_are_skipped_and_a_stage_can_be_redone(
    finished: tuple[Path, Path], tmp_path: Path
) -> None:
    path, out = finished
    stamp = (out / "trajectory.h5").stat().st_mtime_ns
    metrics = run_experiment(load_experiment(path), out, progress=False)
    assert (out / "trajectory.h5").stat().st_mtime_ns == stamp
    assert metrics["experiment"] == "tiny"
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    changed = _write(tmp_path, TINY.replace("bootstrap = 10", "bootstrap = 12"))
    with pytest.raises(ValueError, match="'analyse' stage made with other settings"):
        run_experiment(load_experiment(changed), copy, progress=False)
    run_experiment(load_experiment(changed), copy, stage="analyse", progress=False)
    assert not (copy / "report.md").exists()  # made stale by the redone analysis
    metrics = run_experiment(load_experiment(changed), copy, progress=False)
    assert (copy / "trajectory.h5").stat().st_mtime_ns == stamp
    assert metrics["growth"]["bootstrap"] == 12


def test_members_run_as_units_give_one_trajectory(tmp_path: Path) -> None:
    text = TINY.replace("checkpoint_every = 20", "checkpoint_every = 20\nmembers_per_unit = 1")
    out = tmp_path / "run"
    assert main(["run", str(_write(tmp_path, text)), "--out", str(out), "--quiet"]) == 0
    stored = load_trajectory(out / "trajectory.h5")
    assert stored.Q.shape == (13, 3, 12, 12) and stored.attributes["blocks"] == 3
    assert not (out / "units").exists()


def test_the_exact_provider_runs_at_fixed_filling(tmp_path: Path) -> None:
    text = TINY.replace('provider = "cluster"', 'provider = "exact"').replace(
        "size = 12", "size = 8"
    )
    out = tmp_path / "run"
    assert main(["run", str(_write(tmp_path, text)), "--out", str(out), "--quiet"]) == 0
    stored = load_trajectory(out / "trajectory.h5")
    # fixed filling: every frame's densities (read back from the forces) hold N / 2 electrons
    from reference.ed import densities_from_forces
    from reference.sections import Physics

    model = Physics(temperature=0.1).model(8)
    n = densities_from_forces(stored.Q.astype(float), stored.forces.astype(float), model)
    np.testing.assert_allclose(n.sum(axis=(-2, -1)), 32.0, atol=1e-4)


def test_the_mlp_provider_drives_the_quench_with_a_model_file(tmp_path: Path) -> None:
    """A model of an earlier run (here: written from random weights) drives the quench; its
    content hash names the trajectory, and a model of other physics is refused before work."""
    from fast.ml.models import save_model
    from reference.nn import PAPER_ARCHITECTURES, init_weights
    from reference.sections import Physics

    weights = init_weights(PAPER_ARCHITECTURES["paper003_mlp"], np.random.default_rng(0))
    physics = Physics(temperature=0.1)
    save_model(tmp_path / "model.pt", weights, physics.params(), "electronic",
               ensemble=physics.ensemble())  # fmt: skip
    text = TINY.replace('provider = "cluster"\nr_c = 1.0',
                        f'provider = "mlp"\nmodel_file = "{tmp_path / "model.pt"}"')  # fmt: skip
    text = text.replace("size = 12", "size = 16")
    out = tmp_path / "run"
    assert main(["run", str(_write(tmp_path, text)), "--out", str(out), "--quiet"]) == 0
    timings = json.loads((out / "simulate_timings.json").read_text())
    assert (
        timings["model_hash"]
        and timings["model_hash"] in load_trajectory(out / "trajectory.h5").attributes["identity"]
    )
    other = text.replace("temperature = 0.1", "temperature = 0.2")
    with pytest.raises(ValueError, match="was trained for"):
        run_experiment(load_experiment(_write(tmp_path, other)), tmp_path / "o", progress=False)
    loose = other.replace("[coarsening]", "match_electrons = false\n\n[coarsening]")
    assert load_experiment(_write(tmp_path, loose)).forces.match_electrons is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (TINY.replace('"cluster"', '"dft"'), r"provider must be one of \['cluster', 'mlp'"),
        (TINY.replace("r_c = 1.0", "r_c = -1.0"), "r_c must be >= 0"),
        (TINY.replace("r_c = 1.0", "r_c = 6.0"), "coarsening.size .* receptive radius"),
        (TINY.replace('"cluster"', '"mlp"'), "model_file must name a trained model"),
        (TINY.replace("r_c = 1.0", 'model_file = "m.pt"'), "model_file is read by provider 'mlp'"),
        (
            TINY.replace('"cluster"', '"exact"').replace("size = 12", "size = 34"),
            "coarsening.size must be <= 32 for provider 'exact'",
        ),
        (TINY.replace("size = 12", "size = 13"), "size must be an even integer"),
        (
            TINY.replace("record_every = 5", "record_every = 7"),
            "checkpoint_every must be a multiple",
        ),
        (
            TINY.replace("window = [0.3, 1.3]", "window = [0.3, 3.0]"),
            r"analyse.window ends at t omega = 3, after the run's end",
        ),
        (TINY.replace("window = [0.3, 1.3]", "window = [0.3, 0.4]"), "holds 1 recorded frames"),
        (TINY.replace("window = [0.3, 1.3]", "window = [1.3, 0.3]"), "window must be"),
        (TINY.replace("window = [0.3, 1.3]", "window = [0.3]"), "analyse.window"),
        (TINY.replace("bootstrap = 10", "bootstrap = 1"), "bootstrap must be 0"),
        (TINY.replace("bootstrap = 10", 'headline = "fourier"'), "headline must be one of"),
        (TINY.replace("bootstrap = 10", "q_cut = 3.5"), "q_cut must be < pi"),
        (TINY.replace("bootstrap = 10", "exponent_spacing = 1.0"), "exponent_spacing must be > 1"),
        (TINY.replace("bootstrap = 10", "frozen_share = 1.5"), "frozen_share must lie in"),
        (TINY + "\n[tdgl]\ndt = 1.0\n", "dt must be < 0.1667"),
        (TINY + "\n[tdgl]\ntemperature = -1.0\n", "temperature must be >= 0"),
        (TINY + "\n[tdgl]\nK = 0.0\n", "K must be > 0"),
        (TINY.replace("temperature = 0.1", "temperature = 0.1\ng = 0.0"), "physics.g must be"),
        (TINY.replace('kind = "coarsening"', 'kind = "coarse"'), "kind must be one of"),
        (TINY + "\n[extra]\nx = 1\n", r"unknown settings \['extra'\]"),
        (TINY.replace("r_c = 1.0", "r_c = 1.0\nradius = 2.0"), "forces.*radius"),
    ],
)
def test_malformed_experiment_files_give_one_clear_line(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=message):
        load_experiment(path)
    assert main(["run", str(path), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert not (tmp_path / "o").exists()  # nothing started


def test_a_missing_model_file_is_refused_before_work(tmp_path: Path) -> None:
    text = TINY.replace('provider = "cluster"\nr_c = 1.0',
                        f'provider = "mlp"\nmodel_file = "{tmp_path / "none.pt"}"')  # fmt: skip
    with pytest.raises(ValueError, match="does not exist"):
        run_experiment(load_experiment(_write(tmp_path, text)), tmp_path / "o", progress=False)
    assert not (tmp_path / "o" / "trajectory.h5").exists()


def test_shipped_experiment_files_load() -> None:
    from fast.runs.campaign import load_campaign

    for name, size in (("coarsening.toml", 200), ("coarsening_cpu.toml", None)):
        points = load_campaign(ROOT / "specs" / "experiments" / name)
        assert len({p.values.get("physics.temperature") for p, _ in points}) == 3
        temps_fillings = {(p.values["physics.temperature"], p.values["physics.filling"])
                          for p, _ in points}  # fmt: skip
        assert temps_fillings == {(0.1, 0.5), (0.2, 0.5), (0.3, 0.5), (0.1, 0.4), (0.1, 0.3)}
        for _, experiment in points:
            assert isinstance(experiment, Experiment)
            assert experiment.forces.provider == "cluster" and experiment.physics.mu is None
            if size is not None:
                assert experiment.coarsening.size == size
                assert experiment.coarsening.steps >= 25000
                assert experiment.langevin.dt_omega == 0.022


def _entry(root: Path, name: str, values: dict[str, Any], alpha: float) -> CampaignEntry:
    """A finished point as the analyse and report stages leave it, ``L = 2 t^alpha``."""
    from fast.runs.analysis import write_arrays
    from reference import runio

    folder = root / "points" / name
    folder.mkdir(parents=True)
    t = np.linspace(0.0, 500.0, 26)
    arrays = {"t": t}
    estimators = {}
    for estimator in ESTIMATORS:
        arrays[f"L_{estimator}"] = 2.0 * np.maximum(t, 1.0) ** alpha
        arrays[f"alpha_eff_{estimator}"] = np.full(5, alpha)
        arrays[f"alpha_eff_{estimator}_lower"] = np.full(5, alpha - 0.02)
        arrays[f"alpha_eff_{estimator}_upper"] = np.full(5, alpha + 0.02)
        fit = {"alpha": alpha, "alpha_stderr": 0.01, "alpha_bootstrap_error": 0.02,
               "n_points": 20, "alpha_members": [alpha]}  # fmt: skip
        estimators[estimator] = {"fit": fit, "offset_fit": fit | {"degenerate": False}}
    arrays["alpha_eff_t"] = np.geomspace(20.0, 400.0, 5)
    checkerboard = (-1.0) ** np.add.outer(np.arange(8), np.arange(8))
    arrays |= {"snapshot_frames": np.array([0, 25]),
               "snapshot_phi": np.stack([checkerboard, -checkerboard]),
               "snapshot_n": 0.5 + 0.3 * np.stack([checkerboard, -checkerboard])}  # fmt: skip
    write_arrays(folder / "analysis.h5", arrays)
    growth = {
        "window": [50.0, 500.0],
        "provider": "cluster", "time_label": "t omega", "headline": "first_moment",
        "estimators": estimators,
        "walls": {"window_turnover": 0.9, "mobility_window_mean": 0.01, "frozen": alpha < 0.05},
        "physics": {"temperature": values["physics.temperature"], "filling": 0.5, "mu": None},
    }  # fmt: skip
    reference = coarsening_report.papers_alpha(growth["physics"], "cluster")
    metrics = {"growth": growth, "reference_alpha": None if reference is None else
               {"alpha": reference[0], "source": reference[1]}}  # fmt: skip
    runio.write_json(folder / "metrics.json", metrics)
    return CampaignEntry(name, values, folder, metrics)


def test_the_campaign_summary_puts_every_estimator_beside_the_papers(tmp_path: Path) -> None:
    entries = [
        _entry(tmp_path, f"T{t}_r{r}", {"physics.temperature": t, "experiment.seed": r}, a)
        for t, a in ((0.1, 0.04), (0.2, 0.3)) for r in (0, 1)
    ]  # fmt: skip
    entries.append(CampaignEntry("unfinished", {"physics.temperature": 0.3,
                                                "experiment.seed": 0}, tmp_path, None))  # fmt: skip
    text = Experiment().campaign_summary(entries, tmp_path)
    rows = [line for line in text.splitlines() if line.startswith("| 0.")]
    assert len(rows) == 6  # two groups in each of three tables
    # side by side: the papers' value, ours (replicas combined), the walls' verdict
    assert "0.059 (papers 002-004)" in rows[0] and "0.115 (papers 002-004)" in rows[1]
    assert "0.040 +- 0.000" in rows[0] and rows[0].endswith("| 2 of 2 |")
    assert "0.300 +- 0.000" in rows[1] and rows[1].endswith("| 0 of 2 |")
    assert "Walls frozen in the fit window" in text and "`T0.1_r0`" in text
    for figure in ("coarsening_lengths", "coarsening_effective_exponent", "coarsening_snapshots"):
        assert (tmp_path / "figures" / f"{figure}.png").stat().st_size > 1000
        assert f"(figures/{figure}.png)" in text
    assert (tmp_path / "figures" / "coarsening_alpha_vs_physics_temperature.png").exists()
    assert "4 of 5 points finished" in text


def test_papers_values_match_only_their_points() -> None:
    assert coarsening_report.papers_alpha({"temperature": 0.2, "filling": 0.5, "mu": None},
                                          "cluster") == (0.115, "papers 002-004")  # fmt: skip
    assert coarsening_report.papers_alpha({"temperature": 0.1, "filling": 0.3, "mu": None},
                                          "mlp") == (0.059, "papers 002-004")  # fmt: skip
    assert coarsening_report.papers_alpha({"temperature": 0.2, "filling": 0.4, "mu": None},
                                          "cluster") is None  # fmt: skip
    assert coarsening_report.papers_alpha({"temperature": 0.1, "filling": 0.5, "mu": 0.0},
                                          "cluster") == (0.059, "papers 002-004")  # fmt: skip
    assert coarsening_report.papers_alpha({"temperature": 0.0}, "tdgl") == (0.5, "Allen-Cahn")


TDGL_CONTROL = """
[experiment]
name = "allen_cahn"
kind = "coarsening"
seed = 1

[physics]
temperature = 0.0

[forces]
provider = "tdgl"

[tdgl]                    # walls of width 1 spacing
K = 0.5
A = 0.5
dt = 0.08

[coarsening]
size = 256
ensemble = 4
steps = 1250              # t = 100
record_every = 25
checkpoint_every = 250
precision = "float64"

[analyse]
window = [10.0, 100.0]
bootstrap = 20
headline = "first_moment"
"""


def test_the_tdgl_control_recovers_allen_cahn_through_the_same_pipeline(tmp_path: Path) -> None:
    """Item 5 of issue 19: a T = 0 model-A quench (256 x 256, 4 members, t <= 100; about 45 s
    on 2 cores) through the same stages and estimators. The headline estimator (eq. 15 with
    the background removed, window 2) with the offset fit recovers alpha = 1/2 within 0.05:
    0.468 here (seed 2: 0.465). Measured on the same runs, and biased at this size: eq. 15 as
    printed 0.33-0.35, C(r) = 1/2 0.39-0.43, the inverse wall density 0.43-0.45 (offset
    fits), and every plain fit 0.32-0.44 (alpha_eff still rises through the window)."""
    out = tmp_path / "run"
    assert main(["run", str(_write(tmp_path, TDGL_CONTROL)), "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    growth = metrics["growth"]
    headline = growth["estimators"][growth["headline"]]["offset_fit"]
    assert abs(headline["alpha"] - 0.5) < 0.05
    assert not headline["degenerate"]
    assert growth["finite_size"]["L_walls_at_window_end_over_size"] < 0.25
    assert not growth["walls"]["frozen"] and growth["walls"]["window_turnover"] > 0.9
    # walls driven by curvature slow down as dL/dt ~ t^(alpha - 1)
    assert -0.8 < growth["walls"]["mobility_exponent"] < -0.3
    assert metrics["reference_alpha"] == {"alpha": 0.5, "source": "Allen-Cahn"}


@pytest.mark.slow
def test_on_a_larger_lattice_every_estimator_but_eq15_recovers_allen_cahn(tmp_path: Path) -> None:
    """The control of the test above on 384 x 384 for t <= 200, window [20, 200] (about 3
    minutes on 2 cores): the offset fits of every background-corrected length, of
    C(r) = 1/2 and of the wall density recover 1/2 within 0.05 (measured 0.465-0.498), while
    eq. 15 as printed stays biased low (0.377): its thermal-background floor is absent at
    T = 0, but its sum over the whole zone weighs the Porod tail, L ~ l / log(q l)."""
    text = (
        TDGL_CONTROL.replace("size = 256", "size = 384")
        .replace("steps = 1250              # t = 100", "steps = 2500")
        .replace("checkpoint_every = 250", "checkpoint_every = 500")
        .replace("window = [10.0, 100.0]", "window = [20.0, 200.0]")
    )
    out = tmp_path / "run"
    assert main(["run", str(_write(tmp_path, text)), "--out", str(out), "--quiet"]) == 0
    estimators = json.loads((out / "metrics.json").read_text())["growth"]["estimators"]
    for name in ("first_moment", "second_moment", "peak_width", "correlation", "walls"):
        assert abs(estimators[name]["offset_fit"]["alpha"] - 0.5) < 0.05, name
    assert estimators["eq15"]["offset_fit"]["alpha"] < 0.42
