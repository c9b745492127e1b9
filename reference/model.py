r"""The semiclassical Holstein model: parameters, the tight-binding matrix h(Q), elastic terms.

The model (paper 003, eq. 1; paper 002, eqs. 1-2; paper 001, eqs. 1-2) is

.. math::

    \mathcal{H} = -t_{nn} \sum_{\langle ij \rangle} (c_i^\dagger c_j + \mathrm{h.c.})
        - g \sum_i (n_i - c)\, Q_i
        + \sum_i \Big(\frac{P_i^2}{2m} + \frac{k Q_i^2}{2}\Big)
        + \kappa \sum_{\langle ij \rangle} Q_i Q_j ,

with spinless electrons, classical distortions ``Q_i`` and momenta ``P_i``, and
the coupling offset ``c`` chosen by :class:`Coupling`: ``c = 0`` (papers 000,
001, 002, 004) or ``c = 1/2`` (paper 003 and the authors' script for paper
002). The offset only adds the c-number ``g c sum_i Q_i``: it leaves the
eigenvectors of h(Q) unchanged and shifts the force on every site by ``-g c``.

Build / solve separation: a :class:`HolsteinModel` (lattice + parameters +
electron ensemble) is built once and handed to the solvers (:mod:`reference.ed`).
"""

from __future__ import annotations

import enum
import math

import attrs
import numpy as np
from numpy.typing import NDArray

from reference.lattice import SquareLattice, bonds, neighbour_sum
from reference.validation import check_finite_scalar, check_non_negative, check_positive

__all__ = [
    "PULSE_QUANTITIES",
    "Coupling",
    "ElasticForceField",
    "Electrodes",
    "ElectronEnsemble",
    "HolsteinModel",
    "HolsteinParams",
    "LaserPulse",
    "band_energies",
    "coupling_constant_energy",
    "elastic_energy",
    "elastic_force",
    "electric_field",
    "hamiltonian",
    "hopping_matrix",
    "kinetic_energy",
    "peierls_hamiltonian",
    "peierls_hopping_matrix",
    "vector_potential",
]


class Coupling(enum.Enum):
    """Which electron-lattice coupling the model uses.

    ``DENSITY`` is ``-g sum_i n_i Q_i``; ``DENSITY_MINUS_HALF`` is
    ``-g sum_i (n_i - 1/2) Q_i``. Construct from the strings ``"n"`` or ``"n-1/2"``.
    """

    DENSITY = "n"
    DENSITY_MINUS_HALF = "n-1/2"

    @property
    def offset(self) -> float:
        """The constant ``c`` subtracted from ``n_i`` in the coupling term."""
        return 0.5 if self is Coupling.DENSITY_MINUS_HALF else 0.0


def _to_coupling(value: Coupling | str) -> Coupling:
    if isinstance(value, Coupling):
        return value
    try:
        return Coupling(str(value).replace(" ", ""))
    except ValueError:
        raise ValueError(f"coupling must be 'n' or 'n-1/2', got {value!r}") from None


