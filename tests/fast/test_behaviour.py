"""Behavioural tests of the earlier issues, run on both packages through a ``backend`` fixture.

The equivalence registry proves fast == reference on random inputs; these tests check
the physical laws directly on the fast implementations too (and on CUDA when present),
so a fast-only code path (autograd, batched eigh, torch integrators) cannot hide a bug.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch

import fast
import reference.dynamics
import reference.ed
import reference.forcefield
import reference.model
import reference.nn
import reference.observables
import reference.testing
from reference.lattice import SquareLattice, sublattice_sign
from reference.model import ElectronEnsemble, HolsteinModel, HolsteinParams

BACKENDS = [
    "reference",
    "fast-cpu",
    pytest.param(
        "fast-cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
    ),
]


class Backend:
    """The package under test and how to hand it arrays."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.pkg: ModuleType = reference if name == "reference" else fast  # type: ignore[assignment]
        self.device = "cuda" if name == "fast-cuda" else "cpu"

    def array(self, values: np.ndarray) -> Any:
        return values if self.name == "reference" else torch.as_tensor(values, device=self.device)

    def numpy(self, values: Any) -> np.ndarray:
        return np.asarray(
            values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else values
        )

    @property
    def testing(self) -> Any:
        return reference.testing if self.name == "reference" else fast.testing


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    return Backend(request.param)


MODEL = HolsteinModel(SquareLattice(4, 4), HolsteinParams(g=2.0), ElectronEnsemble(0.2, 0.5))


def test_exact_force_is_minus_the_gradient_of_the_free_energy(backend: Backend) -> None:
    q = backend.array(np.random.default_rng(0).normal(size=(4, 4)))
    forces = backend.numpy(backend.pkg.ed.total_force(q, MODEL))
    numeric = backend.numpy(
        backend.pkg.forcefield.numerical_forces(
            lambda x: backend.pkg.ed.total_energy(x, MODEL), q, 1e-4
        )
    )
    np.testing.assert_allclose(forces, numeric, atol=1e-7)


def test_fast_free_energy_gradient_by_autograd_is_the_hellmann_feynman_force() -> None:
    q = torch.tensor(np.random.default_rng(1).normal(size=(4, 4)), requires_grad=True)
    energy = fast.ed.total_energy(q, MODEL)
    (grad,) = torch.autograd.grad(energy, q)
    np.testing.assert_allclose(
        -grad.numpy(), fast.ed.total_force(q.detach(), MODEL).numpy(), atol=1e-9
    )


def test_exact_forces_are_d4_and_translation_equivariant(backend: Backend) -> None:
    q = backend.array(np.random.default_rng(2).normal(size=(4, 4)))
    ff = backend.pkg.ed.ExactForceField(MODEL)
    backend.testing.assert_d4_equivariant(ff, q, MODEL.lattice, atol=1e-9, rtol=1e-9)
    backend.testing.assert_translation_equivariant(ff, q, MODEL.lattice, atol=1e-9, rtol=1e-9)


def test_langevin_equipartition(backend: Backend) -> None:
    model = HolsteinModel(SquareLattice(4, 4), HolsteinParams(k=1.0, kappa=0.0, mass=2.0))
    field = backend.pkg.model.ElasticForceField(model)
    integ = backend.pkg.dynamics.langevin_baoab(
        field, mass=2.0, gamma=2.0, temperature=0.5, dt=0.05
    )
    state = integ.init(backend.array(np.zeros((256, 4, 4))), rng=7)
    ps, qs = [], []
    for i in range(1500):
        state = integ.step(state)
        if i >= 300 and i % 15 == 0:
            ps.append(backend.numpy(state.P))
            qs.append(backend.numpy(state.Q))
    assert np.mean(np.square(ps)) / 2.0 == pytest.approx(0.5, rel=0.02)
    assert np.mean(np.square(qs)) == pytest.approx(0.5, rel=0.02)


