r"""The papers' networks as torch modules, and tensor versions of the reference forward passes.

Twin of :mod:`reference.nn`. One :class:`Network` module holds any architecture
of the papers (descriptor MLP, direct-force GNN with optional time channel, energy
MPNN, IR equivariant network) as an architecture plus a parameter dictionary whose
names are exactly those of :class:`reference.nn.Weights`, so a trained model
converts both ways (:meth:`Network.to_weights`, :meth:`Network.from_weights`) and
can be checked against the NumPy forward pass.

The functional forms (``mlp_forward``, ``gnn_forward``, ...) take either a
reference :class:`~reference.nn.Weights` or a :class:`Network` as ``weights``; they
compute in the parameters' dtype on the input's device. Message passing is done
with rolls on the ``(..., Lx, Ly, C)`` grid, descriptors with one gather and one
matmul; no Python loop runs over sites. Energy models give forces by autograd.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from fast._tensor import Tensor
from fast.descriptors import cs_descriptor, d4_descriptor, irrep_coefficients, split_irreps
from fast.lattice import _field
from reference.descriptors import decompose_neighbourhood
from reference.lattice import SquareLattice
from reference.nn import (
    PAPER_ARCHITECTURES,
    ENNArchitecture,
    GNNArchitecture,
    LevelHead,
    MLPArchitecture,
    MPNNArchitecture,
    Weights,
    auxiliary_paths,
    init_weights,
    parameter_count,
)
from reference.symmetry import PointGroup, clebsch_gordan

__all__ = [
    "PAPER_ARCHITECTURES",
    "ENNArchitecture",
    "GNNArchitecture",
    "LevelHead",
    "MLPArchitecture",
    "MPNNArchitecture",
    "Network",
    "NetworkForceField",
    "Weights",
    "auxiliary_paths",
    "dense",
    "descriptor_mlp_forces",
    "enn_auxiliary",
    "enn_forward",
    "gnn_forward",
    "init_weights",
    "layer_norm",
    "level_head",
    "mlp_forward",
    "mpnn_energy",
    "mpnn_forces",
    "mpnn_site_energies",
    "neighbour_aggregate",
    "norm_activation",
    "parameter_count",
    "relu",
]

Architecture = MLPArchitecture | GNNArchitecture | MPNNArchitecture | ENNArchitecture


def _key(name: str) -> str:
    return name.replace(".", "__")


class Network(nn.Module):
    """Any architecture of the papers as a ``torch.nn.Module``.

    Parameters
    ----------
    architecture : MLPArchitecture | GNNArchitecture | MPNNArchitecture | ENNArchitecture
    weights : reference.nn.Weights, optional
        Initial values (float64 arrays); otherwise ``init_weights(architecture, rng)``.
    seed : int
        Seed of the default initialisation.
    dtype : torch.dtype
        float32 by default (production); float64 to compare with the reference.
    device : torch.device or str, optional
    """

    def __init__(
        self,
        architecture: Architecture,
        weights: Weights | None = None,
        *,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.architecture = architecture
        if weights is None:
            weights = init_weights(architecture, np.random.default_rng(seed))
        if weights.architecture != architecture:
            raise ValueError("weights belong to a different architecture")
        self.params = nn.ParameterDict(
            {
                _key(name): nn.Parameter(torch.as_tensor(array, dtype=dtype, device=device))
                for name, array in weights.arrays.items()
            }
        )

    def parameter(self, name: str) -> Tensor:
        """The parameter called ``name`` in :class:`reference.nn.Weights` naming.

        Parameters
        ----------
        name : str
            Dotted name, e.g. ``"layers.0.weight"``.

        Returns
        -------
        Tensor
            The ``nn.Parameter`` itself (not a copy).
        """
        param: Tensor = self.params[_key(name)]
        return param

    def to_weights(self) -> Weights:
        """Return the parameters as a float64 :class:`reference.nn.Weights`.

        Returns
        -------
        Weights
            Detached float64 NumPy copies on the CPU, same architecture.
        """
        shapes = self.architecture.parameter_shapes()
        arrays = {n: self.parameter(n).detach().cpu().to(torch.float64).numpy() for n in shapes}
        return Weights(self.architecture, arrays)

    @classmethod
    def from_weights(
        cls,
        weights: Weights,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Network:
        """Build a module holding ``weights``.

        Parameters
        ----------
        weights : Weights
            Reference weights (float64 arrays) and their architecture.
        dtype : torch.dtype
            Parameter dtype; float32 by default, float64 to compare with the reference.
        device : torch.device or str, optional
            Where the parameters live (CPU when omitted).

        Returns
        -------
        Network
        """
        return cls(weights.architecture, weights, dtype=dtype, device=device)

    def forward(self, Q: Tensor, lattice: SquareLattice, time: float | None = None) -> Tensor:
        """Return the predicted forces, shape ``(..., Lx, Ly)`` (autograd for the energy MPNN).

        Parameters
        ----------
        Q : Tensor, shape (..., Lx, Ly)
            Distortions; leading axes are a batch.
        lattice : SquareLattice
            Sizes and boundary conditions (open edges contribute zero).
        time : float, optional
            Time fed to a GNN with a time channel (> 0); must be None for every other network.

        Returns
        -------
        Tensor, shape (..., Lx, Ly)
            In the parameters' dtype, on their device.
        """
        return _forces(self, Q, lattice, time)

    def site_energies(self, Q: Tensor, lattice: SquareLattice) -> Tensor:
        r"""Site energies of an energy MPNN, shape ``(..., Lx, Ly)``.

        Parameters
        ----------
        Q : Tensor, shape (..., Lx, Ly)
            Distortions; leading axes are a batch.
        lattice : SquareLattice
            Sizes and boundary conditions (open edges contribute zero).

        Returns
        -------
        Tensor, shape (..., Lx, Ly)
            :math:`\epsilon_i` in the parameters' dtype; ``ValueError`` for other architectures.
        """
        return mpnn_site_energies(self, Q, lattice)


def _arch(weights: Weights | Network) -> Architecture:
    if isinstance(weights, Weights | Network):
        return weights.architecture
    raise ValueError(
        f"weights must be reference.nn.Weights or fast.nn.Network, got {type(weights).__name__}"
    )


def _param(weights: Weights | Network, name: str, like: Tensor) -> Tensor:
    if isinstance(weights, Network):
        return weights.parameter(name)
    return torch.as_tensor(weights.arrays[name], dtype=like.dtype, device=like.device)


def _input(weights: Weights | Network, Q: Tensor, lattice: SquareLattice) -> Tensor:
    q = _field("Q", Q, lattice) if not (isinstance(Q, Tensor) and Q.requires_grad) else Q
    return _as_network_input(weights, q)


def _as_network_input(weights: Weights | Network, q: Tensor) -> Tensor:
    """``q`` in the dtype and on the device of a module's parameters (unchanged otherwise)."""
    if isinstance(weights, Network):
        first = next(iter(weights.params.values()))
        return q.to(dtype=first.dtype, device=first.device)
    return q


