"""Tests of reference.nn: every network's symmetry, locality, conservativeness and size."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given

from reference.descriptors import d4_descriptor, decompose_neighbourhood, split_irreps
from reference.lattice import SquareLattice, neighbour_table
from reference.nn import (
    PAPER_ARCHITECTURES,
    ENNArchitecture,
    GNNArchitecture,
    LevelHead,
    MLPArchitecture,
    MPNNArchitecture,
    NetworkForceField,
    Weights,
    dense,
    descriptor_mlp_forces,
    enn_auxiliary,
    enn_forward,
    gnn_forward,
    init_weights,
    layer_norm,
    level_head,
    mlp_forward,
    mpnn_energy,
    mpnn_forces,
    mpnn_site_energies,
    neighbour_aggregate,
    norm_activation,
    parameter_count,
    relu,
)
from reference.symmetry import D4
from reference.testing import (
    assert_conservative,
    assert_d4_equivariant,
    assert_local,
    assert_translation_equivariant,
)
from tests.strategies import fields

LAT = SquareLattice(8, 8)
SMALL = {
    "mlp_d4": MLPArchitecture((45, 12, 6, 1)),
    "mlp_cs": MLPArchitecture((29, 8, 1), descriptor="cs", r_c=3.0),  # fits the 8 x 8 lattice
    "mlp_levels": MLPArchitecture((45, 12, 6), head=LevelHead(3, 1.5, 0.5, 0.1)),
    "gnn": GNNArchitecture((1, 6, 5, 1)),
    "gnn_sum": GNNArchitecture((1, 4, 1), aggregation="sum"),
    "gnn_time": GNNArchitecture((2, 6, 1), time_channel=True),
    "mpnn": MPNNArchitecture((1, 6, 5)),
    "enn": ENNArchitecture(hidden=(3, 2)),
}


def _field(name: str, seed: int = 0) -> NetworkForceField:
    arch = SMALL[name]
    weights = init_weights(arch, np.random.default_rng(seed))
    time = 3.0 if name == "gnn_time" else None
    return NetworkForceField(weights, LAT, time)


# --------------------------------------------------------------------------- sizes


def test_paper_mlp_sizes_match_the_tables() -> None:
    # paper 002: "roughly 1.07 x 10^7 trainable parameters"
    n002 = parameter_count(PAPER_ARCHITECTURES["paper002_mlp"])
    assert n002 == 10_753_763 and 1.07e7 <= n002 < 1.08e7
    assert parameter_count(PAPER_ARCHITECTURES["paper003_mlp"]) == 172_385
    assert PAPER_ARCHITECTURES["paper003_mlp"].widths == (45, 512, 256, 64, 16, 1)  # type: ignore[union-attr]
    assert PAPER_ARCHITECTURES["paper001_mlp"].widths[0] == 113  # type: ignore[union-attr]


def test_gnn_sizes_follow_from_table_two() -> None:
    widths = (1, 128, 512, 1024, 2048, 1024, 512, 128, 1)
    expected = sum(2 * a * b + b for a, b in itertools.pairwise(widths))
    assert parameter_count(PAPER_ARCHITECTURES["paper002_gnn"]) == expected
    # the time channel of paper 000 adds one input column to both first-layer matrices
    assert parameter_count(PAPER_ARCHITECTURES["paper000_gnn"]) == expected + 2 * 128


def test_enn_reproduces_every_channel_count_of_table_one() -> None:
    arch = PAPER_ARCHITECTURES["paper004_enn"]
    assert isinstance(arch, ENNArchitecture)
    table = [
        (128, 115, 130, 123, 264),
        (2512, 2576, 2576, 2576, 4128),
        (148, 164, 164, 164, 264),
        (34, 42, 42, 42, 68),
    ]
    names = ("A1", "A2", "B1", "B2", "E")
    assert arch.input_channels() == dict(zip(names, (9, 3, 6, 5, 11), strict=True))
    assert [tuple(a[n] for n in names) for a in arch.auxiliary_channels()] == table
    # the stated 496,514 is not reachable with these channel counts; see specs/equations/nn.md
    assert parameter_count(arch) == 143_135


def test_weights_are_checked_against_the_architecture() -> None:
    arch = SMALL["gnn"]
    good = init_weights(arch, np.random.default_rng(0))
    arrays = dict(good.arrays)
    arrays["layers.0.bias"] = np.zeros(7)
    with pytest.raises(ValueError, match=r"layers\.0\.bias must have shape"):
        Weights(arch, arrays)
    del arrays["layers.0.bias"]
    with pytest.raises(ValueError, match="missing"):
        Weights(arch, arrays)
    assert parameter_count(good) == parameter_count(arch)
    with pytest.raises(ValueError, match="widths"):
        MLPArchitecture((45, 0, 1))
    with pytest.raises(ValueError, match="descriptor size 45"):
        MLPArchitecture((44, 8, 1))
    with pytest.raises(ValueError, match="aggregation"):
        GNNArchitecture((1, 4, 1), aggregation="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="channels must start with 2"):
        GNNArchitecture((1, 4, 1), time_channel=True)
    with pytest.raises(ValueError, match="scheme"):
        init_weights(arch, np.random.default_rng(0), scheme="xavier")  # type: ignore[arg-type]


def test_paper_initialisation_has_the_stated_spread() -> None:
    w = init_weights(MLPArchitecture((45, 400, 1)), np.random.default_rng(1), scheme="paper")
    assert np.std(w["layers.0.weight"]) == pytest.approx(0.1, rel=0.02)
    assert np.std(w["layers.0.bias"]) == pytest.approx(0.05, rel=0.15)


def test_uniform_and_he_initialisations_have_their_spreads() -> None:
    arch = MLPArchitecture((45, 400, 1))
    uniform = init_weights(arch, np.random.default_rng(1), scheme="uniform")
    he = init_weights(arch, np.random.default_rng(1), scheme="he")
    bound = 1.0 / np.sqrt(45)
    for name in ("layers.0.weight", "layers.0.bias"):
        assert np.abs(uniform[name]).max() <= bound
        assert np.std(uniform[name]) == pytest.approx(bound / np.sqrt(3), rel=0.1)
    assert np.std(he["layers.0.weight"]) == pytest.approx(np.sqrt(2 / 45), rel=0.02)


# --------------------------------------------------------------------------- forward passes


def test_mlp_forward_is_relu_layers_with_a_linear_output() -> None:
    w = init_weights(MLPArchitecture((45, 7, 3, 1)), np.random.default_rng(2))
    x = np.random.default_rng(3).normal(size=(5, 45))
    h = np.maximum(x @ w["layers.0.weight"].T + w["layers.0.bias"], 0)
    h = np.maximum(h @ w["layers.1.weight"].T + w["layers.1.bias"], 0)
    out = h @ w["layers.2.weight"].T + w["layers.2.bias"]
    np.testing.assert_allclose(mlp_forward(w, x), out[:, 0])
    lat = SquareLattice(7, 7)  # the smallest periodic lattice r_c = 3.61 does not wrap on
    q = np.random.default_rng(4).normal(size=(7, 7))
    np.testing.assert_allclose(
        descriptor_mlp_forces(w, q, lat), mlp_forward(w, d4_descriptor(q, lat))
    )


def test_gnn_matches_a_site_by_site_loop() -> None:
    lat = SquareLattice(5, 4, periodic_x=False)
    arch = GNNArchitecture((1, 3, 2, 1))
    w = init_weights(arch, np.random.default_rng(5))
    q = np.random.default_rng(6).normal(size=(5, 4))
    table = neighbour_table(lat)
    v = q.reshape(-1, 1)
    for k in range(3):
        out = np.zeros((lat.n_sites, arch.channels[k + 1]))
        for i in range(lat.n_sites):
            nb = sum((v[j] for j in table[i] if j >= 0), np.zeros(v.shape[1])) / 4
            out[i] = (
                w[f"layers.{k}.self_weight"] @ v[i]
                + w[f"layers.{k}.neighbour_weight"] @ nb
                + w[f"layers.{k}.bias"]
            )
        v = np.maximum(out, 0) if k < 2 else out
    np.testing.assert_allclose(gnn_forward(w, q, lat), v[:, 0].reshape(5, 4), atol=1e-13)


def test_gnn_time_channel_is_one_over_t() -> None:
    ff = _field("gnn_time")
    q = np.random.default_rng(7).normal(size=LAT.shape)
    w = ff.weights
    # with the Q column of the first layer zeroed, only 1/t reaches the output
    arrays = dict(w.arrays)
    for key in ("layers.0.self_weight", "layers.0.neighbour_weight"):
        arrays[key] = arrays[key].copy()
        arrays[key][:, 0] = 0.0
    w0 = Weights(w.architecture, arrays)
    a, b = gnn_forward(w0, q, LAT, time=2.0), gnn_forward(w0, 2 * q, LAT, time=2.0)
    np.testing.assert_allclose(a, b)
    assert not np.allclose(gnn_forward(w, q, LAT, time=2.0), gnn_forward(w, q, LAT, time=4.0))
    np.testing.assert_allclose(ff.at_time(2.0).forces(q), gnn_forward(w, q, LAT, time=2.0))
    with pytest.raises(ValueError, match="time is required"):
        gnn_forward(w, q, LAT)
    with pytest.raises(ValueError, match="time must be > 0"):
        gnn_forward(w, q, LAT, time=0.0)
    with pytest.raises(ValueError, match="time must be None"):
        gnn_forward(_field("gnn").weights, q, LAT, time=1.0)


def test_building_blocks() -> None:
    x = np.array([[-1.0, 2.0, 0.5]])
    np.testing.assert_array_equal(relu(x), [[0.0, 2.0, 0.5]])
    np.testing.assert_allclose(dense(x, np.eye(3), np.ones(3)), x + 1)
    y = layer_norm(x, np.ones(3), np.zeros(3), eps=0.0)
    np.testing.assert_allclose([y.mean(), y.var()], [0.0, 1.0], atol=1e-12)
    f = np.random.default_rng(8).normal(size=(4, 4, 2))
    lat = SquareLattice(4, 4)
    np.testing.assert_allclose(
        neighbour_aggregate(f, lat, "sum"), 4 * neighbour_aggregate(f, lat, "mean")
    )
    with pytest.raises(ValueError, match="aggregation"):
        neighbour_aggregate(f, lat, "max")  # type: ignore[arg-type]


@given(q=fields(LAT))
def test_neighbour_aggregation_is_self_adjoint(q: np.ndarray) -> None:
    other = np.random.default_rng(9).normal(size=(*LAT.shape, 1))
    lhs = np.sum(neighbour_aggregate(q[..., None], LAT, "sum") * other)
    rhs = np.sum(q[..., None] * neighbour_aggregate(other, LAT, "sum"))
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


# --------------------------------------------------------------------------- symmetry and locality


@pytest.mark.parametrize("name", sorted(SMALL))
@given(q=fields(LAT))
def test_every_network_is_d4_and_translation_equivariant(name: str, q: np.ndarray) -> None:
    ff = _field(name)
    if name == "mlp_cs":
        # electrodes leave only the mirror y -> -y and translations
        from reference.lattice import D4_OPERATIONS

        mirror = [op for op in D4_OPERATIONS if op.name in ("E", "sigma_x")]
        assert_d4_equivariant(ff, q, LAT, operations=mirror, atol=1e-9, rtol=1e-9)
    else:
        assert_d4_equivariant(ff, q, LAT, atol=1e-9, rtol=1e-9)
    assert_translation_equivariant(ff, q, LAT, atol=1e-9, rtol=1e-9)


def test_networks_are_not_accidentally_invariant_under_broken_symmetries() -> None:
    ff = _field("mlp_cs")
    q = np.random.default_rng(10).normal(size=LAT.shape)
    with pytest.raises(AssertionError, match="C4"):
        assert_d4_equivariant(ff, q, LAT)


@pytest.mark.parametrize(
    ("name", "radius", "metric"),
    [
        ("mlp_d4", 3.61, "euclidean"),
        ("mlp_levels", 3.61, "euclidean"),
        ("enn", 3.61, "euclidean"),
        ("gnn", 3, "manhattan"),
        ("gnn_time", 2, "manhattan"),
        ("mpnn", 4, "manhattan"),  # MPNNArchitecture.force_receptive_field
    ],
)
def test_every_network_is_local_to_its_receptive_field(
    name: str, radius: float, metric: str
) -> None:
    lat = SquareLattice(16, 16)
    ff = NetworkForceField(_field(name).weights, lat, _field(name).time)
    q = np.random.default_rng(11).normal(size=lat.shape)
    for site in [(0, 0), (7, 3)]:
        assert_local(ff, q, lat, site, radius, metric=metric)  # type: ignore[arg-type]
    # and the field really does reach that far: a change just inside moves the output
    x, y = 7, 3
    q2 = q.copy()
    if metric == "manhattan":
        r = int(radius)
        q2[x + r - r // 2, y + r // 2] += 1.0
    else:
        q2[x + 3, y + 2] += 1.0  # distance sqrt(13) <= 3.61
    assert abs(ff.forces(q2)[x, y] - ff.forces(q)[x, y]) > 1e-8


def test_mpnn_site_energy_reach_is_its_hop_count() -> None:
    arch = SMALL["mpnn"]
    assert isinstance(arch, MPNNArchitecture) and arch.receptive_field == 3
    assert arch.force_receptive_field == 4
    lat = SquareLattice(12, 12)
    w = init_weights(arch, np.random.default_rng(12))
    q = np.random.default_rng(13).normal(size=lat.shape)
    assert_local(lambda f: mpnn_site_energies(w, f, lat), q, lat, (5, 5), 3, "manhattan")


@given(q=fields(LAT, scale=2.0))
def test_energy_mpnn_forces_are_minus_the_gradient(q: np.ndarray) -> None:
    ff = _field("mpnn")
    assert_conservative(ff, q, step=1e-4, atol=1e-6, rtol=1e-6)
    np.testing.assert_allclose(ff.energy(q), mpnn_site_energies(ff.weights, q, LAT).sum())
    np.testing.assert_allclose(ff.forces(q), mpnn_forces(ff.weights, q, LAT))
    np.testing.assert_allclose(ff.energy(q), mpnn_energy(ff.weights, q, LAT))


def test_mpnn_gradient_on_open_lattices_and_batches() -> None:
    lat = SquareLattice(5, 6, periodic_x=False)
    w = init_weights(MPNNArchitecture((1, 4, 3), aggregation="mean"), np.random.default_rng(14))
    ff = NetworkForceField(w, lat)
    q = np.random.default_rng(15).normal(size=(3, *lat.shape))
    batch = ff.forces(q)
    for b in range(3):
        np.testing.assert_allclose(batch[b], ff.forces(q[b]), atol=1e-14)
    assert_conservative(ff, q[0], step=1e-4)
    with pytest.raises(ValueError, match="energy is defined only"):
        _field("gnn").energy(np.zeros(LAT.shape))


# --------------------------------------------------------------------------- equivariant network


def test_auxiliary_features_and_norm_activation_are_equivariant() -> None:
    rng = np.random.default_rng(16)
    x = {name: rng.normal(size=(3, D4.dimension(name))) for name in D4.irrep_names}
    z = enn_auxiliary(x, D4)
    bias = rng.normal(size=3)
    for g in range(D4.order):
        gx = {n: x[n] @ D4.irrep(n)[g].T for n in D4.irrep_names}
        gz = enn_auxiliary(gx, D4)
        for n in D4.irrep_names:
            np.testing.assert_allclose(gz[n], z[n] @ D4.irrep(n)[g].T, atol=1e-12)
            np.testing.assert_allclose(
                norm_activation(gx[n], bias),
                norm_activation(x[n], bias) @ D4.irrep(n)[g].T,
                atol=1e-12,
            )
    # 3 channels per IR: A1 gets 3 copies + 5 IR types x C(3, 2) same-type pairs
    assert z["A1"].shape == (3 + 5 * 3, 1)
    assert z["E"].shape == (3 + 4 * 9, 2)


def test_norm_activation_scales_amplitudes_only() -> None:
    y = np.array([[3.0, 4.0], [0.0, 0.0], [0.6, -0.8]])
    out = norm_activation(y, np.array([1.0, 2.0, -2.0]), epsilon=0.0)
    np.testing.assert_allclose(out, [[3.6, 4.8], [0.0, 0.0], [0.0, 0.0]])
    # the regulated form is continuous at zero: rounding noise stays noise
    noise = np.array([[1e-16, -1e-16]])
    assert np.abs(norm_activation(noise, np.array([1.0]))).max() < 1e-12
    assert np.abs(norm_activation(noise, np.array([1.0]), epsilon=0.0)).max() > 0.5
    np.testing.assert_allclose(norm_activation(y[:1], np.array([1.0])), [[3.6, 4.8]], rtol=1e-7)


def test_enn_input_is_the_irrep_decomposition() -> None:
    arch = SMALL["enn"]
    assert isinstance(arch, ENNArchitecture)
    w = init_weights(arch, np.random.default_rng(17))
    lat = SquareLattice(8, 8)
    q = np.random.default_rng(18).normal(size=lat.shape)
    hood = decompose_neighbourhood(D4, 3.61)
    # a uniform field has only A1 content, and the output is then uniform too
    out = enn_forward(w, np.full(lat.shape, 0.7), lat)
    np.testing.assert_allclose(out, out[0, 0])
    assert split_irreps(hood.basis @ np.ones(45), hood)["E"].max() < 1e-12
    assert enn_forward(w, q, lat).shape == lat.shape


@pytest.mark.parametrize("name", ["paper004_enn", "paper003_mlp"])
def test_paper_size_networks_are_equivariant_and_local(name: str) -> None:
    lat = SquareLattice(10, 10)
    ff = NetworkForceField(init_weights(PAPER_ARCHITECTURES[name], np.random.default_rng(19)), lat)
    q = np.random.default_rng(20).normal(size=lat.shape)
    assert_d4_equivariant(ff, q, lat, atol=1e-8, rtol=1e-8)
    assert_local(ff, q, lat, (4, 5), 3.61, atol=1e-10)


def test_cs_equivariant_network_respects_the_mirror_only() -> None:
    arch = ENNArchitecture(hidden=(3, 2), group="Cs", r_c=2.5)
    assert arch.input_channels() == {"A'": 13, "A''": 8}
    lat = SquareLattice(8, 8)
    ff = NetworkForceField(init_weights(arch, np.random.default_rng(21)), lat)
    q = np.random.default_rng(22).normal(size=lat.shape)
    from reference.lattice import D4_OPERATIONS

    mirror = [op for op in D4_OPERATIONS if op.name == "sigma_x"]
    assert_d4_equivariant(ff, q, lat, operations=mirror, atol=1e-9, rtol=1e-9)
    with pytest.raises(AssertionError):
        assert_d4_equivariant(ff, q, lat, atol=1e-9, rtol=1e-9)
    assert_local(ff, q, lat, (3, 3), 2.5)


# --------------------------------------------------------------------------- the level head


def test_the_level_head_is_an_occupation_and_reduces_to_the_atomic_limit() -> None:
    rng = np.random.default_rng(12)
    head = LevelHead(4, 3.5, 0.1, 0.3, 0.5)
    q = rng.normal(scale=2.0, size=(3, 5, 5))
    # any outputs: the weights obey the sum rule, so 0 <= n_i <= 1
    wild = rng.normal(scale=50.0, size=(3, 5, 5, 8))
    n = level_head(wild, q, head) / head.coupling + head.offset
    assert n.min() >= 0.0 and n.max() <= 1.0
    # no level shifts, any weights: the atomic limit g (f(-g Q_i - mu) - c)
    shifts_zero = np.concatenate([rng.normal(size=(3, 5, 5, 4)), np.zeros((3, 5, 5, 4))], -1)
    fermi = 1.0 / (1.0 + np.exp((-head.coupling * q - head.chemical_potential) / head.temperature))
    atomic = head.coupling * (fermi - head.offset)
    np.testing.assert_allclose(level_head(shifts_zero, q, head), atomic, atol=1e-12)
    # one pole far below the chemical potential with all the weight: the site is full
    full = np.concatenate([[50.0, 0, 0, 0], [-100.0, 0, 0, 0]]) * np.ones((3, 5, 5, 8))
    np.testing.assert_allclose(level_head(full, np.zeros((3, 5, 5)), head), 3.5 * 0.5, atol=1e-9)
    with pytest.raises(ValueError, match="2 \\* poles"):
        level_head(wild[..., :6], q, head)


def test_the_level_head_reads_q_i_as_the_first_descriptor_feature() -> None:
    """The head takes Q_i from the descriptor: both descriptors start with the site value."""
    from reference.descriptors import cs_descriptor

    q = np.random.default_rng(13).normal(size=(2, *LAT.shape))
    np.testing.assert_array_equal(d4_descriptor(q, LAT, 3.61)[..., 0], q)
    np.testing.assert_array_equal(cs_descriptor(q, LAT, 3.0)[..., 0], q)
    weights = init_weights(SMALL["mlp_levels"], np.random.default_rng(0))
    x = d4_descriptor(q, LAT, 3.61)
    expected = level_head(mlp_forward(weights, x), q, SMALL["mlp_levels"].head)  # type: ignore[arg-type]
    np.testing.assert_allclose(descriptor_mlp_forces(weights, q, LAT), expected, atol=1e-13)


def test_a_level_head_is_validated() -> None:
    head = LevelHead(2, 1.0, 0.1)
    with pytest.raises(ValueError, match="widths must end with 2 \\* poles = 4"):
        MLPArchitecture((45, 8, 1), head=head)
    with pytest.raises(ValueError, match="poles must be an integer >= 1"):
        LevelHead(0, 1.0, 0.1)
    with pytest.raises(ValueError, match="temperature"):
        LevelHead(2, 1.0, 0.0)
    with pytest.raises(ValueError, match="coupling must be finite"):
        LevelHead(2, float("nan"), 0.1)
    assert (
        MLPArchitecture((45, 8, 4), head={"poles": 2, "coupling": 1.0, "temperature": 0.1}).head
        == head
    )  # type: ignore[arg-type]