@pytest.mark.parametrize("name", ["gnn", "enn", "mpnn"])
def test_networks_are_equivariant_and_local(backend: Backend, name: str) -> None:
    arch = {
        "gnn": reference.nn.GNNArchitecture((1, 6, 5, 1)),
        "enn": reference.nn.ENNArchitecture(hidden=(3, 2)),
        "mpnn": reference.nn.MPNNArchitecture((1, 6, 5)),
    }[name]
    weights = reference.nn.init_weights(arch, np.random.default_rng(3))
    lat = SquareLattice(12, 12)
    if backend.name != "reference":
        weights = fast.nn.Network.from_weights(weights, dtype=torch.float64, device=backend.device)
    ff = backend.pkg.nn.NetworkForceField(weights, lat)
    q = backend.array(np.random.default_rng(4).normal(size=lat.shape))
    backend.testing.assert_d4_equivariant(ff, q, lat, atol=1e-9, rtol=1e-9)
    radius = {"gnn": 3, "enn": 3.61, "mpnn": 4}[name]
    metric = "euclidean" if name == "enn" else "manhattan"
    backend.testing.assert_local(ff, q, lat, (5, 5), radius, metric=metric)
    if name == "mpnn":
        backend.testing.assert_conservative(ff, backend.numpy(q), step=1e-4)


def test_trained_weights_round_trip_through_a_module() -> None:
    for arch in reference.nn.PAPER_ARCHITECTURES.values():
        if reference.nn.parameter_count(arch) > 2_000_000:
            continue
        weights = reference.nn.init_weights(arch, np.random.default_rng(5))
        back = fast.nn.Network.from_weights(weights, dtype=torch.float64).to_weights()
        for key, value in weights.arrays.items():
            np.testing.assert_array_equal(back.arrays[key], value)
        assert fast.nn.parameter_count(arch) == sum(
            p.numel() for p in fast.nn.Network(arch).parameters()
        )


def test_checkerboard_structure_factor_is_one_peak(backend: Backend) -> None:
    lat = SquareLattice(6, 6)
    n = backend.array(0.5 + 0.3 * sublattice_sign(lat))
    s = backend.numpy(backend.pkg.observables.structure_factor(n, lat))
    assert s[3, 3] == pytest.approx(0.09) and np.sum(s) == pytest.approx(0.09)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_fields_are_refused_on_every_backend(backend: Backend, dtype: type) -> None:
    # torch would accept a complex tensor in the gathers and fail (or compute) later
    lat = SquareLattice(7, 7)
    z = backend.array(np.zeros(lat.shape, dtype=dtype))
    op = backend.pkg.lattice.D4_OPERATIONS[1]
    for call in (
        lambda: backend.pkg.lattice.apply_point_operation(z, op, lat),
        lambda: backend.pkg.lattice.translate(z, (1, 0), lat),
        lambda: backend.pkg.descriptors.d4_descriptor(z, lat),
    ):
        with pytest.raises(ValueError, match="field must be real-valued"):
            call()


@pytest.mark.parametrize("name", ["mlp", "gnn", "gnn_sum", "gnn_time", "mpnn", "enn"])
def test_tiled_evaluation_is_exact(name: str) -> None:
    """Tiles with a halo of the receptive radius give the same forces as the whole lattice.

    The GNN's tiles take their own path (a halo that shrinks layer by layer), checked here
    for both aggregations and with the time channel.
    """
    arch = {
        "mlp": reference.nn.MLPArchitecture((45, 16, 1)),
        "gnn": reference.nn.GNNArchitecture((1, 8, 8, 1)),
        "gnn_sum": reference.nn.GNNArchitecture((1, 8, 8, 1), aggregation="sum"),
        "gnn_time": reference.nn.GNNArchitecture((2, 8, 8, 1), time_channel=True),
        "mpnn": reference.nn.MPNNArchitecture((1, 6, 5)),
        "enn": reference.nn.ENNArchitecture(hidden=(3, 2)),
    }[name]
    net = fast.nn.Network.from_weights(
        reference.nn.init_weights(arch, np.random.default_rng(6)), dtype=torch.float64
    )
    lat = SquareLattice(30, 26)
    q = torch.as_tensor(np.random.default_rng(7).normal(size=(2, 30, 26)))
    field = fast.nn.NetworkForceField(net, lat, 3.5 if name == "gnn_time" else None)
    field.tile = None
    whole = field.forces(q)
    field.tile = 12
    np.testing.assert_allclose(field.forces(q).numpy(), whole.numpy(), atol=1e-12)