def _check_kind(weights: Weights | Network, kind: type) -> None:
    if not isinstance(_arch(weights), kind):
        raise ValueError(
            f"weights must be of a {kind.__name__}, got {type(_arch(weights)).__name__}"
        )


# --------------------------------------------------------------------------- building blocks


def relu(x: Tensor) -> Tensor:
    """The rectified linear unit.

    Parameters
    ----------
    x : Tensor, shape (...)

    Returns
    -------
    Tensor, shape (...)
        ``max(x, 0)``.
    """
    return torch.relu(x)


def dense(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    r"""A fully connected layer :math:`W x + b` (paper 002 eq 11, no activation).

    Parameters
    ----------
    x : Tensor, shape (..., n_in)
    weight : Tensor, shape (n_out, n_in)
    bias : Tensor, shape (n_out,), optional
        No bias when None.

    Returns
    -------
    Tensor, shape (..., n_out)
    """
    return torch.nn.functional.linear(x, weight, bias)


def neighbour_aggregate(features: Tensor, lattice: SquareLattice, aggregation: str) -> Tensor:
    r"""Return :math:`s\sum_{j\in\mathcal{N}(i)} V_j` of ``(..., Lx, Ly, C)`` features.

    ``s`` = 1/4 (``"mean"``) or 1 (``"sum"``). Four rolls along the lattice axes of the
    channels-last tensor (no transposes); neighbours across an open edge contribute zero.

    Parameters
    ----------
    features : Tensor, shape (..., Lx, Ly, C)
        Node features, channels last.
    lattice : SquareLattice
        Boundary conditions of the two lattice axes.
    aggregation : {"mean", "sum"}
        The scale ``s``.

    Returns
    -------
    Tensor, shape (..., Lx, Ly, C)
    """
    if aggregation not in ("mean", "sum"):
        raise ValueError(f"aggregation must be 'mean' or 'sum', got {aggregation!r}")
    scale = 0.25 if aggregation == "mean" else 1.0
    total = torch.zeros_like(features)
    for axis, periodic in zip((-3, -2), lattice.periodic, strict=True):
        size = features.shape[axis]
        for shift in (1, -1):
            rolled = torch.roll(features, -shift, dims=axis)
            if not periodic:
                keep = torch.ones(size, dtype=features.dtype, device=features.device)
                keep[size - 1 if shift == 1 else 0] = 0.0
                shape = [1] * features.ndim
                shape[axis] = size
                rolled = rolled * keep.reshape(shape)
            total = total + rolled
    return scale * total


def layer_norm(x: Tensor, weight: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    r"""Layer normalisation over the channel axis (paper 002 eq 21).

    Parameters
    ----------
    x : Tensor, shape (..., C)
    weight : Tensor, shape (C,)
        Scale :math:`\gamma`.
    bias : Tensor, shape (C,)
        Shift :math:`\beta`.
    eps : float
        Added to the variance.

    Returns
    -------
    Tensor, shape (..., C)
    """
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), weight, bias, eps)


