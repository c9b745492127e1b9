"""Campaigns (issue 18, first part): a ``[sweep]`` table expands into points, every point is
checked before work, each runs in its own folder (in turn or on Dask), finished points are
not recomputed, and bad sweeps are one clear line."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest
import torch

from fast.cli import main
from fast.runs import campaign
from fast.runs.campaign import Point, expand_sweep, load_campaign, run_campaign
from fast.runs.runner import METRICS_FILE, MemoryNeed, Stage
from reference import runio

CALLS: list[str] = []
PREPARED: list[str] = []


def _prepare(experiment: Any, folder: Path, device: torch.device, progress: bool) -> None:
    PREPARED.append(folder.name)
    runio.write_json(folder / "prepared.json", {"x2": experiment.model.x**2})


def _compute(experiment: Any, folder: Path, device: torch.device, progress: bool) -> None:
    CALLS.append(folder.name)
    x2 = json.loads((folder / "prepared.json").read_text())["x2"]
    runio.write_json(folder / METRICS_FILE, {"y": x2 + experiment.seed + experiment.post.shift})


@attrs.frozen(kw_only=True)
class Model:
    x: float = 1.0
    label: str = "a"

    def __attrs_post_init__(self) -> None:
        if self.x < 0:
            raise ValueError(f"x must be >= 0, got {self.x!r}")


@attrs.frozen(kw_only=True)
class Post:
    shift: float = 0.0


@attrs.frozen(kw_only=True)
class Toy:
    """A workflow of two cheap stages: the campaign machinery without physics."""

    STAGES: ClassVar[tuple[Stage, ...]] = (
        Stage("prepare", ("kind", "seed", "model"), ("prepared.json",), _prepare),
        Stage("compute", ("kind", "seed", "model", "post"), (METRICS_FILE,), _compute),
    )
    name: str = "toy"
    kind: str = "toy"
    seed: int = 0
    model: Model = attrs.field(factory=Model)
    post: Post = attrs.field(factory=Post)

    def derived(self) -> dict[str, Any]:
        return {}

    def check_folder(self, folder: Path, redone: Sequence[str]) -> None:
        pass

    def summary(self, metrics: Mapping[str, Any]) -> str:
        return f"y = {metrics['y']}"

    def memory_estimate(self) -> dict[str, MemoryNeed]:
        return {"compute": MemoryNeed(1e3, "nothing")}

    def campaign_summary(self, entries: Sequence[Any], folder: Path) -> str:
        finished = [e for e in entries if e.metrics is not None]
        return f"## Toy\n\n{len(finished)} of {len(entries)} points finished"


TOY = """
[experiment]
kind = "toy"
seed = 10

[model]
x = 1.0