def test_exact_particle_currents_obey_the_sum_rule_and_vanish_without_bias() -> None:
    from reference.model import Electrodes, HolsteinModel, HolsteinParams

    lattice = reference.lattice.SquareLattice(6, 4, periodic_x=False)
    model = HolsteinModel(lattice, HolsteinParams(g=1.5, kappa=0.18))
    q = torch.as_tensor(np.random.default_rng(5).normal(scale=0.6, size=(2, 6, 4)))
    biased = Electrodes(gamma_lead=1.0, gamma_bath=0.05, voltage=1.0, temperature=0.1)
    j = fast.negf.particle_currents(q, model, biased)
    assert j.shape == (2, 6, 4)
    np.testing.assert_allclose(j.sum(dim=(-2, -1)).numpy(), 0.0, atol=1e-12)
    assert float(j[:, 0].sum()) < -1e-3  # mu_L = -V: electrons leave through the left lead
    unbiased = Electrodes(gamma_lead=1.0, gamma_bath=0.05, voltage=0.0, temperature=0.1)
    assert float(fast.negf.particle_currents(q, model, unbiased).abs().max()) < 1e-12


def test_thermal_state_has_no_nonadiabatic_part_and_its_current_is_minus_de_da(
    backend: Backend,
) -> None:
    """Paper 000's force split on thermal states of h(Q, A), two configurations at once.

    rho_eq commutes with h, so chi = 0 and its band populations are the Fermi occupations
    of h(Q, A); at A = 0 the adiabatic force is the exact force. The lattice current is
    J = -dE/dA at fixed rho.
    """
    ehr = backend.pkg.ehrenfest
    model = HolsteinModel(SquareLattice(4, 3), HolsteinParams(g=2.0), ElectronEnsemble(0.2, 0.5))
    q_np = np.random.default_rng(3).normal(size=(2, 4, 3))
    a_np = np.array([0.3, -0.7])
    batched = backend.name != "reference"

    def each(function: Any, members: tuple[np.ndarray, ...], *shared: Any) -> np.ndarray:
        """``function`` on both configurations: one batched call, or a loop for reference."""
        if batched:
            args = [backend.array(m) for m in members]
            extra = [backend.array(x) if isinstance(x, np.ndarray) else x for x in shared]
            out = function(*args, *extra)
            return (
                tuple(backend.numpy(o) for o in out)
                if isinstance(out, tuple)
                else backend.numpy(out)
            )  # type: ignore[return-value]
        outs = [function(*[m[k] for m in members], *shared) for k in range(2)]
        if isinstance(outs[0], tuple):
            return tuple(np.stack(o) for o in zip(*outs, strict=True))  # type: ignore[return-value]
        return np.stack(outs)

    rho = each(ehr.equilibrium_density_matrix, (q_np,), model, a_np)
    np.testing.assert_allclose(each(ehr.density_deviation, (rho, q_np), model, a_np), 0, atol=1e-12)
    levels, pops = each(ehr.band_populations, (rho, q_np), model, a_np)
    mu = reference.ed.chemical_potential(levels[0], model.n_electrons, 0.2)
    assert pops.sum(-1) == pytest.approx([6.0, 6.0], abs=1e-10)
    np.testing.assert_allclose(pops[0], reference.ed.fermi_dirac(levels[0], mu, 0.2), atol=1e-10)
    rho0 = each(ehr.equilibrium_density_matrix, (q_np,), model, np.zeros(2))
    force = each(ehr.adiabatic_force, (rho0, q_np), model, np.zeros(2))
    np.testing.assert_allclose(force, reference.ed.total_force(q_np, model), atol=1e-10)
    current = each(ehr.lattice_current, (rho,), model, a_np)
    for axis in range(2):
        step = np.zeros(2)
        step[axis] = 1e-5
        e_plus, e_minus = (
            each(ehr.electronic_energy, (rho, q_np), model, a_np + s) for s in (step, -step)
        )
        np.testing.assert_allclose(current[:, axis], -(e_plus - e_minus) / 2e-5, atol=1e-8)
    assert np.abs(current).max() > 1e-3


