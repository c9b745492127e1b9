"""The exact laser program (Ehrenfest) writes a complete run folder, conserves energy minus
work, and rejects bad settings early."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from reference import observables
from reference.lattice import SquareLattice
from reference.programs import laser as exact_laser

ROOT = Path(__file__).resolve().parents[3]
PNG = b"\x89PNG\r\n\x1a\n"

# 4 x 4 lattice, two members, through the whole pulse (centre 3, width 0.5): t_end = 6.
TINY: dict[str, Any] = {"size": 4, "ensemble": 2, "steps": 120, "record_every": 10, "seed": 7}
N_FRAMES = 13


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("laser") / "run"
    metrics = exact_laser.run_exact_laser(exact_laser.LaserConfig(**TINY), folder, progress=False)
    return folder, metrics


def test_laser_toml_holds_the_default_settings() -> None:
    path = ROOT / "specs" / "experiments" / "exact_laser.toml"
    assert exact_laser.load_config(path) == exact_laser.LaserConfig()


def test_paper_parameters() -> None:
    config = exact_laser.LaserConfig()
    assert config.physics.g == pytest.approx(math.sqrt(3.0))  # lambda = g^2 / (m Omega^2 8) = 0.375
    assert config.physics.mass == pytest.approx(25.0)
    assert config.physics.omega == pytest.approx(0.2)
    assert config.tau0 == pytest.approx(5.0)
    assert config.physics.q0 == pytest.approx(math.sqrt(3.0) / 2)  # g / (2 m Omega^2)
    assert config.pulse.width == pytest.approx(config.tau0 / 10)
    assert config.pulse.pulse().polarisation == pytest.approx((1 / math.sqrt(2), 1 / math.sqrt(2)))


def test_tiny_run_writes_the_run_folder(tiny_run: tuple[Path, dict[str, Any]]) -> None:
    folder, metrics = tiny_run
    for name in ("config.json", "metrics.json", "trajectory.h5"):
        assert (folder / name).is_file()
    for name in ("order_parameter.png", "densities.png"):
        assert (folder / "figures" / name).read_bytes()[:8] == PNG
    assert not list(folder.rglob("*.tmp"))
    saved = json.loads((folder / "metrics.json").read_text())
    assert saved["t"] == pytest.approx(metrics["t"])
    assert saved["t_tau0"] == pytest.approx(np.asarray(saved["t"]) / 5.0)
    for key in ("order_parameter", "spatial_fluctuation"):
        assert len(saved[key]) == N_FRAMES
    assert len(saved["chi"]["mean_abs_per_frame"]) == N_FRAMES
    assert saved["timings"]["seconds_per_step_per_member"] > 0
    assert json.loads((folder / "config.json").read_text())["physics"]["mass"] == pytest.approx(
        25.0
    )


def test_trajectory_has_the_documented_layout(tiny_run: tuple[Path, dict[str, Any]]) -> None:
    folder, metrics = tiny_run
    with h5py.File(folder / "trajectory.h5") as fh:
        assert fh["t"].shape == (N_FRAMES,)
        for name in ("Q", "P", "n_nad", "n_ad"):
            assert fh[name].shape == (N_FRAMES, 2, 4, 4)
        for name in ("energy", "work"):
            assert fh[name].shape == (N_FRAMES, 2)
        saved_config = json.loads(fh.attrs["config"])
        assert {k: saved_config[k] for k in TINY} == TINY
        assert fh.attrs["code_version"]
        Q = fh["Q"][...]
        n_nad, n_ad = fh["n_nad"][...], fh["n_ad"][...]
        np.testing.assert_allclose(fh["t"][...], 0.5 * np.arange(N_FRAMES), atol=1e-12)
        work = fh["work"][...]
    # Both densities hold half an electron per site; the pulse did work.
    np.testing.assert_allclose(n_nad.sum(axis=(-2, -1)), 8.0, atol=1e-9)
    np.testing.assert_allclose(n_ad.sum(axis=(-2, -1)), 8.0, atol=1e-9)
    assert np.all(work[-1] > 0)
    lattice = SquareLattice(4, 4)
    np.testing.assert_allclose(
        metrics["order_parameter"], observables.ensemble_order_parameter(Q, lattice)
    )
    # Before the pulse the lattice sits in the CDW ground state: O = |Q_pi,pi| ~ g delta / 2,
    # and the electrons in the ground state of the noiseless h(Q), so n_ad = n_nad up to the
    # lattice noise (T = 1e-5: |dQ| ~ 3e-3); the pulse lowers O.
    assert metrics["order_initial"] > 0.4
    np.testing.assert_allclose(n_ad[0], n_nad[0], atol=1e-2)
    assert metrics["chi"]["mean_abs_per_frame"][0] < 1e-2
    assert metrics["order_min_after_pulse"] < metrics["order_initial"]


def test_energy_minus_work_is_conserved(tiny_run: tuple[Path, dict[str, Any]]) -> None:
    _, metrics = tiny_run
    check = metrics["energy_conservation"]
    assert check["relative_to_initial_energy"] < 1e-4
    assert check["max_abs_energy_minus_work_drift"] < 1e-4


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"size": 5}, "size must be an even integer"),
        ({"ensemble": 0}, "ensemble must be an integer >= 1"),
        ({"record_every": 100, "steps": 10}, "record_every must be <= steps"),
        ({"dt": -0.1}, "dt must be > 0"),
        ({"physics.filling": 1.5}, r"filling must lie in \(0, 1\)"),
        ({"initial_temperature": -1.0}, "initial_temperature must be >= 0"),
        ({"pulse.polarisation": (0.0, 0.0)}, "polarisation must be a finite nonzero vector"),
        ({"physics.mass": 0.0}, "mass must be > 0"),
        ({"physics.mu": 0.0}, "physics.mu is not used here"),
        ({"size": 4.0}, "size: expected an integer"),
        ({"pulse.quantity": "intensity"}, "quantity must be one of"),
    ],
)
def test_invalid_settings_raise(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        exact_laser.load_config(None, **overrides)


def _cli_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert exact_laser.main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ")
    assert "\n" not in err
    return err


def test_cli_rejects_an_unknown_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[laser]\nsize = 8\nmagnetic_field = 2.0\n")
    err = _cli_error(capsys, ["--config", str(bad), "--out", str(tmp_path / "x")])
    assert err.startswith("error: unknown laser settings ['magnetic_field']")
    assert not (tmp_path / "x").exists()


def test_cli_rejects_a_bad_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[laser]\nsize = 3\n[pulse]\nwidth = -0.5\n")
    err = _cli_error(capsys, ["--config", str(bad), "--out", str(tmp_path / "x")])
    assert err.startswith("error: invalid laser configuration")
    assert not (tmp_path / "x").exists()


def test_cli_rejects_an_unwritable_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    err = _cli_error(capsys, ["--out", str(blocker / "run"), "--steps", "2", "--record-every", "1"])
    assert "is not writable" in err