# --------------------------------------------------------------------------- descriptor MLP


def mlp_forward(weights: Weights | Network, x: Tensor) -> Tensor:
    """Evaluate a fully connected network on descriptor features ``(..., widths[0])``; returns
    ``(...)``, or ``(..., widths[-1])`` for a network with a :class:`LevelHead`.

    Parameters
    ----------
    weights : Weights or Network
        Of an MLPArchitecture. Reference weights are used in the input's dtype; a
        :class:`Network` moves the input to its parameters' dtype and device.
    x : Tensor, shape (..., widths[0])
        Descriptor features (an array is read as float64).

    Returns
    -------
    Tensor, shape (...) or (..., widths[-1])
        The output per leading position.
    """
    _check_kind(weights, MLPArchitecture)
    widths = _arch(weights).widths  # type: ignore[union-attr]
    h = x if isinstance(x, Tensor) else torch.as_tensor(x, dtype=torch.float64)
    if isinstance(weights, Network):
        h = h.to(next(iter(weights.params.values())).dtype)
    if h.shape[-1] != widths[0]:
        raise ValueError(f"x must have last axis {widths[0]}, got shape {tuple(h.shape)}")
    layers = [
        (_param(weights, f"layers.{k}.weight", h), _param(weights, f"layers.{k}.bias", h))
        for k in range(len(widths) - 1)
    ]
    rows = math.prod(h.shape[:-1])
    if torch.is_grad_enabled() or rows <= MLP_ROWS:
        out = _mlp_layers(h, layers)
    else:
        # inference on many sites: blocks of rows keep each layer's activations cache-sized
        # (a 200x200 tile's 512 channels would be 80 MB of fresh memory per layer)
        flat = h.reshape(rows, widths[0])
        out = torch.empty((rows, widths[-1]), dtype=h.dtype, device=h.device)
        for start in range(0, rows, MLP_ROWS):
            out[start : start + MLP_ROWS] = _mlp_layers(flat[start : start + MLP_ROWS], layers)
        out = out.reshape(*h.shape[:-1], widths[-1])
    return out[..., 0] if widths[-1] == 1 else out


MLP_ROWS = 2048
"""Sites per block in :func:`mlp_forward` at inference (no gradient recorded)."""


def _mlp_layers(h: Tensor, layers: list[tuple[Tensor, Tensor]]) -> Tensor:
    for k, (weight, bias) in enumerate(layers):
        h = dense(h, weight, bias)
        if k < len(layers) - 1:
            # in place when no gradient is recorded (inference): one allocation less per layer
            h = torch.relu_(h) if not torch.is_grad_enabled() else relu(h)
    return h


