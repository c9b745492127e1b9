"""Trained-model files: a network with the physics it learned, loaded safely.

A model file holds the network's float64 weights, its architecture, the Holstein parameters
and electrons of its labels, what it learned (the total or the electronic force) and
metadata (the dataset's hash, the held-out error). It holds only tensors, strings and numbers,
so :func:`load_model` reads it with ``torch.load(..., weights_only=True)``: a crafted file can
never run code. :class:`MLForceField` makes a loaded model the force provider of any
integrator of :mod:`fast.dynamics`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch
from torch import Tensor

import fast
from fast import nn
from fast.ml.provenance import provenance_json
from fast.ml.storage import content_hash
from fast.model import elastic_force
from reference.lattice import SquareLattice
from reference.model import ElectronEnsemble, HolsteinModel, HolsteinParams
from reference.nn import (
    ENNArchitecture,
    GNNArchitecture,
    MLPArchitecture,
    MPNNArchitecture,
    Weights,
)
from reference.runio import atomic_write

Architecture = MLPArchitecture | GNNArchitecture | MPNNArchitecture | ENNArchitecture
"""Any of the papers' network architectures."""

__all__ = [
    "MODEL_FORMAT",
    "Architecture",
    "MLForceField",
    "TrainedModel",
    "architecture_from_json",
    "architecture_to_json",
    "load_model",
    "physics_json",
    "save_model",
]

MODEL_FORMAT = "holstein-mlff/model/1"


_ARCHITECTURES: dict[str, type[Architecture]] = {
    cls.__name__: cls
    for cls in (MLPArchitecture, GNNArchitecture, MPNNArchitecture, ENNArchitecture)
}


def architecture_to_json(architecture: Architecture) -> str:
    """A network architecture as JSON text (its class name under ``"type"``).

    Parameters
    ----------
    architecture : Architecture
        Any of the papers' architectures (MLP, GNN, MPNN or ENN).

    Returns
    -------
    str
        JSON object of the architecture's fields plus ``"type"``.
    """
    return json.dumps({"type": type(architecture).__name__, **attrs.asdict(architecture)})


def architecture_from_json(text: str) -> Architecture:
    """Rebuild an architecture written by :func:`architecture_to_json`.

    Parameters
    ----------
    text : str
        JSON text from :func:`architecture_to_json`.

    Returns
    -------
    Architecture
        An instance of the class named under ``"type"``.

    Raises
    ------
    ValueError
        On text that does not describe one.
    """
    try:
        data = json.loads(text)
        cls = _ARCHITECTURES[data.pop("type")]
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
        }
        return cls(**values)
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a network architecture: {text[:80]!r} ({exc})") from None


def physics_json(physics: HolsteinParams) -> str:
    """Holstein parameters as JSON text (the coupling by its string value).

    Parameters
    ----------
    physics : HolsteinParams
        The parameters to write.

    Returns
    -------
    str
        JSON object with sorted keys, one per field of :class:`HolsteinParams`.
    """
    values = attrs.asdict(physics)
    values["coupling"] = physics.coupling.value
    return json.dumps(values, sort_keys=True)


def save_model(
    path: str | os.PathLike[str],
    weights: Weights,
    physics: HolsteinParams,
    target: str,
    metadata: Mapping[str, Any] | None = None,
    *,
    ensemble: ElectronEnsemble | None = None,
) -> None:
    """Write a trained network with its architecture, target and the physics it learned
    (Holstein parameters and, if given, the electrons' temperature and filling or ``mu``).

    The file holds only tensors, strings and numbers, so :func:`load_model` can read it
    with ``torch.load(..., weights_only=True)``; it is written atomically.

    Parameters
    ----------
    path : path-like
        The model file to write (replaced if it exists).
    weights : Weights
        The trained network: architecture and arrays (stored as given, float64 from
        training).
    physics : HolsteinParams
        The Holstein parameters of the labels.
    target : {"electronic", "total"}
        What the network learned: the electronic force ``g (n_i - c)`` or the whole force.
    metadata : mapping, optional
        Stored as JSON (values that are not JSON are stored as their string), e.g. the
        dataset's hash and the held-out error; None (default): empty.
    ensemble : ElectronEnsemble, optional
        The labels' electrons (temperature and filling or ``mu``); None (default): not
        recorded.
    """
    payload = {
        "format": MODEL_FORMAT,
        "architecture": architecture_to_json(weights.architecture),
        "physics": physics_json(physics),
        "target": target,
        "ensemble": json.dumps(None if ensemble is None else attrs.asdict(ensemble)),
        "metadata": json.dumps(dict(metadata or {}), sort_keys=True, default=str),
        "code_version": fast.__version__,
        "provenance": provenance_json(),
        "weights": {k: torch.as_tensor(v) for k, v in weights.arrays.items()},
    }
    atomic_write(Path(path), lambda p: torch.save(payload, p))


