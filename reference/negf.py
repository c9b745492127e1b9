r"""Nonequilibrium Green's functions of the Holstein lattice between two electrodes (paper 001).

The central region is an ``Lx x Ly`` lattice, open along x and (usually) periodic
along y. Its two boundary columns couple to wide-band leads and every bulk site
to a weak bath (:class:`reference.model.Electrodes`). In the wide-band limit the
reservoirs enter through energy-independent, site-diagonal self-energies
(paper 001, eqs. 6-8 and A1-A6):

.. math::

    \Sigma^r_{ij} = -i\,\Gamma_i\,\delta_{ij}, \qquad
    \Sigma^<_{ij}(\epsilon) = 2i\,\Gamma_i\, f(\epsilon - \mu_i)\,\delta_{ij}, \qquad
    G^r(\epsilon) = (\epsilon - H - \Sigma^r)^{-1}, \qquad G^< = G^r \Sigma^< G^a,

with :math:`H_{ij} = -t_{ij} - g Q_i \delta_{ij}`, and the steady-state density

.. math:: \langle n_i \rangle = \int \frac{d\epsilon}{2\pi}\, (-i) G^<_{ii}(\epsilon)
          = \int \frac{d\epsilon}{2\pi} \sum_j |G^r_{ij}|^2\, 2\Gamma_j f(\epsilon - \mu_j),

evaluated as the paper does, by a Riemann sum with step :math:`\Delta\epsilon = 0.003`.

Conventions (derived; see ``specs/equations/negf.md``)
------------------------------------------------------
* :math:`\Gamma_i` is the half width: :math:`\Sigma^r = -i\Gamma_i` makes eq. A6's
  :math:`2i\Gamma_i f` the fluctuation-dissipation partner
  :math:`-(\Sigma^r - \Sigma^a) f`, and eq. A4's :math:`\pi\sum|V|^2\delta` equals
  :math:`-\mathrm{Im}\,\Sigma^r`. (Eq. A4 calls :math:`i(\Sigma^r - \Sigma^a)` the broadening,
  which is :math:`2\Gamma_i`; the factor 2 is a slip of the paper.)
* Eq. 5 omits the measure: the density is :math:`-i\int d\epsilon\, G^<_{ii}/2\pi`, the
  normalisation that gives one electron per fully occupied level.
* The force is :math:`F_i = g(\langle n_i\rangle - c) - kQ_i - \kappa\sum_j' Q_j`
  (eq. 4 with the model's coupling offset ``c``); it is not the gradient of any energy.
* Window. Above the upper edge every Fermi factor is below :math:`e^{-40}` and the
  integrand vanishes. Below the lower edge every reservoir is full, but the
  Lorentzian tails decay only as :math:`2\Gamma_i/\epsilon^2`: cutting them loses
  :math:`\approx\Gamma_i/\pi\Delta` of density at a distance :math:`\Delta` below the
  band (2.4 % on lead sites for :math:`\Gamma = 1, \Delta = 10`). ``tail_correction``
  adds the tail :math:`\int_{-\infty}^{\epsilon_{\rm lo}}` exactly, by Gauss-Legendre
  quadrature in :math:`\theta` with :math:`\epsilon = \epsilon_{\rm lo} - w\tan\theta`;
  ``False`` is the paper's plain Riemann sum.
"""

from __future__ import annotations

import math

import attrs
import numpy as np
from numpy.typing import NDArray

from reference.ed import fermi_dirac
from reference.lattice import SquareLattice
from reference.model import Electrodes, HolsteinModel, elastic_force, hamiltonian
from reference.validation import check_positive

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

_CHUNK = 64  # energies per batched inversion


def _check_open_x(lattice: SquareLattice) -> None:
    if lattice.periodic_x:
        raise ValueError(
            "the electrodes sit on the columns x = 0 and x = Lx - 1: the lattice must be open "
            f"along x (periodic_x=False), got {lattice}"
        )


