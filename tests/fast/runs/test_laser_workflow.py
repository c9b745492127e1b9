"""The laser workflow of paper 000 through ``python -m fast run``: stages on tiny inputs,
resumable Ehrenfest runs, their adiabatic labels, time-conditioned training and bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from fast import ehrenfest as fe
from fast.cli import main
from fast.runs.laser import LaserExperiment, cdw_ehrenfest_states, training_frames
from fast.runs.registry import load_experiment
from fast.runs.trajectories import load_trajectory, run_ehrenfest
from reference import ehrenfest as re_
from reference.dynamics import kinetic_temperature_since
from reference.model import LaserPulse, elastic_force
from reference.sections import LaserPhysics

ROOT = Path(__file__).resolve().parents[3]

TINY = """
[experiment]
name = "tiny laser"
kind = "laser"
seed = 2

[ehrenfest]
size = 6
dt = 0.1
end_tau0 = 8.0
record_every = 10
checkpoint_every = 50

[dataset]
n_runs = 2
from_tau0 = 2.0

[train]
hidden = [6]
epochs = 3

[recovery]
t1_tau0 = 4.0
dt = 0.2

[compare]
ensemble = 3
"""

PHYSICS = LaserPhysics()


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny laser experiment run through every stage once: (file, run folder)."""
    base = tmp_path_factory.mktemp("laser")
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
        s.name for s in LaserExperiment.STAGES
    ]
    assert not list(out.glob("*.partial")) and not list(out.glob("*.state.pt"))
    report = (out / "report.md").read_text()
    figures = re.findall(r"\]\((figures/[^)]+)\)", report)
    assert len(figures) == 5
    for figure in figures:
        assert (out / figure).stat().st_size > 1000
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["recovery"]) == {"O", "sigma", "t1"}
    assert metrics["timings"]["bath_temperature_measured"] is True
    assert metrics["timings"]["bath_temperature"] > 0


def test_the_ml_recovery_starts_from_the_exact_states_at_t1(finished: tuple[Path, Path]) -> None:
    path, out = finished
    experiment = load_experiment(path)
    assert isinstance(experiment, LaserExperiment)
    exact = load_trajectory(out / "compare_exact.h5")
    ml = load_trajectory(out / "compare_ml.h5")
    first = experiment.t1_frame  # t1 = 4 tau0 = 20, frames every 1.0
    assert first == 20 and exact.t[first] == pytest.approx(20.0)
    np.testing.assert_array_equal(ml.Q[0], exact.Q[first])
    np.testing.assert_allclose(ml.t, exact.t[first:], atol=1e-9)  # the same frame times


def test_ehrenfest_frames_hold_the_adiabatic_labels(finished: tuple[Path, Path]) -> None:
    path, out = finished
    experiment = load_experiment(path)
    assert isinstance(experiment, LaserExperiment)
    runs = load_trajectory(out / "exact_runs.h5")
    model = experiment.model()
    n_ad = runs.extra["n_ad"]
    expected = experiment.physics.g * n_ad + elastic_force(runs.Q, model)  # coupling "n"
    np.testing.assert_allclose(runs.forces, expected, atol=1e-12)
    assert np.all((n_ad > -1e-12) & (n_ad < 1 + 1e-12))
    data, times = training_frames(runs, experiment.physics, 2.0, 1)
    assert len(data) == len(times) == 2 * np.sum(runs.t >= 10.0 - 1e-9)
    assert times.min() >= 10.0 - 1e-9


def test_batched_adiabatic_densities_match_the_reference_with_degenerate_levels() -> None:
    model = PHYSICS.model(4)
    rng = np.random.default_rng(4)
    q = np.stack([np.full((4, 4), 0.3), rng.normal(size=(4, 4))])  # uniform Q: degenerate
    a = rng.normal(size=(2, 16, 16)) + 1j * rng.normal(size=(2, 16, 16))
    rho = a @ a.conj().transpose(0, 2, 1)
    rho /= np.trace(rho, axis1=1, axis2=2)[:, None, None] / 8
    field = np.array([0.2, -0.1])
    fast_n = fe.adiabatic_densities(torch.as_tensor(rho), torch.as_tensor(q), model,
                                    torch.as_tensor(field))  # fmt: skip
    for b in range(2):
        np.testing.assert_allclose(
            fast_n[b].numpy(), re_.adiabatic_densities(rho[b], q[b], model, field), atol=1e-12
        )


