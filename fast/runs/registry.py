"""The workflows by ``[experiment] kind``: the one place a new workflow is registered.

Adding a workflow is one module under :mod:`fast.runs` (a frozen attrs settings class that
declares its :class:`fast.runs.runner.Stage` list and a ``summary``), one line in
:data:`WORKFLOWS`, its experiment files in ``specs/experiments/`` and its test file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from fast.runs.coarsening import CoarseningExperiment
from fast.runs.laser import LaserExperiment
from fast.runs.quench import QuenchExperiment
from fast.runs.runner import Workflow, load_settings
from fast.runs.voltage import VoltageExperiment

__all__ = ["WORKFLOWS", "load_experiment"]

WORKFLOWS: dict[str, type[Any]] = {
    "quench": QuenchExperiment,  # papers 002, 003, 004
    "voltage": VoltageExperiment,  # paper 001
    "laser": LaserExperiment,  # paper 000
    "coarsening": CoarseningExperiment,  # issue 19: papers 002-004's growth law, any provider
}
"""Workflow classes by ``[experiment] kind``."""


def load_experiment(
    path: str | os.PathLike[str],
    overrides: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Workflow:
    """Read an experiment file into the workflow of its ``[experiment] kind``.

    Parameters
    ----------
    path : path-like
        The experiment file (TOML).
    overrides : mapping, optional
        Replace ``[experiment]`` keys (e.g. ``seed``); ``None`` values are ignored. None
        (default): none.
    settings : mapping, optional
        Replace settings by dotted path (``--set langevin.dt_omega=0.01`` gives
        ``{"langevin.dt_omega": 0.01}``). None (default): none.

    Returns
    -------
    Workflow
        The settings object of the kind's class in :data:`WORKFLOWS`.

    Raises
    ------
    ValueError
        One line naming every unknown kind, section or key and every invalid value.
    """
    experiment: Workflow = load_settings(path, WORKFLOWS, overrides, settings)
    return experiment