def _check_reservoirs(lattice: SquareLattice, electrodes: Electrodes) -> None:
    """Raise unless the lattice is open along x and some site is broadened.

    :class:`reference.model.Electrodes` refuses ``gamma_lead = gamma_bath = 0``; on a lattice
    with ``Lx = 2`` every site is a lead site, so there ``gamma_lead`` alone must be > 0.
    """
    _check_open_x(lattice)
    if lattice.Lx == 2 and electrodes.gamma_lead == 0.0:
        raise ValueError(
            "gamma_lead must be > 0 on a lattice with Lx = 2 (every site is a lead site; "
            "without any broadening the steady state is undefined), got gamma_lead=0.0"
        )


def level_broadening(lattice: SquareLattice, electrodes: Electrodes) -> NDArray[np.float64]:
    r"""Return the broadening :math:`\Gamma_i` of every site.

    :math:`\Gamma_{\rm lead}` on the columns ``x = 0, Lx - 1``, :math:`\Gamma_{\rm bath}` elsewhere.
    Some site is always broadened (``ValueError`` otherwise: the steady state would be
    undefined).

    Paper 001, eq. 7 and App. A.

    Parameters
    ----------
    lattice : SquareLattice
        The central region; must be open along x (``periodic_x=False``).
    electrodes : Electrodes
        Lead and bath broadenings, voltage and reservoir temperature.

    Returns
    -------
    (Lx, Ly) float64
    """
    _check_reservoirs(lattice, electrodes)
    gamma = np.full(lattice.shape, electrodes.gamma_bath)
    gamma[0, :] = electrodes.gamma_lead
    gamma[-1, :] = electrodes.gamma_lead
    return gamma


def chemical_potentials(lattice: SquareLattice, electrodes: Electrodes) -> NDArray[np.float64]:
    r"""Return the reservoir chemical potential :math:`\mu_i` of every site.

    :math:`\mu_L = -V` at ``x = 0``, :math:`\mu_R = 0` at ``x = Lx - 1``,
    :math:`\epsilon_F = 0` in the bulk.

    Paper 001, text below eq. 7 and eq. A6.

    Parameters
    ----------
    lattice : SquareLattice
        The central region; must be open along x (``periodic_x=False``).
    electrodes : Electrodes
        Lead and bath broadenings, voltage and reservoir temperature.

    Returns
    -------
    (Lx, Ly) float64
    """
    _check_open_x(lattice)
    mu = np.full(lattice.shape, electrodes.mu_bath)
    mu[0, :] = electrodes.mu_left
    mu[-1, :] = electrodes.mu_right
    return mu


def retarded_self_energy(lattice: SquareLattice, electrodes: Electrodes) -> NDArray[np.complex128]:
    r"""Return the wide-band retarded self-energy :math:`\Sigma^r_{ij} = -i\Gamma_i\delta_{ij}`.

    Paper 001, eq. A3 in the wide-band limit.

    Parameters
    ----------
    lattice : SquareLattice
        The central region; must be open along x (``periodic_x=False``).
    electrodes : Electrodes
        Lead and bath broadenings, voltage and reservoir temperature.

    Returns
    -------
    (N, N) complex128
    """
    return np.diag(-1j * level_broadening(lattice, electrodes).ravel())


def lesser_self_energy(
    energy: NDArray[np.float64], lattice: SquareLattice, electrodes: Electrodes
) -> NDArray[np.complex128]:
    r"""Return the diagonal of :math:`\Sigma^<(\epsilon) = 2i\Gamma_i f(\epsilon - \mu_i)`.

    Paper 001, eqs. 7 and A6.

    Parameters
    ----------
    energy : (n_E,) float64
        Energies ``epsilon`` in units of the hopping (a scalar is taken as ``n_E = 1``).
    lattice : SquareLattice
        The central region; must be open along x (``periodic_x=False``).
    electrodes : Electrodes
        Lead and bath broadenings, voltage and reservoir temperature.

    Returns
    -------
    (n_E, N) complex128
        ``Sigma^<_ii`` at every energy and site ``i = x * Ly + y``.
    """
    e = np.atleast_1d(np.asarray(energy, dtype=np.float64))
    gamma = level_broadening(lattice, electrodes).ravel()
    mu = chemical_potentials(lattice, electrodes).ravel()
    occupation = np.stack([fermi_dirac(e, m, electrodes.temperature) for m in mu], axis=-1)
    return np.asarray(2j * gamma * occupation, dtype=np.complex128)