@pytest.mark.parametrize(
    "electrons",
    [ElectronEnsemble(0.1, None, mu=0.0), ElectronEnsemble(0.1, 0.4)],
    ids=["fixed mu", "fixed filling"],
)
def test_cluster_forces_in_small_chunks_equal_one_batch(
    monkeypatch: pytest.MonkeyPatch, electrons: ElectronEnsemble
) -> None:
    model = HolsteinModel(SquareLattice(9, 7), HolsteinParams(g=3.5), electrons)
    q = torch.as_tensor(np.random.default_rng(8).normal(scale=2.0, size=(2, 9, 7)))
    whole = fast.ed.cluster_force(q, model, 2.3)
    monkeypatch.setattr(fast.ed, "_CLUSTER_CHUNK", 5 * 21**2)  # 5 sites per eigh batch
    np.testing.assert_allclose(
        fast.ed.cluster_force(q, model, 2.3).numpy(), whole.numpy(), 0, 1e-14
    )
    np.testing.assert_allclose(
        whole.numpy(), reference.ed.cluster_force(q.numpy(), model, 2.3), atol=1e-12
    )


@pytest.mark.parametrize("temperature", [0.1, 0.0])
def test_fixed_filling_cluster_forces_are_exact_when_every_cluster_is_the_whole_open_lattice(
    backend: Backend, temperature: float
) -> None:
    """3x3 open, r_c = 3: every cluster Hamiltonian is h, so the global cluster mu is the
    exact fixed-filling mu and the cluster forces are the exact ones."""
    model = HolsteinModel(
        SquareLattice(3, 3, False, False),
        HolsteinParams(g=2.5, kappa=0.1, coupling="n-1/2"),
        ElectronEnsemble(temperature, 0.4),
    )
    q = np.random.default_rng(9).normal(size=(3, 3, 3))
    forces = backend.numpy(backend.pkg.ed.cluster_force(backend.array(q), model, 3.0))
    np.testing.assert_allclose(forces, reference.ed.total_force(q, model), atol=1e-10, rtol=0)


@pytest.mark.parametrize("temperature", [0.05, 0.0])
def test_fixed_filling_cluster_densities_hold_f_n_electrons_and_are_equivariant(
    backend: Backend, temperature: float
) -> None:
    lattice = SquareLattice(40, 40)
    model = HolsteinModel(lattice, HolsteinParams(g=2.0), ElectronEnsemble(temperature, 0.45))
    rng = np.random.default_rng(10)
    q = np.stack(
        [
            rng.normal(size=lattice.shape),
            sublattice_sign(lattice) + 0.2 * rng.normal(size=lattice.shape),
        ]
    )
    n = backend.numpy(backend.pkg.ed.cluster_densities(backend.array(q), model, 2.0))
    np.testing.assert_allclose(n.sum((-2, -1)), model.n_electrons, rtol=1e-12, atol=0)
    small = HolsteinModel(SquareLattice(8, 8), model.params, model.electrons)
    field = backend.pkg.ed.ClusterForceField(small, 2.0)
    q_small = backend.array(q[0, :8, :8])
    backend.testing.assert_d4_equivariant(field, q_small, small.lattice, atol=1e-12, rtol=1e-12)
    backend.testing.assert_translation_equivariant(
        field, q_small, small.lattice, atol=1e-12, rtol=1e-12
    )