def _finite(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    check_finite_scalar(attribute.name, value)


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    check_positive(attribute.name, value)


def _non_zero(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if check_finite_scalar(attribute.name, value) == 0.0:
        raise ValueError(f"{attribute.name} must be nonzero, got {value!r}")


@attrs.frozen
class HolsteinParams:
    """Hamiltonian parameters of the semiclassical Holstein model.

    Parameters
    ----------
    hopping : float
        Nearest-neighbour hopping ``t_nn`` (nonzero; the energy unit is ``|t_nn| = 1``).
    g : float
        Electron-lattice coupling.
    k : float
        On-site spring constant (> 0).
    kappa : float
        Nearest-neighbour elastic coupling; ``|kappa| < k / 4`` so that the
        harmonic lattice is stable (its normal-mode stiffnesses
        ``k + 2 kappa (cos qx + cos qy)`` are all positive).
    mass : float
        Mass of the lattice mode (> 0).
    coupling : Coupling or str
        ``"n"`` or ``"n-1/2"``; see :class:`Coupling`.

    The defaults are the parameters of papers 002, 003 and 004
    (``t = 1, g = 3.5, k = 1, kappa = 0.18, m = 5``) with paper 003's coupling.
    """

    hopping: float = attrs.field(default=1.0, converter=float, validator=_non_zero)
    g: float = attrs.field(default=3.5, converter=float, validator=_finite)
    k: float = attrs.field(default=1.0, converter=float, validator=_positive)
    kappa: float = attrs.field(default=0.18, converter=float, validator=_finite)
    mass: float = attrs.field(default=5.0, converter=float, validator=_positive)
    coupling: Coupling = attrs.field(default=Coupling.DENSITY_MINUS_HALF, converter=_to_coupling)

    def __attrs_post_init__(self) -> None:
        if abs(self.kappa) >= self.k / 4:
            raise ValueError(
                f"kappa must satisfy |kappa| < k/4 = {self.k / 4} for a stable lattice, "
                f"got kappa={self.kappa}"
            )

    @property
    def omega(self) -> float:
        """The bare oscillator frequency ``sqrt(k / m)``; ``1/omega`` is paper 003's time unit."""
        return math.sqrt(self.k / self.mass)


@attrs.frozen
class ElectronEnsemble:
    """The electrons' thermodynamic ensemble: temperature and fixed filling or fixed mu.

    Parameters
    ----------
    temperature : float
        ``k_B T`` in units of the hopping (>= 0; 0 means the ground state).
    filling : float or None
        Mean number of electrons per site, in (0, 1). Fixed filling: the
        chemical potential is solved for at every configuration.
    mu : float or None
        Fixed chemical potential (grand canonical). Give exactly one of
        ``filling`` and ``mu``.
    """

    temperature: float = attrs.field(default=0.1, converter=float)
    filling: float | None = attrs.field(default=0.5)
    mu: float | None = attrs.field(default=None)

    def __attrs_post_init__(self) -> None:
        check_non_negative("temperature", self.temperature)
        if (self.filling is None) == (self.mu is None):
            raise ValueError(
                f"give exactly one of filling and mu, got filling={self.filling!r}, mu={self.mu!r}"
            )
        if self.filling is not None:
            f = check_finite_scalar("filling", self.filling)
            if not 0.0 < f < 1.0:
                raise ValueError(f"filling must lie in (0, 1), got {self.filling!r}")
        if self.mu is not None:
            check_finite_scalar("mu", self.mu)

    @property
    def fixed_filling(self) -> bool:
        """True when the filling (not the chemical potential) is held fixed."""
        return self.filling is not None


@attrs.frozen
class HolsteinModel:
    """A finalized Holstein model: lattice, Hamiltonian parameters and electron ensemble.

    Examples
    --------
    >>> model = HolsteinModel(SquareLattice(4, 4), HolsteinParams(), ElectronEnsemble())
    >>> model.n_electrons
    8.0
    """

    lattice: SquareLattice = attrs.field(validator=attrs.validators.instance_of(SquareLattice))
    params: HolsteinParams = attrs.field(
        factory=HolsteinParams, validator=attrs.validators.instance_of(HolsteinParams)
    )
    electrons: ElectronEnsemble = attrs.field(
        factory=ElectronEnsemble, validator=attrs.validators.instance_of(ElectronEnsemble)
    )

    @property
    def n_electrons(self) -> float:
        """The mean electron number ``filling * N`` (fixed filling only)."""
        if self.electrons.filling is None:
            raise ValueError("n_electrons is defined only at fixed filling; this model fixes mu")
        return float(self.electrons.filling) * self.lattice.n_sites


def hopping_matrix(lattice: SquareLattice, hopping: float) -> NDArray[np.float64]:
    r"""Return the hopping part :math:`-t_{nn} \sum_{\langle ij\rangle} (c_i^\dagger c_j + h.c.)`.

    Paper 003, eq. (6), first term.

    Parameters
    ----------
    lattice : SquareLattice
        The lattice; ``N = lattice.n_sites``.
    hopping : float
        Nearest-neighbour hopping ``t_nn`` (finite; the energy unit is ``|t_nn| = 1``).

    Returns
    -------
    (N, N) float64
        Real symmetric; ``-t`` on every bond of :func:`reference.lattice.bonds`.
    """
    t = check_finite_scalar("hopping", hopping)
    h = np.zeros((lattice.n_sites, lattice.n_sites))
    for i, j in bonds(lattice):
        h[i, j] -= t
        h[j, i] -= t
    return h


def hamiltonian(Q: NDArray[np.float64], model: HolsteinModel) -> NDArray[np.float64]:
    r"""Return the single-particle Hamiltonian :math:`h_{ij}(Q) = -t_{ij} - g Q_i \delta_{ij}`.

    Paper 003, eq. (6); paper 002, eq. (1). The constant ``g c sum_i Q_i`` of the
    ``n - 1/2`` coupling is not a matrix element; see
    :func:`coupling_constant_energy`.

    Parameters
    ----------
    Q : (..., Lx, Ly) float64
        Lattice distortions on ``model.lattice`` (finite); leading axes are batch axes.
    model : HolsteinModel
        The model: lattice, parameters (``g``, ``k``, ``kappa``, ...) and electrons.

    Returns
    -------
    (..., N, N) float64
        Real symmetric, site order ``i = x * Ly + y``.
    """
    q = model.lattice.check_field("Q", Q)
    flat = q.reshape(*q.shape[:-2], model.lattice.n_sites)
    h0 = hopping_matrix(model.lattice, model.params.hopping)
    onsite = -model.params.g * flat
    return h0 + onsite[..., :, None] * np.eye(model.lattice.n_sites)


def band_energies(lattice: SquareLattice, hopping: float) -> NDArray[np.float64]:
    r"""Return the analytic spectrum of the hopping matrix (the ``Q = 0`` band).

    Along a periodic axis the modes are plane waves, ``k = 2 pi m / L``; along an
    open axis they are standing waves, ``k = pi m / (L + 1)``, ``m = 1..L``. The
    energies are :math:`\varepsilon(\mathbf{k}) = -2 t (\cos k_x + \cos k_y)`.

    Parameters
    ----------
    lattice : SquareLattice
        The lattice (its shape and boundary conditions fix the allowed ``k``).
    hopping : float
        Nearest-neighbour hopping ``t_nn`` (finite; the energy unit is ``|t_nn| = 1``).

    Returns
    -------
    (N,) float64
        Sorted ascending.
    """
    t = check_finite_scalar("hopping", hopping)
    ks = []
    for n, periodic in zip(lattice.shape, lattice.periodic, strict=True):
        if periodic:
            ks.append(2 * np.pi * np.arange(n) / n)
        else:
            ks.append(np.pi * np.arange(1, n + 1) / (n + 1))
    kx, ky = np.meshgrid(*ks, indexing="ij")
    return np.sort((-2 * t * (np.cos(kx) + np.cos(ky))).ravel())


def coupling_constant_energy(Q: NDArray[np.float64], model: HolsteinModel) -> NDArray[np.float64]:
    r"""Return the c-number part :math:`g\, c \sum_i Q_i` of the coupling term.

    Zero for the ``n`` coupling; ``(g/2) sum_i Q_i`` for ``n - 1/2`` (paper 003, eq. 6).

    Parameters
    ----------
    Q : (..., Lx, Ly) float64
        Lattice distortions on ``model.lattice`` (finite); leading axes are batch axes.
    model : HolsteinModel
        The model; ``model.params.g`` and ``model.params.coupling`` set ``g c``.

    Returns
    -------
    (...) float64
        The constant energy of each configuration, in units of the hopping.
    """
    q = model.lattice.check_field("Q", Q)
    return np.asarray(model.params.g * model.params.coupling.offset * q.sum(axis=(-2, -1)))


def elastic_energy(Q: NDArray[np.float64], model: HolsteinModel) -> NDArray[np.float64]:
    r"""Return the elastic energy of the lattice distortions.

    .. math:: \mathcal{V} = \frac{k}{2}\sum_i Q_i^2 + \kappa \sum_{\langle ij\rangle} Q_i Q_j

    Paper 003, text above eq. (5); paper 001, eq. (2); paper 002, eq. (2) without
    the kinetic term.

    Parameters
    ----------
    Q : (..., Lx, Ly) float64
        Lattice distortions on ``model.lattice`` (finite); leading axes are batch axes.
    model : HolsteinModel
        The model; ``model.params.k`` and ``model.params.kappa`` set the springs.

    Returns
    -------
    (...) float64
        The elastic energy of each configuration, in units of the hopping.
    """
    q = model.lattice.check_field("Q", Q)
    p = model.params
    flat = q.reshape(*q.shape[:-2], model.lattice.n_sites)
    b = bonds(model.lattice)
    return np.asarray(
        0.5 * p.k * (flat**2).sum(axis=-1)
        + p.kappa * (flat[..., b[:, 0]] * flat[..., b[:, 1]]).sum(-1)
    )


def elastic_force(Q: NDArray[np.float64], model: HolsteinModel) -> NDArray[np.float64]:
    r"""Return :math:`F^{\rm elastic}_i = -k Q_i - \kappa \sum_j' Q_j`, minus the gradient of V.

    Paper 003, eq. (5); paper 002, eq. (8), last two terms.

    Parameters
    ----------
    Q : (..., Lx, Ly) float64
        Lattice distortions on ``model.lattice`` (finite); leading axes are batch axes.
    model : HolsteinModel
        The model; ``model.params.k`` and ``model.params.kappa`` set the springs.

    Returns
    -------
    (..., Lx, Ly) float64
        The elastic force on every lattice mode.
    """
    q = model.lattice.check_field("Q", Q)
    return -model.params.k * q - model.params.kappa * neighbour_sum(q, model.lattice)


def kinetic_energy(P: NDArray[np.float64], model: HolsteinModel) -> NDArray[np.float64]:
    r"""Return the lattice kinetic energy :math:`\sum_i P_i^2 / 2m`.

    Paper 003, eq. (1).

    Parameters
    ----------
    P : (..., Lx, Ly) float64
        Lattice momenta on ``model.lattice`` (finite); leading axes are batch axes.
    model : HolsteinModel
        The model; ``model.params.mass`` is the mass ``m``.

    Returns
    -------
    (...) float64
        The kinetic energy of each configuration, in units of the hopping.
    """
    p = model.lattice.check_field("P", P)
    return np.asarray((p**2).sum(axis=(-2, -1)) / (2 * model.params.mass))


@attrs.frozen
class ElasticForceField:
    """The harmonic lattice alone (no electrons) as a conservative force provider.

    ``forces(Q)`` is :func:`elastic_force` and ``energy(Q)`` is
    :func:`elastic_energy`. It is the exactly solvable case behind the
    equipartition tests of the thermostats.
    """

    model: HolsteinModel

    @property
    def lattice(self) -> SquareLattice:
        """The lattice the force field acts on."""
        return self.model.lattice

    def forces(self, Q: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return the elastic force, shape ``(..., Lx, Ly)``.

        Parameters
        ----------
        Q : (..., Lx, Ly) float64
            Lattice distortions on ``self.lattice`` (finite); leading axes are batch axes.

        Returns
        -------
        (..., Lx, Ly) float64
            :func:`elastic_force` of ``Q``.
        """
        return elastic_force(Q, self.model)

    def energy(self, Q: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return the elastic energy, shape ``(...)``.

        Parameters
        ----------
        Q : (..., Lx, Ly) float64
            Lattice distortions on ``self.lattice`` (finite); leading axes are batch axes.

        Returns
        -------
        (...) float64
            :func:`elastic_energy` of ``Q``.
        """
        return elastic_energy(Q, self.model)


# --------------------------------------------------------------------------- driven systems


def _unit_polarisation(value: object) -> tuple[float, float]:
    try:
        ex, ey = (float(c) for c in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise ValueError(f"polarisation must be a pair of numbers, got {value!r}") from None
    norm = math.hypot(ex, ey)
    if not (math.isfinite(norm) and norm > 0):
        raise ValueError(f"polarisation must be a finite nonzero vector, got {value!r}")
    return (ex / norm, ey / norm)


PULSE_QUANTITIES = ("field", "potential")
"""What :class:`LaserPulse`'s formula gives: the electric field or the vector potential."""


@attrs.frozen
class LaserPulse:
    r"""A classical laser pulse (paper 000, eq. 10).

    .. math:: \mathbf{E}(t) = \hat{\mathbf{e}}\, \mathcal{A}\,
              e^{-(t - t_0)^2 / 2\sigma_p^2} \sin(\Omega_p t)

    Parameters
    ----------
    amplitude : float
        Peak field :math:`\mathcal{A}` (paper 000: 0.6).
    frequency : float
        Carrier frequency :math:`\Omega_p` (> 0; paper 000: 1.5 |t_nn|).
    width : float
        Gaussian width :math:`\sigma_p` (> 0; paper 000: tau_0 / 10).
    centre : float
        Time :math:`t_0` of the envelope maximum.
    polarisation : (float, float)
        Direction :math:`\hat{\mathbf{e}}`, normalised on construction (paper 000: (1, 1)).
    quantity : {"field", "potential"}
        What the formula gives. ``"field"`` (paper 000's eq. 10 as written): it is
        :math:`\mathbf{E}(t)` and :math:`\mathbf{A} = -\int_{-\infty}^t \mathbf{E}`.
        ``"potential"``: it is :math:`\mathbf{A}(t)` itself and
        :math:`\mathbf{E} = -\dot{\mathbf{A}}` (no net pulse area, ``A = 0`` after the
        pulse). Paper 000's text does not settle which (``specs/equations/model.md``).
    """

    amplitude: float = attrs.field(default=0.6, converter=float, validator=_finite)
    frequency: float = attrs.field(default=1.5, converter=float, validator=_positive)
    width: float = attrs.field(default=0.5, converter=float, validator=_positive)
    centre: float = attrs.field(default=2.0, converter=float, validator=_finite)
    polarisation: tuple[float, float] = attrs.field(
        default=(1.0, 1.0), converter=_unit_polarisation
    )
    quantity: str = attrs.field(default="field", validator=attrs.validators.in_(PULSE_QUANTITIES))


def _pulse_shape(tt: NDArray[np.float64], pulse: LaserPulse) -> NDArray[np.float64]:
    r"""The scalar :math:`\mathcal{A} e^{-(t-t_0)^2/2\sigma_p^2}\sin(\Omega_p t)` of eq. (10)."""
    envelope = np.exp(-((tt - pulse.centre) ** 2) / (2 * pulse.width**2))
    return np.asarray(pulse.amplitude * envelope * np.sin(pulse.frequency * tt))


def electric_field(t: float | NDArray[np.float64], pulse: LaserPulse) -> NDArray[np.float64]:
    r"""Return :math:`\mathbf{E}(t)` of paper 000, eq. (10).

    For ``pulse.quantity == "potential"`` eq. (10) is :math:`\mathbf{A}(t)` and the field is
    its negative derivative,

    .. math:: \mathbf{E}(t) = -\hat{\mathbf{e}}\mathcal{A} e^{-(t-t_0)^2/2\sigma_p^2}
              \left[\Omega_p\cos(\Omega_p t) - \frac{t - t_0}{\sigma_p^2}\sin(\Omega_p t)\right].

    Parameters
    ----------
    t : float or (...) float64
        Time(s), in the unit of ``pulse.width`` and ``pulse.centre``.
    pulse : LaserPulse
        The pulse parameters; ``pulse.quantity`` says whether eq. (10) is E or A.

    Returns
    -------
    (..., 2) float64
        The field components ``(E_x, E_y)`` at every time.
    """
    tt = np.asarray(t, dtype=np.float64)
    if pulse.quantity == "field":
        scalar = _pulse_shape(tt, pulse)
    else:
        envelope = np.exp(-((tt - pulse.centre) ** 2) / (2 * pulse.width**2))
        scalar = (
            -pulse.amplitude
            * envelope
            * (
                pulse.frequency * np.cos(pulse.frequency * tt)
                - (tt - pulse.centre) / pulse.width**2 * np.sin(pulse.frequency * tt)
            )
        )
    return np.asarray(scalar[..., None] * np.asarray(pulse.polarisation), dtype=np.float64)


def vector_potential(t: float | NDArray[np.float64], pulse: LaserPulse) -> NDArray[np.float64]:
    r"""Return the vector potential, :math:`\mathbf{A}(t) = -\int_{-\infty}^t \mathbf{E}(t')\,dt'`.

    So :math:`\mathbf{E} = -\dot{\mathbf{A}}`.

    Paper 000, text below eq. (11), with :math:`\mathbf{A}(-\infty) = 0`. In closed form,
    with :math:`a = \sigma_p\sqrt2`, :math:`x = (t - t_0)/a`, :math:`y = \Omega_p a / 2`,

    .. math:: \int_{-\infty}^{t} e^{-(t'-t_0)^2/2\sigma_p^2 + i\Omega_p t'} dt'
              = e^{i\Omega_p t_0}\,\frac{a\sqrt\pi}{2}\, e^{-x^2 + 2ixy}\, w(-y - ix)

    (Faddeeva function ``w``; for ``x > 0`` the equivalent
    :math:`a\sqrt\pi e^{-y^2} - \frac{a\sqrt\pi}{2} e^{-x^2+2ixy} w(y + ix)` keeps the
    argument in the upper half plane), and :math:`\mathbf{A} = -\hat{\mathbf{e}}\mathcal{A}`
    times its imaginary part. Eq. (10) carries :math:`\sin(\Omega_p t)`, not
    :math:`\sin(\Omega_p (t - t_0))`, so the pulse has a net area and
    :math:`\mathbf{A}(+\infty)` is a nonzero constant in general. For
    ``pulse.quantity == "potential"`` eq. (10) is :math:`\mathbf{A}(t)` itself.

    Parameters
    ----------
    t : float or (...) float64
        Time(s), in the unit of ``pulse.width`` and ``pulse.centre``.
    pulse : LaserPulse
        The pulse parameters; ``pulse.quantity`` says whether eq. (10) is E or A.

    Returns
    -------
    (..., 2) float64
        The components ``(A_x, A_y)`` at every time.
    """
    from scipy.special import wofz

    tt = np.asarray(t, dtype=np.float64)
    if pulse.quantity == "potential":
        shape = _pulse_shape(tt, pulse)
        return np.asarray(shape[..., None] * np.asarray(pulse.polarisation), dtype=np.float64)
    a = pulse.width * math.sqrt(2.0)
    x = (tt - pulse.centre) / a
    y = pulse.frequency * a / 2
    phase = np.exp(-(x**2) + 2j * x * y)
    before = phase * wofz(-y - 1j * np.minimum(x, 0.0))
    after = 2 * math.exp(-(y**2)) - phase * wofz(y + 1j * np.maximum(x, 0.0))
    integral = np.exp(1j * pulse.frequency * pulse.centre) * (a * math.sqrt(math.pi) / 2)
    integral = integral * np.where(x <= 0, before, after)
    scalar = -pulse.amplitude * integral.imag
    return np.asarray(scalar[..., None] * np.asarray(pulse.polarisation), dtype=np.float64)


def peierls_hopping_matrix(
    lattice: SquareLattice, hopping: float, A: NDArray[np.float64]
) -> NDArray[np.complex128]:
    r"""Return the hopping matrix with Peierls phases for a uniform vector potential.

    Paper 000, eq. (11): :math:`t_{ij} \to t_{ij}\exp[-i\int_{\mathbf{r}_i}^{\mathbf{r}_j}
    \mathbf{A}\cdot d\mathbf{r}]`, so the coefficient of :math:`c_i^\dagger c_j` is

    .. math:: h_{ij} = -t_{nn}\, e^{-i \mathbf{A}\cdot(\mathbf{r}_j - \mathbf{r}_i)}

    with :math:`\mathbf{r}_j - \mathbf{r}_i` the bond vector (:math:`\pm\hat x, \pm\hat y`,
    also across a periodic edge). ``A = 0`` gives :func:`hopping_matrix`.

    Parameters
    ----------
    lattice : SquareLattice
        The lattice; ``N = lattice.n_sites``.
    hopping : float
        Nearest-neighbour hopping ``t_nn`` (finite; the energy unit is ``|t_nn| = 1``).
    A : (2,) float64
        The vector potential ``(A_x, A_y)`` (charge and lattice constant set to one).

    Returns
    -------
    (N, N) complex128
        Hermitian.
    """
    t = check_finite_scalar("hopping", hopping)
    a = np.asarray(A, dtype=np.float64)
    if a.shape != (2,) or not np.all(np.isfinite(a)):
        raise ValueError(f"A must be a finite vector of shape (2,), got {A!r}")
    h = np.zeros((lattice.n_sites, lattice.n_sites), dtype=np.complex128)
    coords = lattice.coordinates
    for axis, (n, periodic) in enumerate(zip(lattice.shape, lattice.periodic, strict=True)):
        step = np.zeros(2, dtype=np.int64)
        step[axis] = 1
        phase = np.exp(-1j * a[axis])  # bond vector +e_axis from i to j
        for i, r in enumerate(coords):
            s = r + step
            if s[axis] >= n:
                if not periodic:
                    continue
                s[axis] -= n
            j = int(s[0]) * lattice.Ly + int(s[1])
            h[i, j] += -t * phase
            h[j, i] += -t * np.conj(phase)
    return h


def peierls_hamiltonian(
    Q: NDArray[np.float64], model: HolsteinModel, A: NDArray[np.float64]
) -> NDArray[np.complex128]:
    r"""Return the single-particle Hamiltonian with Peierls phases.

    .. math:: h_{ij}(Q, \mathbf{A}) = -t_{nn} e^{-i\mathbf{A}\cdot(\mathbf{r}_j-\mathbf{r}_i)}
              - g Q_i \delta_{ij}


    Paper 000, eqs. (9) and (11), with the on-site sign of eqs. (4) and (6) (see
    ``specs/equations/model.md``).

    Parameters
    ----------
    Q : (Lx, Ly) float64
        One configuration of lattice distortions on ``model.lattice`` (no batch axes).
    model : HolsteinModel
        The model; ``model.params.hopping`` and ``model.params.g`` enter.
    A : (2,) float64
        The uniform vector potential ``(A_x, A_y)`` (finite; charge and lattice constant one).

    Returns
    -------
    (N, N) complex128
        Hermitian, site order ``i = x * Ly + y``.
    """
    q = model.lattice.check_field("Q", Q)
    if q.ndim != 2:
        raise ValueError(
            f"Q must be one configuration of shape {model.lattice.shape}, got {q.shape}"
        )
    h = peierls_hopping_matrix(model.lattice, model.params.hopping, A)
    return h - model.params.g * np.diag(q.ravel()).astype(np.complex128)


@attrs.frozen
class Electrodes:
    r"""Wide-band reservoirs of the voltage-driven setup (paper 001, eqs. 4-8, App. A).

    The two boundary columns ``x = 0`` and ``x = Lx - 1`` couple to leads with
    broadening :math:`\Gamma_{\rm lead}` and chemical potentials
    :math:`\mu_L = -eV` (left, ``e = 1``) and :math:`\mu_R = 0` (right); every bulk site
    couples to a weak bath with :math:`\Gamma_{\rm bath}` at :math:`\mu = \epsilon_F = 0`.

    Parameters
    ----------
    gamma_lead : float
        Lead broadening (>= 0; paper 001: 1.0). :math:`\Sigma^r_{ii} = -i\Gamma_i`.
    gamma_bath : float
        Bulk-bath broadening (>= 0; paper 001: 0.001). At least one of the two must be
        > 0: without any broadening the steady state is undefined.
    voltage : float
        Applied voltage ``V``; the left lead sits at ``mu_L = -V``.
    temperature : float
        Temperature of every reservoir (>= 0; paper 001: 0.1).
    """

    gamma_lead: float = attrs.field(default=1.0, converter=float)
    gamma_bath: float = attrs.field(default=0.001, converter=float)
    voltage: float = attrs.field(default=0.0, converter=float, validator=_finite)
    temperature: float = attrs.field(default=0.1, converter=float)

    def __attrs_post_init__(self) -> None:
        check_non_negative("gamma_lead", self.gamma_lead)
        check_non_negative("gamma_bath", self.gamma_bath)
        if self.gamma_lead == 0.0 and self.gamma_bath == 0.0:
            raise ValueError(
                "gamma_lead and gamma_bath must not both be 0: without any broadening the "
                "steady state is undefined (at least one must be > 0)"
            )
        check_non_negative("temperature", self.temperature)

    @property
    def mu_left(self) -> float:
        """Chemical potential of the left lead, ``-V``."""
        return -self.voltage

    @property
    def mu_right(self) -> float:
        """Chemical potential of the right lead (the substrate), 0."""
        return 0.0

    @property
    def mu_bath(self) -> float:
        """Chemical potential of the bulk baths, ``epsilon_F = 0``."""
        return 0.0
