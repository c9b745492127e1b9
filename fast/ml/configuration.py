"""What to train and how: :class:`TrainConfig`, the ``[train]`` section of every workflow."""

from __future__ import annotations

import attrs
import torch

from fast.ml.models import Architecture
from reference.descriptors import decompose_neighbourhood
from reference.model import ElectronEnsemble, HolsteinParams
from reference.nn import (
    INIT_SCHEMES,
    PAPER_ARCHITECTURES,
    GNNArchitecture,
    LevelHead,
    MLPArchitecture,
    MPNNArchitecture,
)
from reference.runio import non_negative, positive, positive_int
from reference.symmetry import CS, D4

__all__ = ["MAX_CUTOFF", "TrainConfig"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


MAX_CUTOFF = 16.0
"""The largest descriptor cutoff ``r_c`` (papers: 3.61 and 6); beyond it a neighbourhood of
~800 sites costs seconds to decompose and a network input that no lattice here can feed."""


@attrs.frozen(kw_only=True)
class TrainConfig:
    """Settings of force-field training (defaults: paper 003 App. B and paper 002 sec. III).

    Attributes
    ----------
    network : str
        A key of :data:`reference.nn.PAPER_ARCHITECTURES` (``paper003_mlp``, ``paper002_gnn``,
        ``paper002_mpnn``, ``paper004_enn``, ``paper002_mlp``, ``paper001_mlp``).
    hidden : tuple of int
        Replaces the hidden widths of an MLP, GNN or MPNN (empty: the paper's).
    r_c : float
        Replaces the descriptor cutoff of an MLP (0: the paper's); the input width follows
        the descriptor size.
    target : {"electronic", "total"}
        What the network learns. ``"total"`` is the papers' choice, the whole force
        ``F_i``; ``"electronic"`` (default) is ``g (n_i - c)`` only, with the elastic force
        ``-k Q_i - kappa sum_j' Q_j`` added exactly when the model drives dynamics. The
        elastic part is linear, known and large in hot configurations; leaving it out
        spends the network on the part that needs it (see specs/equations/training.md).
    epochs : int
        Upper limit of passes over the training configurations (paper 003: 500).
    batch_size : int
        Configurations per optimiser step (paper 003: 1, i.e. all sites of one lattice).
    learning_rate : float
        Adam's initial step (papers 002-004: 1e-3).
    lr_factor, lr_patience, min_learning_rate
        The learning rate is multiplied by ``lr_factor`` after ``lr_patience`` epochs without
        a better validation loss, down to ``min_learning_rate``.
    patience : int
        Early stopping: training ends after this many epochs without a better validation
        loss, and the best weights are kept.
    validation_fraction : float
        Share of the *configurations* held out (paper 002: 0.3). Sites of one configuration
        are never split between training and validation: they are strongly correlated.
    standardise : bool
        Train in standardised inputs and outputs; the affine maps are folded into the
        first and last layers afterwards, so the saved network is the paper's architecture.
        The equivariant network's input scale is then calibrated so that its freshly
        initialised outputs have unit spread: each of its layers squares the amplitude of
        its input (the auxiliary products), so the output is a polynomial of degree
        ``2^(layers + 1)`` in the input scale and a unit-variance input is not enough.
    clip_gradient : float
        Rescale each step's gradient to at most this norm; 0 (the papers' setting) leaves
        it alone. Worth setting for the equivariant network on hot configurations.
    head : {"force", "levels"}
        ``"force"`` (the papers'): a descriptor MLP's last layer is the force. ``"levels"``
        (beyond the papers, descriptor MLPs and ``target = "electronic"`` only): the last
        layer gives the weights and levels of a local density of states with ``poles``
        poles, and :func:`reference.nn.level_head` applies the Fermi function of the
        labels' temperature and chemical potential (which must be fixed, not the filling).
    poles : int
        Levels of the ``"levels"`` head.
    init : {"auto", "uniform", "he", "paper"}
        The initial weights (:func:`reference.nn.init_weights`). ``"auto"``: ``"uniform"``
        (torch's default for linear layers) for the descriptor MLPs, whose held-out error on
        hot configurations it lowers by about a third against ``"he"`` (measured,
        benchmarks/README.md), and
        ``"he"`` for the other networks.
    dtype : {"float32", "float64"}
    time_limit_minutes : float
        Stop (keeping the best weights) after this much training time; 0 means no limit.
    checkpoint_every : int
        Epochs between checkpoints.
    seed : int
        Seeds the initial weights, the split and the batch order.
    """

    network: str = "paper003_mlp"
    hidden: tuple[int, ...] = ()
    r_c: float = attrs.field(default=0.0, converter=float, validator=non_negative)
    target: str = "electronic"
    epochs: int = attrs.field(default=500, validator=positive_int)
    batch_size: int = attrs.field(default=1, validator=positive_int)
    learning_rate: float = attrs.field(default=1e-3, validator=positive)
    lr_factor: float = attrs.field(default=0.5, validator=positive)
    lr_patience: int = attrs.field(default=10, validator=positive_int)
    min_learning_rate: float = attrs.field(default=1e-6, validator=positive)
    patience: int = attrs.field(default=30, validator=positive_int)
    validation_fraction: float = attrs.field(default=0.3, validator=positive)
    standardise: bool = True
    clip_gradient: float = attrs.field(default=0.0, validator=non_negative)
    head: str = "force"
    poles: int = attrs.field(default=4, validator=positive_int)
    init: str = "auto"
    dtype: str = "float32"
    time_limit_minutes: float = attrs.field(default=0.0, validator=non_negative)
    checkpoint_every: int = attrs.field(default=1, validator=positive_int)
    seed: int = 0

    def __attrs_post_init__(self) -> None:
        if self.network not in PAPER_ARCHITECTURES:
            raise ValueError(
                f"network must be one of {sorted(PAPER_ARCHITECTURES)}, got {self.network!r}"
            )
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(
                f"validation_fraction must lie in (0, 1), got {self.validation_fraction!r}"
            )
        if not 0.0 < self.lr_factor < 1.0:
            raise ValueError(f"lr_factor must lie in (0, 1), got {self.lr_factor!r}")
        if self.target not in ("electronic", "total"):
            raise ValueError(f"target must be 'electronic' or 'total', got {self.target!r}")
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {self.dtype!r}")
        if any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in self.hidden):
            raise ValueError(f"hidden must hold integers >= 1, got {self.hidden!r}")
        if self.init not in ("auto", *INIT_SCHEMES):
            raise ValueError(f"init must be one of {('auto', *INIT_SCHEMES)}, got {self.init!r}")
        if self.head not in ("force", "levels"):
            raise ValueError(f"head must be 'force' or 'levels', got {self.head!r}")
        if self.r_c > MAX_CUTOFF:
            raise ValueError(
                f"r_c must be at most {MAX_CUTOFF:g} lattice constants (a descriptor of "
                f"~pi r_c^2 sites), got {self.r_c!r}"
            )
        body = self._body()  # validates the combination
        if self.head == "levels" and not isinstance(body, MLPArchitecture):
            raise ValueError(
                f"head 'levels' applies to the descriptor MLPs only, not {self.network!r}"
            )
        if self.head == "levels" and self.target != "electronic":
            raise ValueError(
                "head 'levels' learns the electronic force: it needs target 'electronic'"
            )

    def architecture(
        self, physics: HolsteinParams | None = None, electrons: ElectronEnsemble | None = None
    ) -> Architecture:
        """The network to train: the paper's, with :attr:`hidden` widths if given, and the
        ``"levels"`` head.

        Parameters
        ----------
        physics : HolsteinParams or None
            The labels' Holstein parameters; the ``"levels"`` head needs them (its coupling
            ``g`` and offset), the ``"force"`` head ignores them. None (default): not given.
        electrons : ElectronEnsemble or None
            The labels' electrons; the ``"levels"`` head needs them at a fixed chemical
            potential (``mu`` not None) and takes their temperature. None (default): not
            given.

        Returns
        -------
        Architecture
            The paper's architecture with :attr:`hidden` and :attr:`r_c` applied, and for
            ``head = "levels"`` an MLP whose last layer has ``2 * poles`` outputs.

        Raises
        ------
        ValueError
            For the ``"levels"`` head without ``physics`` and ``electrons``, or with
            electrons at a fixed filling.
        """
        body = self._body()
        if self.head == "force":
            return body
        if physics is None or electrons is None:
            raise ValueError("head 'levels' needs the Holstein parameters and the electrons")
        if electrons.mu is None:
            raise ValueError(
                "head 'levels' needs labels at a fixed chemical potential (mu), not at a fixed "
                "filling"
            )
        head = LevelHead(
            self.poles, physics.g, electrons.temperature, electrons.mu, physics.coupling.offset
        )
        assert isinstance(body, MLPArchitecture)
        return attrs.evolve(body, widths=(*body.widths[:-1], 2 * self.poles), head=head)

    def _body(self) -> Architecture:
        """The paper's network with :attr:`hidden` and :attr:`r_c`, without a head."""
        arch = PAPER_ARCHITECTURES[self.network]
        if self.r_c:
            if not isinstance(arch, MLPArchitecture):
                raise ValueError(f"r_c applies to the descriptor MLPs only, not {self.network!r}")
            group = D4 if arch.descriptor == "d4" else CS
            size = decompose_neighbourhood(group, self.r_c).size
            arch = attrs.evolve(arch, widths=(size, *arch.widths[1:]), r_c=self.r_c)
        if not self.hidden:
            return arch
        if isinstance(arch, MLPArchitecture):
            return attrs.evolve(arch, widths=(arch.widths[0], *self.hidden, 1))
        if isinstance(arch, GNNArchitecture):
            return attrs.evolve(arch, channels=(arch.channels[0], *self.hidden, 1))
        if isinstance(arch, MPNNArchitecture):
            return attrs.evolve(arch, channels=(1, *self.hidden))
        return attrs.evolve(arch, hidden=self.hidden)

    def init_scheme(self, arch: Architecture) -> str:
        """The initialisation of ``arch`` (:attr:`init`, with ``"auto"`` resolved).

        Parameters
        ----------
        arch : Architecture
            The network to initialise (from :meth:`architecture`); ``"auto"`` picks
            ``"uniform"`` for a descriptor MLP and ``"he"`` for any other network.

        Returns
        -------
        str
            A key of :data:`reference.nn.INIT_SCHEMES` (``"uniform"``, ``"he"`` or
            ``"paper"``).
        """
        if self.init != "auto":
            return self.init
        return "uniform" if isinstance(arch, MLPArchitecture) else "he"

    @property
    def torch_dtype(self) -> torch.dtype:
        """The training precision."""
        return _DTYPES[self.dtype]