def retarded_green(
    energy: NDArray[np.float64],
    Q: NDArray[np.float64],
    model: HolsteinModel,
    electrodes: Electrodes,
) -> NDArray[np.complex128]:
    r"""Return :math:`G^r(\epsilon) = (\epsilon - H - \Sigma^r)^{-1}` (paper 001, eqs. 8, A2).

    Parameters
    ----------
    energy : (n_E,) float64
        Energies ``epsilon`` in units of the hopping (a scalar is taken as ``n_E = 1``).
    Q : (Lx, Ly) float64
        One configuration of lattice distortions on ``model.lattice`` (no batch axes).
    model : HolsteinModel
        Its lattice must be open along x; ``model.electrons`` is not used.
    electrodes : Electrodes
        Lead and bath broadenings, voltage and reservoir temperature.

    Returns
    -------
    (n_E, N, N) complex128
    """
    e = np.atleast_1d(np.asarray(energy, dtype=np.float64))
    h_eff = hamiltonian(Q, model) + retarded_self_energy(model.lattice, electrodes)
    n = model.lattice.n_sites
    return np.asarray(np.linalg.inv(e[:, None, None] * np.eye(n) - h_eff), dtype=np.complex128)


def lesser_green(
    energy: NDArray[np.float64],
    Q: NDArray[np.float64],
    model: HolsteinModel,
    electrodes: Electrodes,
) -> NDArray[np.complex128]:
    r"""Return :math:`G^< = G^r\,\Sigma^<\,G^a` at each energy (paper 001, eqs. 6, A5).

    Parameters
    ----------
    energy : (n_E,) float64
        Energies ``epsilon`` in units of the hopping (a scalar is taken as ``n_E = 1``).
    Q : (Lx, Ly) float64
        One configuration of lattice distortions on ``model.lattice`` (no batch axes).
    model : HolsteinModel
        Its lattice must be open along x; ``model.electrons`` is not used.
    electrodes : Electrodes
        Lead and bath broadenings, voltage and reservoir temperature.

    Returns
    -------
    (n_E, N, N) complex128
    """
    gr = retarded_green(energy, Q, model, electrodes)
    sigma = lesser_self_energy(energy, model.lattice, electrodes)
    return np.asarray(np.einsum("eij,ej,ekj->eik", gr, sigma, gr.conj()), dtype=np.complex128)


def spectral_function(
    energy: NDArray[np.float64],
    Q: NDArray[np.float64],
    model: HolsteinModel,
    electrodes: Electrodes,
) -> NDArray[np.float64]:
    r"""Return the local spectral function :math:`A_{ii} = i(G^r - G^a)_{ii}`.

    Equal to :math:`-2\,\mathrm{Im}\,G^r_{ii}`.

    Normalised as :math:`\int A_{ii}\, d\epsilon / 2\pi = 1`.

    Parameters
    ----------
    energy : (n_E,) float64
        Energies ``epsilon`` in units of the hopping (a scalar is taken as ``n_E = 1``).
    Q : (Lx, Ly) float64
        One configuration of lattice distortions on ``model.lattice`` (no batch axes).
    model : HolsteinModel
        Its lattice must be open along x; ``model.electrons`` is not used.
    electrodes : Electrodes
        Lead and bath broadenings, voltage and reservoir temperature.

    Returns
    -------
    (n_E, Lx, Ly) float64
    """
    gr = retarded_green(energy, Q, model, electrodes)
    diag = np.diagonal(gr, axis1=-2, axis2=-1)
    return np.asarray(-2 * diag.imag, dtype=np.float64).reshape(-1, *model.lattice.shape)


