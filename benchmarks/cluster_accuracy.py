"""Accuracy and cost of the local-cluster forces against exact diagonalisation.

``python benchmarks/cluster_accuracy.py DATASET.h5 [DATASET.h5 ...] --out results.json``
compares :func:`fast.ed.cluster_force` at several cluster radii with the exact forces stored
in quench datasets (``fast.ml.datasets.generate_quench_dataset``: hot random configurations first,
then snapshots), separately for the random configurations and the snapshots, and times one
cluster force against one exact force on the dataset's lattice and on 40x40.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from measure import best_of  # benchmarks/ is on sys.path when run as a script

import fast
from fast.ml.datasets import load_dataset, physics_of
from reference.lattice import SquareLattice
from reference.model import ElectronEnsemble, HolsteinModel, HolsteinParams

RADII = (0.0, 1.0, 1.5, 2.0, 2.3, 3.0, 3.61, 4.25)


def accuracy(path: str, n_configs: int) -> dict[str, Any]:
    data = load_dataset(path)
    config = json.loads(data.attributes["config"])
    if config.get("mu") is None:
        raise SystemExit(f"{path}: labels at fixed filling; the cluster forces need a fixed mu")
    lx, ly = data.Q.shape[1:]
    model = HolsteinModel(
        SquareLattice(lx, ly),
        physics_of(data),
        ElectronEnsemble(config["temperature"], None, config["mu"]),
    )
    n_random = config.get("n_random", 0)
    rng = np.random.default_rng(0)
    groups = {
        "random": np.arange(n_random),
        "snapshots": np.arange(n_random, len(data)),
    }
    out: dict[str, Any] = {"dataset": path, "lattice": f"{lx}x{ly}"}
    for name, rows in groups.items():
        if rows.size == 0:
            continue
        pick = np.sort(rng.choice(rows, size=min(n_configs, rows.size), replace=False))
        q = torch.as_tensor(data.Q[pick])
        exact = data.F[pick]
        fractional = (data.n[pick] > 0.05) & (data.n[pick] < 0.95)
        out[name] = {"configurations": int(pick.size), "fractional_share": float(fractional.mean())}
        for r_c in RADII:
            delta = fast.ed.cluster_force(q, model, r_c).numpy() - exact
            out[name][f"r_c={r_c}"] = {
                "sites": len(fast.ed.cluster_offsets(r_c)),
                "error_std": float(delta.std()),
                "error_max": float(np.abs(delta).max()),
                "fractional_std": float(delta[fractional].std()) if fractional.any() else None,
            }
            print(name, r_c, out[name][f"r_c={r_c}"], flush=True)
    return out


def timing() -> dict[str, Any]:
    out = {}
    for size in (24, 40):
        model = HolsteinModel(
            SquareLattice(size, size),
            HolsteinParams(g=3.5),
            ElectronEnsemble(0.1, None, 0.0),
        )
        q = torch.as_tensor(np.random.default_rng(1).normal(scale=3.0, size=(size, size)))
        row = {
            "exact_seconds": best_of(lambda q=q, m=model: fast.ed.total_force(q, m), 3),
        }
        for r_c in (2.3, 3.61):
            row[f"cluster_{r_c}_seconds"] = best_of(
                lambda q=q, m=model, r=r_c: fast.ed.cluster_force(q, m, r), 3
            )
        out[f"{size}x{size}"] = row
        print(size, row, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+")
    parser.add_argument("--configurations", type=int, default=60)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    result = {
        "accuracy": [accuracy(p, args.configurations) for p in args.datasets],
        "timing": timing(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
