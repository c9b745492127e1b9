"""Held-out force accuracy of a network trained on an exact dataset, with its CPU time.

``python benchmarks/train_accuracy.py DATASET.h5 --network paper003_mlp --minutes 25
--out benchmarks/results/accuracy_paper003_mlp.json`` trains with the paper settings of
:class:`fast.ml.training.TrainConfig` (Adam 1e-3, batch of one configuration, 30 % of the
configurations held out) until early stopping, 500 epochs or the time limit, and writes the
held-out and training error statistics, the epochs run and the training seconds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import attrs
import numpy as np
import torch

from fast.ml.datasets import load_dataset, physics_of
from fast.ml.models import TrainedModel, save_model
from fast.ml.training import TrainConfig, split_by_configuration, train_network
from reference.lattice import SquareLattice


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--network", default="paper003_mlp")
    parser.add_argument("--target", default="electronic")
    parser.add_argument("--minutes", type=float, default=25.0)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--clip-gradient", type=float, default=0.0)
    parser.add_argument("--head", default="force", help="'force' (the papers') or 'levels'")
    parser.add_argument("--poles", type=int, default=4)
    parser.add_argument("--init", default="auto", help="auto, uniform, he or paper")
    parser.add_argument("--seed", type=int, default=0, help="initial weights, split, order")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    data = load_dataset(args.dataset)
    config = TrainConfig(
        network=args.network,
        target=args.target,
        batch_size=args.batch_size,
        clip_gradient=args.clip_gradient,
        head=args.head,
        poles=args.poles,
        init=args.init,
        seed=args.seed,
        time_limit_minutes=args.minutes,
        checkpoint_every=5,
    )
    out = Path(args.out)
    result = train_network(config, data, out.with_suffix(".checkpoint.pt"), progress=False)
    summary = {
        "dataset": args.dataset,
        "dataset_shape": list(data.Q.shape),
        "config": attrs.asdict(config),
        **result.summary(),
    }
    # where the held-out error lives: random versus quench configurations, and sites whose
    # occupation is fractional (level within a few T of the chemical potential)
    physics = physics_of(data)
    save_model(out.with_suffix(".model.pt"), result.weights, physics, config.target)
    trained = TrainedModel(result.weights, physics, config.target, {})
    field = trained.force_field(SquareLattice(*data.Q.shape[1:]), dtype=torch.float64)
    _, val = split_by_configuration(len(data), config.validation_fraction, config.seed)
    with torch.no_grad():  # a few configurations at a time: the ENN's products are wide
        predicted = np.concatenate(
            [
                field.forces(torch.as_tensor(data.Q[val[i : i + 4]])).numpy()
                for i in range(0, len(val), 4)
            ]
        )
    delta = predicted - data.F[val]
    n_random = json.loads(data.attributes["config"]).get("n_random", 0)
    fractional = (data.n[val] > 0.05) & (data.n[val] < 0.95)
    summary["breakdown"] = {
        "random_configurations_std": float(np.std(delta[val < n_random]))
        if np.any(val < n_random)
        else None,
        "quench_configurations_std": float(np.std(delta[val >= n_random]))
        if np.any(val >= n_random)
        else None,
        "fractional_sites_share": float(fractional.mean()),
        "fractional_sites_std": float(np.std(delta[fractional])),
        "integer_sites_std": float(np.std(delta[~fractional])),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(
        json.dumps(
            {k: summary[k] for k in ("validation", "breakdown", "epochs_run", "training_seconds")}
        )
    )


if __name__ == "__main__":
    main()