def test_norm_activation_has_finite_gradients_at_a_vanishing_feature() -> None:
    """|Y| = sqrt(Y.Y) has an infinite derivative at Y = 0; a zero feature vector (all
    its inputs switched off) must not turn the ENN's gradients into NaN."""
    y = torch.zeros(3, 4, 2, dtype=torch.float64)
    y[0, 1] = torch.tensor([0.3, -0.4])
    y.requires_grad_(True)
    bias = torch.tensor([0.1, -0.2, 0.0, 0.5], dtype=torch.float64, requires_grad=True)
    out = fast.nn.norm_activation(y, bias)
    out.sum().backward()  # type: ignore[no-untyped-call]
    assert y.grad is not None and bias.grad is not None
    assert torch.isfinite(y.grad).all() and torch.isfinite(bias.grad).all()
    expected = reference.nn.norm_activation(y.detach().numpy(), bias.detach().numpy())
    np.testing.assert_allclose(out.detach().numpy(), expected, atol=1e-15)


@pytest.mark.parametrize("name", ["enn", "mpnn"])
def test_many_configurations_are_evaluated_in_batches_with_the_same_forces(name: str) -> None:
    arch = {
        "enn": reference.nn.ENNArchitecture(hidden=(3, 2)),
        "mpnn": reference.nn.MPNNArchitecture((1, 6, 5)),
    }[name]
    net = fast.nn.Network.from_weights(
        reference.nn.init_weights(arch, np.random.default_rng(9)), dtype=torch.float64
    )
    lat = SquareLattice(7, 8)  # periodic lengths >= 7: the ENN's r_c = 3.61 does not wrap
    q = torch.as_tensor(np.random.default_rng(10).normal(size=(2, 5, 7, 8)))
    field = fast.nn.NetworkForceField(net, lat)
    field.batch = None
    whole = field.forces(q)
    field.batch = 3  # 10 configurations: chunks of 3, 3, 3 and 1
    chunked = field.forces(q)
    assert chunked.shape == (2, 5, 7, 8)
    np.testing.assert_allclose(chunked.numpy(), whole.numpy(), rtol=0, atol=1e-13)


