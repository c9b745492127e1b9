r"""NumPy forward passes of every network in the papers (float64).

Each network is an *architecture* (a frozen description: widths, channels,
aggregation, cutoff) plus a :class:`Weights` object: a flat mapping from
parameter names to arrays, checked against ``architecture.parameter_shapes()``.
The names follow one scheme, so :mod:`fast` can fill a :class:`Weights` from a
trained torch model's state and check its forward pass against this one.

Networks
--------
* Descriptor MLPs (paper 003 App. B, paper 002 Table I, paper 001 Table I):
  :class:`MLPArchitecture`, :func:`mlp_forward`, :func:`descriptor_mlp_forces`; beyond
  the papers, the optional Fermi-function output :class:`LevelHead`, :func:`level_head`.
* Direct-force graph network (paper 002 eqs 15-17, Table II) with the optional
  time channel of paper 000 (eqs 23-24): :class:`GNNArchitecture`, :func:`gnn_forward`.
* Energy message-passing network (paper 002 eqs 19-22, Table III):
  :class:`MPNNArchitecture`, :func:`mpnn_site_energies`, :func:`mpnn_energy`,
  :func:`mpnn_forces` (reverse-mode gradient written out by hand).
* IR-structured equivariant network (paper 004 eqs 10-13, Table I):
  :class:`ENNArchitecture`, :func:`enn_auxiliary`, :func:`norm_activation`,
  :func:`enn_forward`.

Every network is wrapped as a force field by :class:`NetworkForceField`, and
:func:`parameter_count` reports the trainable parameters of any architecture.

Reconstructions (paper text is ambiguous or garbled; see ``specs/equations/nn.md``)
-----------------------------------------------------------------------------------
* GNN neighbour aggregation: ``"mean"`` (1/4 of the neighbour sum, the authors'
  degree-normalised graph convolution) by default; eq 15's plain sum is
  ``aggregation="sum"``. Every layer, the output layer included, has a bias
  (Table II calls it a GCN layer; eq 17 omits the bias).
* MPNN block (eqs 19-21, Table III): the "aggregate MLP(in, out)" is one dense
  layer with ReLU per branch (self and neighbour, eq 19 says a single fully
  connected layer), followed by the mixing matrices :math:`W^{(\mathrm{self})},
  W^{(\mathrm{NN})}` (out x out, no bias); the "update MLP(in + out -> out)" is a
  dense layer with ReLU on the concatenation :math:`[V_i, M_i]` (eq 20 with a
  learnable weight on :math:`M_i`); layer normalisation has a learnable scale and
  shift. The output block keeps the width in its pre-aggregation MLPs (512 -> 512,
  ReLU), projects the self and neighbour messages to one channel with
  :math:`W^{(\mathrm{self})}, W^{(\mathrm{NN})}` (1 x 512), and reads out
  :math:`\epsilon_i` with a linear "readout MLP(512 + 1 -> 1)" on
  :math:`[V_i, M_i]`, whose first 512 weights are eq 22's residual projection.
* ENN (eqs 11-13, Table I): the auxiliary layer holds the copies of every
  channel plus, for each pair of IR types and each IR in their product, the CG
  products of every pair of channels, with distinct pairs only (``i < j``) when
  both factors are the same IR type. This reproduces every auxiliary channel count
  of Table I exactly. The weights :math:`W^\Gamma` (one matrix per IR, shared by
  all components) and one bias per hidden channel give 143,135 parameters, not the
  496,514 the paper states; no reading consistent with the table's channel counts
  and with equivariance reaches that number (see the specs).
* ENN nonlinearity (eq 13) acts on every IR including A1:
  :math:`\mathrm{ReLU}(|Y| + b)\, Y / \sqrt{|Y|^2 + \epsilon^2}`. Literally,
  eq 13's :math:`\hat{Y} = Y/|Y|` jumps at :math:`Y = 0` whenever :math:`b > 0`,
  and features that vanish by symmetry (every non-A1 feature of a perfect
  checkerboard) would then take the direction of rounding noise with amplitude
  :math:`b`; the :math:`\epsilon` (``ENNArchitecture.norm_epsilon``, 1e-3)
  makes it continuous and differs from eq 13 by a relative
  :math:`\epsilon^2 / 2|Y|^2` elsewhere.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Literal

import attrs
import numpy as np
from numpy.typing import NDArray

from reference.descriptors import (
    Neighbourhood,
    cs_descriptor,
    d4_descriptor,
    decompose_neighbourhood,
    irrep_coefficients,
    split_irreps,
)
from reference.lattice import SquareLattice, neighbour_sum
from reference.symmetry import CS, D4, PointGroup, clebsch_gordan
from reference.validation import check_array, check_positive

__all__ = [
    "PAPER_ARCHITECTURES",
    "ENNArchitecture",
    "GNNArchitecture",
    "LevelHead",
    "MLPArchitecture",
    "MPNNArchitecture",
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

Aggregation = Literal["mean", "sum"]
_GROUPS: dict[str, PointGroup] = {"D4": D4, "Cs": CS}


def _check_widths(name: str, widths: tuple[int, ...], min_len: int = 2) -> None:
    if len(widths) < min_len or any(
        isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths
    ):
        raise ValueError(
            f"{name} must be a tuple of at least {min_len} positive integers, got {widths!r}"
        )


def _check_aggregation(value: str) -> None:
    if value not in ("mean", "sum"):
        raise ValueError(f"aggregation must be 'mean' or 'sum', got {value!r}")


# --------------------------------------------------------------------------- architectures


@attrs.frozen
class LevelHead:
    r"""An output head that puts the Fermi function into a descriptor MLP (this work).

    The network's last layer gives ``2 M`` numbers per site: weights :math:`a_m` and level
    shifts :math:`y_m`. They describe an ``M``-pole local density of states of site ``i``,
    and the head returns its occupation as the electronic force (see :func:`level_head`):

    .. math:: F_i = g\Big(\sum_m w_m\, f(\epsilon_m - \mu) - c\Big), \quad
              w = \mathrm{softmax}(a), \quad \epsilon_m = -g Q_i + y_m, \quad
              f(x) = \frac{1}{1 + e^{x/T}}.

    The weights obey the sum rule :math:`\sum_m w_m = 1`, so :math:`0 \le n_i \le 1`
    for any weights of the network, and at :math:`y = 0` the head is the atomic limit
    :math:`g(f(-gQ_i - \mu) - c)`. At low :math:`T` the force is a sharp step of the
    local levels; the head supplies that step exactly, and the network learns the levels
    and weights, which are smooth functions of the neighbourhood.

    Attributes
    ----------
    poles : int
        ``M``, the number of levels (>= 1).
    coupling : float
        ``g`` of the Holstein model.
    temperature : float
        The electrons' ``T`` (> 0).
    chemical_potential : float
        ``mu``: the head needs labels at a fixed chemical potential.
    offset : float
        ``c`` of the coupling ``-g (n_i - c) Q_i`` (1/2 or 0).
    """

    poles: int
    coupling: float
    temperature: float
    chemical_potential: float = 0.0
    offset: float = 0.5

    def __attrs_post_init__(self) -> None:
        if isinstance(self.poles, bool) or not isinstance(self.poles, int) or self.poles < 1:
            raise ValueError(f"poles must be an integer >= 1, got {self.poles!r}")
        check_positive("temperature", self.temperature)
        for name in ("coupling", "chemical_potential", "offset"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite, got {getattr(self, name)!r}")


def _as_head(value: LevelHead | Mapping[str, float] | None) -> LevelHead | None:
    """Accept a head given as its fields (an architecture read back from JSON)."""
    return LevelHead(**value) if isinstance(value, Mapping) else value  # type: ignore[arg-type]


@attrs.frozen
class MLPArchitecture:
    """A fully connected network on a symmetry-invariant descriptor (eqs 11-13 of paper 002).

    Attributes
    ----------
    widths : tuple of int
        Layer widths from the descriptor size to the single output, e.g.
        ``(45, 512, 256, 64, 16, 1)``. ReLU after every layer but the last.
    descriptor : {"d4", "cs"}
        :func:`reference.descriptors.d4_descriptor` or :func:`~reference.descriptors.cs_descriptor`.
    r_c : float
        Descriptor cutoff; ``widths[0]`` must equal the number of neighbourhood sites.
    head : LevelHead, optional
        None (the papers' networks): the last layer is the force. A :class:`LevelHead`
        with ``M`` poles: the last layer has ``2 M`` outputs, turned into the electronic
        force by :func:`level_head`.
    """

    widths: tuple[int, ...]
    descriptor: Literal["d4", "cs"] = "d4"
    r_c: float = 3.61
    head: LevelHead | None = attrs.field(default=None, converter=_as_head)

    def __attrs_post_init__(self) -> None:
        _check_widths("widths", self.widths)
        if self.head is None and self.widths[-1] != 1:
            raise ValueError(f"widths must end with 1 (a scalar force), got {self.widths}")
        if self.head is not None and self.widths[-1] != 2 * self.head.poles:
            raise ValueError(
                f"widths must end with 2 * poles = {2 * self.head.poles} (weights and levels "
                f"of the head), got {self.widths}"
            )
        if self.descriptor not in ("d4", "cs"):
            raise ValueError(f"descriptor must be 'd4' or 'cs', got {self.descriptor!r}")
        check_positive("r_c", self.r_c)
        group = D4 if self.descriptor == "d4" else CS
        size = decompose_neighbourhood(group, self.r_c).size
        if self.widths[0] != size:
            raise ValueError(
                f"widths[0] must equal the descriptor size {size} for r_c = {self.r_c}, "
                f"got {self.widths[0]}"
            )

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """Names and shapes of the trainable arrays.

        Returns
        -------
        dict of str to tuple of int
            Parameter name -> array shape, in the order the forward pass uses them.
        """
        shapes: dict[str, tuple[int, ...]] = {}
        for k, (n_in, n_out) in enumerate(itertools.pairwise(self.widths)):
            shapes[f"layers.{k}.weight"] = (n_out, n_in)
            shapes[f"layers.{k}.bias"] = (n_out,)
        return shapes


@attrs.frozen
class GNNArchitecture:
    """The direct-force graph network of paper 002 (eqs 15-17), optionally time-conditioned.

    Attributes
    ----------
    channels : tuple of int
        Node-feature widths from input to output, e.g. ``(1, 128, 512, ..., 128, 1)``.
        ``channels[0]`` is 1, or 2 with ``time_channel`` (paper 000 eqs 23-24).
    aggregation : {"mean", "sum"}
        Neighbour aggregation: 1/4 of the neighbour sum, or the plain sum.
    time_channel : bool
        Whether every site gets the extra input feature ``1/t``.
    """

    channels: tuple[int, ...] = (1, 128, 512, 1024, 2048, 1024, 512, 128, 1)
    aggregation: Aggregation = "mean"
    time_channel: bool = False

    def __attrs_post_init__(self) -> None:
        _check_widths("channels", self.channels)
        _check_aggregation(self.aggregation)
        expected = 2 if self.time_channel else 1
        if self.channels[0] != expected or self.channels[-1] != 1:
            raise ValueError(
                f"channels must start with {expected} (time_channel={self.time_channel}) and end "
                f"with 1, got {self.channels}"
            )

    @property
    def receptive_field(self) -> int:
        """Graph distance (nearest-neighbour hops) beyond which inputs cannot reach the output."""
        return len(self.channels) - 1

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """Names and shapes of the trainable arrays.

        Returns
        -------
        dict of str to tuple of int
            Parameter name -> array shape, in the order the forward pass uses them.
        """
        shapes: dict[str, tuple[int, ...]] = {}
        for k, (n_in, n_out) in enumerate(itertools.pairwise(self.channels)):
            shapes[f"layers.{k}.self_weight"] = (n_out, n_in)
            shapes[f"layers.{k}.neighbour_weight"] = (n_out, n_in)
            shapes[f"layers.{k}.bias"] = (n_out,)
        return shapes


@attrs.frozen
class MPNNArchitecture:
    """The energy message-passing network of paper 002 (eqs 19-22, Table III).

    Attributes
    ----------
    channels : tuple of int
        Node-feature widths through the message-passing blocks, ``(1, 512, 1024, 512)``.
    aggregation : {"mean", "sum"}
        Neighbour aggregation (eq 19 writes the sum).
    layer_norm_eps : float
        The variance floor of layer normalisation (torch's default 1e-5).
    """

    channels: tuple[int, ...] = (1, 512, 1024, 512)
    aggregation: Aggregation = "sum"
    layer_norm_eps: float = 1e-5

    def __attrs_post_init__(self) -> None:
        _check_widths("channels", self.channels)
        _check_aggregation(self.aggregation)
        check_positive("layer_norm_eps", self.layer_norm_eps)

    @property
    def receptive_field(self) -> int:
        """Hops from which a site energy gathers input (blocks plus the readout block)."""
        return len(self.channels)

    @property
    def force_receptive_field(self) -> int:
        """Hops from which a force gathers input.

        :math:`F_i` depends on :math:`Q_k` only through a nonlinearity fed by both; the
        deepest ones sit in the last message block (one hop per block), so the reach is
        twice the number of message blocks. The readout's aggregation is linear after
        its per-site MLP and adds nothing.
        """
        return 2 * (len(self.channels) - 1)

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """Names and shapes of the trainable arrays.

        Returns
        -------
        dict of str to tuple of int
            Parameter name -> array shape, in the order the forward pass uses them.
        """
        shapes: dict[str, tuple[int, ...]] = {}
        # (name, input width, pre-aggregation MLP width, output width)
        blocks = [
            (f"blocks.{k}", n_in, n_out, n_out)
            for k, (n_in, n_out) in enumerate(itertools.pairwise(self.channels))
        ]
        blocks.append(("readout", self.channels[-1], self.channels[-1], 1))
        for name, n_in, n_mlp, n_out in blocks:
            for branch in ("self_mlp", "neighbour_mlp"):
                shapes[f"{name}.{branch}.weight"] = (n_mlp, n_in)
                shapes[f"{name}.{branch}.bias"] = (n_mlp,)
            shapes[f"{name}.self_mix"] = (n_out, n_mlp)
            shapes[f"{name}.neighbour_mix"] = (n_out, n_mlp)
            shapes[f"{name}.update.weight"] = (n_out, n_in + n_out)
            shapes[f"{name}.update.bias"] = (n_out,)
            if name != "readout":
                shapes[f"{name}.norm.weight"] = (n_out,)
                shapes[f"{name}.norm.bias"] = (n_out,)
                shapes[f"{name}.residual"] = (n_out, n_in)
        return shapes


@attrs.frozen
class ENNArchitecture:
    """The IR-structured equivariant network of paper 004 (eqs 10-13, Table I).

    Attributes
    ----------
    hidden : tuple of int
        Channels per IR in each hidden layer, ``(32, 8, 4)``; every IR gets the same count.
    group : {"D4", "Cs"}
        The point group whose IRs structure the features.
    r_c : float
        Cutoff of the input neighbourhood (3.61: 45 sites).
    norm_epsilon : float
        Regulator of the norm nonlinearity at zero amplitude (see :func:`norm_activation`).
    """

    hidden: tuple[int, ...] = (32, 8, 4)
    group: Literal["D4", "Cs"] = "D4"
    r_c: float = 3.61
    norm_epsilon: float = 1e-3

    def __attrs_post_init__(self) -> None:
        _check_widths("hidden", self.hidden, min_len=1)
        if self.group not in _GROUPS:
            raise ValueError(f"group must be 'D4' or 'Cs', got {self.group!r}")
        check_positive("r_c", self.r_c)
        check_positive("norm_epsilon", self.norm_epsilon)

    @property
    def point_group(self) -> PointGroup:
        """The :class:`~reference.symmetry.PointGroup` instance."""
        return _GROUPS[self.group]

    def input_channels(self) -> dict[str, int]:
        """IR multiplicities of the input neighbourhood (Table I 'Input' row).

        Returns
        -------
        dict of str to int
            IR name -> multiplicity, in the order of the group's IRs.
        """
        return decompose_neighbourhood(self.point_group, self.r_c).multiplicities

    def layer_channels(self) -> list[dict[str, int]]:
        """Channels per IR of the input, every hidden layer and the readout.

        Returns
        -------
        list of dict of str to int
            One ``{IR name: channels}`` per layer, ``len(hidden) + 2`` in all; the readout
            has one A1 (or A') channel and none of the others.
        """
        names = self.point_group.irrep_names
        rows = [self.input_channels()]
        rows += [dict.fromkeys(names, h) for h in self.hidden]
        rows.append({name: int(name == names[0]) for name in names})
        return rows

    def auxiliary_channels(self) -> list[dict[str, int]]:
        """Channels per IR of each auxiliary layer (Table I 'Auxiliary' rows).

        Returns
        -------
        list of dict of str to int
            One ``{IR name: channels}`` per auxiliary layer (one before each hidden layer
            and one before the readout).
        """
        return [
            {name: len(paths) for name, paths in auxiliary_paths(self.point_group, ch).items()}
            for ch in self.layer_channels()[:-1]
        ]

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """Names and shapes of the trainable arrays.

        Returns
        -------
        dict of str to tuple of int
            Parameter name -> array shape, in the order the forward pass uses them.
        """
        shapes: dict[str, tuple[int, ...]] = {}
        layers = self.layer_channels()
        aux = self.auxiliary_channels()
        names = self.point_group.irrep_names
        for k, (a, out) in enumerate(zip(aux[:-1], layers[1:-1], strict=True)):
            for name in names:
                shapes[f"layers.{k}.{name}.weight"] = (out[name], a[name])
                shapes[f"layers.{k}.{name}.bias"] = (out[name],)
        shapes["readout.weight"] = (1, aux[-1][names[0]])
        shapes["readout.bias"] = (1,)
        return shapes


Architecture = MLPArchitecture | GNNArchitecture | MPNNArchitecture | ENNArchitecture

PAPER_ARCHITECTURES: dict[str, Architecture] = {
    "paper003_mlp": MLPArchitecture((45, 512, 256, 64, 16, 1)),
    "paper002_mlp": MLPArchitecture((45, 4096, 2048, 750, 592, 256, 127, 69, 1)),
    "paper001_mlp": MLPArchitecture(
        (113, 4096, 2048, 1024, 512, 256, 128, 64, 64, 1), descriptor="cs", r_c=6.0
    ),
    "paper002_gnn": GNNArchitecture(),
    "paper000_gnn": GNNArchitecture(
        (2, 128, 512, 1024, 2048, 1024, 512, 128, 1), time_channel=True
    ),
    "paper002_mpnn": MPNNArchitecture(),
    "paper004_enn": ENNArchitecture(),
}
"""The architectures of the papers' tables, by name."""


# --------------------------------------------------------------------------- weights


def _as_dict(arrays: Mapping[str, NDArray[np.float64]]) -> dict[str, NDArray[np.float64]]:
    return dict(arrays)


@attrs.frozen(eq=False)
class Weights:
    """The trainable arrays of one network, by name, checked against its architecture.

    Attributes
    ----------
    architecture : MLPArchitecture | GNNArchitecture | MPNNArchitecture | ENNArchitecture
    arrays : mapping of str to float64 array
        Exactly the names and shapes of ``architecture.parameter_shapes()``.
    """

    architecture: Architecture
    arrays: Mapping[str, NDArray[np.float64]] = attrs.field(converter=_as_dict)

    def __attrs_post_init__(self) -> None:
        shapes = self.architecture.parameter_shapes()
        missing = sorted(set(shapes) - set(self.arrays))
        extra = sorted(set(self.arrays) - set(shapes))
        if missing or extra:
            raise ValueError(
                f"arrays do not match the architecture: missing {missing[:5]}, "
                f"unexpected {extra[:5]}"
            )
        for name, shape in shapes.items():
            a = check_array(name, self.arrays[name])
            if a.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
            self.arrays[name] = a  # type: ignore[index]

    def __getitem__(self, name: str) -> NDArray[np.float64]:
        return self.arrays[name]


def parameter_count(architecture: Architecture | Weights) -> int:
    """Return the number of trainable parameters of an architecture (or of its weights).

    Parameters
    ----------
    architecture : MLPArchitecture, GNNArchitecture, MPNNArchitecture, ENNArchitecture or Weights
        The architecture, or weights whose architecture is counted.

    Returns
    -------
    int
        The sum of the sizes of ``parameter_shapes()``.

    Examples
    --------
    >>> parameter_count(PAPER_ARCHITECTURES["paper003_mlp"])
    172385
    """
    arch = architecture.architecture if isinstance(architecture, Weights) else architecture
    return sum(math.prod(shape) for shape in arch.parameter_shapes().values())


INIT_SCHEMES = ("he", "uniform", "paper")
"""The initialisations of :func:`init_weights`."""


def init_weights(
    architecture: Architecture,
    rng: np.random.Generator,
    scheme: Literal["he", "uniform", "paper"] = "he",
) -> Weights:
    """Draw random weights.

    ``"he"``: matrices normal with standard deviation :math:`\\sqrt{2/\\text{fan-in}}`,
    biases uniform in :math:`\\pm 1/\\sqrt{\\text{fan-in}}` (torch's default for
    linear layers), layer-norm scales one and shifts zero. ``"uniform"``: matrices and
    biases uniform in :math:`\\pm 1/\\sqrt{\\text{fan-in}}` (torch's default for linear
    layers; weights :math:`1/\\sqrt 6` of He's spread). ``"paper"``: paper 002's
    initialisation, weights N(0, 0.1) and biases N(0, 0.05).

    Parameters
    ----------
    architecture : one of the architecture classes
        The network whose ``parameter_shapes()`` are filled.
    rng : numpy.random.Generator
        Source of the random numbers.
    scheme : {"he", "uniform", "paper"}
        The initialisation described above; anything else raises ``ValueError``.

    Returns
    -------
    Weights
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"scheme must be one of {INIT_SCHEMES}, got {scheme!r}")
    shapes = architecture.parameter_shapes()
    arrays = {}
    for name, shape in shapes.items():
        if ".norm." in name:
            arrays[name] = np.ones(shape) if name.endswith("weight") else np.zeros(shape)
        elif len(shape) == 1:  # a bias: its fan-in is that of the matrix it belongs to
            matrix = shapes.get(name[: -len("bias")] + "weight", (1, 1))
            bound = 1.0 / math.sqrt(matrix[-1])
            arrays[name] = (
                rng.normal(0.0, 0.05, shape)
                if scheme == "paper"
                else rng.uniform(-bound, bound, shape)
            )
        elif scheme == "uniform":
            bound = 1.0 / math.sqrt(shape[1])
            arrays[name] = rng.uniform(-bound, bound, shape)
        else:
            std = 0.1 if scheme == "paper" else math.sqrt(2.0 / shape[1])
            arrays[name] = rng.normal(0.0, std, shape)
    return Weights(architecture, arrays)


# --------------------------------------------------------------------------- building blocks


def relu(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """The rectified linear unit, ``max(x, 0)``.

    Parameters
    ----------
    x : (...) float64
        Pre-activations.

    Returns
    -------
    (...) float64
        ``max(x, 0)`` elementwise.
    """
    return np.maximum(x, 0.0)


def dense(
    x: NDArray[np.float64], weight: NDArray[np.float64], bias: NDArray[np.float64] | None = None
) -> NDArray[np.float64]:
    r"""A fully connected layer :math:`\sum_n W_{mn} x_n + b_m` (paper 002 eq 11, no activation).

    Parameters
    ----------
    x : (..., n_in) float64
        Input features on the last axis.
    weight : (n_out, n_in) float64
        The matrix :math:`W`.
    bias : (n_out,) float64 or None
        The bias :math:`b`; none when omitted.

    Returns
    -------
    (..., n_out) float64
    """
    y = x @ weight.T
    return y if bias is None else y + bias


def neighbour_aggregate(
    features: NDArray[np.float64], lattice: SquareLattice, aggregation: Aggregation
) -> NDArray[np.float64]:
    r"""Aggregate node features over nearest neighbours, :math:`s \sum_{j \in \mathcal{N}(i)} V_j`.

    ``s = 1/4`` for ``"mean"`` and 1 for ``"sum"``; missing neighbours across an
    open edge contribute zero. The map is symmetric, so it is its own adjoint.

    Parameters
    ----------
    features : (..., Lx, Ly, C) float64
        Node features, channels on the last axis.
    lattice : SquareLattice
        The lattice of the features (sets the neighbours).
    aggregation : {"mean", "sum"}
        ``s = 1/4`` or ``s = 1``; anything else raises ``ValueError``.

    Returns
    -------
    (..., Lx, Ly, C) float64
    """
    _check_aggregation(aggregation)
    scale = 0.25 if aggregation == "mean" else 1.0
    moved = np.moveaxis(features, -1, 0)
    return scale * np.moveaxis(neighbour_sum(moved, lattice), 0, -1)


def layer_norm(
    x: NDArray[np.float64],
    weight: NDArray[np.float64],
    bias: NDArray[np.float64],
    eps: float = 1e-5,
) -> NDArray[np.float64]:
    r"""Layer normalisation over the channel axis (paper 002 eq 21).

    .. math:: \mathrm{LN}(x)_\alpha =
              \gamma_\alpha \frac{x_\alpha - \bar{x}}{\sqrt{\sigma^2_x + \epsilon}} + \beta_\alpha

    Parameters
    ----------
    x : (..., C) float64
        Features, normalised over the last axis.
    weight, bias : (C,) float64
        Scale :math:`\gamma` and shift :math:`\beta`.
    eps : float
        The variance floor :math:`\epsilon` (torch's default 1e-5).

    Returns
    -------
    (..., C) float64
    """
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return np.asarray((x - mean) / np.sqrt(var + eps) * weight + bias, dtype=np.float64)


def _check_weights(weights: Weights, kind: type) -> None:
    if not isinstance(weights, Weights) or not isinstance(weights.architecture, kind):
        raise ValueError(f"weights must be Weights of a {kind.__name__}, got {weights!r}")


# --------------------------------------------------------------------------- descriptor MLPs


def mlp_forward(weights: Weights, x: NDArray[np.float64]) -> NDArray[np.float64]:
    r"""Evaluate a fully connected network (paper 002 eqs 11-12; paper 003 App. B).

    .. math:: x^{(\ell+1)} = \mathrm{ReLU}(W^{(\ell)} x^{(\ell)} + b^{(\ell)}), \qquad
              F = W^{(D)} x^{(D)} + b^{(D)}

    Parameters
    ----------
    weights : Weights of an MLPArchitecture
        The trained (or initialised) arrays, with their architecture.
    x : (..., widths[0]) float64
        Descriptor features.

    Returns
    -------
    (...) float64, or (..., widths[-1]) for a network with a :class:`LevelHead`
        The output per leading position.
    """
    _check_weights(weights, MLPArchitecture)
    widths = weights.architecture.widths  # type: ignore[union-attr]
    h = check_array("x", x, min_ndim=1)
    if h.shape[-1] != widths[0]:
        raise ValueError(f"x must have last axis {widths[0]}, got shape {h.shape}")
    n_layers = len(widths) - 1
    for k in range(n_layers):
        h = dense(h, weights[f"layers.{k}.weight"], weights[f"layers.{k}.bias"])
        if k < n_layers - 1:
            h = relu(h)
    return h[..., 0] if widths[-1] == 1 else h


def level_head(
    outputs: NDArray[np.float64], Q: NDArray[np.float64], head: LevelHead
) -> NDArray[np.float64]:
    r"""Electronic force from the occupation of learned local levels (this work).

    .. math:: F_i = g\Big(\sum_{m=1}^{M} w_m\, f(\epsilon_m - \mu) - c\Big), \quad
              w_m = \frac{e^{a_m}}{\sum_{m'} e^{a_{m'}}}, \quad
              \epsilon_m = -g Q_i + y_m, \quad f(x) = \frac{1}{1 + e^{x/T}}

    The weights :math:`w_m` are an ``M``-pole local density of states (sum rule
    :math:`\sum_m w_m = 1`); with all :math:`y_m = 0` this is the atomic limit
    :math:`g(f(-gQ_i - \mu) - c)`. See :class:`LevelHead`.

    Parameters
    ----------
    outputs : (..., 2 M) float64
        The network's last layer: weights ``a`` (first ``M``), level shifts ``y`` (last ``M``).
    Q : (...) float64
        The distortion of each site (the first feature of the D4 and Cs descriptors).
    head : LevelHead
        Number of poles ``M``, coupling ``g``, temperature, chemical potential and offset ``c``.

    Returns
    -------
    (...) float64
    """
    out = check_array("outputs", outputs, min_ndim=1)
    q = check_array("Q", Q)
    m = head.poles
    if out.shape[-1] != 2 * m or out.shape[:-1] != q.shape:
        raise ValueError(
            f"outputs must have shape Q.shape + (2 * poles,) = {(*q.shape, 2 * m)}, got {out.shape}"
        )
    a, y = out[..., :m], out[..., m:]
    w = np.exp(a - a.max(axis=-1, keepdims=True))
    w /= w.sum(axis=-1, keepdims=True)
    level = -head.coupling * q[..., None] + y - head.chemical_potential
    occupation = 0.5 * (1.0 - np.tanh(level / (2.0 * head.temperature)))  # f, overflow-free
    n: NDArray[np.float64] = np.sum(w * occupation, axis=-1)
    return head.coupling * (n - head.offset)


def descriptor_mlp_forces(
    weights: Weights, Q: NDArray[np.float64], lattice: SquareLattice
) -> NDArray[np.float64]:
    r"""Forces of a descriptor MLP, :math:`F_i = \mathcal{F}(\{G_m(\mathcal{C}_i)\})`.

    Paper 002 eq 13; paper 003 eq 10; paper 001 eq 10 with the Cs descriptor.

    Parameters
    ----------
    weights : Weights of an MLPArchitecture
        The trained (or initialised) arrays, with their architecture.
    Q : (..., Lx, Ly) float64
        Lattice distortions on ``lattice`` (finite); leading axes are batch axes.
    lattice : SquareLattice
        The lattice of ``Q``; no periodic length may be shorter than the neighbourhood.

    Returns
    -------
    (..., Lx, Ly) float64
    """
    _check_weights(weights, MLPArchitecture)
    arch: MLPArchitecture = weights.architecture  # type: ignore[assignment]
    describe = d4_descriptor if arch.descriptor == "d4" else cs_descriptor
    x = describe(Q, lattice, arch.r_c)
    out = mlp_forward(weights, x)
    return out if arch.head is None else level_head(out, x[..., 0], arch.head)


# --------------------------------------------------------------------------- direct-force GNN


def gnn_forward(
    weights: Weights,
    Q: NDArray[np.float64],
    lattice: SquareLattice,
    time: float | None = None,
) -> NDArray[np.float64]:
    r"""Evaluate the direct-force graph network (paper 002 eqs 15-17; paper 000 eqs 23-24).

    .. math:: V^{(\ell+1)}_{i} = \mathrm{ReLU}\Big(W^{(\mathrm{self})} V^{(\ell)}_i
              + W^{(\mathrm{NN})}\, s\!\sum_{j \in \mathcal{N}(i)} V^{(\ell)}_j + b\Big)

    with a linear last layer giving :math:`F_i`. The input is :math:`V^{(0)}_i = Q_i`,
    or :math:`(Q_i, 1/t)` with a time channel.

    Parameters
    ----------
    weights : Weights of a GNNArchitecture
        The trained (or initialised) arrays, with their architecture.
    Q : (..., Lx, Ly) float64
        Lattice distortions on ``lattice`` (finite); leading axes are batch axes.
    lattice : SquareLattice
        The lattice of ``Q``; neighbours across an open edge are missing.
    time : float, optional
        Time since the pulse (> 0); required exactly when the architecture has a time channel.

    Returns
    -------
    (..., Lx, Ly) float64
    """
    _check_weights(weights, GNNArchitecture)
    arch: GNNArchitecture = weights.architecture  # type: ignore[assignment]
    q = lattice.check_field("Q", Q)
    v = q[..., None]
    if arch.time_channel:
        if time is None:
            raise ValueError("time is required for a GNN with a time channel")
        t = check_positive("time", time)
        v = np.concatenate([v, np.full_like(v, 1.0 / t)], axis=-1)
    elif time is not None:
        raise ValueError("time must be None for a GNN without a time channel")
    n_layers = len(arch.channels) - 1
    for k in range(n_layers):
        u = (
            dense(v, weights[f"layers.{k}.self_weight"])
            + dense(
                neighbour_aggregate(v, lattice, arch.aggregation),
                weights[f"layers.{k}.neighbour_weight"],
            )
            + weights[f"layers.{k}.bias"]
        )
        v = relu(u) if k < n_layers - 1 else u
    return v[..., 0]


# --------------------------------------------------------------------------- energy MPNN


def _mpnn_block_forward(
    weights: Weights,
    prefix: str,
    v: NDArray[np.float64],
    lattice: SquareLattice,
    arch: MPNNArchitecture,
) -> tuple[NDArray[np.float64], dict[str, NDArray[np.float64]]]:
    w = weights
    s_pre = dense(v, w[f"{prefix}.self_mlp.weight"], w[f"{prefix}.self_mlp.bias"])
    n_pre = dense(v, w[f"{prefix}.neighbour_mlp.weight"], w[f"{prefix}.neighbour_mlp.bias"])
    s, n = relu(s_pre), relu(n_pre)
    agg = neighbour_aggregate(n, lattice, arch.aggregation)
    m = dense(s, w[f"{prefix}.self_mix"]) + dense(agg, w[f"{prefix}.neighbour_mix"])
    cat = np.concatenate([v, m], axis=-1)
    u_pre = dense(cat, w[f"{prefix}.update.weight"], w[f"{prefix}.update.bias"])
    cache = {"v": v, "s_pre": s_pre, "n_pre": n_pre, "u_pre": u_pre}
    if prefix == "readout":
        return u_pre[..., 0], cache
    u = relu(u_pre)
    mean = u.mean(axis=-1, keepdims=True)
    inv_std = 1.0 / np.sqrt(u.var(axis=-1, keepdims=True) + arch.layer_norm_eps)
    xhat = (u - mean) * inv_std
    cache.update(xhat=xhat, inv_std=inv_std)
    out = (
        dense(v, w[f"{prefix}.residual"])
        + xhat * w[f"{prefix}.norm.weight"]
        + w[f"{prefix}.norm.bias"]
    )
    return out, cache


def _mpnn_prefixes(arch: MPNNArchitecture) -> list[str]:
    return [f"blocks.{k}" for k in range(len(arch.channels) - 1)] + ["readout"]


def mpnn_site_energies(
    weights: Weights, Q: NDArray[np.float64], lattice: SquareLattice
) -> NDArray[np.float64]:
    r"""Evaluate the site energies :math:`\epsilon_i` of the energy MPNN (paper 002 eqs 19-22).

    Each block computes

    .. math::
        M_i &= W^{(\mathrm{self})}\,\mathrm{MLP}_{\mathrm{self}}(V_i)
              + W^{(\mathrm{NN})}\, s\!\sum_{j\in\mathcal{N}(i)} \mathrm{MLP}_{\mathrm{NN}}(V_j) \\
        U_i &= \mathrm{ReLU}\big(W^{(\mathrm{upd})} [V_i, M_i] + b\big) \\
        V'_i &= W^{(\mathrm{res})} V_i + \mathrm{LN}(U_i)

    and the readout block gives :math:`\epsilon_i = W^{(\mathrm{read})}[V_i, M_i] + b`
    (eq 22), with :math:`V^{(0)}_i = Q_i`.

    Parameters
    ----------
    weights : Weights of an MPNNArchitecture
        The trained (or initialised) arrays, with their architecture.
    Q : (..., Lx, Ly) float64
        Lattice distortions on ``lattice`` (finite); leading axes are batch axes.
    lattice : SquareLattice
        The lattice of ``Q``; neighbours across an open edge are missing.

    Returns
    -------
    (..., Lx, Ly) float64
    """
    _check_weights(weights, MPNNArchitecture)
    arch: MPNNArchitecture = weights.architecture  # type: ignore[assignment]
    v = lattice.check_field("Q", Q)[..., None]
    for prefix in _mpnn_prefixes(arch):
        v, _ = _mpnn_block_forward(weights, prefix, v, lattice, arch)
    return v


def mpnn_energy(
    weights: Weights, Q: NDArray[np.float64], lattice: SquareLattice
) -> NDArray[np.float64]:
    r"""The total energy :math:`E = \sum_i \epsilon_i` (paper 002 sec. V), shape ``(...)``.

    Parameters
    ----------
    weights : Weights of an MPNNArchitecture
        The trained (or initialised) arrays, with their architecture.
    Q : (..., Lx, Ly) float64
        Lattice distortions on ``lattice`` (finite); leading axes are batch axes.
    lattice : SquareLattice
        The lattice of ``Q``; neighbours across an open edge are missing.

    Returns
    -------
    (...) float64
        The sum of :func:`mpnn_site_energies` over the lattice.
    """
    return np.asarray(mpnn_site_energies(weights, Q, lattice).sum(axis=(-2, -1)), dtype=np.float64)


def mpnn_forces(
    weights: Weights, Q: NDArray[np.float64], lattice: SquareLattice
) -> NDArray[np.float64]:
    r"""Forces :math:`F_i = -\partial E / \partial Q_i` of the energy MPNN, by reverse mode.

    The chain rule is written out block by block (dense layers, ReLU, the symmetric
    neighbour aggregation, layer normalisation, the residual projection), so the
    reference needs no automatic differentiation. Paper 002 sec. V.

    Parameters
    ----------
    weights : Weights of an MPNNArchitecture
        The trained (or initialised) arrays, with their architecture.
    Q : (..., Lx, Ly) float64
        Lattice distortions on ``lattice`` (finite); leading axes are batch axes.
    lattice : SquareLattice
        The lattice of ``Q``; neighbours across an open edge are missing.

    Returns
    -------
    (..., Lx, Ly) float64
    """
    _check_weights(weights, MPNNArchitecture)
    arch: MPNNArchitecture = weights.architecture  # type: ignore[assignment]
    w = weights
    v = lattice.check_field("Q", Q)[..., None]
    caches = []
    for prefix in _mpnn_prefixes(arch):
        v, cache = _mpnn_block_forward(w, prefix, v, lattice, arch)
        caches.append((prefix, cache))
    grad_out: NDArray[np.float64] = np.ones((*v.shape, 1))  # dE/d eps_i
    for prefix, cache in reversed(caches):
        vin = cache["v"]
        n_in = vin.shape[-1]
        if prefix == "readout":
            g_upre = grad_out
            g_vin = np.zeros_like(vin)
        else:
            g_vin = grad_out @ w[f"{prefix}.residual"]
            g_xhat = grad_out * w[f"{prefix}.norm.weight"]
            xhat, inv_std = cache["xhat"], cache["inv_std"]
            g_u = inv_std * (
                g_xhat
                - g_xhat.mean(axis=-1, keepdims=True)
                - xhat * np.mean(g_xhat * xhat, axis=-1, keepdims=True)
            )
            g_upre = g_u * (cache["u_pre"] > 0)
        g_cat = g_upre @ w[f"{prefix}.update.weight"]
        g_vin = g_vin + g_cat[..., :n_in]
        g_m = g_cat[..., n_in:]
        g_s = (g_m @ w[f"{prefix}.self_mix"]) * (cache["s_pre"] > 0)
        g_agg = g_m @ w[f"{prefix}.neighbour_mix"]
        g_n = neighbour_aggregate(g_agg, lattice, arch.aggregation) * (cache["n_pre"] > 0)
        g_vin = (
            g_vin + g_s @ w[f"{prefix}.self_mlp.weight"] + g_n @ w[f"{prefix}.neighbour_mlp.weight"]
        )
        grad_out = g_vin
    return -grad_out[..., 0]


# --------------------------------------------------------------------------- equivariant network


def auxiliary_paths(
    group: PointGroup, channels: Mapping[str, int]
) -> dict[str, list[tuple[str, int, str, int, int]]]:
    """For each target IR, the list of (kind-or-left, i, right, j, cg copy) sources.

    A copy of channel ``i`` of IR ``G`` is ``(G, i, "", -1, -1)``; a product is
    ``(left, i, right, j, c)`` with CG copy ``c`` of ``left x right``.

    Parameters
    ----------
    group : PointGroup
        The point group whose IRs structure the features.
    channels : mapping of str to int
        Number of channels of each IR of ``group`` in the layer.

    Returns
    -------
    dict of str to list of (str, int, str, int, int)
        Target IR name -> its sources, copies first, then products, in the channel order
        of :func:`enn_auxiliary`.
    """
    names = group.irrep_names
    paths: dict[str, list[tuple[str, int, str, int, int]]] = {n: [] for n in names}
    for name in names:
        paths[name] += [(name, i, "", -1, -1) for i in range(channels[name])]
    for a_idx, a in enumerate(names):
        for b in names[a_idx:]:
            for c, cg in enumerate(clebsch_gordan(group, a, b)):
                pairs = [
                    (i, j)
                    for i in range(channels[a])
                    for j in range(channels[b])
                    if a != b or i < j
                ]
                paths[cg.irrep] += [(a, i, b, j, c) for i, j in pairs]
    return paths


def enn_auxiliary(
    features: Mapping[str, NDArray[np.float64]], group: PointGroup
) -> dict[str, NDArray[np.float64]]:
    r"""Build the auxiliary layer :math:`z = x \oplus \tilde{x}` of paper 004 (eq 11).

    For every pair of IR types :math:`(\Gamma_1, \Gamma_2)` (each unordered pair once)
    and every IR :math:`\Gamma` in their product,

    .. math:: \tilde{x}^{(\Gamma)}_\kappa =
              \sum_{\mu\nu} C^{\Gamma\Gamma_1\Gamma_2}_{\kappa\mu\nu}\,
              x^{(\Gamma_1, r_1)}_\mu\, x^{(\Gamma_2, r_2)}_\nu

    over all channel pairs, distinct pairs :math:`r_1 < r_2` when :math:`\Gamma_1 = \Gamma_2`.

    Parameters
    ----------
    features : dict of (..., n_Gamma, d_Gamma) float64
        IR name -> channels of the layer (every IR of ``group`` present, maybe with 0).
    group : PointGroup
        The point group whose Clebsch-Gordan coefficients couple the channels.

    Returns
    -------
    dict of (..., n_aux_Gamma, d_Gamma) float64
        Copies first, then products in the order of :func:`ENNArchitecture.auxiliary_channels`.
    """
    names = group.irrep_names
    lead = next(iter(features.values())).shape[:-2]
    out: dict[str, list[NDArray[np.float64]]] = {n: [features[n]] for n in names}
    for a_idx, a in enumerate(names):
        for b in names[a_idx:]:
            xa, xb = features[a], features[b]
            if xa.shape[-2] == 0 or xb.shape[-2] == 0:
                continue
            for cg in clebsch_gordan(group, a, b):
                prod = np.einsum("...im,...jn,mnk->...ijk", xa, xb, cg.coefficients)
                if a == b:
                    iu, ju = np.triu_indices(xa.shape[-2], k=1)
                    prod = prod[..., iu, ju, :]
                out[cg.irrep].append(prod.reshape(*lead, -1, group.dimension(cg.irrep)))
    return {n: np.concatenate(parts, axis=-2) for n, parts in out.items()}


def norm_activation(
    y: NDArray[np.float64], bias: NDArray[np.float64], epsilon: float = 1e-3
) -> NDArray[np.float64]:
    r"""The norm nonlinearity of paper 004 eq 13, made continuous at zero amplitude.

    .. math:: Y'^{(\Gamma r)} = \mathrm{ReLU}\big(\lVert Y^{(\Gamma r)}\rVert + b^{\Gamma}_r\big)\,
              \frac{Y^{(\Gamma r)}}{\sqrt{\lVert Y^{(\Gamma r)}\rVert^2 + \epsilon^2}}

    Only the amplitude passes through the activation, so :math:`Y'` transforms like
    :math:`Y`. With :math:`\epsilon = 0` this is eq 13 literally, which jumps at
    :math:`Y = 0` when :math:`b > 0`.

    Parameters
    ----------
    y : (..., n, d) float64
        Channels of one IR: ``n`` channels of dimension ``d``.
    bias : (n,) float64
        One bias :math:`b^\Gamma_r` per channel.
    epsilon : float
        Regulator (>= 0); 0 gives eq 13 with :math:`\hat{Y} = 0` at :math:`Y = 0`.

    Returns
    -------
    (..., n, d) float64
    """
    norm = np.linalg.norm(y, axis=-1, keepdims=True)
    soft = np.sqrt(norm * norm + epsilon * epsilon)
    scale = np.divide(relu(norm + bias[:, None]), soft, out=np.zeros_like(norm), where=soft > 0)
    return np.asarray(y * scale, dtype=np.float64)


def enn_forward(
    weights: Weights, Q: NDArray[np.float64], lattice: SquareLattice
) -> NDArray[np.float64]:
    r"""Evaluate the IR-structured equivariant network at every site (paper 004 eqs 9-13).

    The input features are the IR coefficients of each site's neighbourhood
    (:func:`reference.descriptors.irrep_coefficients`); each layer builds the
    auxiliary features (eq 11), mixes channels within each IR with one weight
    matrix per IR shared by all components (eq 12), and applies the norm
    nonlinearity (eq 13); the readout is linear in the A1 auxiliary channels.

    Parameters
    ----------
    weights : Weights of an ENNArchitecture
        The trained (or initialised) arrays, with their architecture.
    Q : (..., Lx, Ly) float64
        Lattice distortions on ``lattice`` (finite); leading axes are batch axes.
    lattice : SquareLattice
        The lattice of ``Q``; no periodic length may be shorter than the neighbourhood.

    Returns
    -------
    (..., Lx, Ly) float64
        The scalar (A1) output, the force in paper 004.
    """
    _check_weights(weights, ENNArchitecture)
    arch: ENNArchitecture = weights.architecture  # type: ignore[assignment]
    group = arch.point_group
    hood: Neighbourhood = decompose_neighbourhood(group, arch.r_c)
    x = split_irreps(irrep_coefficients(Q, hood, lattice), hood)
    for k in range(len(arch.hidden)):
        z = enn_auxiliary(x, group)
        x = {
            name: norm_activation(
                np.einsum("oa,...ak->...ok", weights[f"layers.{k}.{name}.weight"], z[name]),
                weights[f"layers.{k}.{name}.bias"],
                arch.norm_epsilon,
            )
            for name in group.irrep_names
        }
    z = enn_auxiliary(x, group)
    scalar = z[group.irrep_names[0]][..., 0]
    return dense(scalar, weights["readout.weight"], weights["readout.bias"])[..., 0]


# --------------------------------------------------------------------------- force field


@attrs.frozen(eq=False)
class NetworkForceField:
    """Any network of this module as a force provider (:class:`reference.forcefield.ForceField`).

    Attributes
    ----------
    weights : Weights
    lattice : SquareLattice
    time : float or None
        The time fed to a time-conditioned GNN (paper 000); None otherwise.
    """

    weights: Weights
    lattice: SquareLattice
    time: float | None = None

    def forces(self, Q: NDArray[np.float64]) -> NDArray[np.float64]:
        """The predicted forces, shape ``(..., Lx, Ly)``.

        Parameters
        ----------
        Q : (..., Lx, Ly) float64
            Lattice distortions on ``self.lattice`` (finite); leading axes are batch axes.

        Returns
        -------
        (..., Lx, Ly) float64
            The network's force at every site (at ``self.time`` for a time-conditioned GNN).
        """
        arch = self.weights.architecture
        if isinstance(arch, MLPArchitecture):
            return descriptor_mlp_forces(self.weights, Q, self.lattice)
        if isinstance(arch, GNNArchitecture):
            return gnn_forward(self.weights, Q, self.lattice, self.time)
        if isinstance(arch, MPNNArchitecture):
            return mpnn_forces(self.weights, Q, self.lattice)
        return enn_forward(self.weights, Q, self.lattice)

    def energy(self, Q: NDArray[np.float64]) -> NDArray[np.float64]:
        """The predicted total energy (energy MPNN only), shape ``(...)``.

        Parameters
        ----------
        Q : (..., Lx, Ly) float64
            Lattice distortions on ``self.lattice`` (finite); leading axes are batch axes.

        Returns
        -------
        (...) float64
            :func:`mpnn_energy` of ``Q``.

        Raises
        ------
        ValueError
            If the network is not an energy MPNN.
        """
        if not isinstance(self.weights.architecture, MPNNArchitecture):
            raise ValueError(
                f"energy is defined only for an MPNNArchitecture, got "
                f"{type(self.weights.architecture).__name__}"
            )
        return mpnn_energy(self.weights, Q, self.lattice)

    def at_time(self, time: float) -> NetworkForceField:
        """A copy that feeds ``time`` to a time-conditioned GNN.

        Parameters
        ----------
        time : float
            Time since the pulse (> 0, checked when the forces are evaluated).

        Returns
        -------
        NetworkForceField
            The same weights and lattice with ``time`` set.
        """
        return attrs.evolve(self, time=time)