def level_head(outputs: Tensor, Q: Tensor, head: LevelHead) -> Tensor:
    """Electronic force ``g (sum_m softmax(a)_m f(-g Q_i + y_m - mu) - c)`` of the learned
    levels; ``outputs`` ``(..., 2 M)`` holds ``a`` then ``y``, ``Q`` is ``(...)``.

    Parameters
    ----------
    outputs : Tensor, shape (..., 2 M)
        The network's last layer: weights ``a`` (first ``M``), level shifts ``y`` (last ``M``).
    Q : Tensor, shape (...)
        The distortion of each site (the first descriptor feature).
    head : LevelHead
        Number of poles ``M``, coupling ``g``, chemical potential, temperature and offset.

    Returns
    -------
    Tensor, shape (...)
    """
    m = head.poles
    if outputs.shape[-1] != 2 * m or outputs.shape[:-1] != Q.shape:
        raise ValueError(
            f"outputs must have shape Q.shape + (2 * poles,) = {(*Q.shape, 2 * m)}, "
            f"got {tuple(outputs.shape)}"
        )
    w = torch.softmax(outputs[..., :m], dim=-1)
    level = -head.coupling * Q[..., None] + outputs[..., m:] - head.chemical_potential
    occupation = torch.sigmoid(-level / head.temperature)
    return head.coupling * ((w * occupation).sum(dim=-1) - head.offset)


def descriptor_mlp_forces(weights: Weights | Network, Q: Tensor, lattice: SquareLattice) -> Tensor:
    """Forces of a descriptor MLP: the descriptor of every site, then the MLP.

    Parameters
    ----------
    weights : Weights or Network
        Of an MLPArchitecture. Reference weights are used in the input's dtype; a
        :class:`Network` moves the input to its parameters' dtype and device.
    Q : Tensor, shape (..., Lx, Ly)
        Distortions; leading axes are a batch.
    lattice : SquareLattice
        Sizes and boundary conditions (open edges contribute zero).

    Returns
    -------
    Tensor, shape (..., Lx, Ly)
    """
    _check_kind(weights, MLPArchitecture)
    arch: MLPArchitecture = _arch(weights)  # type: ignore[assignment]
    q = _field("Q", Q, lattice)
    describe = d4_descriptor if arch.descriptor == "d4" else cs_descriptor
    x = describe(q, lattice, arch.r_c)
    out = mlp_forward(weights, x)
    if arch.head is None:
        return out
    return level_head(out, x[..., 0].to(out.dtype), arch.head)


# --------------------------------------------------------------------------- direct-force GNN


def gnn_forward(
    weights: Weights | Network,
    Q: Tensor,
    lattice: SquareLattice,
    time: float | Tensor | None = None,
) -> Tensor:
    """Evaluate the direct-force GNN (paper 002 eqs 15-17; paper 000 eqs 23-24).

    ``time`` may also be a tensor of the batch shape of ``Q`` (one time per configuration,
    as in training on snapshots of many times).

    Parameters
    ----------
    weights : Weights or Network
        Of an GNNArchitecture. Reference weights are used in the input's dtype; a
        :class:`Network` moves the input to its parameters' dtype and device.
    Q : Tensor, shape (..., Lx, Ly)
        Distortions; leading axes are a batch.
    lattice : SquareLattice
        Sizes and boundary conditions (open edges contribute zero).
    time : float or Tensor of shape (...), optional
        Time since the pulse (> 0); required exactly when the architecture has a time
        channel (``ValueError`` otherwise).

    Returns
    -------
    Tensor, shape (..., Lx, Ly)
    """
    _check_kind(weights, GNNArchitecture)
    arch: GNNArchitecture = _arch(weights)  # type: ignore[assignment]
    v = _gnn_input(weights, _input(weights, Q, lattice), arch, time)
    n_layers = len(arch.channels) - 1
    for k in range(n_layers):
        # W_self v_i + W_NN s sum_j v_j = [W_self v]_i + s sum_j [W_NN v]_j: one matmul of
        # double width, then the aggregation over the (narrower or equal) output channels
        w_self = _param(weights, f"layers.{k}.self_weight", v)
        w_nn = _param(weights, f"layers.{k}.neighbour_weight", v)
        out = w_self.shape[0]
        y = v @ torch.cat([w_self, w_nn], dim=0).T
        u = (
            y[..., :out]
            + neighbour_aggregate(y[..., out:], lattice, arch.aggregation)
            + _param(weights, f"layers.{k}.bias", v)
        )
        v = relu(u) if k < n_layers - 1 else u
    return v[..., 0]