@pytest.mark.parametrize(
    ("shape", "complex_"),
    [
        ((3, 2, 12, 12), False),  # a stack of small matrices: worker threads
        ((1, 12, 12), False),  # one small matrix: single-threaded LAPACK
        ((210, 210), False),  # one matrix above the threading threshold
        ((3, 20, 20), True),  # complex stack: worker threads
        ((2, 400, 400), True),  # complex from order 400: torch's MKL
    ],
)
def test_every_cpu_eigh_backend_returns_an_eigendecomposition(
    shape: tuple[int, ...], complex_: bool
) -> None:
    """Each branch of ``fast.ed.eigh`` on CPU: ``h V = V diag(e)``, ``V`` unitary, levels
    ascending and equal to LAPACK's, for every member of the stack in its place."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=shape) + (1j * rng.normal(size=shape) if complex_ else 0.0)
    h = torch.as_tensor(x + np.swapaxes(x, -1, -2).conj())
    eps, vecs = fast.ed.eigh(h)
    assert eps.shape == h.shape[:-1] and vecs.shape == h.shape and vecs.dtype == h.dtype
    eye = torch.eye(shape[-1], dtype=h.dtype)
    assert torch.allclose(h @ vecs, vecs * eps[..., None, :].to(h.dtype), atol=1e-10)
    assert torch.allclose(vecs.conj().transpose(-1, -2) @ vecs, eye, atol=1e-12)
    assert torch.all(torch.diff(eps, dim=-1) >= 0)
    np.testing.assert_allclose(eps.numpy(), np.linalg.eigvalsh(h.numpy()), atol=1e-10)


@pytest.mark.parametrize("shape", [(3, 2, 15, 15), (1, 15, 15), (2, 230, 230)])
def test_the_cpu_general_eig_returns_an_eigendecomposition(shape: tuple[int, ...]) -> None:
    """``fast._lapack.eig`` (NEGF's non-Hermitian ``H - i Gamma``) on CPU: ``a R = R
    diag(lam)`` with unit-norm columns, and the same spectrum as LAPACK, in place."""
    from fast import _lapack

    rng = np.random.default_rng(6)
    a = torch.as_tensor(rng.normal(size=shape) + 1j * rng.normal(size=shape))
    lam, right = _lapack.eig(a)
    assert lam.shape == a.shape[:-1] and right.shape == a.shape and right.dtype == a.dtype
    assert torch.allclose(a @ right, right * lam[..., None, :], atol=1e-9)
    assert torch.allclose(torch.linalg.vector_norm(right, dim=-2), torch.ones(lam.shape).double())
    expected = np.sort_complex(np.linalg.eigvals(a.numpy()).reshape(-1, shape[-1]))
    got = np.sort_complex(lam.numpy().reshape(-1, shape[-1]))
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_frame_search_by_gathers_equals_the_general_transformed_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the descriptors' fast path treats each irrep as a signed permutation (gathers and
    # sign flips); the general path multiplies by the irrep matrices. Same frames, same
    # features, on random neighbourhoods and on symmetric ones full of exact ties.
    from fast import descriptors as fd
    from reference.symmetry import D4

    hood = fd.decompose_neighbourhood(D4, 3.61)
    rng = np.random.default_rng(3)
    lattice = SquareLattice(9, 9)
    checkerboard = sublattice_sign(lattice) * 1.3
    fields = torch.as_tensor(
        np.stack([rng.normal(size=lattice.shape), checkerboard, checkerboard + 0.5])
    )
    values = fd.neighbourhood_values(fields, torch.as_tensor(hood.offsets), lattice)
    blocks = fd.split_irreps(fd.irrep_coefficients(fields, hood, lattice), hood)
    keys = [("E", blocks["E"]), ("B1", blocks["B1"]), ("A2", blocks["A2"])]
    fast_element = fd.canonical_element(keys, D4)
    fast_features = fd.frame_features(values, hood)
    monkeypatch.setattr(fd, "_signed_permutation", lambda group, name: None)
    monkeypatch.setattr(fd, "_coefficient_permutation", lambda neighbourhood: None)
    torch.testing.assert_close(fd.canonical_element(keys, D4), fast_element, rtol=0, atol=0)
    torch.testing.assert_close(fd.frame_features(values, hood), fast_features, rtol=0, atol=1e-14)


def test_mlp_inference_in_row_blocks_equals_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    arch = reference.nn.MLPArchitecture((45, 16, 8, 1))
    network = fast.nn.Network(arch, dtype=torch.float64)
    x = torch.as_tensor(np.random.default_rng(4).normal(size=(3, 7, 5, 45)))
    with torch.no_grad():
        whole = fast.nn.mlp_forward(network, x)
        monkeypatch.setattr(fast.nn, "MLP_ROWS", 16)  # 105 rows: six full blocks and a rest
        blocks = fast.nn.mlp_forward(network, x)
    assert blocks.shape == whole.shape == (3, 7, 5)
    torch.testing.assert_close(blocks, whole, rtol=0, atol=1e-14)
    with torch.enable_grad():  # training records the graph of one block
        torch.testing.assert_close(
            fast.nn.mlp_forward(network, x).detach(), whole, atol=1e-14, rtol=0
        )
