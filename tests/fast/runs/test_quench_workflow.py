"""The experiment runner and command line: stages, skipping, resumption and bad input."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from fast import ed
from fast.cli import main
from fast.runs.quench import QuenchExperiment as Experiment
from fast.runs.registry import load_experiment
from fast.runs.runner import run_experiment
from reference.ed import densities_from_forces
from reference.lattice import SquareLattice

ROOT = Path(__file__).resolve().parents[3]
STAGES = tuple(stage.name for stage in Experiment.STAGES)

TINY = """
[experiment]
name = "tiny"
kind = "quench"
seed = 3

[dataset]
size = 10
n_random = 6
n_runs = 2
snapshots_per_run = 3
snapshot_every = 10
chunk = 6

[train]
hidden = [8, 4]
epochs = 3
batch_size = 2

[simulate]
size = 12
ensemble = 2
steps = 40
record_every = 10
checkpoint_every = 20

[compare]
size = 10
ensemble = 3
times = [10, 20]
checkpoint_every = 20

[analyse]
bootstrap = 10
"""


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny experiment run through every stage once: (experiment file, run folder)."""
    base = tmp_path_factory.mktemp("experiment")
    path = base / "tiny.toml"
    path.write_text(TINY)
    out = base / "run"
    assert main(["run", str(path), "--out", str(out), "--quiet", "--device", "cpu"]) == 0
    return path, out


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "e.toml"
    path.write_text(text)
    return path


def test_every_stage_writes_its_files_and_the_report_shows_them(
    finished: tuple[Path, Path],
) -> None:
    _, out = finished
    assert list(json.loads((out / "stages.json").read_text())) == list(STAGES)
    for name in ("dataset.h5", "model.pt", "training.json", "predictions.h5", "trajectory.h5",
                 "compare_exact.h5", "compare_ml.h5", "analysis.h5", "metrics.json"):  # fmt: skip
        assert (out / name).exists(), name
    assert not list(out.glob("*.partial")) and not list(out.glob("*.state.pt"))
    assert not (out / "train_checkpoint.pt").exists()
    report = (out / "report.md").read_text()
    figures = re.findall(r"\]\((figures/[^)]+)\)", report)
    assert len(figures) == 7
    for figure in figures:
        assert (out / figure).stat().st_size > 1000
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["force_error_held_out"]["n_configurations"] == 4  # round(0.3 * 12)
    assert metrics["timings"]["ml_seconds_per_step"] > 0
    assert "speedup_ml_vs_exact_at_compare_size" in metrics
    comparison = metrics["growth"]["correlation_comparison"]
    assert comparison["steps"] == [10, 20] and len(comparison["max_z"]) == 2


def test_the_compare_runs_share_initial_states(finished: tuple[Path, Path]) -> None:
    from fast.runs.trajectories import load_trajectory

    _, out = finished
    exact = load_trajectory(out / "compare_exact.h5")
    ml = load_trajectory(out / "compare_ml.h5")
    np.testing.assert_array_equal(exact.Q[0], ml.Q[0])
    assert exact.Q.shape == (3, 3, 10, 10)  # frames at steps 0, 10, 20


def test_finished_stages_are_skipped(finished: tuple[Path, Path]) -> None:
    path, out = finished
    stamp = (out / "model.pt").stat().st_mtime_ns
    experiment = load_experiment(path)
    metrics = run_experiment(experiment, out, progress=False)
    assert (out / "model.pt").stat().st_mtime_ns == stamp
    assert metrics["experiment"] == "tiny"
    # one stage again on request
    run_experiment(experiment, out, stage="report", progress=False)
    assert (out / "model.pt").stat().st_mtime_ns == stamp


def test_changed_settings_on_a_finished_folder_are_refused_before_work(
    finished: tuple[Path, Path], tmp_path: Path
) -> None:
    _, out = finished
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    changed = _write(tmp_path, TINY.replace("epochs = 3", "epochs = 4"))
    stamp = (copy / "model.pt").stat().st_mtime_ns
    with pytest.raises(ValueError, match="'train' stage made with other settings"):
        run_experiment(load_experiment(changed), copy, progress=False)
    assert (copy / "model.pt").stat().st_mtime_ns == stamp
    # the name only affects the report, which can be redone on request
    renamed = _write(tmp_path, TINY.replace('name = "tiny"', 'name = "other"'))
    with pytest.raises(ValueError, match="'report' stage made with other settings"):
        run_experiment(load_experiment(renamed), copy, progress=False)
    run_experiment(load_experiment(renamed), copy, stage="report", progress=False)
    assert (copy / "report.md").read_text().startswith("# other")
    # redoing an early stage invalidates the later ones
    run_experiment(load_experiment(renamed), copy, stage="analyse", progress=False)
    assert "report" not in json.loads((copy / "stages.json").read_text())


