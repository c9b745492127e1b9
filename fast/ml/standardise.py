"""Standardised training coordinates: the affine maps a network trains in, folded out after.

Training runs in standardised inputs and outputs (zero mean, unit spread where that commutes
with the architecture); :func:`fold_standardisation` then folds the maps into the first and
last layers, so the saved network is the paper's architecture acting on raw inputs.
"""

from __future__ import annotations

import math

import attrs
import numpy as np
import torch
from torch import Tensor

from fast import descriptors, nn
from fast.ml.models import Architecture
from reference.lattice import SquareLattice
from reference.nn import (
    ENNArchitecture,
    GNNArchitecture,
    MLPArchitecture,
    MPNNArchitecture,
    Weights,
    auxiliary_paths,
)

__all__ = [
    "Scales",
    "calibrate_input_scale",
    "fit_scales",
    "fold_standardisation",
    "network_inputs",
    "predict",
    "standardised_forces",
]


@attrs.frozen(eq=False)
class Scales:
    """Affine maps of standardised training: inputs ``(x - shift) / scale``, outputs
    ``out_scale * y + out_shift``; a time channel sees ``(1/t) / time_scale``."""

    shift: Tensor
    scale: Tensor
    out_shift: Tensor
    out_scale: Tensor
    time_scale: float = 1.0

    def to(self, device: torch.device) -> Scales:
        """These maps with their tensors on ``device``.

        Parameters
        ----------
        device : torch.device
            Where the network trains.

        Returns
        -------
        Scales
            A copy; :attr:`time_scale` (a float) is unchanged.
        """
        return Scales(
            self.shift.to(device), self.scale.to(device), self.out_shift.to(device),
            self.out_scale.to(device), self.time_scale,
        )  # fmt: skip


def network_inputs(arch: Architecture, Q: Tensor, lattice: SquareLattice) -> Tensor:
    """What the trainable part sees: descriptors for an MLP, the field otherwise.

    Parameters
    ----------
    arch : Architecture
        The network; a descriptor MLP names its descriptor (``"d4"`` or ``"cs"``) and cutoff.
    Q : (n, Lx, Ly) torch.Tensor
        Configurations (described 16 at a time).
    lattice : SquareLattice
        The lattice of ``Q``.

    Returns
    -------
    torch.Tensor
        ``(n, Lx, Ly, m)`` descriptors of every site for a descriptor MLP (``m`` features);
        ``Q`` itself otherwise.
    """
    if isinstance(arch, MLPArchitecture):
        describe = (
            descriptors.d4_descriptor if arch.descriptor == "d4" else descriptors.cs_descriptor
        )
        chunks = [describe(Q[i : i + 16], lattice, arch.r_c) for i in range(0, len(Q), 16)]
        return torch.cat(chunks)
    return Q


def fit_scales(
    arch: Architecture, x: Tensor, forces: Tensor, standardise: bool, dtype: torch.dtype
) -> Scales:
    """The standardising maps fitted to the training inputs and targets.

    A descriptor MLP gets a shift and scale per feature; the GNN and the equivariant network
    a scale only (a shift would not commute with the open-boundary aggregation of tiles, or
    would break the irreducible structure); the MPNN neither (its layer normalisation
    standardises the first block). The outputs are shifted by the mean force and scaled by
    its spread, except that an energy network (MPNN) gets no shift and a ``"levels"`` head
    (physical units already) neither map.

    Parameters
    ----------
    arch : Architecture
        The network to train.
    x : torch.Tensor
        The training configurations' inputs (:func:`network_inputs`): ``(n, S, m)``
        descriptors of the learned sites for a descriptor MLP, the field ``(n, Lx, Ly)``
        otherwise.
    forces : (n, S) torch.Tensor
        The training targets at the learned sites.
    standardise : bool
        False: identity maps (zero shift, unit scale).
    dtype : torch.dtype
        The training precision of the returned tensors.

    Returns
    -------
    Scales
        ``shift``, ``scale`` of shape ``(m,)`` for a descriptor MLP, ``(1,)`` otherwise;
        ``out_shift``, ``out_scale`` 0-d; on the CPU.
    """
    one = torch.ones((), dtype=dtype)
    zero = torch.zeros((), dtype=dtype)
    if not standardise:
        width = x.shape[-1] if isinstance(arch, MLPArchitecture) else 1
        return Scales(torch.zeros(width, dtype=dtype), torch.ones(width, dtype=dtype), zero, one)
    f_std = forces.std().to(dtype)
    f_std = f_std if f_std > 0 else one
    if isinstance(arch, MLPArchitecture):
        flat = x.reshape(-1, x.shape[-1])
        std = flat.std(dim=0)
        std = torch.where(std > 1e-12 * std.max().clamp_min(1e-300), std, torch.ones_like(std))
        shift, scale = flat.mean(dim=0).to(dtype), std.to(dtype)
    elif isinstance(arch, GNNArchitecture | ENNArchitecture):
        # GNN: a shift would not commute with the open-boundary aggregation of tiles;
        # ENN: a shift would break the IR structure. Scale only.
        shift, scale = torch.zeros(1, dtype=dtype), x.std().reshape(1).to(dtype)
    else:  # MPNN: layer normalisation already standardises its first block
        shift, scale = torch.zeros(1, dtype=dtype), torch.ones(1, dtype=dtype)
    if isinstance(arch, MLPArchitecture) and arch.head is not None:
        return Scales(shift, scale, zero, one)  # the head's output is in physical units
    # an energy model cannot add a constant force (it would need E = -c sum Q): no shift
    out_shift = zero if isinstance(arch, MPNNArchitecture) else forces.mean().to(dtype)
    return Scales(shift, scale, out_shift, f_std)


