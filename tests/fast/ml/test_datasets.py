"""Tests of fast.ml.datasets: exact training data, resumable and verifiable."""

from __future__ import annotations

from pathlib import Path

import attrs
import h5py
import numpy as np
import pytest

from fast.ml import datasets as io
from fast.ml.datasets import DatasetSettings, QuenchDatasetConfig, generate_quench_dataset
from reference import ed
from reference.sections import Physics

TINY = QuenchDatasetConfig(
    dataset=DatasetSettings(
        size=4, n_random=5, n_runs=2, snapshots_per_run=3, snapshot_every=4, burn_in=6, chunk=2
    ),
    seed=3,
)


class _StopError(Exception):
    pass


def test_generated_labels_are_exact_forces_and_the_file_is_whole(tmp_path: Path) -> None:
    data = generate_quench_dataset(TINY, tmp_path / "d.h5", progress=False)
    assert len(data) == TINY.n_samples == 11
    model = TINY.model()
    np.testing.assert_allclose(data.F, ed.total_force(data.Q, model), atol=1e-10)
    np.testing.assert_allclose(data.n, ed.densities(data.Q, model), atol=1e-12)
    assert data.attributes["kind"] == "quench" and len(data.attributes["content_hash"]) == 64
    assert not io.partial_path(tmp_path / "d.h5").exists()
    # quench snapshots are correlated in time, random configurations are not
    assert np.std(data.Q[:5]) > 2.0


def test_a_killed_generation_resumes_to_the_same_file(tmp_path: Path) -> None:
    whole = generate_quench_dataset(TINY, tmp_path / "whole.h5", progress=False)
    for stop_at in (4, 7, 9):

        def interrupt(done: int, stop_at: int = stop_at) -> None:
            if done >= stop_at:
                raise _StopError

        path = tmp_path / f"resumed{stop_at}.h5"
        with pytest.raises(_StopError):
            generate_quench_dataset(TINY, path, progress=False, on_chunk=interrupt)
        assert io.partial_path(path).exists() and not path.exists()
        resumed = generate_quench_dataset(TINY, path, progress=False)
        np.testing.assert_array_equal(resumed.Q, whole.Q)
        np.testing.assert_array_equal(resumed.F, whole.F)
        assert resumed.attributes["content_hash"] == whole.attributes["content_hash"]


def test_a_kill_inside_a_chunk_write_leaves_whole_chunks_only(tmp_path: Path) -> None:
    """Each chunk (with the resume point) is one file written under a temporary name: what a
    kill in the middle of a write leaves is ignored, and resuming gives the same file."""
    whole = generate_quench_dataset(TINY, tmp_path / "whole.h5", progress=False)
    path = tmp_path / "d.h5"

    def interrupt(done: int) -> None:
        if done >= 7:
            raise _StopError

    with pytest.raises(_StopError):
        generate_quench_dataset(TINY, path, progress=False, on_chunk=interrupt)
    part = io.partial_path(path)
    assert part.is_dir() and len(list(part.glob("chunk-*.npz"))) == 4  # 2 + 2 + 1 + 2 samples
    (part / "chunk-000004.npz.tmp").write_bytes(b"the first bytes of a chunk")
    resumed = generate_quench_dataset(TINY, path, progress=False)
    assert resumed.attributes["content_hash"] == whole.attributes["content_hash"]
    assert (
        io.content_hash({"Q": resumed.Q, "F": resumed.F, "n": resumed.n})
        == (resumed.attributes["content_hash"])
    )
    assert not part.exists()
    # a partial file of an older version is named, not misread
    old = tmp_path / "old.h5"
    io.partial_path(old).write_bytes(b"")
    with pytest.raises(ValueError, match="not a dataset in progress of this version"):
        generate_quench_dataset(TINY, old, progress=False)


def test_resuming_with_another_configuration_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.h5"
    with pytest.raises(_StopError):
        generate_quench_dataset(
            TINY, path, progress=False, on_chunk=lambda n: (_ for _ in ()).throw(_StopError())
        )
    other = attrs.evolve(TINY, seed=4)
    with pytest.raises(ValueError, match="different configuration"):
        generate_quench_dataset(other, path, progress=False)


def test_a_corrupted_dataset_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "d.h5"
    generate_quench_dataset(TINY, path, progress=False)
    with h5py.File(path, "a") as fh:
        fh["F"][0, 0, 0] += 1.0
    with pytest.raises(ValueError, match="corrupt"):
        io.load_dataset(path)
    with pytest.raises(ValueError, match="does not exist"):
        io.load_dataset(tmp_path / "missing.h5")


def test_bad_settings_fail_before_any_work() -> None:
    with pytest.raises(ValueError, match="size"):
        DatasetSettings(size=0)
    with pytest.raises(ValueError, match="kappa"):
        QuenchDatasetConfig(physics=Physics(kappa=0.3))
    with pytest.raises(ValueError, match="snapshot_every"):
        DatasetSettings(snapshot_every=0)


def test_equilibrium_snapshots_start_in_both_cdw_domains(tmp_path: Path) -> None:
    from reference.observables import staggered_order

    cdw = attrs.evolve(TINY.dataset, start="cdw", n_random=0, n_runs=2, snapshots_per_run=2)
    config = attrs.evolve(TINY, dataset=cdw)
    data = generate_quench_dataset(config, tmp_path / "e.h5", progress=False)
    np.testing.assert_allclose(data.F, ed.total_force(data.Q, config.model()), atol=1e-10)
    order = staggered_order(data.Q, config.model().lattice)  # runs alternate between chunks
    assert np.all(np.abs(order) > 0.5) and order[0] * order[1] < 0
    with pytest.raises(ValueError, match="start must be 'hot' or 'cdw'"):
        attrs.evolve(TINY.dataset, start="cold")
