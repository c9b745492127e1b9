r"""Nonequilibrium Green's functions with the energy integral done exactly, per eigenpair.

Twin of :mod:`reference.negf`. In the wide-band limit the self-energy does not
depend on energy, so one eigendecomposition of the non-Hermitian
:math:`H_{\rm eff} = H - i\Gamma = R\Lambda R^{-1}`, :math:`\lambda_k = \epsilon_k - i\gamma_k`,
turns :math:`G^r(\epsilon) = \sum_k r_k l_k^{\top}/(\epsilon - \lambda_k)` into a sum over poles and
the density into

.. math::

    n_i = \frac{1}{2\pi}\sum_\mu \big[R\,(B^\mu \circ I^\mu)\,R^\dagger\big]_{ii}, \qquad
    B^\mu = L\,\mathrm{diag}(2\Gamma_j[\mu_j = \mu])\,L^\dagger, \qquad L = R^{-1},

with the exact Fermi integral of two poles, from the Matsubara expansion of ``f``:

.. math::

    I^\mu_{kk'} = \int d\epsilon\,
    \frac{f(\epsilon - \mu)}{(\epsilon - \lambda_k)(\epsilon - \bar\lambda_{k'})}
    = \frac{-i\pi + \psi\!\big(\tfrac12 + \tfrac{\mu - \lambda_k}{2\pi i T}\big)
            - \psi\!\big(\tfrac12 + \tfrac{\bar\lambda_{k'} - \mu}{2\pi i T}\big)}
           {\lambda_k - \bar\lambda_{k'}}

(:math:`\psi` the digamma function; the ``T -> 0`` limit replaces the digammas by logarithms).
No energy grid, no window, no Lorentzian tails: the result is the converged integral
the reference's Riemann sum approaches as its step shrinks and its window widens.
It needs every :math:`\gamma_k > 0`, i.e. every eigenmode coupled to some reservoir
(true whenever :math:`\Gamma_{\rm bath} > 0`); otherwise the reference sum is used.

``negf_densities``, ``negf_force`` and ``particle_currents`` take the reference's
parameters; with the default ``step=None`` they use the exact evaluation, with a ``step``
they run the reference's Riemann sum (so the two can be compared at equal discretisation).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch

from fast import _lapack
from fast._tensor import Tensor, delegate
from fast.lattice import _field
from fast.model import elastic_force, hamiltonian
from reference import negf as _ref
from reference.lattice import SquareLattice
from reference.model import Electrodes, HolsteinModel

__all__ = [
    "NEGFForceField",
    "chemical_potentials",
    "energy_grid",
    "lesser_green",
    "lesser_self_energy",
    "level_broadening",
    "negf_densities",
    "negf_force",
    "particle_currents",
    "retarded_green",
    "retarded_self_energy",
    "spectral_function",
]

chemical_potentials = delegate(_ref.chemical_potentials)
energy_grid = delegate(_ref.energy_grid)
lesser_green = delegate(_ref.lesser_green)
lesser_self_energy = delegate(_ref.lesser_self_energy)
level_broadening = delegate(_ref.level_broadening)
retarded_green = delegate(_ref.retarded_green)
retarded_self_energy = delegate(_ref.retarded_self_energy)
spectral_function = delegate(_ref.spectral_function)


def complex_digamma(z: Tensor) -> Tensor:
    r"""Digamma :math:`\psi(z)` for complex tensors with :math:`\mathrm{Re}\,z > 0`.

    Recurrence :math:`\psi(z) = \psi(z + n) - \sum_{k<n} 1/(z + k)` up to
    :math:`\mathrm{Re}\,z \ge 16`, then the asymptotic series to :math:`w^{-12}` (error
    below 1e-16 there). Written with tensor ops so it runs on any device.

    Parameters
    ----------
    z : Tensor, shape (...), complex
        Arguments with positive real part.

    Returns
    -------
    Tensor, shape (...)
        :math:`\psi(z)`, dtype and device of ``z``.
    """
    shift = torch.zeros_like(z)
    w = z
    for _ in range(16):
        small = w.real < 16
        if not bool(small.any()):
            break
        shift = shift + torch.where(small, 1.0 / w, torch.zeros_like(w))
        w = torch.where(small, w + 1, w)
    inv = 1.0 / w
    inv2 = inv * inv
    series = inv2 * (
        1.0 / 12
        - inv2
        * (
            1.0 / 120
            - inv2 * (1.0 / 252 - inv2 * (1.0 / 240 - inv2 * (1.0 / 132 - inv2 * 691.0 / 32760)))
        )
    )
    return torch.log(w) - 0.5 * inv - series - shift


def _pole_integral(a: Tensor, b: Tensor, mu: float, temperature: float) -> Tensor:
    r""":math:`\int d\epsilon\, f(\epsilon - \mu)\,[1/(\epsilon - a) - 1/(\epsilon - b)]` for Im a <
    0 < Im b.
    """
    if temperature > 0:
        scale = 2j * math.pi * temperature
        return (
            -1j * math.pi
            + complex_digamma(0.5 + (mu - a) / scale)
            - complex_digamma(0.5 + (b - mu) / scale)
        )
    # T -> 0: psi(1/2 + z) -> log z, and the 2 pi i T of both arguments cancels
    return -1j * math.pi + torch.log(mu - a) - torch.log(b - mu)


_Poles = tuple[Tensor, np.ndarray, Tensor, Tensor, Tensor]


_POLES_BATCH = 8
"""Configurations per batched ``eig`` (bounds memory: three ``N x N`` complex per member)."""


def _poles(q: Tensor, model: HolsteinModel, electrodes: Electrodes) -> Iterator[_Poles]:
    """``(gamma, mu, lambda, R, L)`` of each configuration of ``q`` ``(B, Lx, Ly)``:
    broadenings and chemical potentials per site, and the eigendecomposition
    ``H - i Gamma = R diag(lambda) L`` with ``L = R^-1`` (batched ``eig``, a few at a time)."""
    for start in range(0, len(q), _POLES_BATCH):
        yield from _batch_poles(q[start : start + _POLES_BATCH], model, electrodes)


def _batch_poles(q: Tensor, model: HolsteinModel, electrodes: Electrodes) -> list[_Poles]:
    lat = model.lattice
    gamma = torch.as_tensor(_ref.level_broadening(lat, electrodes).ravel(), device=q.device)
    mu = _ref.chemical_potentials(lat, electrodes).ravel()
    h_eff = hamiltonian(q, model).to(torch.complex128) - 1j * torch.diag(gamma).to(torch.complex128)
    lam, right = _lapack.eig(h_eff)
    if bool((lam.imag >= 0).any()):
        raise ValueError("a mode is decoupled from every reservoir (gamma_k = 0)")
    left = torch.linalg.inv(right)
    return [(gamma, mu, lam[b], right[b], left[b]) for b in range(len(q))]


def _exact_densities(poles: _Poles, temperature: float) -> Tensor:
    """Densities ``(N,)`` of one configuration from its :func:`_poles`."""
    gamma, mu, lam, right, left = poles  # rows of left: l_k^T
    a = lam[:, None]
    b = lam.conj()[None, :]
    n = torch.zeros(len(gamma), dtype=torch.float64, device=gamma.device)
    for value in np.unique(mu):
        weight = torch.as_tensor(2.0 * (mu == value), device=gamma.device) * gamma
        b_mat = (left * weight.to(left.dtype)) @ left.conj().T
        integral = _pole_integral(a, b, float(value), temperature) / (a - b)
        n = n + torch.real(((right @ (b_mat * integral)) * right.conj()).sum(-1))
    return n / (2 * math.pi)


def negf_densities(
    Q: Tensor,
    model: HolsteinModel,
    electrodes: Electrodes,
    step: float | None = None,
    window: tuple[float, float] | None = None,
    tail_correction: bool = True,
) -> Tensor:
    r"""Return the steady-state densities :math:`-i\int G^<_{ii}\,d\epsilon/2\pi`, shape ``(..., Lx,
    Ly)``.

    ``step=None`` (default): exact, per eigenpair (module docstring). With a ``step``:
    the reference's Riemann sum with that step, window and tail correction.

    Parameters
    ----------
    Q : Tensor, shape (..., Lx, Ly)
        Distortions; each configuration of the batch is solved separately.
    model : HolsteinModel
        Lattice open along x; ``model.electrons`` is not used (the reservoirs set the
        occupations).
    electrodes : Electrodes
        Lead and bath broadenings, voltage and reservoir temperature.
    step : float, optional
        None (default): the exact per-pole integral, which needs ``gamma_bath > 0`` (with
        ``gamma_bath == 0`` the reference sum at step 0.003 is used). A float: the
        reference's Riemann sum with this energy step (paper 001: 0.003), on the CPU.
    window : (float, float), optional
        Integration window of the Riemann sum (:func:`energy_grid`); unused by the exact path.
    tail_correction : bool
        Add the exact integral below the window to the Riemann sum (``False`` is the
        paper's plain sum); unused by the exact path.

    Returns
    -------
    Tensor, shape (..., Lx, Ly), float64
        On ``Q``'s device.
    """
    q = _field("Q", Q, model.lattice)
    _ref.level_broadening(model.lattice, electrodes)  # validates: open along x, some site broadened
    if step is not None or electrodes.gamma_bath == 0.0:
        out = [
            torch.as_tensor(
                _ref.negf_densities(
                    c.cpu().numpy(),
                    model,
                    electrodes,
                    0.003 if step is None else step,
                    window,
                    tail_correction,
                ),
                device=q.device,
            )
            for c in q.reshape(-1, *model.lattice.shape)
        ]
        return torch.stack(out).reshape(q.shape)
    flat = q.reshape(-1, *model.lattice.shape)
    t = electrodes.temperature
    out = [_exact_densities(p, t) for p in _poles(flat, model, electrodes)]
    return torch.stack(out).reshape(q.shape)


def negf_force(
    Q: Tensor,
    model: HolsteinModel,
    electrodes: Electrodes,
    step: float | None = None,
    window: tuple[float, float] | None = None,
    tail_correction: bool = True,
) -> Tensor:
    r"""Return :math:`g(\langle n_i\rangle - c) - kQ_i - \kappa\sum_j' Q_j` (paper 001, eq. 4).

    Parameters
    ----------
    Q : Tensor, shape (..., Lx, Ly)
        Distortions; each configuration of the batch is solved separately.
    model : HolsteinModel
        Lattice open along x; ``model.electrons`` is not used (the reservoirs set the
        occupations).
    electrodes : Electrodes
        Lead and bath broadenings, voltage and reservoir temperature.
    step : float, optional
        None (default): the exact per-pole integral, which needs ``gamma_bath > 0`` (with
        ``gamma_bath == 0`` the reference sum at step 0.003 is used). A float: the
        reference's Riemann sum with this energy step (paper 001: 0.003), on the CPU.
    window : (float, float), optional
        Integration window of the Riemann sum (:func:`energy_grid`); unused by the exact path.
    tail_correction : bool
        Add the exact integral below the window to the Riemann sum (``False`` is the
        paper's plain sum); unused by the exact path.

    Returns
    -------
    Tensor, shape (..., Lx, Ly), float64
        On ``Q``'s device.
    """
    q = _field("Q", Q, model.lattice)
    n = negf_densities(q, model, electrodes, step, window, tail_correction)
    p = model.params
    return p.g * (n - p.coupling.offset) + elastic_force(q, model)


def _exact_currents(poles: _Poles, temperature: float) -> Tensor:
    r"""``J_i = 2 Gamma_i [int f_i A_ii / 2 pi - n_i]`` with the energy integral done per pole.

    :math:`A_{ii} = i\sum_k [c_{ik}/(\epsilon - \lambda_k) - \bar c_{ik}/(\epsilon - \bar
    \lambda_k)]`, :math:`c_{ik} = R_{ik}L_{ki}`, :math:`\sum_k c_{ik} = 1`. Pairing each pole
    with a reference pole :math:`b_0 = \mu + i` (or :math:`a_0 = \bar b_0`) leaves only the
    convergent two-pole integrals of :func:`_pole_integral`.
    """
    gamma, mu, lam, right, left = poles
    c = right * left.transpose(0, 1)  # c[i, k] = R_ik L_ki
    inflow = torch.zeros(len(gamma), dtype=torch.float64, device=gamma.device)
    for value in np.unique(mu):
        b0 = torch.tensor(complex(value, 1.0), dtype=torch.complex128, device=gamma.device)
        a0 = b0.conj()
        upper = _pole_integral(lam, b0, float(value), temperature)  # (N,) over poles k
        lower = _pole_integral(a0, lam.conj(), float(value), temperature)
        both = _pole_integral(a0, b0, float(value), temperature)
        integral = (1j / (2 * math.pi)) * (c @ upper + c.conj() @ lower - both)
        sel = torch.as_tensor(mu == value, device=gamma.device)
        inflow = torch.where(sel, integral.real, inflow)
    n = _exact_densities(poles, temperature)
    return 2 * gamma * (inflow - n)


def particle_currents(
    Q: Tensor,
    model: HolsteinModel,
    electrodes: Electrodes,
    step: float | None = None,
    window: tuple[float, float] | None = None,
) -> Tensor:
    r"""Return the particle current from each site's reservoir into the lattice, ``(..., Lx,
    Ly)`` (Meir-Wingreen; twin of :func:`reference.negf.particle_currents`).

    ``step=None`` (default): the energy integral done exactly per pole
    (:func:`_exact_currents`); with a ``step``: the reference's Riemann sum.

    Parameters
    ----------
    Q : Tensor, shape (..., Lx, Ly)
        Distortions; each configuration of the batch is solved separately.
    model : HolsteinModel
        Lattice open along x; ``model.electrons`` is not used (the reservoirs set the
        occupations).
    electrodes : Electrodes
        Lead and bath broadenings, voltage and reservoir temperature.
    step : float, optional
        None (default): the exact per-pole integral, which needs ``gamma_bath > 0`` (with
        ``gamma_bath == 0`` the reference sum at step 0.003 is used). A float: the
        reference's Riemann sum with this energy step (paper 001: 0.003), on the CPU.
    window : (float, float), optional
        Integration window of the Riemann sum (:func:`energy_grid`); unused by the exact path.

    Returns
    -------
    Tensor, shape (..., Lx, Ly), float64
        Positive where electrons enter the lattice; sums to zero over the sites (to
        rounding).
    """
    q = _field("Q", Q, model.lattice)
    _ref.level_broadening(model.lattice, electrodes)  # validates: open along x, some site broadened
    flat = q.reshape(-1, *model.lattice.shape)
    if step is not None or electrodes.gamma_bath == 0.0:
        out = [
            torch.as_tensor(
                _ref.particle_currents(
                    c.cpu().numpy(), model, electrodes, 0.003 if step is None else step, window
                ),
                device=q.device,
            )
            for c in flat
        ]
        return torch.stack(out).reshape(q.shape)
    t = electrodes.temperature
    out = [_exact_currents(p, t) for p in _poles(flat, model, electrodes)]
    return torch.stack(out).reshape(q.shape)


class NEGFForceField:
    """NEGF forces on tensors (exact energy integral unless a ``step`` is given)."""

    def __init__(
        self,
        model: HolsteinModel,
        electrodes: Electrodes,
        step: float | None = None,
        window: tuple[float, float] | None = None,
        tail_correction: bool = True,
    ) -> None:
        _ref.level_broadening(model.lattice, electrodes)  # open along x, some site broadened
        self.model = model
        self.electrodes = electrodes
        self.step = step
        self.window = window
        self.tail_correction = tail_correction

    @property
    def lattice(self) -> SquareLattice:
        """The lattice the force field acts on."""
        return self.model.lattice

    def densities(self, Q: Tensor) -> Tensor:
        """NEGF densities, shape ``(..., Lx, Ly)``.

        Parameters
        ----------
        Q : Tensor, shape (..., Lx, Ly)
            Distortions.

        Returns
        -------
        Tensor, shape (..., Lx, Ly), float64
            :func:`negf_densities` with the field's settings.
        """
        return negf_densities(
            Q, self.model, self.electrodes, self.step, self.window, self.tail_correction
        )

    def forces(self, Q: Tensor) -> Tensor:
        """NEGF forces, shape ``(..., Lx, Ly)``.

        Parameters
        ----------
        Q : Tensor, shape (..., Lx, Ly)
            Distortions.

        Returns
        -------
        Tensor, shape (..., Lx, Ly), float64
            :func:`negf_force` with the field's settings.
        """
        return negf_force(
            Q, self.model, self.electrodes, self.step, self.window, self.tail_correction
        )