def calibrate_input_scale(
    network: nn.Network, x: Tensor, lattice: SquareLattice, scales: Scales
) -> Scales:
    """Multiply the input scale by the factor at which the initial network's outputs on
    ``x`` have unit standard deviation (bisection in log scale over 1e-2 to 1e2; the
    spread falls as the inputs shrink, down to a constant output set by the biases).

    Parameters
    ----------
    network : fast.nn.Network
        The freshly initialised equivariant network (ENN).
    x : (n, Lx, Ly) torch.Tensor
        A few training configurations, on the network's device.
    lattice : SquareLattice
        The lattice of ``x``.
    scales : Scales
        The maps from :func:`fit_scales`.

    Returns
    -------
    Scales
        ``scales`` with ``scale`` multiplied by the calibrated factor.
    """
    lo, hi = 1e-2, 1e2
    with torch.no_grad():
        for _ in range(40):
            mid = math.sqrt(lo * hi)
            spread = float(nn.enn_forward(network, x / (scales.scale * mid), lattice).std())
            if not math.isfinite(spread) or spread > 1.0:
                lo = mid
            else:
                hi = mid
    return attrs.evolve(scales, scale=scales.scale * math.sqrt(lo * hi))


def standardised_forces(
    network: nn.Network,
    x: Tensor,
    lattice: SquareLattice,
    scales: Scales,
    times: Tensor | None = None,
) -> Tensor:
    """Forces of the network in standardised coordinates, mapped back to physical units.

    An energy network (MPNN) keeps the graph of its force for training only when it is in
    training mode (:func:`fast.nn.mpnn_forces`).

    Parameters
    ----------
    network : fast.nn.Network
        The network being trained (its weights act on standardised inputs).
    x : torch.Tensor
        Raw inputs (:func:`network_inputs`): ``(..., m)`` descriptors for a descriptor MLP,
        the field ``(b, Lx, Ly)`` otherwise; standardised here with ``scales``.
    lattice : SquareLattice
        The lattice of the configurations.
    scales : Scales
        The standardising maps, on the device of ``x``.
    times : (b,) torch.Tensor, optional
        The time ``t > 0`` of every configuration for a time-conditioned GNN, which sees
        ``(1/t) / scales.time_scale``; None (default) for other networks.

    Returns
    -------
    torch.Tensor
        Forces in physical units: ``(...)`` (the batch shape of the descriptors) for a
        descriptor MLP, ``(b, Lx, Ly)`` otherwise.
    """
    arch = network.architecture
    if isinstance(arch, MLPArchitecture):
        y = nn.mlp_forward(network, (x - scales.shift) / scales.scale)
        if arch.head is not None:  # the first descriptor feature is Q_i itself
            return nn.level_head(y, x[..., 0], arch.head)
    elif isinstance(arch, GNNArchitecture):
        # the time channel 1/t' = (1/t) / time_scale
        shifted = None if times is None else times * scales.time_scale
        y = nn.gnn_forward(network, x / scales.scale, lattice, shifted)
    elif isinstance(arch, MPNNArchitecture):
        # the gradient's graph is kept for training only: the network's mode says which
        y = nn.mpnn_forces(network, x, lattice)
    else:
        y = nn.enn_forward(network, x / scales.scale, lattice)
    return scales.out_scale * y + scales.out_shift