[sweep]
"model.x" = [1.0, 2.0]
model.label = ["a", "b"]
mode = "zip"
replicas = 2
"""


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setitem(campaign.WORKFLOWS, "toy", Toy)
    CALLS.clear()
    PREPARED.clear()
    path = tmp_path / "toy.toml"
    path.write_text(TOY)
    return path


def test_product_zip_and_replicas_expand_as_documented() -> None:
    product = expand_sweep({"physics": {"temperature": [0.1, 0.2]}, "dataset.size": [8, 10]},
                           0, "f")  # fmt: skip
    assert [p.values for p in product] == [
        {"physics.temperature": 0.1, "dataset.size": 8},
        {"physics.temperature": 0.1, "dataset.size": 10},
        {"physics.temperature": 0.2, "dataset.size": 8},
        {"physics.temperature": 0.2, "dataset.size": 10},
    ]
    assert product[0].name == "physics.temperature-0.1__dataset.size-8"
    zipped = expand_sweep({"a.x": [1, 2], "a.y": [3, 4], "mode": "zip", "replicas": 2}, 7, "f")
    assert [p.values for p in zipped] == [
        {"a.x": 1, "a.y": 3, "experiment.seed": 7},
        {"a.x": 1, "a.y": 3, "experiment.seed": 8},
        {"a.x": 2, "a.y": 4, "experiment.seed": 7},
        {"a.x": 2, "a.y": 4, "experiment.seed": 8},
    ]
    assert zipped[1].name == "a.x-1__a.y-3__replica-1"
    assert [p.name for p in expand_sweep({"replicas": 3}, 0, "f")] == [
        "replica-0", "replica-1", "replica-2"
    ]  # fmt: skip
    assert len({p.name for p in product + zipped}) == 8  # every point its own folder


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ({"physics.temperature": []}, r"'physics.temperature' must be a non-empty list"),
        ({"physics.temperature": 0.1}, r"must be a non-empty list of values"),
        ({"temperature": [0.1]}, r"must name a setting as 'section.key'"),
        ({"mode": "grid", "a.x": [1]}, r"mode must be one of \('product', 'zip'\)"),
        ({"replicas": 0, "a.x": [1]}, r"replicas must be an integer >= 1"),
        ({"a.x": [1, 2], "a.y": [1], "mode": "zip"}, r"lists of one length .* a.x: 2, a.y: 1"),
        ({}, "sweeps nothing"),
    ],
)
def test_bad_sweeps_are_one_clear_line(sweep: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        expand_sweep(sweep, 0, "f.toml")


def test_every_point_is_checked_before_any_work(toy: Path, tmp_path: Path) -> None:
    bad = toy.read_text().replace('"model.x" = [1.0, 2.0]', '"model.x" = [1.0, -2.0]')
    toy.write_text(bad)
    with pytest.raises(ValueError, match=r"sweep point 'model.x--2__model.label-b__replica-0': "
                       r"invalid experiment .*x must be >= 0"):  # fmt: skip
        load_campaign(toy)
    toy.write_text(bad.replace('"model.x" = [1.0, -2.0]', '"model.z" = [1.0, 2.0]'))
    with pytest.raises(ValueError, match=r"model: unknown keys \['z'\]"):
        load_campaign(toy)


def _metrics(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / METRICS_FILE).read_text()))


def test_points_run_in_their_own_folders_and_finished_points_are_skipped(
    toy: Path, tmp_path: Path
) -> None:
    points = load_campaign(toy)
    out = tmp_path / "c"
    results = run_campaign(points, out, progress=False)
    assert results == {
        "model.x-1__model.label-a__replica-0": {"y": 11.0},
        "model.x-1__model.label-a__replica-1": {"y": 12.0},
        "model.x-2__model.label-b__replica-0": {"y": 14.0},
        "model.x-2__model.label-b__replica-1": {"y": 15.0},
    }
    assert _metrics(out) == {"points": results}
    listed = json.loads((out / "campaign.json").read_text())["points"]
    assert all(p["finished"] for p in listed) and len(listed) == 4
    assert sorted(CALLS) == sorted(results) == sorted(PREPARED)  # no two points share
    report = (out / "report.md").read_text().splitlines()
    assert report[4] == "| point | experiment.seed | model.label | model.x | result |"
    assert report[6] == "| `model.x-1__model.label-a__replica-0` | 10 | a | 1 | y = 11.0 |"
    CALLS.clear()
    PREPARED.clear()
    assert run_campaign(points, out, progress=False) == results
    assert CALLS == PREPARED == []  # nothing recomputed


def test_points_on_a_dask_cluster_give_the_same_results(toy: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    Client, LocalCluster = distributed.Client, distributed.LocalCluster

    points = load_campaign(toy)
    alone = run_campaign(points, tmp_path / "alone", progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:  # fmt: skip
        spread = run_campaign(points, tmp_path / "dask", progress=False, client=client)
    assert spread == alone


def test_a_failing_point_stops_the_campaign_naming_it_and_keeps_the_others(
    toy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail_for_x2(experiment: Any, folder: Path, device: torch.device, progress: bool) -> None:
        if experiment.model.x == 2.0:
            raise ValueError("forces are NaN")
        _compute(experiment, folder, device, progress)

    monkeypatch.setattr(Toy, "STAGES", (Toy.STAGES[0], Stage("compute", ("kind", "seed", "model"),
                                              (METRICS_FILE,), fail_for_x2),))  # fmt: skip
    out = tmp_path / "c"
    with pytest.raises(ValueError, match=r"sweep point 'model.x-2__model.label-b__replica-0' "
                       "failed: forces are NaN"):  # fmt: skip
        run_campaign(load_campaign(toy), out, progress=False)
    finished = [p for p in (out / "points").iterdir() if (p / METRICS_FILE).exists()]
    assert len(finished) == 2


def test_the_command_line_runs_a_sweep_and_refuses_a_bad_one_before_work(
    toy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "c"
    assert main(["run", str(toy), "--out", str(out), "--quiet"]) == 0
    assert "campaign of 4 points done" in capsys.readouterr().out
    toy.write_text(TOY.replace('mode = "zip"', 'mode = "grid"'))
    assert main(["run", str(toy), "--out", str(tmp_path / "d"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "mode must be one of" in err[0]
    assert not (tmp_path / "d").exists()
    toy.write_text(TOY)
    argv = ["run", str(toy), "--out", str(tmp_path / "e"), "--scheduler", "tcp://127.0.0.1:9"]
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in err[0]


def test_a_campaign_file_is_not_one_experiment(toy: Path) -> None:
    from fast.runs.registry import load_experiment

    with pytest.raises(ValueError, match=r"has a \[sweep\] table: it is a campaign"):
        load_experiment(toy)


def test_point_names_are_safe_folder_names() -> None:
    point = expand_sweep({"a.s": ["x/y z"], "a.f": [1e-5]}, 0, "f")[0]
    assert point == Point("a.s-x_y_z__a.f-1e-05", {"a.s": "x/y z", "a.f": 1e-5})


def test_the_shipped_sweep_loads_into_its_points() -> None:
    root = Path(__file__).resolve().parents[3]
    points = load_campaign(root / "specs" / "experiments" / "demo_sweep.toml")
    assert [p.name for p, _ in points][:2] == [
        "physics.temperature-0.05__replica-0", "physics.temperature-0.05__replica-1"
    ]  # fmt: skip
    assert [(e.physics.temperature, e.seed) for _, e in points] == [  # type: ignore[attr-defined]
        (t, s) for t in (0.05, 0.1, 0.2) for s in (2023, 2024)
    ]


SHARED = """
[experiment]
kind = "toy"
seed = 10