def energy_grid(
    Q: NDArray[np.float64],
    model: HolsteinModel,
    electrodes: Electrodes,
    step: float = 0.003,
    window: tuple[float, float] | None = None,
) -> NDArray[np.float64]:
    r"""Return the midpoints of the Riemann sum over energy (paper 001, App. A: step 0.003).

    The default window runs from :math:`\lambda_{\min}(H) - 10\,\max(\Gamma_{\max}, 1)` to
    :math:`\max(\lambda_{\max}(H), \max_i \mu_i) + 40\,T + 1`: above it every Fermi factor is
    below :math:`e^{-40}`, and below it only the Lorentzian tails remain (see
    ``tail_correction`` of :func:`negf_densities`).

    Parameters
    ----------
    Q : (Lx, Ly) float64
        One configuration of lattice distortions on ``model.lattice`` (no batch axes).
    model : HolsteinModel
        Its lattice must be open along x; ``model.electrons`` is not used.
    electrodes : Electrodes
        Lead and bath broadenings, voltage and reservoir temperature.
    step : float
        Energy step (> 0).
    window : (float, float), optional
        Explicit ``(lower, upper)`` edges.

    Returns
    -------
    (n_E,) float64
        Midpoints ``lower + (j + 1/2) * step``.
    """
    step = check_positive("step", step)
    if window is None:
        levels = np.linalg.eigvalsh(hamiltonian(Q, model))
        mu = chemical_potentials(model.lattice, electrodes)
        g_max = max(electrodes.gamma_lead, electrodes.gamma_bath, 1.0)
        lower = float(levels[0]) - 10.0 * g_max
        upper = max(float(levels[-1]), float(mu.max())) + 40.0 * electrodes.temperature + 1.0
    else:
        lower, upper = (float(w) for w in window)
        if not (math.isfinite(lower) and math.isfinite(upper) and upper > lower):
            raise ValueError(f"window must be finite with upper > lower, got {window!r}")
    count = max(1, round((upper - lower) / step))
    return np.asarray(lower + (np.arange(count) + 0.5) * step, dtype=np.float64)


def _riemann(
    Q: NDArray[np.float64],
    model: HolsteinModel,
    electrodes: Electrodes,
    step: float,
    window: tuple[float, float] | None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], float]:
    """Return sum_E (-i G<_ii), sum_E A_ii * 2 Gamma_i f_i, the grid, and its step."""
    q = model.lattice.check_field("Q", Q)
    if q.ndim != 2:
        raise ValueError(
            f"Q must be one configuration of shape {model.lattice.shape}, got {q.shape}"
        )
    gamma = level_broadening(model.lattice, electrodes).ravel()  # validates the reservoirs
    grid = energy_grid(q, model, electrodes, step, window)
    de = float(grid[1] - grid[0]) if len(grid) > 1 else check_positive("step", step)
    lesser = np.zeros(model.lattice.n_sites)
    inflow = np.zeros(model.lattice.n_sites)
    for start in range(0, len(grid), _CHUNK):
        e = grid[start : start + _CHUNK]
        gr = retarded_green(e, q, model, electrodes)
        weight = (lesser_self_energy(e, model.lattice, electrodes) / 1j).real  # 2 Gamma_j f_j
        lesser += np.einsum("eij,ej->i", np.abs(gr) ** 2, weight)
        a_ii = -2 * np.diagonal(gr, axis1=-2, axis2=-1).imag
        inflow += np.einsum("ei,ei->i", a_ii, weight)
    return lesser * de / (2 * np.pi), inflow * de / (2 * np.pi), gamma, grid[0] - de / 2


