"""The exact voltage program (NEGF-Brownian) writes a complete run folder and rejects bad
settings early."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from reference import negf, observables, runio
from reference.programs import voltage as exact_voltage

ROOT = Path(__file__).resolve().parents[3]
PNG = b"\x89PNG\r\n\x1a\n"

# 6 x 2 lattice, coarse energy grid: a few hundred small inversions per step.
TINY: dict[str, Any] = {
    "Lx": 6,
    "Ly": 2,
    "steps": 6,
    "record_every": 2,
    "seed": 5,
    "energy_step": 0.05,
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("voltage") / "run"
    config = exact_voltage.VoltageConfig(**TINY)
    metrics = exact_voltage.run_exact_voltage(config, folder, progress=False)
    return folder, metrics


def test_voltage_toml_holds_the_default_settings() -> None:
    path = ROOT / "specs" / "experiments" / "exact_voltage.toml"
    assert exact_voltage.load_config(path) == exact_voltage.VoltageConfig()


def test_paper_coupling_and_lattice() -> None:
    config = exact_voltage.VoltageConfig()
    assert config.physics.g == pytest.approx(math.sqrt(2.24))  # lambda = g^2 / (8 k) = 0.28
    assert config.lattice.periodic == (False, True)
    assert config.model().params.coupling.offset == 0.5
    assert config.reservoirs().mu_left == -config.voltage


def test_tiny_run_writes_the_run_folder(tiny_run: tuple[Path, dict[str, Any]]) -> None:
    folder, metrics = tiny_run
    for name in ("config.json", "metrics.json", "trajectory.h5"):
        assert (folder / name).is_file()
    for name in ("density_map.png", "domain_wall.png"):
        assert (folder / "figures" / name).read_bytes()[:8] == PNG
    assert not list(folder.rglob("*.tmp"))
    assert not (folder / ".write-test").exists()
    saved = json.loads((folder / "metrics.json").read_text())
    assert saved["t"] == pytest.approx(metrics["t"])
    assert len(saved["xi"]) == 4
    assert saved["timings"]["seconds_per_step"] > 0
    currents = saved["currents_final"]
    total = currents["left_lead"] + currents["right_lead"] + currents["baths"]
    assert currents["sum"] == pytest.approx(total)
    assert abs(currents["sum"]) < 1e-10  # steady state: what enters leaves
    assert json.loads((folder / "config.json").read_text())["physics"]["g"] == pytest.approx(
        math.sqrt(2.24)
    )


def test_trajectory_has_the_documented_layout(tiny_run: tuple[Path, dict[str, Any]]) -> None:
    folder, _ = tiny_run
    with h5py.File(folder / "trajectory.h5") as fh:
        assert fh["t"].shape == (4,)
        assert fh["Q"].shape == (4, 6, 2)
        assert fh["n"].shape == (4, 6, 2)
        assert fh["xi"].shape == (4,)
        np.testing.assert_allclose(fh["t"][...], [0.0, 0.2, 0.4, 0.6])
        assert np.all((fh["xi"][...] >= 0) & (fh["xi"][...] <= 1))
        saved_config = json.loads(fh.attrs["config"])
        assert {k: saved_config[k] for k in TINY} == TINY
        assert fh.attrs["code_version"]
        q_last, n_last = fh["Q"][-1], fh["n"][-1]
    # The densities recovered from the cached forces are the NEGF densities of the frame.
    config = exact_voltage.VoltageConfig(**TINY)
    direct = negf.negf_densities(
        q_last, config.model(), config.reservoirs(), config.energy_step, config.energy_window
    )
    np.testing.assert_allclose(n_last, direct, atol=1e-10)


def test_frozen_columns_stay_put(tmp_path: Path) -> None:
    config = exact_voltage.VoltageConfig(**{**TINY, "Lx": 8, "frozen_columns": 2})
    exact_voltage.run_exact_voltage(config, tmp_path / "run", progress=False)
    with h5py.File(tmp_path / "run" / "trajectory.h5") as fh:
        Q, frozen = fh["Q"][...], fh["frozen"][...]
    assert frozen[:2].all() and frozen[-2:].all() and not frozen[2:-2].any()
    np.testing.assert_array_equal(Q[:, frozen], np.broadcast_to(Q[0, frozen], Q[:, frozen].shape))
    assert np.abs(Q[-1, ~frozen] - Q[0, ~frozen]).max() > 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Ly": 3}, "Ly must be an even integer"),
        ({"Lx": 3}, "Lx must be an integer >= 4"),
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"record_every": 100, "steps": 10}, "record_every must be <= steps"),
        ({"frozen_columns": 6}, "frozen_columns must leave"),
        ({"energy_window": (1.0, -1.0)}, "energy_window must be finite with upper > lower"),
        ({"energy_step": 0.0}, "energy_step must be > 0"),
        ({"electrodes.gamma_bath": -0.1}, "electrodes: gamma_bath must be > 0"),
        ({"physics.temperature": -0.1}, "temperature must be >= 0"),
        ({"physics.kappa": 0.5}, "kappa must satisfy"),
        ({"physics.mu": 0.0}, "physics.mu is not used here"),
        ({"magnet.field": 1.0}, "unknown table 'magnet'"),
        ({"metal_threshold": 1.5}, r"metal_threshold must lie in \(0, 1\)"),
    ],
)
def test_invalid_settings_raise(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        exact_voltage.load_config(None, **overrides)


def _cli_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert exact_voltage.main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ")
    assert "\n" not in err
    return err


def test_cli_rejects_an_unknown_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[voltage]\nLx = 8\nmagnetic_field = 2.0\n")
    err = _cli_error(capsys, ["--config", str(bad), "--out", str(tmp_path / "x")])
    assert err.startswith("error: unknown voltage settings ['magnetic_field']")
    assert not (tmp_path / "x").exists()


def test_cli_rejects_a_bad_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[voltage]\nLy = 5\n[electrodes]\nvoltage = "high"\n')
    err = _cli_error(capsys, ["--config", str(bad), "--out", str(tmp_path / "x")])
    assert err.startswith("error: invalid voltage configuration")
    assert not (tmp_path / "x").exists()


def test_cli_rejects_an_unwritable_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    err = _cli_error(capsys, ["--out", str(blocker / "run"), "--steps", "2", "--record-every", "1"])
    assert "is not writable" in err


def test_metal_nucleates_at_the_biased_electrode(tmp_path: Path) -> None:
    # A wider bath keeps the coarse energy grid accurate (aliasing bound 2 exp(-2 pi) ~ 4e-3).
    base = {
        **TINY,
        "Lx": 8,
        "steps": 60,
        "record_every": 60,
        "electrodes.gamma_bath": 0.05,
        "seed": 3,
    }
    phi_left = {}
    for voltage in (0.0, 3.0):
        config = exact_voltage.load_config(None, **{**base, "electrodes.voltage": voltage})
        metrics = exact_voltage.run_exact_voltage(config, tmp_path / str(voltage), progress=False)
        assert metrics["aliasing_bound"] < 5e-3
        with h5py.File(tmp_path / str(voltage) / "trajectory.h5") as fh:
            n = fh["n"][-1]
        assert n.min() > -1e-6 and n.max() < 1 + 1e-6
        phi = np.abs(observables.local_cdw_order(n, config.lattice)).mean(axis=1)
        phi_left[voltage] = phi[0]
        if voltage == 0.0:
            assert metrics["xi_final"] == 0.0  # no bias: the CDW survives
        else:
            assert metrics["xi_final"] > 0.0
            assert phi[0] < config.metal_threshold  # the lead column turned metallic
            assert phi[4:].mean() > 0.5  # the far half is still a CDW
    assert phi_left[3.0] < phi_left[0.0]


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path: Path) -> None:
    def fail(path: Path) -> None:
        path.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        runio.atomic_write(tmp_path / "x.json", fail)
    assert list(tmp_path.iterdir()) == []
