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
    ``z <= 2``), and the exact mean and the spread of its runs per frame.

    Parameters
    ----------
    exact : (frames, runs) float64
        A quantity of the exact runs per recorded frame.
    ml : (frames, runs_ml) float64
        The same quantity of the ML runs, at the same frames (the run counts may differ).

    Returns
    -------
    summary : dict
        ``exact_final``, ``exact_final_stderr``, ``ml_final``, ``ml_final_stderr``,
        ``max_abs_difference_of_means``, ``max_z`` and ``fraction_of_frames_within_2_sigma``
        (the last two None when no frame has a finite ``z``, e.g. a single run of each).
    exact_mean : (frames,) float64
        The mean of the exact runs.
    exact_spread : (frames,) float64
        The standard deviation of the exact runs (NaN for a single run).
    """

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
    ``C``, per comparison time (rows).

    Here ``z = |C - C_exact| / sqrt(err^2 + err_exact^2)``, entry by entry.

    Parameters
    ----------
    c : (times, distances) float64
        The correlation function to check (ML or cluster runs), per comparison time and
        distance.
    err : (times, distances) float64
        Its standard errors.
    c_ed : (times, distances) float64
        The exact correlation function.
    e_ed : (times, distances) float64
        Its standard errors.

    Returns
    -------
    dict of str to list of float
        ``max_abs_difference``, ``max_z`` and ``fraction_within_2_sigma``, one value per
        comparison time.
    """
    sigma = np.sqrt(e_ed**2 + err**2)
    z = np.abs(c - c_ed) / np.where(sigma > 0, sigma, np.nan)
    return {
        "max_abs_difference": [float(np.max(np.abs(a - b))) for a, b in zip(c, c_ed, strict=True)],
        "max_z": [float(np.nanmax(zz)) for zz in z],
        "fraction_within_2_sigma": [float(np.nanmean(zz <= 2)) for zz in z],
    }


def write_arrays(path: Path, arrays: Mapping[str, NDArray[Any]]) -> None:
    """Write named arrays (and the code version) to the HDF5 file ``path``, atomically.

    Parameters
    ----------
    path : Path
        The HDF5 file (replaced if it exists); it also gets the ``code_version`` and
        ``provenance`` attributes.
    arrays : mapping of str to ndarray
        The datasets to store, under their names.
    """

    def write(p: Path) -> None:
        with h5py.File(p, "w") as fh:
            fh.attrs["code_version"] = fast.__version__
            fh.attrs["provenance"] = provenance_json()
            for k, v in arrays.items():
                fh.create_dataset(k, data=v)

    runio.atomic_write(path, write)


def read_arrays(path: Path) -> dict[str, NDArray[Any]]:
    """Every array of an HDF5 file written by :func:`write_arrays`.

    Parameters
    ----------
    path : Path
        The HDF5 file.

    Returns
    -------
    dict of str to ndarray
        Its datasets by name.
    """
    with h5py.File(path, "r") as fh:
        return {k: fh[k][...] for k in fh}
