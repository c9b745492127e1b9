"""Developer sessions: ``nox -s tests``, ``slow``, ``lint``, ``types``, ``docs``, ``demo``,
``bench`` (asv history), ``perf`` (speed ratios against a baseline), ``gpu`` (the last in
your own environment).

Each session builds its own virtual environment. torch is installed first with
the pin below; on our CPU machines pip takes the local CPU wheel, and on a GPU
box set ``HOLSTEIN_TORCH`` (for example to ``torch==2.13.0`` with your CUDA
index configured in pip) to get the build you want. Extra arguments after
``--`` are passed through, e.g. ``nox -s tests -- -k ed -x``.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["lint", "types", "tests"]
nox.options.reuse_existing_virtualenvs = True

TORCH = os.environ.get("HOLSTEIN_TORCH", "torch==2.13.0")


def _install(session: nox.Session, extras: str = "dev,distributed") -> None:
    session.install(TORCH)
    session.install("-e", f".[{extras}]")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the default test suite (everything not marked slow)."""
    _install(session)
    session.run("pytest", "-m", "not slow", *session.posargs)


@nox.session
def slow(session: nox.Session) -> None:
    """Run only the long tests marked ``slow``."""
    _install(session)
    session.run("pytest", "-m", "slow", *session.posargs, success_codes=[0, 5])


@nox.session
def lint(session: nox.Session) -> None:
    """Check style with ruff (lint rules and formatting), then the import contracts of
    ``[tool.importlinter]`` in pyproject.toml with import-linter."""
    session.install("ruff>=0.5", "import-linter>=2.17")
    # import-linter needs ``reference`` and ``fast`` importable; it only finds and parses their
    # files (nothing is imported), so the project without its dependencies (no torch) is enough.
    session.install("--no-deps", "-e", ".")
    args = session.posargs or ["."]
    session.run("ruff", "check", *args)
    session.run("ruff", "format", "--check", *args)
    session.run("lint-imports", "--no-cache")


@nox.session
def types(session: nox.Session) -> None:
    """Type-check the two packages with mypy --strict."""
    _install(session)
    session.run("mypy", "--strict", "reference", "fast", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site (docs/, Sphinx) into ``docs/_build/html``; any warning
    fails the build. The API pages import both packages, hence torch as in the other sessions."""
    _install(session, extras="docs")
    session.run(
        "sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html",
        *session.posargs,
    )  # fmt: skip


@nox.session
def demo(session: nox.Session) -> None:
    """Run the main job: specs/experiments/demo.toml (dataset, training, ML quench, report)."""
    _install(session)
    args = session.posargs or ["--out", "runs/demo"]
    session.run("python", "-m", "fast", "demo", *args)


@nox.session
def bench(session: nox.Session) -> None:
    r"""Run the asv benchmarks on the working tree and store them under its commit.

    Results go to ``benchmarks/results/<machine>/<commit>-*.json`` (``--set-commit-hash``:
    with ``--python=same`` asv saves nothing without it), then ``asv publish`` renders the
    history into ``benchmarks/html``. Compare two stored commits with
    ``cd benchmarks && asv compare A B``. Select benchmarks by a regular expression on
    ``module.Class.method``, e.g. ``nox -s bench -- --bench ExactForce`` or
    ``-- --bench "forces\."``. Commit your work first: the hash names what was measured.
    """
    _install(session)
    commit = session.run("git", "rev-parse", "HEAD", silent=True, external=True)
    session.chdir("benchmarks")
    session.run("asv", "machine", "--yes")
    commit_hash = f"--set-commit-hash={str(commit).strip()}"
    session.run("asv", "run", "--python=same", "--quick", commit_hash, *session.posargs)
    session.run("asv", "publish")


@nox.session
def perf(session: nox.Session) -> None:
    """Same-run speed ratios, reference over fast (``benchmarks/perf``), checked against the
    stored baseline: fails when a ratio falls more than the margin below it. The run is
    saved (``benchmarks/perf/.benchmarks``) and compared with the previous saved run.
    ``nox -s perf -- --update`` stores this run's ratios as the new baseline."""
    _install(session)
    update = "--update" in session.posargs
    storage = "file://benchmarks/perf/.benchmarks"
    compare = (
        ["--benchmark-compare"] if list(Path("benchmarks/perf/.benchmarks").rglob("*.json")) else []
    )
    session.run("pytest", "benchmarks/perf", "-o", "addopts=", "-p", "no:randomly", "-q",
                f"--benchmark-storage={storage}", "--benchmark-autosave", *compare,
                "--benchmark-json=benchmarks/perf/last-run.json")  # fmt: skip
    session.run("python", "benchmarks/perf/ratios.py", "benchmarks/perf/last-run.json",
                *(["--update"] if update else []))  # fmt: skip


@nox.session(venv_backend="none")
def gpu(session: nox.Session) -> None:
    """The prepared GPU check in the current environment (your CUDA torch): the equivalence
    registry and the CUDA tests on the GPU, then timings, in ``gpu-check/`` (about 2 minutes).
    See ``benchmarks/gpu_check.py``; extra arguments are passed to it."""
    session.run("python", "benchmarks/gpu_check.py", *(session.posargs or ["--out", "gpu-check"]))