@attrs.frozen(eq=False)
class TrainedModel:
    """A network loaded by :func:`load_model`: weights, physics, target and metadata."""

    weights: Weights
    physics: HolsteinParams
    target: str
    metadata: dict[str, Any]
    ensemble: ElectronEnsemble | None = None

    def force_field(
        self,
        lattice: SquareLattice,
        *,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
        time: float | None = None,
    ) -> MLForceField:
        """The model as the force provider of any integrator on ``lattice``.

        Parameters
        ----------
        lattice : SquareLattice
            The lattice of the dynamics (the network is tiled over it).
        dtype : torch.dtype
            Precision the network runs in (default float32); forces come back in the dtype
            of ``Q``.
        device : str or torch.device
            Where the network runs (default ``"cpu"``).
        time : float or None
            The start time a time-conditioned network (paper 000) needs; it then follows
            the integrator's clock. None (default) for other networks.

        Returns
        -------
        MLForceField
            Forces of shape ``(..., Lx, Ly)`` in the dtype of ``Q``.
        """
        return MLForceField(self.network(dtype=dtype, device=device), lattice, self, time)

    def content_hash(self) -> str:
        """SHA-256 of the weights (:func:`fast.ml.storage.content_hash`): names a model in
        the identity of the runs it drives.

        Returns
        -------
        str
            Hexadecimal digest.
        """
        return content_hash(dict(self.weights.arrays))

    def network(
        self, *, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"
    ) -> nn.Network:
        """The weights as a :class:`fast.nn.Network` on ``device``.

        Parameters
        ----------
        dtype : torch.dtype
            Precision of the network's parameters (default float32).
        device : str or torch.device
            Where the network lives (default ``"cpu"``).

        Returns
        -------
        fast.nn.Network
            A :class:`torch.nn.Module` holding these weights.
        """
        return nn.Network.from_weights(self.weights, dtype=dtype, device=device)


def load_model(
    path: str | os.PathLike[str],
    *,
    architecture: Architecture | None = None,
    physics: HolsteinParams | None = None,
    ensemble: ElectronEnsemble | None = None,
) -> TrainedModel:
    """Read a model written by :func:`save_model` (``weights_only`` loading).

    Parameters
    ----------
    path : path-like
        The model file.
    architecture, physics, ensemble : Architecture, HolsteinParams, ElectronEnsemble, optional
        If given, the file must hold exactly this architecture / these Holstein parameters /
        this electron ensemble (temperature, filling or chemical potential).

    Returns
    -------
    TrainedModel
        The weights (float64), physics, target, metadata and electrons (None if the file
        does not record them).

    Raises
    ------
    ValueError
        If the file is not a model of this package or does not match ``architecture`` or
        ``physics``.
    """
    p = Path(path)
    try:
        saved = torch.load(p, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"model file {str(p)!r} does not exist") from None
    except Exception as exc:
        raise ValueError(f"{str(p)!r} is not a readable model file: {exc}") from None
    if not isinstance(saved, dict) or saved.get("format") != MODEL_FORMAT:
        raise ValueError(f"{str(p)!r} is not a model file of this package")
    arch = architecture_from_json(saved["architecture"])
    if architecture is not None and arch != architecture:
        raise ValueError(f"model {str(p)!r} is a {arch}, expected {architecture}")
    params = HolsteinParams(**json.loads(saved["physics"]))
    if physics is not None and params != physics:
        raise ValueError(
            f"model {str(p)!r} was trained for {params}, but the experiment has {physics}"
        )
    arrays = {k: v.numpy().astype(np.float64) for k, v in saved["weights"].items()}
    try:
        weights = Weights(arch, arrays)
    except ValueError as exc:
        raise ValueError(f"model {str(p)!r} is inconsistent: {exc}") from None
    target = saved.get("target")
    if target not in ("electronic", "total"):
        raise ValueError(f"model {str(p)!r} does not say what it learned (target {target!r})")
    stored = json.loads(saved.get("ensemble", "null"))
    electrons = None if stored is None else ElectronEnsemble(**stored)
    if ensemble is not None and electrons is not None and electrons != ensemble:
        raise ValueError(
            f"model {str(p)!r} was trained for {electrons}, but the experiment has {ensemble}"
        )
    return TrainedModel(weights, params, target, json.loads(saved["metadata"]), electrons)


class MLForceField:
    """A trained network driving the dynamics: its forces (tiled on large lattices), plus the
    exact elastic force for a model that learned the electronic part only.

    Forces come back in the dtype of ``Q`` (the integrators keep float64 states; the
    network may run in float32).
    """

    def __init__(
        self,
        network: nn.Network,
        lattice: SquareLattice,
        model: TrainedModel,
        time: float | None = None,
    ) -> None:
        self.lattice = lattice
        self.network = nn.NetworkForceField(network, lattice, time)
        self.target = model.target
        self.holstein = HolsteinModel(lattice, model.physics, ElectronEnsemble(1.0))
        self._model = model

    @property
    def time(self) -> float | None:
        """The time fed to a time-conditioned network (paper 000), else None."""
        return self.network.time

    def at_time(self, time: float) -> MLForceField:
        """A copy at ``time`` (the integrators call it for a time-conditioned network).

        Parameters
        ----------
        time : float
            The time fed to the network (the integrator's clock, in the model's time units).

        Returns
        -------
        MLForceField
            The same network, lattice and model, at ``time``.
        """
        network = self.network.weights
        assert isinstance(network, nn.Network)
        return MLForceField(network, self.lattice, self._model, time)

    def forces(self, Q: Tensor) -> Tensor:
        """Predicted total forces.

        Parameters
        ----------
        Q : (..., Lx, Ly) torch.Tensor
            Distortions, on the network's device.

        Returns
        -------
        (..., Lx, Ly) torch.Tensor
            Total forces in the dtype of ``Q``: the network's, plus the exact elastic force
            for a model that learned the electronic part only.
        """
        f = self.network.forces(Q).to(Q.dtype)
        if self.target == "electronic":
            f = f + elastic_force(Q, self.holstein)
        return f
