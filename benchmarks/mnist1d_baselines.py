"""MNIST-1D float baselines against the published ones [M1D].

Trains our ``mlp`` (hidden 100, 100), ``cnn1d`` and a logistic regression (``mlp`` with no hidden
layer) in floating point with the published recipe (Adam, learning rate 1e-2, batch 100, 6,000
steps, no weight decay) on the standard 4,000/1,000 split, and prints test accuracy per seed,
the mean and its ratio to the published figure (logistic ≈ 32 %, MLP ≈ 68 %, CNN ≈ 94 %).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/mnist1d_baselines.py [--steps 6000] [--seeds 3]
"""

from __future__ import annotations

import argparse
import statistics

import torch
import torch.nn.functional as F

from dse.engine.data import Dataset, load_dataset
from models.config import NetworkConfig
from models.nn.networks import NETWORKS

PUBLISHED = {"logistic": 0.32, "mlp": 0.68, "cnn1d": 0.94}
"""Published test accuracies on the standard split [M1D]."""
ARCHITECTURES = {"logistic": ("mlp", ()), "mlp": ("mlp", (100, 100)), "cnn1d": ("cnn1d", ())}
"""Baseline → (our network, MLP hidden widths): the published MLP has two hidden layers of 100."""


def train_float(data: Dataset, baseline: str, steps: int, seed: int) -> float:
    """Test accuracy of one baseline after ``steps`` Adam steps of batch 100 (the published recipe)."""
    model, hidden = ARCHITECTURES[baseline]
    torch.manual_seed(seed)
    cfg = NetworkConfig(model=model, hidden=hidden, in_features=data.in_features, in_shape=data.in_shape)
    net = NETWORKS[model](cfg)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(y), (100,), generator=gen)
        loss = F.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = net(torch.from_numpy(data.x_test)).argmax(dim=1)
    return float((pred == torch.from_numpy(data.y_test)).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_dataset("mnist1d")
    for baseline, published in PUBLISHED.items():
        accs = [train_float(data, baseline, args.steps, s) for s in range(args.seeds)]
        mean = statistics.fmean(accs)
        print(
            f"{baseline:9s} seeds {', '.join(f'{a:.3f}' for a in accs)}  mean {mean:.3f}  "
            f"published {published:.2f}  ratio {mean / published:.3f}"
        )


if __name__ == "__main__":
    main()