def _gnn_input(
    weights: Weights | Network, q: Tensor, arch: GNNArchitecture, time: float | Tensor | None
) -> Tensor:
    """The GNN's input features ``(..., Lx, Ly, 1 or 2)``: ``Q_i`` and, if conditioned, ``1/t``."""
    v = q[..., None]
    if arch.time_channel:
        if time is None:
            raise ValueError("time is required for a GNN with a time channel")
        if isinstance(time, torch.Tensor):
            tt = time.to(device=v.device, dtype=v.dtype)
            if not bool(torch.all(torch.isfinite(tt) & (tt > 0))):
                raise ValueError("time must be > 0 for every configuration")
            inverse = (1.0 / tt).reshape(*tt.shape, 1, 1, 1).expand_as(v)
        else:
            if not (math.isfinite(time) and time > 0):
                raise ValueError(f"time must be > 0, got {time!r}")
            inverse = torch.full_like(v, 1.0 / time)
        v = torch.cat([v, inverse], dim=-1)
    elif time is not None:
        raise ValueError("time must be None for a GNN without a time channel")
    return v


def _gnn_core(weights: Weights | Network, patch: Tensor, time: float | None) -> Tensor:
    """GNN forces on the core of a patch that carries a halo of one site per layer.

    ``patch`` is ``(..., X + 2h, Y + 2h)`` with ``h`` the number of layers; the result is
    ``(..., X, Y)``, equal to :func:`gnn_forward` on the periodic lattice the patch was cut
    from. Layer ``k`` is evaluated only where a later layer still needs it, a region that
    shrinks by one site per side per layer, so the halo costs about half of what
    evaluating every layer on the whole patch would. The neighbour sum is four slices of
    the open region, accumulated in place: no rolls, no masks, no temporaries of the
    widest layer's size beyond the matmul output.
    """
    arch: GNNArchitecture = _arch(weights)  # type: ignore[assignment]
    v = _gnn_input(weights, _as_network_input(weights, patch), arch, time)
    n_layers = len(arch.channels) - 1
    scale = 0.25 if arch.aggregation == "mean" else 1.0
    for k in range(n_layers):
        w_self = _param(weights, f"layers.{k}.self_weight", v)
        w_nn = _param(weights, f"layers.{k}.neighbour_weight", v)
        out = w_self.shape[0]
        y = v @ torch.cat([w_self, w_nn], dim=0).T
        nn_part = y[..., out:]
        u = nn_part[..., :-2, 1:-1, :] + nn_part[..., 2:, 1:-1, :]
        u += nn_part[..., 1:-1, :-2, :]
        u += nn_part[..., 1:-1, 2:, :]
        if scale != 1.0:
            u *= scale
        u += y[..., 1:-1, 1:-1, :out]
        u += _param(weights, f"layers.{k}.bias", v)
        del y, nn_part
        v = torch.relu_(u) if k < n_layers - 1 else u
    return v[..., 0]


# --------------------------------------------------------------------------- energy MPNN


def _mpnn_block(
    weights: Weights | Network,
    prefix: str,
    v: Tensor,
    lattice: SquareLattice,
    arch: MPNNArchitecture,
) -> Tensor:
    def p(name: str) -> Tensor:
        return _param(weights, f"{prefix}.{name}", v)

    s = relu(dense(v, p("self_mlp.weight"), p("self_mlp.bias")))
    n = relu(dense(v, p("neighbour_mlp.weight"), p("neighbour_mlp.bias")))
    m = dense(s, p("self_mix")) + dense(
        neighbour_aggregate(n, lattice, arch.aggregation), p("neighbour_mix")
    )
    u = dense(torch.cat([v, m], dim=-1), p("update.weight"), p("update.bias"))
    if prefix == "readout":
        return u[..., 0]
    return dense(v, p("residual")) + layer_norm(
        relu(u), p("norm.weight"), p("norm.bias"), arch.layer_norm_eps
    )


def mpnn_site_energies(weights: Weights | Network, Q: Tensor, lattice: SquareLattice) -> Tensor:
    """Site energies of the energy MPNN (paper 002 eqs 19-22), ``(..., Lx, Ly)``.

    Parameters
    ----------
    weights : Weights or Network
        Of an MPNNArchitecture. Reference weights are used in the input's dtype; a
        :class:`Network` moves the input to its parameters' dtype and device.
    Q : Tensor, shape (..., Lx, Ly)
        Distortions; leading axes are a batch.
    lattice : SquareLattice
        Sizes and boundary conditions (open edges contribute zero).

    Returns
    -------
    Tensor, shape (..., Lx, Ly)
    """
    _check_kind(weights, MPNNArchitecture)
    arch: MPNNArchitecture = _arch(weights)  # type: ignore[assignment]
    v = _input(weights, Q, lattice)[..., None]
    for k in range(len(arch.channels) - 1):
        v = _mpnn_block(weights, f"blocks.{k}", v, lattice, arch)
    return _mpnn_block(weights, "readout", v, lattice, arch)


