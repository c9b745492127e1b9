"""The voltage workflow of paper 001 through ``python -m fast run``: stages on tiny inputs,
resumption, the NEGF labels, site-restricted training and bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import attrs
import numpy as np
import pytest
import torch

from fast import negf
from fast.cli import main
from fast.ml import datasets as io
from fast.ml.training import TrainConfig, split_by_configuration, train_network
from fast.runs.registry import load_experiment
from fast.runs.runner import run_experiment
from fast.runs.trajectories import load_trajectory
from fast.runs.voltage import (
    BrownianSettings,
    VoltageDatasetConfig,
    VoltageExperiment,
    generate_voltage_dataset,
)
from reference import observables
from reference.sections import ElectrodeSettings

ROOT = Path(__file__).resolve().parents[3]

TINY = """
[experiment]
name = "tiny voltage"
kind = "voltage"
seed = 3

[electrodes]
gamma_bath = 0.01

[brownian]
Lx = 10
Ly = 6
steps = 30
record_every = 2
checkpoint_every = 10

[dataset]
n_runs = 2
snapshot_every = 5
exclude_columns = 2

[train]
r_c = 2.0
hidden = [16, 8]
epochs = 4
learning_rate = 1e-3

[compare]
ensemble = 3
frozen_columns = 2
"""

SMALL = BrownianSettings(Lx=8, Ly=4, steps=12)
WIDE_BATH = ElectrodeSettings(gamma_bath=0.01)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny voltage experiment run through every stage once: (file, run folder)."""
    base = tmp_path_factory.mktemp("voltage")
    path = base / "tiny.toml"
    path.write_text(TINY)
    out = base / "run"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    return path, out


def test_every_stage_writes_its_files_and_the_report_shows_them(
    finished: tuple[Path, Path],
) -> None:
    _, out = finished
    assert list(json.loads((out / "stages.json").read_text())) == [
        s.name for s in VoltageExperiment.STAGES
    ]
    assert not list(out.glob("*.partial")) and not list(out.glob("*.state.pt"))
    report = (out / "report.md").read_text()
    figures = re.findall(r"\]\((figures/[^)]+)\)", report)
    assert len(figures) == 5
    for figure in figures:
        assert (out / figure).stat().st_size > 1000
    metrics = json.loads((out / "metrics.json").read_text())
    # 2 runs x 6 snapshots, 4 held out; columns 2..7 of 6 rows are learned
    assert metrics["force_error_held_out"]["n_configurations"] == 4
    assert metrics["force_error_held_out"]["n_sites"] == 4 * 6 * 6
    assert metrics["speedup_ml_vs_exact"] > 0
    for region in ("xi_free", "xi_lattice"):
        assert 0 <= metrics["domain_wall"][region]["exact_final"] <= 1
    assert run_experiment(load_experiment(finished[0]), out, progress=False) == metrics


def test_ml_runs_share_states_and_noise_and_their_edges_follow_the_exact_run(
    finished: tuple[Path, Path],
) -> None:
    path, out = finished
    experiment = load_experiment(path)
    assert isinstance(experiment, VoltageExperiment)
    exact = load_trajectory(out / "compare_exact.h5")
    ml = load_trajectory(out / "compare_ml.h5")
    assert exact.Q.shape == ml.Q.shape == (16, 3, 10, 6)  # frames at steps 0, 2, ..., 30
    np.testing.assert_array_equal(exact.Q[0], ml.Q[0])
    edge = experiment.boundary()
    assert edge.sum() == 2 * 2 * 6
    # record_every = 2: step s holds the exact frame of step 2 (s // 2), so every recorded
    # (even) step copies the exact run's configuration there
    np.testing.assert_array_equal(ml.Q[..., edge], exact.Q[..., edge])
    assert np.max(np.abs(ml.Q[-1][..., ~edge] - exact.Q[-1][..., ~edge])) > 0


def test_the_dataset_holds_exact_negf_labels(finished: tuple[Path, Path]) -> None:
    path, out = finished
    experiment = load_experiment(path)
    assert isinstance(experiment, VoltageExperiment)
    data = io.load_dataset(out / "dataset.h5")
    assert data.Q.shape == (12, 10, 6)
    assert json.loads(data.attributes["lattice"])["periodic_x"] is False
    direct = negf.negf_force(
        torch.as_tensor(data.Q[-2:]), experiment.model(), experiment.reservoirs()
    )
    np.testing.assert_allclose(data.F[-2:], direct.numpy(), atol=1e-10)
    assert data.n.min() >= 0.0 and data.n.max() <= 1.0


def test_a_killed_dataset_generation_resumes_to_the_same_file(tmp_path: Path) -> None:
    config = VoltageDatasetConfig(electrodes=WIDE_BATH, brownian=SMALL, n_runs=2, snapshot_every=3)
    whole = generate_voltage_dataset(config, tmp_path / "a.h5", progress=False)

    class StopError(Exception):
        pass

    def stop(done: int) -> None:
        if done == 4:
            raise StopError

    with pytest.raises(StopError):
        generate_voltage_dataset(config, tmp_path / "b.h5", progress=False, on_chunk=stop)
    assert (tmp_path / "b.h5.partial").exists() and not (tmp_path / "b.h5").exists()
    resumed = generate_voltage_dataset(config, tmp_path / "b.h5", progress=False)
    assert len(resumed) == 8
    assert resumed.attributes["content_hash"] == whole.attributes["content_hash"]
    other = attrs.evolve(config, seed=1)
    with pytest.raises(ValueError, match="another configuration"):
        generate_voltage_dataset(other, tmp_path / "a.h5", progress=False)


