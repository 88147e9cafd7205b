"""A tiny dataset in the layout of the 2018 UCI repository, for the tests of `mcdropout benchmark uci`."""

from pathlib import Path

import numpy as np


def tiny_uci(root: Path, n: int = 40, splits: int = 3, noise: float = 0.0) -> Path:
    """``root/uci/tiny``: the 2018 repository's files for a dataset of ``n`` rows and ``splits`` splits, target
    ``x0 - x1`` plus Gaussian noise of std ``noise``; returns ``root/uci``."""
    folder = root / "uci" / "tiny"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2))
    y = x[:, 0] - x[:, 1] + noise * np.random.default_rng(1).normal(size=n)
    np.savetxt(folder / "data.txt", np.column_stack([x, y]))
    for key, value in {"index_features": "0\n1", "index_target": "2", "n_splits": str(splits), "n_hidden": "4",
                       "n_epochs": "1", "dropout_rates": "0.01 0.1", "tau_values": "1.0"}.items():
        (folder / f"{key}.txt").write_text(value + "\n")
    for i in range(splits):
        order = rng.permutation(n)
        np.savetxt(folder / f"index_train_{i}.txt", order[:32], fmt="%d")
        np.savetxt(folder / f"index_test_{i}.txt", order[32:], fmt="%d")
    return root / "uci"