def test_redoing_a_stage_replaces_its_outputs_and_forgets_the_later_ones(
    finished: tuple[Path, Path], tmp_path: Path
) -> None:
    path, out = finished
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    before = (copy / "trajectory.h5").stat().st_mtime_ns
    metrics = run_experiment(load_experiment(path), copy, stage="simulate", progress=False)
    assert metrics == {}  # the report on disk no longer describes the folder
    assert (copy / "trajectory.h5").stat().st_mtime_ns != before
    assert not (copy / "analysis.json").exists() and not (copy / "report.md").exists()
    assert list(json.loads((copy / "stages.json").read_text())) == ["dataset", "train", "simulate"]
    # a plain run finishes the rest
    assert run_experiment(load_experiment(path), copy, progress=False)["experiment"] == "tiny"


def test_the_report_copes_with_missing_error_bars(
    finished: tuple[Path, Path], tmp_path: Path
) -> None:
    path, out = finished
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    analysis = json.loads((copy / "analysis.json").read_text())
    analysis["growth_exponent"]["alpha_stderr_regression"] = None
    analysis["growth_exponent"]["alpha_std_bootstrap"] = None
    analysis["correlation_comparison"]["max_z"] = [None, None]
    (copy / "analysis.json").write_text(json.dumps(analysis))
    run_experiment(load_experiment(path), copy, stage="report", progress=False)
    assert "n/a" in (copy / "report.md").read_text()


def test_a_model_of_another_architecture_in_the_folder_is_refused(
    finished: tuple[Path, Path], tmp_path: Path
) -> None:
    _, out = finished
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copy(out / "model.pt", folder / "model.pt")
    other = _write(tmp_path, TINY.replace("hidden = [8, 4]", "hidden = [8, 5]"))
    with pytest.raises(ValueError, match="expected MLPArchitecture"):
        run_experiment(load_experiment(other), folder, progress=False)


def test_a_training_checkpoint_of_another_network_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    torch.save({"identity": json.dumps({"architecture": "x"})}, folder / "train_checkpoint.pt")
    with pytest.raises(ValueError, match="checkpoint of another network"):
        run_experiment(load_experiment(_write(tmp_path, TINY)), folder, progress=False)


def test_a_stage_needs_its_predecessors(tmp_path: Path) -> None:
    experiment = load_experiment(_write(tmp_path, TINY))
    with pytest.raises(ValueError, match=r"stage 'train' needs \['dataset'\] first"):
        run_experiment(experiment, tmp_path / "run", stage="train", progress=False)
    with pytest.raises(ValueError, match="stage must be one of"):
        run_experiment(experiment, tmp_path / "run", stage="fit", progress=False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (TINY + "\n[extra]\nx = 1\n", r"unknown settings \['extra'\]"),
        (TINY.replace("epochs = 3", "epochs = 3\nepoch = 4"), "train.*epoch"),
        (TINY.replace("epochs = 3", 'epochs = "many"'), r"train\.epochs: expected an integer"),
        (TINY.replace("epochs = 3", "epochs = 0"), "epochs must be an integer >= 1"),
        (TINY.replace("size = 12", "size = 13"), "size must be an even integer"),
        (TINY.replace("times = [10, 20]", "times = [20, 10]"), "strictly increasing"),
        (TINY.replace("size = 10\nn_random", "size = 6\nn_random"), "receptive radius"),
        (TINY.replace('kind = "quench"', 'kind = "plasma"'), "kind must be one of"),
        (TINY.replace('kind = "quench"\n', ""), r"names no workflow: give \[experiment\] kind"),
        ("", r"names no workflow: give \[experiment\] kind"),
        ("seed = 3\n" + TINY, r"keys \['seed'\] .* belong in a table"),
        (TINY.replace("[dataset]", "[dataset"), "is not valid TOML"),
        (TINY.replace("seed = 3", "seed = -1"), "seed must be an integer >= 0"),
        (TINY.replace("chunk = 6", 'chunk = 6\nstart = "cold"'), "start must be 'hot' or 'cdw'"),
        (TINY.replace("hidden = [8, 4]", 'network = "paper000_gnn"'), "takes a time input"),
        (TINY.replace("hidden = [8, 4]", 'head = "levels"'), "fixed chemical potential"),
        (
            TINY.replace("hidden = [8, 4]", 'head = "levels"\nnetwork = "paper002_gnn"'),
            "descriptor MLPs only",
        ),
        (TINY.replace("epochs = 3", "epochs = 3\nseed = 5"), r"set the seed in \[experiment\]"),
        (TINY.replace("size = 10\nensemble = 3", "size = 8\nensemble = 3"), "compare.size"),
        (
            TINY.replace("temperature", "x") + "\n[physics]\ntemperature = -1.0\n",
            "temperature must be >= 0",
        ),
        (
            TINY.replace(
                "checkpoint_every = 20\n\n[analyse]",
                "checkpoint_every = 20\ncluster_radius = -1.0\n\n[analyse]",
            ),
            "cluster_radius must be >= 0",
        ),
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


def test_unusable_output_devices_and_files_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, TINY)
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["run", str(path), "--out", str(blocker / "run"), "--quiet"]) == 2
    assert "not writable" in capsys.readouterr().err
    assert main(["run", str(path), "--out", str(tmp_path / "o"), "--device", "nodevice"]) == 2
    assert "not available" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_seed_override_and_shipped_experiment_files_load() -> None:
    from fast.cli import DEMO
    from fast.runs.shipped import experiment_file

    demo = experiment_file(DEMO)
    assert demo.resolve() == (ROOT / "specs" / "experiments" / "demo.toml").resolve()
    for name in ("demo.toml", "quench.toml", "quench_cpu.toml"):
        experiment = load_experiment(ROOT / "specs" / "experiments" / name, {"seed": 9})
        assert isinstance(experiment, Experiment) and experiment.seed == 9
        assert experiment.train_config().seed == 9
    paper = load_experiment(ROOT / "specs" / "experiments" / "quench.toml")
    assert paper.dataset.size == 40 and paper.compare.times == (200, 1000, 9000)
    assert paper.simulate.size == 200 and paper.train.network == "paper003_mlp"