def mpnn_energy(weights: Weights | Network, Q: Tensor, lattice: SquareLattice) -> Tensor:
    r"""The total energy :math:`\sum_i\epsilon_i`, shape ``(...)``.

    Parameters
    ----------
    weights : Weights or Network
        Of an MPNNArchitecture. Reference weights are used in the input's dtype; a
        :class:`Network` moves the input to its parameters' dtype and device.
    Q : Tensor, shape (..., Lx, Ly)
        Distortions; leading axes are a batch.
    lattice : SquareLattice
        Sizes and boundary conditions (open edges contribute zero).

    Returns
    -------
    Tensor, shape (...)
    """
    return mpnn_site_energies(weights, Q, lattice).sum(dim=(-2, -1))


def mpnn_forces(weights: Weights | Network, Q: Tensor, lattice: SquareLattice) -> Tensor:
    r"""Forces :math:`-\partial E/\partial Q_i` by autograd.

    The graph of the gradient is kept (for training on forces) when ``weights`` is a
    :class:`Network` in training mode and the caller has gradients enabled.

    Parameters
    ----------
    weights : Weights or Network
        Of an MPNNArchitecture. Reference weights are used in the input's dtype; a
        :class:`Network` moves the input to its parameters' dtype and device.
    Q : Tensor, shape (..., Lx, Ly)
        Distortions; leading axes are a batch.
    lattice : SquareLattice
        Sizes and boundary conditions (open edges contribute zero).

    Returns
    -------
    Tensor, shape (..., Lx, Ly)
    """
    train = isinstance(weights, Network) and weights.training and torch.is_grad_enabled()
    return _mpnn_forces(weights, Q, lattice, create_graph=train)


def _mpnn_forces(
    weights: Weights | Network, Q: Tensor, lattice: SquareLattice, *, create_graph: bool
) -> Tensor:
    q = _input(weights, Q, lattice).detach().requires_grad_(True)
    with torch.enable_grad():
        energy = mpnn_energy(weights, q, lattice).sum()
        (grad,) = torch.autograd.grad(energy, q, create_graph=create_graph)
    return -grad


# --------------------------------------------------------------------------- equivariant network


def enn_auxiliary(features: Mapping[str, Tensor], group: PointGroup) -> dict[str, Tensor]:
    r"""The auxiliary layer :math:`z = x \oplus \tilde x` of CG products (paper 004 eq 11).

    Parameters
    ----------
    features : mapping of str to Tensor, shape (..., n_Gamma, d_Gamma)
        Channels of every IR of ``group`` (all IR names present).
    group : PointGroup

    Returns
    -------
    dict of str to Tensor, shape (..., n_aux_Gamma, d_Gamma)
        Copies first, then the CG products (distinct channel pairs for equal IRs).
    """
    names = group.irrep_names
    lead = next(iter(features.values())).shape[:-2]
    out: dict[str, list[Tensor]] = {n: [features[n]] for n in names}
    for a_idx, a in enumerate(names):
        for b in names[a_idx:]:
            xa, xb = features[a], features[b]
            if xa.shape[-2] == 0 or xb.shape[-2] == 0:
                continue
            for cg in clebsch_gordan(group, a, b):
                c = torch.as_tensor(np.array(cg.coefficients), dtype=xa.dtype, device=xa.device)
                prod = torch.einsum("...im,...jn,mnk->...ijk", xa, xb, c)
                if a == b:
                    iu, ju = np.triu_indices(xa.shape[-2], k=1)
                    prod = prod[..., torch.as_tensor(iu), torch.as_tensor(ju), :]
                out[cg.irrep].append(prod.reshape(*lead, -1, group.dimension(cg.irrep)))
    return {n: torch.cat(parts, dim=-2) for n, parts in out.items()}


