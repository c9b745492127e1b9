"""Training and trained-model files (fast.ml.training, fast.ml.standardise, fast.ml.models)."""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np
import pytest
import torch

from fast import nn as fnn
from fast.ml.datasets import (
    DatasetSettings,
    QuenchDatasetConfig,
    generate_quench_dataset,
    physics_of,
)
from fast.ml.models import load_model, save_model
from fast.ml.standardise import Scales as _Scales
from fast.ml.standardise import fit_scales as _fit_scales
from fast.ml.standardise import fold_standardisation
from fast.ml.standardise import network_inputs as _inputs
from fast.ml.standardise import standardised_forces as _standardised_forces
from fast.ml.training import (
    HISTORY_COLUMNS,
    TrainConfig,
    split_by_configuration,
    train_network,
)
from reference.lattice import SquareLattice
from reference.model import ElectronEnsemble, HolsteinModel, HolsteinParams, elastic_force
from reference.nn import (
    ENNArchitecture,
    GNNArchitecture,
    LevelHead,
    MLPArchitecture,
    MPNNArchitecture,
)
from reference.sections import Physics

SMALL = {
    "mlp": MLPArchitecture((45, 12, 6, 1)),
    "gnn": GNNArchitecture((1, 6, 5, 1)),
    "mpnn": MPNNArchitecture((1, 6, 5)),
    "enn": ENNArchitecture((3, 2)),
}
DATA_CONFIG = QuenchDatasetConfig(
    dataset=DatasetSettings(
        size=10, n_random=6, n_runs=2, snapshots_per_run=3, snapshot_every=10, chunk=6
    ),
    seed=5,
)


class _StopError(Exception):
    pass


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("data") / "d.h5"
    return generate_quench_dataset(DATA_CONFIG, path, progress=False)


def test_fixed_mu_datasets_are_labelled_at_that_chemical_potential(tmp_path: Path) -> None:
    config = QuenchDatasetConfig(
        physics=Physics(mu=0.3), dataset=DatasetSettings(size=4, n_random=3, n_runs=0), seed=1
    )
    data = generate_quench_dataset(config, tmp_path / "mu.h5", progress=False)
    model = HolsteinModel(
        SquareLattice(4, 4), HolsteinParams(), ElectronEnsemble(0.1, filling=None, mu=0.3)
    )
    from reference import ed as ref_ed

    np.testing.assert_allclose(data.F, ref_ed.total_force(data.Q, model), atol=1e-10)


def test_split_is_by_configuration_disjoint_complete_and_seeded() -> None:
    train, val = split_by_configuration(10, 0.3, seed=4)
    assert len(val) == 3 and len(train) == 7
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(10))
    again = split_by_configuration(10, 0.3, seed=4)
    np.testing.assert_array_equal(train, again[0])
    assert not np.array_equal(val, split_by_configuration(10, 0.3, seed=5)[1])
    assert len(split_by_configuration(2, 0.01, 0)[1]) == 1  # never empty
    with pytest.raises(ValueError, match="at least 2 configurations"):
        split_by_configuration(1, 0.3, 0)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_folding_the_standardisation_leaves_the_function_unchanged(name: str) -> None:
    arch = SMALL[name]
    lattice = SquareLattice(8, 8)
    rng = np.random.default_rng(1)
    q = torch.as_tensor(rng.normal(scale=2.0, size=(2, 8, 8)))
    x = _inputs(arch, q, lattice)
    scales = _fit_scales(arch, x, torch.as_tensor(rng.normal(size=(2, 8, 8))), True, torch.float64)
    # make the maps non-trivial even where the fit leaves them at identity
    scales = _Scales(
        scales.shift + 0.1, scales.scale * 1.7, scales.out_shift - 0.4, scales.out_scale * 2.3
    )
    if not isinstance(arch, MLPArchitecture):
        scales = attrs.evolve(scales, shift=torch.zeros(1, dtype=torch.float64))
    if isinstance(arch, MPNNArchitecture):
        scales = _Scales(
            scales.shift, torch.ones(1, dtype=torch.float64), torch.zeros(()), scales.out_scale
        )
    net = fnn.Network(arch, seed=3, dtype=torch.float64)
    wrapped = _standardised_forces(net, x, lattice, scales).detach()
    folded = fnn.Network.from_weights(fold_standardisation(net, scales), dtype=torch.float64)
    direct = fnn.NetworkForceField(folded, lattice).forces(q)
    np.testing.assert_allclose(direct.numpy(), wrapped.numpy(), rtol=1e-10, atol=1e-10)


