"""The exact quench program writes a complete run folder and rejects bad settings early."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from reference.programs import quench as exact_quench

ROOT = Path(__file__).resolve().parents[3]


def test_exact_quench_toml_holds_the_default_settings() -> None:
    assert (
        exact_quench.load_config(ROOT / "specs" / "experiments" / "exact_quench.toml")
        == exact_quench.QuenchConfig()
    )


def test_paper_time_step_and_damping() -> None:
    config = exact_quench.QuenchConfig()
    assert config.dt == pytest.approx(0.022 * np.sqrt(5.0))
    assert config.gamma * config.omega / config.physics.k == pytest.approx(0.09)


def test_tiny_exact_quench_writes_the_run_folder(tmp_path: Path) -> None:
    config = exact_quench.QuenchConfig(size=4, ensemble=2, steps=40, record_every=10, seed=3)
    metrics = exact_quench.run_exact_quench(config, tmp_path / "run", progress=False)
    folder = tmp_path / "run"
    for name in ("config.json", "metrics.json", "trajectory.h5"):
        assert (folder / name).is_file()
    for name in ("phi_snapshots.png", "structure_factor.png", "domain_length.png"):
        assert (folder / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(folder.rglob("*.tmp"))
    saved = json.loads((folder / "metrics.json").read_text())
    assert saved["t"] == metrics["t"]
    assert len(saved["L_structure_factor"]) == 5
    assert saved["timings"]["seconds_per_step"] > 0
    with h5py.File(folder / "trajectory.h5") as fh:
        assert fh["Q"].shape == (5, 2, 4, 4)
        assert fh["n"].shape == (5, 2, 4, 4)
        np.testing.assert_allclose(fh["n"][...].sum(axis=(-2, -1)), 8.0, atol=1e-8)
        assert json.loads(fh.attrs["config"])["size"] == 4


def test_cli_reports_bad_settings_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[quench]\nsize = 16\nmagnetic_field = 2.0\n")
    assert exact_quench.main(["--config", str(bad), "--out", str(tmp_path / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown quench settings ['magnetic_field']")
    assert "\n" not in err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"size": 5}, "size must be an even integer >= 4"),
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"record_every": 100, "steps": 10}, "record_every must be <= steps"),
        ({"temperature": -0.1}, "temperature must be >= 0"),
    ],
)
def test_invalid_exact_quench_settings_raise(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        exact_quench.load_config(None, **overrides)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("[physics]\nfilling = 1.5\n", r"physics: filling must lie in \(0, 1\)"),
        ("[physics]\nfilling = 1.5\nmu = 0.0\n", r"physics: filling must lie in \(0, 1\)"),
        ("[physics]\nkappa = 0.5\n", r"physics: kappa must satisfy"),
        ("[langevin]\nintegrator = 'leapfrog'\n", "langevin: integrator must be"),
        ("[electrodes]\nvoltage = 1.0\n", r"unknown tables \['electrodes'\]"),
    ],
)
def test_invalid_shared_sections_are_named(section: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(section)
    with pytest.raises(ValueError, match=message):
        exact_quench.load_config(path)


def test_unwritable_out_folder_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="is not writable"):
        exact_quench.run_exact_quench(
            exact_quench.QuenchConfig(size=4, steps=2, record_every=1),
            blocker / "run",
            progress=False,
        )