def _lower_tail(
    Q: NDArray[np.float64],
    model: HolsteinModel,
    electrodes: Electrodes,
    lower: float,
    nodes: int = 48,
) -> NDArray[np.float64]:
    r"""Return the density below the window by quadrature.

    .. math:: \int_{-\infty}^{\epsilon_{\rm lo}} (-i) G^<_{ii}\, d\epsilon / 2\pi


    With :math:`\epsilon = \epsilon_{\rm lo} - w \tan\theta`, :math:`\theta \in (0, \pi/2)`, the
    integrand times :math:`w\sec^2\theta` is smooth and finite at both ends, so Gauss-Legendre
    converges exponentially; ``w`` is the distance from the window edge to the lowest level.
    """
    levels = np.linalg.eigvalsh(hamiltonian(Q, model))
    w = max(float(levels[0]) - lower, 1.0)
    x, weights = np.polynomial.legendre.leggauss(nodes)
    theta = (x + 1) * np.pi / 4
    energies = lower - w * np.tan(theta)
    jacobian = weights * (np.pi / 4) * w / np.cos(theta) ** 2
    gr = retarded_green(energies, Q, model, electrodes)
    occupation = (lesser_self_energy(energies, model.lattice, electrodes) / 1j).real
    integrand = np.einsum("eij,ej->ei", np.abs(gr) ** 2, occupation)
    return np.asarray(jacobian @ integrand / (2 * np.pi), dtype=np.float64)


def negf_densities(
    Q: NDArray[np.float64],
    model: HolsteinModel,
    electrodes: Electrodes,
    step: float = 0.003,
    window: tuple[float, float] | None = None,
    tail_correction: bool = True,
) -> NDArray[np.float64]:
    r"""Return the steady-state densities :math:`-i\int G^<_{ii}\,d\epsilon/2\pi`.

    Paper 001, eq. 5, as a Riemann sum over :func:`energy_grid` (eq. A5-A6 inside).

    Parameters
    ----------
    Q : (Lx, Ly) float64
        One configuration of lattice distortions on ``model.lattice`` (no batch axes).
    model : HolsteinModel
        Lattice open along x; ``model.electrons`` is not used (the reservoirs set the occupations).
    electrodes : Electrodes
        Lead and bath broadenings, voltage and reservoir temperature.
    step : float
        Energy step (paper: 0.003).
    window : (float, float), optional
        Integration window; see :func:`energy_grid`.
    tail_correction : bool
        Add the exact integral below the window (Lorentzian tails, see the module notes);
        ``False`` is the paper's plain sum.

    Returns
    -------
    (Lx, Ly) float64
    """
    lesser, _, _, lower = _riemann(Q, model, electrodes, step, window)
    if tail_correction:
        lesser = lesser + _lower_tail(np.asarray(Q, dtype=np.float64), model, electrodes, lower)
    return lesser.reshape(model.lattice.shape)


def particle_currents(
    Q: NDArray[np.float64],
    model: HolsteinModel,
    electrodes: Electrodes,
    step: float = 0.003,
    window: tuple[float, float] | None = None,
) -> NDArray[np.float64]:
    r"""Return the particle current from each site's reservoir into the lattice.

    .. math:: J_i = \int \frac{d\epsilon}{2\pi}\, 2\Gamma_i
              \big[f(\epsilon - \mu_i) A_{ii}(\epsilon) - (-i)G^<_{ii}(\epsilon)\big]

    (Meir-Wingreen for a site-diagonal wide-band reservoir; positive when electrons
    enter the lattice). In the steady state :math:`\sum_i J_i = 0` at every energy,
    hence exactly for the Riemann sum too. Below the window all reservoirs are full
    and the integrand vanishes identically (:math:`A = G^r 2\Gamma G^a`), so no tail term.
    Sum over ``x = 0`` for the left lead, over ``x = Lx - 1`` for the right lead and
    over the rest for the baths.

    Parameters
    ----------
    Q : (Lx, Ly) float64
        One configuration of lattice distortions on ``model.lattice`` (no batch axes).
    model : HolsteinModel
        Its lattice must be open along x; ``model.electrons`` is not used.
    electrodes : Electrodes
        Lead and bath broadenings, voltage and reservoir temperature.
    step : float
        Energy step of the Riemann sum (> 0; paper: 0.003).
    window : (float, float), optional
        Integration window ``(lower, upper)``; see :func:`energy_grid`.

    Returns
    -------
    (Lx, Ly) float64
    """
    lesser, inflow, gamma, _ = _riemann(Q, model, electrodes, step, window)
    # 2 Gamma_i (-i G<_ii) integrated: lesser carries sum_j |G_ij|^2 2 Gamma_j f_j
    current = inflow - 2 * gamma * lesser
    return current.reshape(model.lattice.shape)