def test_folding_keeps_a_time_conditioned_gnn_unchanged_at_every_time() -> None:
    arch = GNNArchitecture((2, 6, 5, 1), time_channel=True)
    lattice = SquareLattice(6, 6)
    q = torch.as_tensor(np.random.default_rng(2).normal(size=(3, 6, 6)))
    times = torch.tensor([5.0, 40.0, 300.0], dtype=torch.float64)
    one = torch.ones(1, dtype=torch.float64)
    scales = _Scales(0 * one, 1.3 * one, torch.tensor(0.2), torch.tensor(1.7), time_scale=0.01)
    net = fnn.Network(arch, seed=3, dtype=torch.float64)
    wrapped = _standardised_forces(net, q, lattice, scales, times).detach()
    folded = fnn.Network.from_weights(fold_standardisation(net, scales), dtype=torch.float64)
    for k, t in enumerate(times.tolist()):
        direct = fnn.NetworkForceField(folded, lattice, time=t).forces(q[k])
        np.testing.assert_allclose(direct.numpy(), wrapped[k].numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_training_lowers_the_held_out_error_for_every_architecture(
    name: str, dataset, tmp_path: Path
) -> None:
    hidden = {"mlp": (12, 6), "gnn": (6, 5), "mpnn": (6, 5), "enn": (3, 2)}[name]
    network = {"mlp": "paper003_mlp", "gnn": "paper002_gnn", "mpnn": "paper002_mpnn",
               "enn": "paper004_enn"}[name]  # fmt: skip
    config = TrainConfig(network=network, hidden=hidden, epochs=6, batch_size=2, seed=2)
    result = train_network(config, dataset, tmp_path / "c.pt", progress=False)
    assert result.history[-1]["val_rmse"] < result.history[0]["val_rmse"] or result.best_epoch > 1
    assert result.validation.n_configurations == 4  # round(0.3 * 12), whole configurations
    assert result.train.n_sites == 8 * 100
    # the reported held-out errors are those of the returned (folded) weights
    val = result.predictions["val_ml"] - result.predictions["val_exact"]
    assert result.validation.std == pytest.approx(float(np.std(val)))
    assert min(h["val_rmse"] for h in result.history) == pytest.approx(
        result.validation.rmse, rel=1e-3 if config.dtype == "float32" else 1e-9
    )


def test_the_equivariant_network_input_scale_gives_unit_output_spread() -> None:
    """Each ENN layer squares its input amplitude: a unit-variance input of a hot
    configuration gives outputs of ~1e3 at initialisation; the calibrated scale gives 1."""
    from fast.ml.standardise import calibrate_input_scale as _calibrate_input_scale
    from fast.ml.standardise import fit_scales as _fit_scales

    arch = ENNArchitecture((4, 3))
    net = fnn.Network(arch, seed=0, dtype=torch.float64)
    lattice = SquareLattice(10, 10)
    q = torch.as_tensor(np.random.default_rng(3).normal(scale=5.0, size=(4, 10, 10)))
    scales = _fit_scales(arch, q, q, True, torch.float64)
    calibrated = _calibrate_input_scale(net, q, lattice, scales)
    with torch.no_grad():
        spread = fnn.enn_forward(net, q / calibrated.scale, lattice).std()
    assert float(spread) == pytest.approx(1.0, rel=1e-3)
    assert float(calibrated.scale) != pytest.approx(float(scales.scale), rel=0.05)


def test_gradient_clipping_trains_and_is_part_of_the_checkpoint_identity(
    dataset, tmp_path: Path
) -> None:
    config = TrainConfig(network="paper004_enn", hidden=(3, 2), epochs=2, seed=2,
                         clip_gradient=0.5)  # fmt: skip
    result = train_network(config, dataset, tmp_path / "c.pt", progress=False)
    assert all(np.isfinite(h["val_rmse"]) for h in result.history)
    with pytest.raises(ValueError, match="belongs to another network"):
        train_network(attrs_evolve(config, clip_gradient=0.0), dataset, tmp_path / "c.pt",
                      progress=False)  # fmt: skip


def test_a_killed_training_resumes_to_the_same_weights(dataset, tmp_path: Path) -> None:
    config = TrainConfig(hidden=(8, 4), epochs=4, batch_size=3, seed=1, dtype="float64")
    whole = train_network(config, dataset, tmp_path / "whole.pt", progress=False)

    def stop(epoch: int) -> None:
        if epoch == 2:
            raise _StopError

    with pytest.raises(_StopError):
        train_network(config, dataset, tmp_path / "cut.pt", progress=False, on_epoch=stop)
    resumed = train_network(config, dataset, tmp_path / "cut.pt", progress=False)
    for key, value in whole.weights.arrays.items():
        np.testing.assert_array_equal(resumed.weights.arrays[key], value)
    assert [h["val_rmse"] for h in resumed.history] == [h["val_rmse"] for h in whole.history]
    # the checkpoint loads with weights_only (no pickled code)
    assert torch.load(tmp_path / "cut.pt", weights_only=True)["epoch"] == 4


def test_a_checkpoint_of_another_network_or_setting_is_refused(dataset, tmp_path: Path) -> None:
    config = TrainConfig(hidden=(8, 4), epochs=1, seed=1)
    train_network(config, dataset, tmp_path / "c.pt", progress=False)
    for other in (
        TrainConfig(hidden=(8, 5), epochs=1, seed=1),
        TrainConfig(hidden=(8, 4), epochs=1, seed=1, learning_rate=1e-2),
    ):
        with pytest.raises(ValueError, match="belongs to another network"):
            train_network(other, dataset, tmp_path / "c.pt", progress=False)
    # more epochs is a continuation, not a different run
    train_network(attrs_evolve(config, epochs=2), dataset, tmp_path / "c.pt", progress=False)


def attrs_evolve(config: TrainConfig, **changes: object) -> TrainConfig:
    import attrs

    return attrs.evolve(config, **changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"network": "nope"}, "network must be one of"),
        ({"validation_fraction": 1.0}, "validation_fraction must lie in"),
        ({"target": "energy"}, "target must be"),
        ({"dtype": "float16"}, "dtype must be one of"),
        ({"hidden": (4, 0)}, "hidden must hold integers"),
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"lr_factor": 1.5}, "lr_factor must lie in"),
        ({"clip_gradient": -1.0}, "clip_gradient"),
    ],
)
def test_bad_training_settings_are_named(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)  # type: ignore[arg-type]