def test_densities_recovered_from_exact_forces_are_exact() -> None:
    experiment = Experiment()
    model = experiment.physics.model(6)
    q = np.random.default_rng(0).normal(scale=2.0, size=(2, 6, 6))
    forces = ed.ExactForceField(model).forces(torch.as_tensor(q)).numpy()
    np.testing.assert_allclose(
        densities_from_forces(q, forces, model), ed.densities(q, model).numpy(), atol=1e-12
    )
    assert model.lattice == SquareLattice(6, 6)


@pytest.mark.slow
def test_the_demo_runs_end_to_end_and_reports_coarsening(tmp_path: Path) -> None:
    """The README's main job (about five minutes on 2 cores)."""
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quiet", "--device", "cpu"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["force_error_held_out"]["std"] < 0.5
    growth = metrics["growth"]["growth_exponent"]
    assert growth is not None and 0.1 < growth["alpha"] < 1.0  # domains grow
    assert max(metrics["growth"]["correlation_comparison"]["max_z"]) < 3.0
    assert (out / "figures" / "domains.png").exists()


def test_the_cluster_arm_runs_from_the_same_states_and_is_reported(tmp_path: Path) -> None:
    """``[compare] cluster_radius``: a third compare arm driven by the local-cluster force,
    from the exact arm's states and noise, with its C(r) agreement in the metrics and the
    report."""
    from fast.runs.trajectories import load_trajectory

    text = (
        TINY.replace(
            "checkpoint_every = 20\n\n[analyse]",
            "checkpoint_every = 20\ncluster_radius = 2.0\n\n[analyse]",
        )
        + "\n[physics]\nmu = 0.0\n"
    )
    out = tmp_path / "run"
    assert main(["run", str(_write(tmp_path, text)), "--out", str(out), "--quiet"]) == 0
    exact = load_trajectory(out / "compare_exact.h5")
    cluster = load_trajectory(out / "compare_cluster.h5")
    np.testing.assert_array_equal(exact.Q[0], cluster.Q[0])
    assert cluster.Q.shape == exact.Q.shape
    metrics = json.loads((out / "metrics.json").read_text())
    arm = metrics["growth"]["cluster_comparison"]
    assert arm["r_c"] == 2.0 and len(arm["max_z"]) == 2
    assert metrics["timings"]["compare_cluster_seconds_per_step"] > 0
    assert "local-cluster force (r_c = 2" in (out / "report.md").read_text()


def test_the_run_folder_has_a_log_a_training_history_and_provenance(
    finished: tuple[Path, Path],
) -> None:
    import fast
    from fast.ml.training import HISTORY_COLUMNS

    _, out = finished
    log = (out / "run.log").read_text()
    assert "fast.runs: stage dataset" in log and "fast.ml: epoch 1: training RMSE" in log
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ fast.runs: stage report done",
                     log, re.MULTILINE)  # fmt: skip
    lines = (out / "training.csv").read_text().splitlines()
    history = json.loads((out / "training.json").read_text())["history"]
    assert lines[0] == ",".join(HISTORY_COLUMNS) and len(lines) == 1 + len(history)
    found = json.loads((out / "experiment.json").read_text())["provenance"]
    assert found["version"] == fast.__version__ and found["torch"] == torch.__version__
    assert found["numpy"] == np.__version__ and found["device"] == "cpu"
    assert found["started"] <= found["ended"]
    assert found["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}", found["git_commit"])
    # every file of the run says where and with what it was made
    import h5py

    stamps = [json.loads(torch.load(out / "model.pt", weights_only=True)["provenance"])]
    for name in ("dataset.h5", "trajectory.h5", "analysis.h5"):
        with h5py.File(out / name, "r") as fh:
            stamps.append(json.loads(fh.attrs["provenance"]))
    for stamp in stamps:
        assert stamp["version"] == fast.__version__ and stamp["torch"] == torch.__version__
        assert stamp["device"] == "cpu" and stamp["host"] == found["host"]
        assert stamp["time"] <= found["ended"]