def negf_force(
    Q: NDArray[np.float64],
    model: HolsteinModel,
    electrodes: Electrodes,
    step: float = 0.003,
    window: tuple[float, float] | None = None,
    tail_correction: bool = True,
) -> NDArray[np.float64]:
    r"""Return the nonequilibrium force (paper 001, eq. 4).

    .. math:: F_i = g(\langle n_i\rangle - c) - kQ_i - \kappa\sum_j' Q_j


    Paper 001, eq. 4 (generalised Hellmann-Feynman force), with the model's coupling
    offset ``c``.

    Parameters
    ----------
    Q : (Lx, Ly) float64
        One configuration of lattice distortions on ``model.lattice`` (no batch axes).
    model : HolsteinModel
        Its lattice must be open along x; ``model.electrons`` is not used.
    electrodes : Electrodes
        Lead and bath broadenings, voltage and reservoir temperature.
    step : float
        Energy step of the Riemann sum (> 0; paper: 0.003).
    window : (float, float), optional
        Integration window ``(lower, upper)``; see :func:`energy_grid`.
    tail_correction : bool
        Add the exact density below the window; see :func:`negf_densities`.

    Returns
    -------
    (Lx, Ly) float64
        The force on every lattice mode.
    """
    n = negf_densities(Q, model, electrodes, step, window, tail_correction)
    p = model.params
    return p.g * (n - p.coupling.offset) + elastic_force(Q, model)


@attrs.frozen
class NEGFForceField:
    """NEGF forces as a force provider (non-conservative; no ``energy``).

    Attributes
    ----------
    model : HolsteinModel
    electrodes : Electrodes
    step : float
    window : (float, float) or None
    tail_correction : bool
    """

    model: HolsteinModel
    electrodes: Electrodes
    step: float = 0.003
    window: tuple[float, float] | None = None
    tail_correction: bool = True

    def __attrs_post_init__(self) -> None:
        _check_reservoirs(self.model.lattice, self.electrodes)
        check_positive("step", self.step)

    @property
    def lattice(self) -> SquareLattice:
        """The lattice the force field acts on."""
        return self.model.lattice

    def densities(self, Q: NDArray[np.float64]) -> NDArray[np.float64]:
        """NEGF densities for one or a batch of configurations, shape ``(..., Lx, Ly)``.

        Parameters
        ----------
        Q : (..., Lx, Ly) float64
            Lattice distortions on ``self.lattice`` (finite); leading axes are batch axes.

        Returns
        -------
        (..., Lx, Ly) float64
            :func:`negf_densities` of each configuration, with this field's settings.
        """
        q = self.lattice.check_field("Q", Q)
        flat = q.reshape(-1, *self.lattice.shape)
        out = [
            negf_densities(
                c, self.model, self.electrodes, self.step, self.window, self.tail_correction
            )
            for c in flat
        ]
        return np.asarray(out).reshape(q.shape)

    def forces(self, Q: NDArray[np.float64]) -> NDArray[np.float64]:
        """NEGF forces for one or a batch of configurations, shape ``(..., Lx, Ly)``.

        Parameters
        ----------
        Q : (..., Lx, Ly) float64
            Lattice distortions on ``self.lattice`` (finite); leading axes are batch axes.

        Returns
        -------
        (..., Lx, Ly) float64
            :func:`negf_force` of each configuration, with this field's settings.
        """
        q = self.lattice.check_field("Q", Q)
        p = self.model.params
        return p.g * (self.densities(q) - p.coupling.offset) + elastic_force(q, self.model)