def test_model_files_round_trip_and_refuse_mismatches(tmp_path: Path) -> None:
    arch = SMALL["mlp"]
    weights = fnn.Network(arch, seed=0, dtype=torch.float64).to_weights()
    physics = HolsteinParams()
    save_model(tmp_path / "m.pt", weights, physics, "electronic", {"note": "x"})
    model = load_model(tmp_path / "m.pt", architecture=arch, physics=physics)
    assert model.target == "electronic" and model.metadata == {"note": "x"}
    for key, value in weights.arrays.items():
        np.testing.assert_array_equal(model.weights.arrays[key], value)
    with pytest.raises(ValueError, match="expected"):
        load_model(tmp_path / "m.pt", architecture=MLPArchitecture((45, 12, 7, 1)))
    with pytest.raises(ValueError, match="was trained for"):
        load_model(tmp_path / "m.pt", physics=HolsteinParams(g=2.0))
    electrons = ElectronEnsemble(0.1, filling=0.5)
    save_model(tmp_path / "e.pt", weights, physics, "total", ensemble=electrons)
    assert load_model(tmp_path / "e.pt", ensemble=electrons).ensemble == electrons
    with pytest.raises(ValueError, match="was trained for ElectronEnsemble"):
        load_model(tmp_path / "e.pt", ensemble=ElectronEnsemble(0.1, filling=None, mu=0.0))
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a readable model file"):
        load_model(tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="does not exist"):
        load_model(tmp_path / "missing.pt")


def test_an_electronic_model_adds_the_exact_elastic_force(tmp_path: Path) -> None:
    arch = SMALL["mlp"]
    weights = fnn.Network(arch, seed=0, dtype=torch.float64).to_weights()
    physics = HolsteinParams()
    lattice = SquareLattice(8, 8)
    q = torch.as_tensor(np.random.default_rng(0).normal(size=(3, 8, 8)))
    net_only = fnn.NetworkForceField(weights, lattice).forces(q).numpy()
    holstein = HolsteinModel(lattice, physics, ElectronEnsemble(0.1))
    for target, extra in (("electronic", elastic_force(q.numpy(), holstein)), ("total", 0.0)):
        save_model(tmp_path / f"{target}.pt", weights, physics, target)
        field = load_model(tmp_path / f"{target}.pt").force_field(lattice, dtype=torch.float64)
        np.testing.assert_allclose(field.forces(q).numpy(), net_only + extra, atol=1e-12)