def fold_standardisation(network: nn.Network, scales: Scales) -> Weights:
    """The float64 weights of ``network`` with the standardising maps folded in.

    The result, evaluated on raw inputs, equals ``out_scale * network((x - shift) / scale)
    + out_shift``: the first layer absorbs ``(x - shift) / scale`` (descriptor MLP; the GNN's
    scale), the last layer the output map.

    Parameters
    ----------
    network : fast.nn.Network
        The trained network, acting on standardised inputs.
    scales : Scales
        The maps it was trained with.

    Returns
    -------
    Weights
        The paper's architecture acting on raw inputs, float64.
    """
    w = network.to_weights()
    arrays = dict(w.arrays)
    arch = network.architecture
    shift = scales.shift.detach().cpu().double().numpy()
    scale = scales.scale.detach().cpu().double().numpy()
    s = float(scales.out_scale)
    m = float(scales.out_shift)
    if isinstance(arch, MLPArchitecture):
        last = len(arch.widths) - 2
        w0 = arrays["layers.0.weight"] / scale[None, :]
        arrays["layers.0.weight"] = w0
        arrays["layers.0.bias"] = arrays["layers.0.bias"] - w0 @ shift
        if arch.head is None:  # (a head's output map is the identity)
            arrays[f"layers.{last}.weight"] = s * arrays[f"layers.{last}.weight"]
            arrays[f"layers.{last}.bias"] = s * arrays[f"layers.{last}.bias"] + m
    elif isinstance(arch, GNNArchitecture):
        last = len(arch.channels) - 2
        for name in ("self_weight", "neighbour_weight"):
            first = arrays[f"layers.0.{name}"].copy()
            first[:, 0] /= scale[0]
            if arch.time_channel:
                first[:, 1] /= scales.time_scale
            arrays[f"layers.0.{name}"] = first
            arrays[f"layers.{last}.{name}"] = s * arrays[f"layers.{last}.{name}"]
        arrays[f"layers.{last}.bias"] = s * arrays[f"layers.{last}.bias"] + m
    elif isinstance(arch, MPNNArchitecture):
        arrays["readout.update.weight"] = s * arrays["readout.update.weight"]
        arrays["readout.update.bias"] = s * arrays["readout.update.bias"]
    else:
        # the first auxiliary layer holds copies (degree 1 in Q) and CG products (degree 2)
        paths = auxiliary_paths(arch.point_group, arch.input_channels())
        for name, sources in paths.items():
            degree = np.array([1 if right == "" else 2 for _, _, right, _, _ in sources])
            arrays[f"layers.0.{name}.weight"] = (
                arrays[f"layers.0.{name}.weight"] / scale[0] ** degree[None, :]
            )
        arrays["readout.weight"] = s * arrays["readout.weight"]
        arrays["readout.bias"] = s * arrays["readout.bias"] + m
    return Weights(arch, arrays)


def predict(
    network: nn.Network,
    x: Tensor,
    lattice: SquareLattice,
    scales: Scales,
    batch: int,
    times: Tensor | None = None,
) -> Tensor:
    """:func:`standardised_forces` of many configurations, ``batch`` at a time, without
    gradients (an energy network computes its forces by autograd, then drops the graph).

    Parameters
    ----------
    network : fast.nn.Network
        The network, normally in evaluation mode.
    x : torch.Tensor
        Raw inputs of ``n`` configurations (first axis), as for :func:`standardised_forces`.
    lattice : SquareLattice
        The lattice of the configurations.
    scales : Scales
        The standardising maps, on the device of ``x``.
    batch : int
        Configurations per evaluation (>= 1).
    times : (n,) torch.Tensor, optional
        The time ``t > 0`` of every configuration for a time-conditioned GNN; None
        (default) for other networks.

    Returns
    -------
    torch.Tensor
        The forces of all ``n`` configurations, concatenated along the first axis.
    """
    out = []
    for i in range(0, len(x), batch):
        xb = x[i : i + batch]
        tb = None if times is None else times[i : i + batch]
        if isinstance(network.architecture, MPNNArchitecture):
            out.append(standardised_forces(network, xb, lattice, scales, tb).detach())
        else:
            with torch.no_grad():
                out.append(standardised_forces(network, xb, lattice, scales, tb))
    return torch.cat(out)