def norm_activation(y: Tensor, bias: Tensor, epsilon: float = 1e-3) -> Tensor:
    r"""Return :math:`\mathrm{ReLU}(|Y| + b)\, Y/\sqrt{|Y|^2 + \epsilon^2}` (paper 004 eq 13).

    Parameters
    ----------
    y : Tensor, shape (..., n, d)
        ``n`` channels of one IR of dimension ``d``.
    bias : Tensor, shape (n,)
    epsilon : float
        Regulator (>= 0); 0 is eq 13 literally.

    Returns
    -------
    Tensor, shape (..., n, d)
    """
    norm2 = (y * y).sum(-1, keepdim=True)
    soft = torch.sqrt(norm2 + epsilon * epsilon)
    # |Y| with a zero gradient at Y = 0: d sqrt(x)/dx is infinite at 0, and inf * 0 is NaN
    positive = norm2 > 0
    norm = torch.where(positive, torch.sqrt(torch.where(positive, norm2, 1.0)), 0.0)
    scale = relu(norm + bias[:, None]) / torch.where(soft > 0, soft, torch.ones_like(soft))
    return y * scale


def enn_forward(weights: Weights | Network, Q: Tensor, lattice: SquareLattice) -> Tensor:
    """Evaluate the IR equivariant network at every site (paper 004 eqs 9-13), ``(..., Lx, Ly)``.

    Parameters
    ----------
    weights : Weights or Network
        Of an ENNArchitecture. Reference weights are used in the input's dtype; a
        :class:`Network` moves the input to its parameters' dtype and device.
    Q : Tensor, shape (..., Lx, Ly)
        Distortions; leading axes are a batch.
    lattice : SquareLattice
        Sizes and boundary conditions (open edges contribute zero).

    Returns
    -------
    Tensor, shape (..., Lx, Ly)
        The scalar (A1) output, the force in paper 004.
    """
    _check_kind(weights, ENNArchitecture)
    arch: ENNArchitecture = _arch(weights)  # type: ignore[assignment]
    group = arch.point_group
    hood = decompose_neighbourhood(group, arch.r_c)
    q = _input(weights, Q, lattice)
    x = split_irreps(irrep_coefficients(q, hood, lattice).to(q.dtype), hood)
    for k in range(len(arch.hidden)):
        z = enn_auxiliary(x, group)
        x = {
            name: norm_activation(
                torch.einsum(
                    "oa,...ak->...ok", _param(weights, f"layers.{k}.{name}.weight", q), z[name]
                ),
                _param(weights, f"layers.{k}.{name}.bias", q),
                arch.norm_epsilon,
            )
            for name in group.irrep_names
        }
    z = enn_auxiliary(x, group)
    scalar = z[group.irrep_names[0]][..., 0]
    return dense(scalar, _param(weights, "readout.weight", q), _param(weights, "readout.bias", q))[
        ..., 0
    ]


# --------------------------------------------------------------------------- force field


def _forces(
    weights: Weights | Network,
    Q: Tensor,
    lattice: SquareLattice,
    time: float | None,
    inference: bool = False,
) -> Tensor:
    arch = _arch(weights)
    if isinstance(arch, MLPArchitecture):
        return descriptor_mlp_forces(weights, Q, lattice)
    if isinstance(arch, GNNArchitecture):
        return gnn_forward(weights, Q, lattice, time)
    if isinstance(arch, MPNNArchitecture):
        if inference:  # a force provider never needs the gradient's own graph
            return _mpnn_forces(weights, Q, lattice, create_graph=False)
        return mpnn_forces(weights, Q, lattice)
    return enn_forward(weights, Q, lattice)