def test_the_levels_head_trains_folds_saves_and_reloads(tmp_path: Path) -> None:
    config = QuenchDatasetConfig(
        physics=Physics(mu=0.0),
        dataset=DatasetSettings(size=8, n_random=6, n_runs=2, snapshots_per_run=2,
                                snapshot_every=5),
        seed=4,
    )  # fmt: skip
    data = generate_quench_dataset(config, tmp_path / "mu.h5", progress=False)
    train = TrainConfig(hidden=(12, 6), head="levels", poles=3, epochs=4, batch_size=2, seed=1)
    result = train_network(train, data, tmp_path / "c.pt", progress=False)
    arch = result.weights.architecture
    assert isinstance(arch, MLPArchitecture) and arch.widths == (45, 12, 6, 6)
    assert arch.head == LevelHead(3, config.physics.g, config.physics.temperature, 0.0, 0.5)
    assert min(h["val_rmse"] for h in result.history) == pytest.approx(
        result.validation.rmse, rel=1e-3
    )
    # the saved network (standardisation folded in) gives the reported predictions
    save_model(tmp_path / "m.pt", result.weights, physics_of(data), "electronic")
    model = load_model(tmp_path / "m.pt", architecture=arch)
    field = model.force_field(SquareLattice(8, 8), dtype=torch.float64)
    _, val = split_by_configuration(len(data), train.validation_fraction, train.seed)
    np.testing.assert_allclose(
        field.forces(torch.as_tensor(data.Q[val])).numpy(), result.predictions["val_ml"],
        atol=1e-5,
    )  # fmt: skip
    # the head's occupations stay physical: 0 <= n_i <= 1 on any configuration
    hot = torch.as_tensor(np.random.default_rng(0).normal(scale=9.0, size=(2, 8, 8)))
    electronic = fnn.NetworkForceField(model.network(dtype=torch.float64), SquareLattice(8, 8))
    n = electronic.forces(hot).numpy() / config.physics.g + 0.5
    assert n.min() >= -1e-12 and n.max() <= 1.0 + 1e-12


def test_the_levels_head_is_refused_where_it_cannot_apply(dataset, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="descriptor MLPs only"):
        TrainConfig(network="paper002_gnn", head="levels")
    with pytest.raises(ValueError, match="target 'electronic'"):
        TrainConfig(head="levels", target="total")
    with pytest.raises(ValueError, match="head must be"):
        TrainConfig(head="fermi")
    with pytest.raises(ValueError, match="init must be one of"):
        TrainConfig(init="xavier")
    config = TrainConfig()
    assert config.init_scheme(config.architecture()) == "uniform"  # a descriptor MLP
    gnn = TrainConfig(network="paper002_gnn")
    assert gnn.init_scheme(gnn.architecture()) == "he"
    # DATA_CONFIG is labelled at a fixed filling: no single Fermi function
    with pytest.raises(ValueError, match="fixed chemical potential"):
        train_network(TrainConfig(head="levels", hidden=(4,)), dataset, tmp_path / "c.pt",
                      progress=False)  # fmt: skip


def test_folding_keeps_a_levels_head_unchanged() -> None:
    arch = MLPArchitecture((45, 8, 4), head=LevelHead(2, 2.0, 0.2, 0.1))
    lattice = SquareLattice(8, 8)
    q = torch.as_tensor(np.random.default_rng(4).normal(scale=2.0, size=(2, 8, 8)))
    x = _inputs(arch, q, lattice)
    scales = _fit_scales(arch, x, q, True, torch.float64)
    assert float(scales.out_scale) == 1.0 and float(scales.out_shift) == 0.0
    net = fnn.Network(arch, seed=3, dtype=torch.float64)
    wrapped = _standardised_forces(net, x, lattice, scales).detach()
    folded = fnn.Network.from_weights(fold_standardisation(net, scales), dtype=torch.float64)
    direct = fnn.NetworkForceField(folded, lattice).forces(q)
    np.testing.assert_allclose(direct.numpy(), wrapped.numpy(), rtol=1e-10, atol=1e-10)


def test_the_history_file_matches_the_history_after_a_resume(dataset, tmp_path: Path) -> None:
    """Rows of epochs after the last checkpoint are dropped on resume, then appended again."""
    config = TrainConfig(hidden=(8, 4), epochs=4, batch_size=3, seed=1, dtype="float64",
                         checkpoint_every=2)  # fmt: skip
    csv = tmp_path / "training.csv"

    def stop(epoch: int) -> None:
        if epoch == 3:  # after the checkpoint of epoch 2, before that of epoch 4
            raise _StopError

    with pytest.raises(_StopError):
        train_network(config, dataset, tmp_path / "cut.pt", progress=False, on_epoch=stop,
                      history_file=csv)  # fmt: skip
    assert len(csv.read_text().splitlines()) == 1 + 3
    resumed = train_network(config, dataset, tmp_path / "cut.pt", progress=False,
                            history_file=csv)  # fmt: skip
    lines = csv.read_text().splitlines()
    assert lines[0] == ",".join(HISTORY_COLUMNS)
    rows = [dict(zip(HISTORY_COLUMNS, map(float, line.split(",")), strict=True))
            for line in lines[1:]]  # fmt: skip
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    for row, entry in zip(rows, resumed.history, strict=True):
        assert row["val_rmse"] == pytest.approx(entry["val_rmse"], rel=1e-9)