[sweep]
"post.shift" = [0.0, 0.5, 1.0]
"model.x" = [1.0, 3.0]
"""


def test_points_with_equal_settings_for_a_stage_compute_it_once(toy: Path, tmp_path: Path) -> None:
    toy.write_text(SHARED)
    points = load_campaign(toy)
    plan = campaign.plan_sharing(points)
    assert plan == {
        "post.shift-0.5__model.x-1": ("post.shift-0__model.x-1", "prepare"),
        "post.shift-0.5__model.x-3": ("post.shift-0__model.x-3", "prepare"),
        "post.shift-1__model.x-1": ("post.shift-0__model.x-1", "prepare"),
        "post.shift-1__model.x-3": ("post.shift-0__model.x-3", "prepare"),
    }
    out = tmp_path / "c"
    results = run_campaign(points, out, progress=False)
    assert sorted(PREPARED) == ["post.shift-0__model.x-1", "post.shift-0__model.x-3"]
    assert len(CALLS) == 6
    assert results["post.shift-1__model.x-3"] == {"y": 9.0 + 10 + 1.0}
    taken = out / "points" / "post.shift-1__model.x-3"
    source = out / "points" / "post.shift-0__model.x-3"
    assert (taken / "prepared.json").stat().st_ino == (source / "prepared.json").stat().st_ino
    stages = json.loads((taken / "stages.json").read_text())
    assert set(stages) == {"prepare", "compute"}
    assert "## Toy\n\n6 of 6 points finished" in (out / "report.md").read_text()
    listed = json.loads((out / "campaign.json").read_text())["points"]
    assert listed[2]["shares"] == {"from": "post.shift-0__model.x-1", "until": "prepare"}
    # a rerun takes nothing again and computes nothing
    CALLS.clear()
    PREPARED.clear()
    assert run_campaign(points, out, progress=False) == results
    assert CALLS == PREPARED == []


def test_shared_stages_on_a_dask_cluster_are_computed_once_too(toy: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    toy.write_text(SHARED)
    points = load_campaign(toy)
    alone = run_campaign(points, tmp_path / "alone", progress=False)
    PREPARED.clear()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:  # fmt: skip
        spread = run_campaign(points, tmp_path / "dask", progress=False, client=client)
    assert spread == alone
    assert sorted(PREPARED) == ["post.shift-0__model.x-1", "post.shift-0__model.x-3"]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('kind = "grid"', "kind must be one of ('local', 'slurm', 'pbs'), got 'grid'"),
        ('kind = "slurm"', "workers must be >= 1 for kind 'slurm'"),
        ('kind = "slurm"\nworkers = 2\nwalltime = "1h"', "walltime must be [D-]HH:MM[:SS]"),
        ('kind = "pbs"\nworkers = 1\nmemory = "lots"', "memory must be like '4GiB'"),
        ("workers = -1", "workers must be an integer >= 0"),
        ("nodes = 3", "unknown keys ['nodes']"),
        ('directives = ["--a\\n--b"]', "directives must be a list of one-line strings"),
    ],
)
def test_a_bad_cluster_table_is_one_line_before_any_work(
    toy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str, message: str
) -> None:
    toy.write_text(f"{TOY}\n[cluster]\n{table}\n")
    out = tmp_path / "c"
    assert main(["run", str(toy), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "[cluster] of" in err[0] and message in err[0], err
    assert not out.exists()


def test_the_command_line_replaces_the_cluster_kind_and_workers(
    toy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toy.write_text(f'{TOY}\n[cluster]\nkind = "slurm"\nworkers = 4\n')
    out = tmp_path / "c"
    # --cluster local --workers 0: in turn, here, whatever the file says
    assert main(["run", str(toy), "--out", str(out), "--quiet", "--cluster", "local",
                 "--workers", "0"]) == 0  # fmt: skip
    assert len(CALLS) == 4
    assert main(["run", str(toy), "--out", str(out), "--quiet", "--cluster", "mars"]) == 2
    assert "kind must be one of" in capsys.readouterr().err


def test_a_single_experiment_may_say_where_it_runs(
    toy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    single = TOY.split("[sweep]")[0] + '\n[cluster]\nkind = "local"\nworkers = 0\n'
    toy.write_text(single)
    assert main(["run", str(toy), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    assert "y = 11.0" in capsys.readouterr().out
    toy.write_text(single + "cores = 1.5\n")
    assert main(["run", str(toy), "--out", str(tmp_path / "s"), "--quiet"]) == 2


def test_stage_is_refused_for_a_campaign(
    toy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", str(toy), "--out", str(tmp_path / "c"), "--quiet", "--stage", "compute"]
    assert main(argv) == 2
    assert "--stage runs one stage of one run" in capsys.readouterr().err