class NetworkForceField:
    """A network (reference weights or a :class:`Network`) as a force provider on tensors.

    On a lattice periodic in both directions and larger than :attr:`tile` along an axis,
    forces are evaluated tile by tile: each ``tile x tile`` block is cut out with a halo of
    :func:`receptive_radius` sites (wrapped around the periodic edges), evaluated as an
    open patch, and only its core is kept. The core forces are exact, because nothing
    beyond the receptive radius reaches them, and the working set stays cache- and
    memory-sized, which keeps the cost linear in the number of sites. Set ``tile = None``
    to evaluate the whole lattice at once.
    """

    tile: int | None = 200
    batch: int | None = 8
    """Configurations evaluated together when ``Q`` holds many (``None``: all at once).
    Bounds memory: the ENN's auxiliary layers hold thousands of channels per site."""

    def __init__(
        self, weights: Weights | Network, lattice: SquareLattice, time: float | None = None
    ) -> None:
        self.weights = weights
        self.lattice = lattice
        self.time = time

    def forces(self, Q: Tensor) -> Tensor:
        """The predicted forces, shape ``(..., Lx, Ly)``.

        Parameters
        ----------
        Q : Tensor, shape (..., Lx, Ly)
            Distortions; evaluated ``batch`` configurations at a time.

        Returns
        -------
        Tensor, shape (..., Lx, Ly)
            Detached (no autograd graph).
        """
        q = _field("Q", Q, self.lattice)
        lead = q.shape[:-2]
        if self.batch is not None and math.prod(lead) > self.batch:
            flat = q.reshape(-1, *self.lattice.shape)
            parts = [
                self._forces(flat[i : i + self.batch]) for i in range(0, len(flat), self.batch)
            ]
            return torch.cat(parts).reshape(q.shape)
        return self._forces(q)

    def _forces(self, q: Tensor) -> Tensor:
        tiled = (
            self.tile is not None
            and all(self.lattice.periodic)
            and max(self.lattice.shape) > self.tile
        )
        energy_model = isinstance(_arch(self.weights), MPNNArchitecture)
        with contextlib.nullcontext() if energy_model else torch.no_grad():
            forces = (
                _forces(self.weights, q, self.lattice, self.time, True)
                if not tiled
                else self._tiled(q)
            )
        return forces.detach()

    def _tiled(self, q: Tensor) -> Tensor:
        assert self.tile is not None
        lx, ly = self.lattice.shape
        arch = _arch(self.weights)
        halo = receptive_radius(arch)
        # equal tiles of at most ``tile`` sites per axis (no thin remainder tiles)
        sx = math.ceil(lx / math.ceil(lx / self.tile))
        sy = math.ceil(ly / math.ceil(ly / self.tile))
        out = torch.empty_like(q)
        for x0 in range(0, lx, sx):
            for y0 in range(0, ly, sy):
                tx, ty = min(sx, lx - x0), min(sy, ly - y0)
                xs = torch.arange(x0 - halo, x0 + tx + halo, device=q.device) % lx
                ys = torch.arange(y0 - halo, y0 + ty + halo, device=q.device) % ly
                patch = q.index_select(-2, xs).index_select(-1, ys)
                if isinstance(arch, GNNArchitecture):
                    out[..., x0 : x0 + tx, y0 : y0 + ty] = _gnn_core(self.weights, patch, self.time)
                    continue
                patch_lattice = SquareLattice(tx + 2 * halo, ty + 2 * halo, False, False)
                f = _forces(self.weights, patch, patch_lattice, self.time, True)
                out[..., x0 : x0 + tx, y0 : y0 + ty] = f[..., halo : halo + tx, halo : halo + ty]
        return out

    def energy(self, Q: Tensor) -> Tensor:
        """The predicted total energy (energy MPNN only), shape ``(...)``.

        Parameters
        ----------
        Q : Tensor, shape (..., Lx, Ly)
            Distortions.

        Returns
        -------
        Tensor, shape (...)
            ``ValueError`` for architectures other than the MPNN.
        """
        if not isinstance(_arch(self.weights), MPNNArchitecture):
            raise ValueError(
                "energy is defined only for an MPNNArchitecture, got "
                f"{type(_arch(self.weights)).__name__}"
            )
        return mpnn_energy(self.weights, Q, self.lattice)

    def at_time(self, time: float) -> NetworkForceField:
        """A copy that feeds ``time`` to a time-conditioned GNN.

        Parameters
        ----------
        time : float
            Time since the pulse (> 0).

        Returns
        -------
        NetworkForceField
            Same weights, lattice, ``tile`` and ``batch``.
        """
        field = NetworkForceField(self.weights, self.lattice, time)
        field.tile, field.batch = self.tile, self.batch
        return field


def receptive_radius(architecture: Architecture) -> int:
    """Sites (per axis) beyond which an input cannot change a force: the halo of a tile.

    Parameters
    ----------
    architecture : MLPArchitecture or GNNArchitecture or MPNNArchitecture or ENNArchitecture

    Returns
    -------
    int
        ``ceil(r_c)`` for descriptor and equivariant networks, the number of layers for the
        GNN, the force's reach (twice the message blocks) for the energy MPNN.
    """
    if isinstance(architecture, MLPArchitecture | ENNArchitecture):
        return math.ceil(architecture.r_c)
    if isinstance(architecture, GNNArchitecture):
        return architecture.receptive_field
    return architecture.force_receptive_field