def test_training_on_selected_sites_scores_only_those(tmp_path: Path) -> None:
    config = VoltageDatasetConfig(electrodes=WIDE_BATH, brownian=SMALL, n_runs=2, snapshot_every=3)
    data = generate_voltage_dataset(config, tmp_path / "d.h5", progress=False)
    sites = np.zeros((8, 4), dtype=bool)
    sites[3:5] = True
    train = TrainConfig(network="paper001_mlp", r_c=1.0, hidden=(8,), epochs=2)
    result = train_network(
        train, data, tmp_path / "c.pt", progress=False, lattice=SMALL.lattice, sites=sites
    )
    assert result.predictions["val_exact"].shape[1:] == (8,)
    _, val = split_by_configuration(len(data), train.validation_fraction, train.seed)
    np.testing.assert_array_equal(result.predictions["val_exact"], data.F[val][:, sites])
    assert result.validation.n_sites == result.predictions["val_exact"].size
    with pytest.raises(ValueError, match="sites must be a boolean array"):
        train_network(train, data, tmp_path / "e.pt", progress=False, sites=np.zeros((8, 4)))
    with pytest.raises(ValueError, match="lattice has shape"):
        train_network(train, data, tmp_path / "e.pt", progress=False,
                      lattice=BrownianSettings(Lx=6, Ly=4).lattice)  # fmt: skip


def test_r_c_sets_the_descriptor_of_an_mlp_only() -> None:
    arch = TrainConfig(network="paper001_mlp", r_c=4.0, hidden=(32,)).architecture()
    assert arch.widths == (49, 32, 1) and arch.r_c == 4.0  # type: ignore[union-attr]
    paper = TrainConfig(network="paper001_mlp", r_c=6.0).architecture()
    assert paper == TrainConfig(network="paper001_mlp").architecture()
    with pytest.raises(ValueError, match="r_c must be at most 16 lattice constants"):
        TrainConfig(network="paper001_mlp", r_c=2147483648.0)  # refused before any work
    with pytest.raises(ValueError, match="r_c applies to the descriptor MLPs only"):
        TrainConfig(network="paper002_gnn", r_c=3.0)


def test_the_metallic_fraction_of_all_sites_is_the_domain_wall_position() -> None:
    lattice = SMALL.lattice
    n = np.random.default_rng(0).uniform(size=(3, 8, 4))
    every = np.ones((8, 4), dtype=bool)
    np.testing.assert_allclose(
        observables.metallic_fraction(n, lattice, 0.25, every),
        observables.domain_wall_position(n, lattice, 0.25),
    )
    half = np.zeros((8, 4), dtype=bool)
    half[:4] = True
    checkerboard = (np.indices((8, 4)).sum(0) % 2).astype(float)
    metal = checkerboard.copy()
    metal[:4] = 0.5  # uniform density: no CDW order
    assert observables.metallic_fraction(metal, lattice, 0.25, half) == 1.0
    assert observables.metallic_fraction(metal, lattice, 0.25, ~half) < 0.5


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ("[experiment]\nkind = 'plasma'\n", "kind must be one of"),
        ("[experiment]\nkind = 'voltage'\n[dataset]\nexclude_columns = 1\n"
         "[train]\nr_c = 2.0\n", "exclude_columns .1. must be at least"),
        ("[experiment]\nkind = 'voltage'\n[brownian]\nLx = 10\n[compare]\nfrozen_columns = 5\n"
         "[dataset]\nexclude_columns = 2\n[train]\nr_c = 2.0\n", "must leave columns"),
        ("[experiment]\nkind = 'voltage'\n[brownian]\nLy = 6\n", "brownian.Ly .6. must exceed"),
        ("[experiment]\nkind = 'voltage'\n[brownian]\nLy = 7\n", "Ly must be an even"),
        ("[experiment]\nkind = 'voltage'\n[electrodes]\ngamma_bath = 0.0\n", "gamma_bath"),
        ("[experiment]\nkind = 'voltage'\n[physics]\nmu = 0.0\n", "physics.mu is not used"),
        ("[experiment]\nkind = 'voltage'\n[physics]\nLx = 10\n", r"physics: unknown keys \['Lx'\]"),
        ("[experiment]\nkind = 'voltage'\n[langevin]\ndt_omega = 0.1\n", "unknown settings"),
        ("[experiment]\nkind = 'voltage'\n[brownian]\nsteps = 10\nrecord_every = 3\n",
         "checkpoint_every must be a multiple"),
        ("[experiment]\nkind = 'voltage'\n[train]\nseed = 2\n", "set the seed in"),
        ("[experiment]\nkind = 'voltage'\n[train]\nhead = 'levels'\n", "quench experiments only"),
    ],
)  # fmt: skip
def test_bad_voltage_files_give_one_clear_line(tmp_path: Path, patch: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(patch)
    with pytest.raises(ValueError, match=message) as info:
        load_experiment(path)
    assert "\n" not in str(info.value)


def test_the_shipped_voltage_files_load() -> None:
    for name in ("voltage.toml", "voltage_cpu.toml"):
        experiment = load_experiment(ROOT / "specs" / "experiments" / name)
        assert isinstance(experiment, VoltageExperiment)
    paper = load_experiment(ROOT / "specs" / "experiments" / "voltage.toml")
    assert isinstance(paper, VoltageExperiment)
    assert (paper.brownian.Lx, paper.brownian.Ly) == (40, 30)
    assert paper.train.architecture().widths[0] == 113  # type: ignore[union-attr]
    assert paper.compare.frozen_columns == 6