def test_a_killed_ehrenfest_run_resumes_to_the_uninterrupted_one(tmp_path: Path) -> None:
    model = PHYSICS.model(4)
    pulse = LaserPulse(0.6, 1.5, 0.5, 3.0, (1.0, 1.0))
    state = cdw_ehrenfest_states(
        model, 2, np.random.default_rng(0), torch.device("cpu"), initial_temperature=1e-5
    )
    kwargs = dict(pulse=pulse, identity="r", record_every=5, checkpoint_every=10)
    whole = run_ehrenfest(state, model, 0.1, 40, tmp_path / "a.h5", **kwargs)  # type: ignore[arg-type]

    class StopError(Exception):
        pass

    def stop(step: int) -> None:
        if step == 20:
            raise StopError

    with pytest.raises(StopError):
        run_ehrenfest(state, model, 0.1, 40, tmp_path / "b.h5", on_checkpoint=stop, **kwargs)  # type: ignore[arg-type]
    resumed = run_ehrenfest(state, model, 0.1, 40, tmp_path / "b.h5", **kwargs)  # type: ignore[arg-type]
    for name in ("Q", "forces"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(whole, name))
    for name in ("P", "n_nad", "n_ad"):
        np.testing.assert_array_equal(resumed.extra[name], whole.extra[name])
    with pytest.raises(ValueError, match="another run"):
        run_ehrenfest(state, model, 0.1, 40, tmp_path / "a.h5", pulse=pulse, identity="other",
                      record_every=5, checkpoint_every=10)  # fmt: skip


def test_the_bath_temperature_is_the_mean_kinetic_energy_after_t1(
    finished: tuple[Path, Path],
) -> None:
    _, out = finished
    runs = load_trajectory(out / "exact_runs.h5")
    mass = LaserPhysics().mass
    late = runs.t >= 20.0
    expected = np.mean(runs.extra["P"][late] ** 2) / mass
    assert kinetic_temperature_since(runs.t, runs.extra["P"], mass, 20.0) == pytest.approx(expected)
    with pytest.raises(ValueError, match="no frame in the window"):
        kinetic_temperature_since(runs.t, runs.extra["P"], mass, 1e9)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ("[train]\nnetwork = 'paper002_gnn'\n", "must take a time input"),
        ("[ehrenfest]\nsize = 8\n", "ehrenfest.size .8. must exceed"),
        ("[ehrenfest]\nsize = 7\n", "size must be an even"),
        ("[physics]\nsize = 8\n", r"physics: unknown keys \['size'\]; allowed: \['coupling'"),
        ("[physics]\nmu = 0.0\n", "physics.mu is not used"),
        ("[dataset]\nfrom_tau0 = 90.0\n", "need dataset.from_tau0 < recovery.t1_tau0"),
        ("[recovery]\ndt = 0.3\n", "recovery.dt .0.3. must divide"),
        ("[recovery]\ntemperature = -1.0\n", "temperature must be > 0"),
        ("[ehrenfest]\nrecord_every = 3\n", "checkpoint_every must be a multiple"),
        ("[bath]\ngamma0 = 1.0\n", "unknown settings"),
        ("[pulse]\nquantity = 'intensity'\n", "quantity must be one of"),
    ],
)  # fmt: skip
def test_bad_laser_files_give_one_clear_line(tmp_path: Path, patch: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[experiment]\nkind = 'laser'\n" + patch)
    with pytest.raises(ValueError, match=message) as info:
        load_experiment(path)
    assert "\n" not in str(info.value)


def test_the_shipped_laser_files_load() -> None:
    paper = load_experiment(ROOT / "specs" / "experiments" / "laser.toml")
    assert isinstance(paper, LaserExperiment)
    assert paper.ehrenfest.size == 20 and paper.compare.ensemble == 30
    # eq. 10 read as the vector potential: the reading that melts the CDW as in Fig. 1
    assert paper.pulse.pulse().quantity == "potential"
    assert paper.train.architecture().channels[-2] == 128  # type: ignore[union-attr]
    assert isinstance(load_experiment(ROOT / "specs" / "experiments" / "laser_cpu.toml"),
                      LaserExperiment)  # fmt: skip


def test_the_recovery_bath_is_paper_000s() -> None:
    # eq. 31 with gamma0 = 0.003, delta_gamma = 0.017, t1 = 80 tau0, tau_gamma = 25 tau0
    paper = load_experiment(ROOT / "specs" / "experiments" / "laser.toml")
    assert isinstance(paper, LaserExperiment)
    tau0 = paper.physics.tau0
    assert tau0 == 5.0 and paper.physics.omega == pytest.approx(0.2)
    schedule = paper.recovery.schedule(tau0)
    assert schedule.gamma0 == 0.003 and schedule.delta_gamma == 0.017
    assert schedule.t1 == pytest.approx(80 * tau0) and schedule.tau == pytest.approx(25 * tau0)
