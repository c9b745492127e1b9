"""Shared pieces of the analyse and report stages: exact-versus-ML statistics and the arrays
file of a run folder."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

import fast
from fast.ml.provenance import provenance_json
from reference import runio

__all__ = ["agreement", "compare_ensembles", "read_arrays", "write_arrays"]


def compare_ensembles(
    exact: NDArray[np.float64], ml: NDArray[np.float64]
) -> tuple[dict[str, Any], NDArray[Any], NDArray[Any]]:
    """Exact vs ML per frame for values ``(frames, runs)``: the summary (final means with
    standard errors, the largest difference of the means, the largest
    ``z = |mean_ML - mean_exact| / sqrt(se_ML^2 + se_exact^2)`` and the share of frames with
    ``z <= 2``), and the exact mean and the spread of its runs per frame."""

    def stats(values: NDArray[np.float64]) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
        runs = values.shape[1]
        spread = values.std(axis=1, ddof=1) if runs > 1 else np.full(values.shape[0], np.nan)
        return values.mean(axis=1), spread / math.sqrt(runs), spread

    (m_e, e_e, s_e), (m_m, e_m, _) = stats(exact), stats(ml)
    sigma = np.sqrt(e_e**2 + e_m**2)
    z = np.abs(m_m - m_e) / np.where(sigma > 0, sigma, np.nan)
    any_z = bool(np.isfinite(z).any())
    summary = {
        "exact_final": float(m_e[-1]), "exact_final_stderr": float(e_e[-1]),
        "ml_final": float(m_m[-1]), "ml_final_stderr": float(e_m[-1]),
        "max_abs_difference_of_means": float(np.max(np.abs(m_m - m_e))),
        "max_z": float(np.nanmax(z)) if any_z else None,
        "fraction_of_frames_within_2_sigma": float(np.nanmean(z <= 2)) if any_z else None,
    }  # fmt: skip
    return summary, m_e, s_e


def agreement(
    c: NDArray[np.float64],
    err: NDArray[np.float64],
    c_ed: NDArray[np.float64],
    e_ed: NDArray[np.float64],
) -> dict[str, list[float]]:
    """Largest difference, largest z and fraction within 2 sigma of ``C`` against the exact
    ``C``, per comparison time (rows)."""
    sigma = np.sqrt(e_ed**2 + err**2)
    z = np.abs(c - c_ed) / np.where(sigma > 0, sigma, np.nan)
    return {
        "max_abs_difference": [float(np.max(np.abs(a - b))) for a, b in zip(c, c_ed, strict=True)],
        "max_z": [float(np.nanmax(zz)) for zz in z],
        "fraction_within_2_sigma": [float(np.nanmean(zz <= 2)) for zz in z],
    }


def write_arrays(path: Path, arrays: Mapping[str, NDArray[Any]]) -> None:
    """Write named arrays (and the code version) to the HDF5 file ``path``, atomically."""

    def write(p: Path) -> None:
        with h5py.File(p, "w") as fh:
            fh.attrs["code_version"] = fast.__version__
            fh.attrs["provenance"] = provenance_json()
            for k, v in arrays.items():
                fh.create_dataset(k, data=v)

    runio.atomic_write(path, write)


def read_arrays(path: Path) -> dict[str, NDArray[Any]]:
    """Every array of an HDF5 file written by :func:`write_arrays`."""
    with h5py.File(path, "r") as fh:
        return {k: fh[k][...] for k in fh}
