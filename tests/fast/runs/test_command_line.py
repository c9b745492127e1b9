"""The ``holstein`` command line as a user meets it (issue 20, items 1-2): one version,
shipped experiments found by name, ``init``, ``list``, ``--set`` and ``--dry-run``; and the
built wheel installed into a fresh virtual environment, run from another folder."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

import fast
import reference
from fast.cli import main, parse_assignments
from fast.runs import dryrun, shipped
from fast.runs.campaign import load_campaign
from fast.runs.registry import load_experiment

ROOT = Path(__file__).resolve().parents[3]

TINY = [
    "--set", "coarsening.size=16", "--set", "coarsening.steps=200",
    "--set", "coarsening.record_every=10", "--set", "analyse.window=[1.1, 4.4]",
    "--set", "analyse.bootstrap=10",
]  # fmt: skip
"""``--set`` arguments that make ``coarsening_small`` a run of seconds."""


def test_one_version_for_both_packages_and_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert fast.__version__ == reference.__version__
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"holstein-mlff {reference.__version__}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["dynamic"] == ["version"]
    assert project["project"]["scripts"]["holstein"] == "fast.cli:main"


def test_the_shipped_experiments_are_the_specs_files(capsys: pytest.CaptureFixture[str]) -> None:
    names = {p.stem for p in (ROOT / "specs" / "experiments").glob("*.toml")}
    assert set(shipped.shipped_experiments()) == names
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    for name in names:
        assert f"  {name} " in listed
    assert shipped.experiment_file("quench_cpu") == shipped.EXPERIMENTS / "quench_cpu.toml"
    assert shipped.experiment_file("quench_cpu.toml").name == "quench_cpu.toml"


@pytest.mark.parametrize("name", sorted(shipped.shipped_experiments()))
def test_every_shipped_workflow_file_loads(name: str) -> None:
    path = shipped.experiment_file(name)
    data = tomllib.loads(path.read_text())
    if "kind" not in data.get("experiment", {}):
        pytest.skip(f"{name} is an exact-only program's file (reference.programs)")
    if "sweep" in data:
        assert len(load_campaign(path)) >= 2
    else:
        assert load_experiment(path).name == data["experiment"]["name"]


@pytest.mark.parametrize("kind", sorted(shipped.TEMPLATES))
@pytest.mark.parametrize("size", ["small", "cpu", "paper"])
def test_init_writes_a_file_that_loads(
    kind: str, size: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / f"{kind}.toml"
    assert main(["init", kind, "--size", size, "--out", str(target)]) == 0
    text = target.read_text()
    assert text.startswith(f"# Written by `holstein init {kind} --size {size}`")
    if "[sweep]" in text:
        points = load_campaign(target)
        assert all(e.kind == kind for _, e in points)
    else:
        assert load_experiment(target).kind == kind
    assert main(["init", kind, "--size", size, "--out", str(target)]) == 2  # no overwrite
    assert "exists; choose another --out or add --force" in capsys.readouterr().err
    assert main(["init", kind, "--size", size, "--out", str(target), "--force"]) == 0


def test_init_refuses_an_unknown_kind_or_size_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "plasma", "--out", str(tmp_path / "x.toml")]) == 2
    assert main(["init", "quench", "--size", "huge", "--out", str(tmp_path / "x.toml")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "error: kind must be one of ['coarsening', 'laser', 'quench', 'voltage'], got 'plasma'",
        "error: size must be one of ['cpu', 'paper', 'small'], got 'huge'",
    ]
    assert not (tmp_path / "x.toml").exists()


def test_set_values_are_read_as_toml_else_as_text() -> None:
    assert parse_assignments(["a.b=0.5", "a.c=[1, 2]", "a.d=cluster", 'a.e="x y"', "a.f=true"]) == {
        "a.b": 0.5, "a.c": [1, 2], "a.d": "cluster", "a.e": "x y", "a.f": True,
    }  # fmt: skip
    for bad in ("ab=1", "a.b", "=1"):
        with pytest.raises(ValueError, match=r"must be section\.key=value"):
            parse_assignments([bad])


def test_a_dry_run_checks_describes_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = ["run", "coarsening_small", "--out", str(out), "--device", "cpu", "--dry-run"]
    assert main([*args, *TINY]) == 0
    text = capsys.readouterr().out
    assert "settings valid" in text and "(new folder)" in text
    assert "simulate   to run" in text and "200 steps of 2 members" in text and "16x16" in text
    assert "dry run: nothing written" in text
    assert not out.exists()
    # a bad value given with --set is refused like one in the file, before any work
    assert main([*args, "--set", "coarsening.size=-4"]) == 2
    assert main([*args, "--set", "coarsening.sizes=4"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "size" in err[0] and "unknown keys ['sizes']" in err[1]
    assert not out.exists()


def test_a_dry_run_of_a_campaign_lists_its_points(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    assert main(["run", "demo_sweep", "--out", str(out), "--device", "cpu", "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("campaign of 6 points")
    assert text.count("settings valid") == 6
    assert text.count("exact force evaluations of 16x16") == 6  # the quench estimates
    assert "ML steps of 2 members on 64x64" in text
    assert not out.exists()


def test_a_shipped_experiment_runs_by_name_with_set_and_then_is_done(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    base = ["run", "coarsening_small", "--out", str(out), "--device", "cpu", "--quiet", *TINY]
    assert main(base) == 0
    assert (out / "report.md").is_file()
    assert '"size": 16' in (out / "experiment.json").read_text()
    capsys.readouterr()
    assert main([*base, "--dry-run"]) == 0
    assert "simulate   done" in capsys.readouterr().out


def test_durations_and_the_long_run_warning() -> None:
    assert [dryrun.duration(s) for s in (45, 600, 7200, 3e5)] == ["45 s", "10 min", "2.0 h",
                                                                 "3.5 days"]  # fmt: skip
    import torch

    assert dryrun.long_run_warning(3000.0, torch.device("cpu")) is None
    warning = dryrun.long_run_warning(5000.0, torch.device("cpu"))
    assert warning is not None and warning.startswith("estimated 83 min on cpu")


def _fresh_environment(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The built wheel installed (without dependencies) into a new virtual environment that
    sees this environment's packages only through a ``.pth`` file placed after its own."""
    wheels = tmp_path / "wheels"
    # with setuptools here, build with it (no download); else pip fetches it to build
    isolation = ["--no-build-isolation"] if _has("setuptools") else []
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", str(wheels),
         str(ROOT)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = wheels.glob("holstein_mlff-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "-q", str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    here = [*site.getsitepackages(), sysconfig.get_paths()["purelib"]]
    Path(purelib, "zz_dependencies.pth").write_text("\n".join(dict.fromkeys(here)) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return venv, env


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_the_built_wheel_runs_from_a_fresh_environment_outside_the_checkout(
    tmp_path: Path,
) -> None:
    venv, env = _fresh_environment(tmp_path)
    work = tmp_path / "elsewhere"
    work.mkdir()

    def holstein(*args: str) -> str:
        done = subprocess.run([str(venv / "bin" / "holstein"), *args], cwd=work, env=env,
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import fast; print(fast.__file__)"],
        cwd=work, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert str(venv) in where and str(ROOT) not in where  # the wheel's code, not the checkout's
    assert holstein("--version").strip() == f"holstein-mlff {reference.__version__}"
    assert "coarsening_small" in holstein("list")
    holstein("init", "quench")
    assert "settings valid" in holstein("run", "quench.toml", "--out", "q", "--dry-run")
    holstein("run", "coarsening_small", "--out", "tiny", "--device", "cpu", "--quiet", *TINY)
    assert (work / "tiny" / "report.md").is_file()


@pytest.mark.slow
def test_the_demo_runs_end_to_end_from_the_wheel(tmp_path: Path) -> None:
    venv, env = _fresh_environment(tmp_path)
    done = subprocess.run([str(venv / "bin" / "holstein"), "demo", "--out", "demo", "--quiet"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "demo" / "report.md").is_file()


def test_a_dry_run_knows_every_network_and_refuses_an_empty_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", "quench_cpu", "--out", str(tmp_path / "q"), "--device", "cpu", "--dry-run"]
    assert main([*args, "--set", "train.network=paper004_enn"]) == 0  # the ENN's memory too
    assert "train      to run" in capsys.readouterr().out
    assert main([*args, "--set", "dataset.n_random=0", "--set", "dataset.n_runs=0"]) == 2
    assert "the dataset would be empty" in capsys.readouterr().err


def test_stages_a_campaign_point_shares_are_neither_run_nor_counted(tmp_path: Path) -> None:
    import torch

    experiment = load_experiment(
        shipped.experiment_file("coarsening_small"),
        settings={"coarsening.size": 16, "coarsening.steps": 200, "analyse.window": [1.1, 4.4]},
    )
    cpu = torch.device("cpu")
    alone, seconds = dryrun.describe_run(experiment, tmp_path / "a", cpu)
    shared, none = dryrun.describe_run(experiment, tmp_path / "a", cpu, shared_until="simulate")
    assert seconds > 0 and none == 0.0
    assert any(line.startswith("  simulate   to run") for line in alone)
    assert any(line.startswith("  simulate   shared") for line in shared)
