"""Thread policy on a shared machine (:mod:`fast.threads`, the CPU pool of :mod:`fast._lapack`).

No timings here: ``benchmarks/contention.py`` measures what the policy buys.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
import threadpoolctl
import torch

import fast
from fast import _lapack, threads


def _openmp_settings(code: str, **env: str) -> str:
    """What libgomp reports of its settings when ``code`` runs in a fresh interpreter."""
    clean = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    run = subprocess.run(
        [sys.executable, "-c", code],
        env=clean | {"OMP_DISPLAY_ENV": "VERBOSE"} | env,
        capture_output=True,
        text=True,
        check=True,
    )
    if "GOMP_SPINCOUNT" not in run.stderr:
        pytest.skip("torch is not built with GNU OpenMP")
    return run.stdout + run.stderr


def test_importing_fast_before_torch_makes_idle_openmp_threads_sleep() -> None:
    assert "GOMP_SPINCOUNT = '0'" in _openmp_settings("import fast")


def test_importing_torch_first_leaves_openmp_and_the_environment_as_they_were() -> None:
    out = _openmp_settings("import os, torch, fast; print(os.environ.get('OMP_WAIT_POLICY'))")
    assert "GOMP_SPINCOUNT = '0'" not in out
    assert out.startswith("None\n")


def test_a_wait_policy_the_user_set_is_kept() -> None:
    out = _openmp_settings("import fast", OMP_WAIT_POLICY="ACTIVE")
    assert "OMP_WAIT_POLICY = 'ACTIVE'" in out


def test_thread_environment_sets_every_pool_and_sleeping_idle_threads() -> None:
    env = threads.thread_environment(3)
    pools = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    assert [env[k] for k in pools] == ["3", "3", "3"]
    assert env["OMP_WAIT_POLICY"] == threads.WAIT_POLICY == "PASSIVE"


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_thread_counts_must_be_positive_integers(bad: object) -> None:
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        threads.thread_environment(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        threads.configure_threads(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(("others", "spare"), [(None, 4), (0, 4), (1, 3), (3, 1), (9, 1)])
def test_spare_cores_are_the_cores_others_leave_free_and_at_least_one(
    monkeypatch: pytest.MonkeyPatch, others: int | None, spare: int
) -> None:
    monkeypatch.setattr(threads, "other_runnable", lambda: others)
    assert threads.spare_cores(4) == spare


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="needs Linux's /proc")
def test_a_cpu_bound_process_counts_as_runnable() -> None:
    alone = min(threads.other_runnable() or 0 for _ in range(5))
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        seen = []
        for _ in range(200):  # until the child runs; a few milliseconds
            seen.append(threads.other_runnable() or 0)
            if seen[-1] > alone:
                break
    finally:
        spinner.kill()
        spinner.wait()
    assert max(seen) >= 1
    assert threads.machine_cores() >= 1


@pytest.fixture
def restore_threads() -> Iterator[None]:
    torch_threads = torch.get_num_threads()
    blas = threadpoolctl.threadpool_info()
    yield
    threads.configure_threads(torch_threads)
    threadpoolctl.threadpool_limits({lib["prefix"]: lib["num_threads"] for lib in blas})


@pytest.mark.usefixtures("restore_threads")
def test_configure_threads_sets_torch_and_openblas_and_adapts_only_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(threads, "spare_cores", lambda cores=None: 1)
    assert threads.configure_threads(2) == 2
    assert torch.get_num_threads() == 2 and _lapack.blas_thread_count() == 2
    assert not threads.adapting_to_load() and threads.lapack_threads(2) == 2
    threads.configure_threads(2, adapt_to_load=True)
    assert threads.adapting_to_load() and threads.lapack_threads(2) == 1


@pytest.mark.usefixtures("restore_threads")
def test_a_lone_large_matrix_runs_on_the_spare_cores_when_adapting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = []

    def solver(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        seen.append(_lapack.blas_thread_count())
        result: tuple[np.ndarray, np.ndarray] = np.linalg.eigh(a)
        return result

    a = np.eye(_lapack.THREADED_FROM)
    monkeypatch.setattr(threads, "spare_cores", lambda cores=None: 1)
    threads.configure_threads(2)
    _lapack.lapack_stack(solver, a)
    threads.configure_threads(2, adapt_to_load=True)
    _lapack.lapack_stack(solver, a)
    assert seen == [2, 1]
    assert _lapack.blas_thread_count() == 2  # the limit ends with the call


@pytest.mark.parametrize(("order", "members"), [(12, 7), (45, 33), (120, 8)])
def test_a_pooled_stack_gives_the_same_bits_on_any_number_of_workers(
    monkeypatch: pytest.MonkeyPatch, order: int, members: int
) -> None:
    rng = np.random.default_rng(order)
    x = rng.normal(size=(members, order, order))
    h = x + np.swapaxes(x, -1, -2)
    g = rng.normal(size=h.shape) + 1j * rng.normal(size=h.shape)
    with _lapack.single_threaded_blas():
        whole = np.linalg.eigh(h), np.linalg.eig(g)
    for workers in (2, 3, members):
        monkeypatch.setattr(torch, "get_num_threads", lambda w=workers: w)
        cut = _lapack.lapack_stack(np.linalg.eigh, h), _lapack.lapack_stack(np.linalg.eig, g)
        for got, expected in zip(cut, whole, strict=True):
            assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))


def test_fast_lists_the_thread_module() -> None:
    assert fast.threads is threads and "threads" in fast.__all__
