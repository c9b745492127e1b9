"""Run folders that cannot be corrupted (issue 17): one writer per folder, a kill at any write
resumes bit for bit with nothing left behind, a full disk or a damaged file is one clear line,
settings too large for memory are refused before work, and files of another experiment are
refused."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import pytest
import torch

from fast.cli import main
from fast.ml import storage
from fast.ml.datasets import DatasetSettings, QuenchDatasetConfig, generate_quench_dataset
from fast.runs.registry import load_experiment
from fast.runs.runner import run_experiment
from fast.runs.trajectories import run_dynamics
from reference import runio

ROOT = Path(__file__).resolve().parents[3]

TINY = """
[experiment]
name = "tiny"
kind = "quench"
seed = 5

[dataset]
size = 10
n_random = 4
n_runs = 2
snapshots_per_run = 2
snapshot_every = 10
chunk = 4

[train]
hidden = [8]
epochs = 2
batch_size = 2

[simulate]
size = 12
ensemble = 2
steps = 20
record_every = 10
checkpoint_every = 10

[compare]
size = 10
ensemble = 2
times = [10, 20]
checkpoint_every = 20

[analyse]
bootstrap = 4
"""

TINY_DATA = QuenchDatasetConfig(
    dataset=DatasetSettings(
        size=4, n_random=3, n_runs=2, snapshots_per_run=2, snapshot_every=3, burn_in=2, chunk=2
    ),
    seed=7,
)


class KillError(BaseException):
    """A simulated kill: a BaseException, so no ``except Exception`` swallows it."""


def _results(folder: Path) -> dict[str, Any]:
    """What a run produced, without its timings: the data, the model and the metrics."""
    with h5py.File(folder / "dataset.h5") as fh:
        dataset = fh.attrs["content_hash"]
    metrics = _untimed(json.loads((folder / "metrics.json").read_text()))
    model = torch.load(folder / "model.pt", weights_only=True)["weights"]
    return {
        "dataset": dataset,
        "metrics": metrics,
        "model": {k: v.tolist() for k, v in model.items()},
    }


def _untimed(value: Any) -> Any:
    """``value`` without the entries that measure time (they differ from run to run)."""
    if isinstance(value, dict):
        timed = ("timing", "seconds", "speedup")
        return {k: _untimed(v) for k, v in value.items() if not any(t in k for t in timed)}
    return value


def _leftovers(folder: Path) -> list[str]:
    """Temporary files, and work folders beside their finished file."""
    found = [str(p) for p in folder.rglob("*.tmp")]
    found += [str(p) for p in folder.rglob("*.partial.new-*")]
    found += [str(p) for p in folder.rglob("*.partial")
              if p.with_name(p.name.removesuffix(".partial")).exists()]  # fmt: skip
    return found


def _one_error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


@pytest.fixture(scope="module")
def lone_and_contested(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, str]:
    """The tiny experiment run twice: once in another process while a second run on the same
    folder is attempted (and refused), once alone. Returns (file, contested folder, lone
    folder, the refusal's message)."""
    base = tmp_path_factory.mktemp("folders")
    path = base / "tiny.toml"
    path.write_text(TINY)
    contested = base / "contested"
    first = subprocess.Popen(
        [sys.executable, "-m", "fast", "run", str(path), "--out", str(contested), "--quiet",
         "--device", "cpu"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lock = contested / runio.LOCK_FILE
    deadline = time.monotonic() + 120
    while not (lock.exists() and lock.read_text().startswith("pid")):
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.05)
    second = subprocess.run(
        [sys.executable, "-m", "fast", "run", str(path), "--out", str(contested), "--quiet",
         "--device", "cpu"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert second.returncode == 2, second.stderr
    lone = base / "lone"
    assert main(["run", str(path), "--out", str(lone), "--quiet", "--device", "cpu"]) == 0
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    return path, contested, lone, second.stderr.strip()


def test_a_second_run_on_a_busy_folder_is_refused_and_the_first_is_untouched(
    lone_and_contested: tuple[Path, Path, Path, str],
) -> None:
    _, contested, lone, refusal = lone_and_contested
    assert "\n" not in refusal
    assert re.fullmatch(r"error: run folder '.*contested' is in use by pid \d+ on .*", refusal)
    assert _results(contested) == _results(lone)
    assert _leftovers(contested) == []


@pytest.fixture
def copy_of_lone(
    lone_and_contested: tuple[Path, Path, Path, str], tmp_path: Path
) -> tuple[Path, Path]:
    path, _, lone, _ = lone_and_contested
    folder = tmp_path / "copy"
    shutil.copytree(lone, folder)
    return path, folder


def test_the_lock_is_held_in_process_and_released_by_a_killed_holder(
    copy_of_lone: tuple[Path, Path],
) -> None:
    path, folder = copy_of_lone
    with runio.lock_folder(folder), pytest.raises(runio.FolderInUseError, match="in use by pid"):
        run_experiment(load_experiment(path), folder, progress=False)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from reference.runio import lock_folder\n"
         "with lock_folder(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)",
         str(folder)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(runio.FolderInUseError):
        run_experiment(load_experiment(path), folder, progress=False)
    holder.kill()  # SIGKILL: the system releases the lock
    holder.wait()
    assert run_experiment(load_experiment(path), folder, progress=False)["growth"]


def test_a_kill_leaves_nothing_behind_that_the_next_run_does_not_clear(
    copy_of_lone: tuple[Path, Path],
) -> None:
    path, folder = copy_of_lone
    before = _results(folder)
    # what kills at the worst moments leave: a temporary file, a staging folder, a work
    # folder beside its finished file, a training checkpoint after its stage was recorded
    (folder / ".metrics.json.123-abcd.tmp").write_text("{")
    (folder / "dataset.h5.partial.new-99").mkdir()
    (folder / "trajectory.h5.partial").mkdir()
    (folder / "trajectory.h5.partial" / "chunk-000000000.npz").write_bytes(b"x")
    (folder / "train_checkpoint.pt").write_bytes(b"x")
    stages = (folder / "stages.json").read_text()
    assert run_experiment(load_experiment(path), folder, progress=False)
    assert _leftovers(folder) == [] and not (folder / "train_checkpoint.pt").exists()
    assert (folder / "stages.json").read_text() == stages  # nothing was redone
    assert _results(folder) == before


def _dataset_writer(path: Path) -> str:
    data = generate_quench_dataset(TINY_DATA, path, progress=False)
    return str(data.attributes["content_hash"])


def _trajectory_writer(path: Path) -> str:
    integ = _brownian()
    start = integ.init(torch.full((2, 4, 4), 0.3), rng=11)
    stored = run_dynamics(integ, start, 8, path, identity="kill test", record_every=2,
                          checkpoint_every=2, frame_dtype="float64")  # fmt: skip
    return storage.content_hash({"Q": stored.Q, "F": stored.forces, "t": stored.t})


@pytest.mark.parametrize("writer", [_dataset_writer, _trajectory_writer],
                         ids=["dataset", "trajectory"])  # fmt: skip
@pytest.mark.parametrize("after", [False, True], ids=["before-rename", "after-rename"])
def test_a_kill_at_every_rename_resumes_bit_identically_without_orphans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after: bool, writer: Callable[[Path], str]
) -> None:
    """A writer of work in progress (the dataset's chunks, the trajectory's frames and
    state, the folder's description, the final join) is killed at each of its renames in
    turn, just before or just after it; the next call finishes the same file, and leaves no
    temporary file or work folder behind."""
    whole = writer(tmp_path / "whole.h5")
    real = os.replace
    calls = 0

    def counting(src: Any, dst: Any) -> None:
        nonlocal calls
        calls += 1
        real(src, dst)

    monkeypatch.setattr(os, "replace", counting)
    writer(tmp_path / "count.h5")
    total = calls
    assert total >= 5
    for k in range(1, total + 1):
        seen = 0

        def kill_at_k(src: Any, dst: Any, k: int = k) -> None:
            nonlocal seen
            seen += 1
            if seen == k and not after:
                raise KillError
            real(src, dst)
            if seen == k:
                raise KillError

        path = tmp_path / f"killed{k}.h5"
        monkeypatch.setattr(os, "replace", kill_at_k)
        with pytest.raises(KillError):
            writer(path)
        monkeypatch.setattr(os, "replace", real)
        assert writer(path) == whole, k
        assert _leftovers(tmp_path) == [], k


def _failing_writes(monkeypatch: pytest.MonkeyPatch, fail: Callable[[Path], bool]) -> None:
    """Make ``runio.atomic_write`` fail as on a full disk for the paths ``fail`` picks."""
    real = runio.atomic_write

    def full(path: Path, write: Callable[[Path], object]) -> None:
        if fail(path):

            def no_space(tmp: Path) -> None:
                tmp.write_bytes(b"partial")
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))

            return real(path, no_space)
        return real(path, write)

    for module in ("reference.runio", "fast.ml.storage", "fast.ml.models", "fast.ml.training",
                   "fast.runs.trajectories"):  # fmt: skip
        monkeypatch.setattr(f"{module}.atomic_write", full)


def test_a_full_disk_is_one_line_and_the_run_resumes_when_space_is_freed(
    lone_and_contested: tuple[Path, Path, Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, _, lone, _ = lone_and_contested
    out = tmp_path / "run"
    argv = ["run", str(path), "--out", str(out), "--quiet", "--device", "cpu"]
    with monkeypatch.context() as patch:
        _failing_writes(patch, lambda p: p.name == "compare_ml.h5")
        line = _one_error_line(capsys, argv)
    assert re.fullmatch(r"error: cannot write '.*compare_ml\.h5': .*No space left on device.*",
                        line)  # fmt: skip
    assert _leftovers(out) == []
    assert main(argv) == 0
    assert _results(out) == _results(lone)


def test_torch_s_own_write_failure_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("[enforce fail at inline_container.cc:595] . PytorchStreamWriter "
                           "failed writing file data/0: file write failed")  # fmt: skip

    integ = _brownian()
    start = integ.init(torch.zeros(1, 4, 4))
    monkeypatch.setattr(torch, "save", failing)
    with pytest.raises(OSError, match=r"cannot write '.*state\.pt': RuntimeError"):
        run_dynamics(integ, start, 4, tmp_path / "t.h5", identity="x", record_every=2,
                     checkpoint_every=2)  # fmt: skip


def _brownian() -> Any:
    from fast import dynamics
    from fast.ed import ExactForceField
    from reference.sections import Physics

    return dynamics.brownian(ExactForceField(Physics().model(4)), gamma=1.0, temperature=0.1,
                             dt=0.1)  # fmt: skip


@pytest.mark.parametrize(
    ("replace", "stage"),
    [
        ("size = 12\nensemble = 2", "simulate"),
        ("n_random = 4", "dataset"),
    ],
)
def test_settings_too_large_for_memory_are_refused_before_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], replace: str, stage: str
) -> None:
    huge = {"size = 12\nensemble = 2": "size = 100000\nensemble = 2",
            "n_random = 4": "n_random = 1000000000"}[replace]  # fmt: skip
    path = tmp_path / "huge.toml"
    path.write_text(TINY.replace(replace, huge))
    out = tmp_path / "run"
    line = _one_error_line(capsys, ["run", str(path), "--out", str(out), "--quiet"])
    pattern = (rf"error: stage '{stage}' needs about [\d.e+]+ [KMGTP]?i?B for .*, more than "
               r"the .* available on cpu; make those settings smaller")  # fmt: skip
    assert re.fullmatch(pattern, line)
    assert not (out / "stages.json").exists() and not (out / "experiment.json").exists()


def _damage(target: Path, how: str) -> None:
    if how == "garbage":
        target.write_bytes(b"\x00\xffnot what it should be" * 8)
    elif how == "truncated":
        target.write_bytes(target.read_bytes()[: max(1, target.stat().st_size // 3)])
    elif how == "list":
        target.write_text("[1, 2]")


@pytest.mark.parametrize(
    ("file", "how", "stage", "named"),
    [
        ("stages.json", "list", None, "stages.json"),
        ("stages.json", "garbage", None, "stages.json"),
        ("dataset.h5", "garbage", None, "dataset.h5"),
        ("dataset.h5", "truncated", "train", "dataset.h5"),
        ("model.pt", "garbage", None, "model.pt"),
        ("trajectory.h5", "truncated", "analyse", "trajectory.h5"),
        ("metrics.json", "garbage", None, "metrics.json"),
    ],
)  # fmt: skip
def test_a_damaged_file_is_one_line_naming_it(
    copy_of_lone: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    file: str,
    how: str,
    stage: str | None,
    named: str,
) -> None:
    path, folder = copy_of_lone
    _damage(folder / file, how)
    argv = ["run", str(path), "--out", str(folder), "--quiet"]
    line = _one_error_line(capsys, argv + (["--stage", stage] if stage else []))
    assert named in line, line


def test_damaged_work_in_progress_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    class StopError(Exception):
        pass

    def stop(done: int) -> None:
        raise StopError

    path = tmp_path / "d.h5"
    with pytest.raises(StopError):
        generate_quench_dataset(TINY_DATA, path, progress=False, on_chunk=stop)
    chunk = next(storage.partial_path(path).glob("chunk-*.npz"))
    _damage(chunk, "truncated")
    with pytest.raises(ValueError, match=rf"'{re.escape(str(chunk))}' is not a readable chunk"):
        generate_quench_dataset(TINY_DATA, path, progress=False)


def test_a_state_file_of_garbage_is_one_line(tmp_path: Path) -> None:
    integ = _brownian()
    final = tmp_path / "t.h5"

    def stop(step: int) -> None:
        raise KillError

    with pytest.raises(KillError):
        run_dynamics(integ, integ.init(torch.zeros(1, 4, 4)), 8, final, identity="x",
                     record_every=2, checkpoint_every=2, on_checkpoint=stop)  # fmt: skip
    state = storage.partial_path(final) / "state.pt"
    _damage(state, "garbage")
    with pytest.raises(ValueError, match=r"state\.pt' is not a readable trajectory state .*; "
                       "delete it to start that run over"):  # fmt: skip
        run_dynamics(integ, integ.init(torch.zeros(1, 4, 4)), 8, final, identity="x",
                     record_every=2, checkpoint_every=2)  # fmt: skip


def test_a_binary_experiment_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "e.toml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    line = _one_error_line(capsys, ["run", str(path), "--out", str(tmp_path / "o")])
    assert "is not UTF-8 text" in line and str(path) in line


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(
    copy_of_lone: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, folder = copy_of_lone

    def bug(*args: Any, **kwargs: Any) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("fast.runs.runner._run_locked", bug)
    argv = ["run", str(path), "--out", str(folder), "--quiet"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: unexpected ZeroDivisionError: a bug (rerun with --debug for the "
                   "traceback, and please report it)"]  # fmt: skip
    assert main([*argv, "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("error: unexpected")


def test_a_dataset_of_other_settings_is_refused(
    copy_of_lone: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A dataset copied in from a run with another seed (its hash still whole) is refused."""
    path, folder = copy_of_lone
    with h5py.File(folder / "dataset.h5", "r+") as fh:
        config = json.loads(fh.attrs["config"])
        config["seed"] += 1
        fh.attrs["config"] = json.dumps(config, sort_keys=True)
    line = _one_error_line(capsys, ["run", str(path), "--out", str(folder), "--quiet"])
    assert "dataset.h5' was generated with other settings than this experiment's" in line


def test_a_model_trained_on_another_dataset_is_refused(
    copy_of_lone: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path, folder = copy_of_lone
    saved = torch.load(folder / "model.pt", weights_only=True)
    metadata = json.loads(saved["metadata"])
    metadata["dataset_hash"] = "0" * 64
    saved["metadata"] = json.dumps(metadata, sort_keys=True)
    torch.save(saved, folder / "model.pt")
    line = _one_error_line(capsys, ["run", str(path), "--out", str(folder), "--quiet"])
    assert "model.pt' was trained on another dataset than" in line
