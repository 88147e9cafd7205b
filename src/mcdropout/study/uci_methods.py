"""Deep ensembles and Concrete dropout on the UCI splits: the other two columns of the research table.

Both use the heteroscedastic head (:class:`~mcdropout.core.tasks.HeteroscedasticRegression`: a mean and a
variance ``softplus(s) + 1e-6`` per input, trained on the Gaussian NLL), the network of the MC dropout protocol
(one hidden layer of ``n_hidden`` ReLU units), and the same standardisation (inputs and target on the training
split). All requested splits train as one batched model, each member on its own split's rows.

``deep_ensemble`` (Lakshminarayanan, Pritzel & Blundell 2017, UCI setting): M = 5 networks per split from
different random initial weights, no dropout, Adam, mini-batches of 100, optionally adversarial training
(:mod:`~mcdropout.training.adversarial`, eps = 1% of each input's range on the training split). The paper fixes the
learning rate (0.1) and the epochs (40; ``n_epochs.txt``); here they are chosen per split by validation
log-likelihood from a grid that holds the paper's pair (:func:`ensemble_grid`), the rule by which MC dropout
chooses p and tau: the paper's pair alone gave a validation log-likelihood of -3.7 on yacht against -1.46 at 0.01.
The prediction is the Gaussian with the mixture's mean and variance (the paper's rule; the exact mixture's
log-likelihood is kept as ``ll_mixture``).

``concrete`` (Gal, Hron & Kendall 2017): one network per split whose hidden dropout rate is learned (starting at
0.1, relaxation temperature ``model.concrete.temperature``), prior length scale 1e-2 as in the MC dropout protocol,
Adam and batches as that protocol; its epochs are chosen on validation (:func:`run_concrete_splits`): trained for
the protocol's 4,000 epochs alone, the head's variance overfitted (bostonHousing: mean predicted variance 4.2
against a squared error of 10.9 on test, LL -4.79). The prediction is the mixture of the T MC passes' Gaussians;
its log-likelihood is the MC dropout protocol's, each pass with its own variance.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from mcdropout.core.config import Params
from mcdropout.core.tasks import HeteroscedasticRegression
from mcdropout.data.sources import UCIDataset
from mcdropout.inference.sampling import predict_mc, predict_standard
from mcdropout.nn.members import Member
from mcdropout.nn.model import MLP
from mcdropout.scoring.metrics import gaussian_mixture, gaussian_nll, mixture_log_likelihood
from mcdropout.study.uci_splits import Norm, inputs, norm_of, sayer, standardised
from mcdropout.training.adversarial import input_ranges
from mcdropout.training.train import fit_members_on

HEAD = HeteroscedasticRegression()
ENSEMBLE_SIZE = 5
ENSEMBLE_LRS = (0.1, 0.01, 0.001)  # the paper's "fixed learning rate of 0.1" (section 3.5) and two smaller
ENSEMBLE_LONGER = 10  # the grid's other epochs: this many times the paper's
ENSEMBLE_BATCH = 100
ADVERSARIAL_FRACTION = 0.01  # eps: this fraction of each input's range
CONCRETE_START_P = 0.1
CONCRETE_SHORTER = 10  # the epochs grid: the protocol's, a tenth and a hundredth of it (concrete_grid)
LENGTH_SCALE = 1e-2  # the prior length scale of the MC dropout protocol (study.uci)


def _rows(ds: UCIDataset, chosen: list[int]) -> list[tuple[np.ndarray, np.ndarray, int, tuple]]:
    """Per split: its training rows x, y (float64), where its 80% for choosing ends, and its test rows (x, y)."""
    out = []
    for i in chosen:
        train_idx, test_idx = ds.split(i)
        out.append((ds.x[train_idx], ds.y[train_idx].astype(np.float64), int(round(0.8 * len(train_idx))),
                    (ds.x[test_idx], ds.y[test_idx].astype(np.float64))))
    return out


def target_units(outputs: torch.Tensor, norm: Norm) -> tuple[np.ndarray, np.ndarray]:
    """A trained head's outputs ``[..., N, 2]`` (mean and variance of the standardised target) to means and
    variances in the target's units (float64)."""
    ym, ys = norm[2], norm[3]
    out = HEAD.link(outputs)
    return out[..., 0] * ys + ym, out[..., 1] * ys**2


def ensemble_scores(models: list[MLP], x: np.ndarray, y: np.ndarray, norm: Norm) -> dict[str, float]:
    """Test RMSE of the mixture's mean, the log-likelihood of the Gaussian with the mixture's mean and variance
    (the paper's), the exact mixture's, and the mean aleatoric and epistemic variances."""
    xt = inputs(x, norm)
    means, variances = target_units(torch.stack([predict_standard(m, xt) for m in models]), norm)  # [M, N] each
    mean, var, aleatoric = gaussian_mixture(means, variances)
    return {"rmse": float(np.sqrt(np.mean((y - mean) ** 2))), "ll": -gaussian_nll(y, mean, np.sqrt(var)),
            "ll_mixture": float(np.mean(mixture_log_likelihood(y, means, variances))),
            "aleatoric_var": float(np.mean(aleatoric)), "epistemic_var": float(np.mean(var - aleatoric))}


def concrete_scores(model: MLP, x: np.ndarray, y: np.ndarray, norm: Norm, samples: int, seed: int) -> dict[str, float]:
    """Test RMSE of the MC mean and the log-likelihood of the mixture of the T passes' Gaussians."""
    means, variances = target_units(predict_mc(model, inputs(x, norm), samples, seed=seed), norm)  # [T, N] each
    mean, var, aleatoric = gaussian_mixture(means, variances)
    return {"rmse": float(np.sqrt(np.mean((y - mean) ** 2))),
            "ll": float(np.mean(mixture_log_likelihood(y, means, variances))),
            "aleatoric_var": float(np.mean(aleatoric)), "epistemic_var": float(np.mean(var - aleatoric))}


def _fit(ds: UCIDataset, data: list, members: list[Member], data_of: list[int], params: Params, epochs: int,
         label: str, progress: bool, **extra) -> Any:
    """The members as one batched model, each on its split's training rows (no validation pass: nothing is
    chosen during training)."""
    dummy = [{"train": d, "val": d} for d in data]  # validate=False: the val rows are never read
    return fit_members_on(HEAD, dummy, data_of, members, params, progress=progress, label=label,
                          global_seed=members[0].seed, validate=False, **extra)


def _ensembles(ds: UCIDataset, chosen: list[int], train: list, params: Params, lr: float, epochs: int,
               adversarial: bool, members: int, progress: bool) -> list[list[MLP]]:
    """Per split, its ``members`` networks trained at ``lr`` for ``epochs`` on ``train`` (standardised splits),
    all splits' members as one batched model."""
    params = params.override(**{"model.hidden": [ds.n_hidden], "model.input_p": 0.0, "train.epochs": epochs,
                                "train.batch_size": ENSEMBLE_BATCH, "train.lr": lr, "train.weight_decay": 0.0})
    todo = [Member(0.0, seed=1000 * i + m, input_p=0.0) for i in chosen for m in range(members)]
    data_of = [s for s in range(len(chosen)) for _ in range(members)]
    eps = None
    if adversarial:  # per member: 1% of each standardised input's range on its split's training rows
        ranges = torch.stack([input_ranges(torch.from_numpy(t.x)) for t in train])
        eps = ADVERSARIAL_FRACTION * ranges[torch.tensor(data_of)]
    fit = _fit(ds, train, todo, data_of, params, epochs, f"{ds.name} deep ensembles, lr {lr:g}, {epochs} epochs "
               f"({len(chosen)} x {members} members)", progress, adversarial_eps=eps)
    return [fit.models[s * members:(s + 1) * members] for s in range(len(chosen))]


def ensemble_grid(epochs: int) -> list[tuple[float, int]]:
    """The (learning rate, epochs) pairs an ensemble chooses from: the paper's 0.1 and 40 (``epochs``) among them."""
    return [(lr, e) for lr in ENSEMBLE_LRS for e in (epochs, ENSEMBLE_LONGER * epochs)]


def run_ensemble_splits(ds: UCIDataset, chosen: list[int], epochs: int, samples: int, params: Params,
                        progress: bool = False, adversarial: bool = False,
                        members: int = ENSEMBLE_SIZE) -> list[dict[str, Any]]:
    """Deep ensembles on the splits ``chosen``, all at once (``samples`` is unused: the prediction is exact).

    As the MC dropout protocol chooses p and tau: each (learning rate, epochs) of :func:`ensemble_grid` trains on
    the first 80% of a split's training rows; the pair with the best validation log-likelihood (last 20%) is
    retrained on the whole training split, and tested."""
    start = time.perf_counter()
    say = sayer(progress, ds.name, start)
    rows = _rows(ds, chosen)
    norms = [norm_of(x[:cut], y[:cut]) for x, y, cut, _ in rows]
    grid = ensemble_grid(epochs)
    val = np.zeros((len(chosen), len(grid)))
    for g, (lr, e) in enumerate(grid):
        say(f"grid point {g + 1} of {len(grid)}: lr {lr:g}, {e} epochs")
        nets = _ensembles(ds, chosen, [standardised(x[:cut], y[:cut], n) for (x, y, cut, _), n in zip(rows, norms)],
                          params, lr, e, adversarial, members, progress)
        for s, ((x, y, cut, _), n) in enumerate(zip(rows, norms)):
            val[s, g] = ensemble_scores(nets[s], x[cut:], y[cut:], n)["ll"]
    best = val.argmax(axis=1)
    norms = [norm_of(x, y) for x, y, _, _ in rows]
    out: dict[int, dict[str, Any]] = {}
    for g in sorted(set(best.tolist())):  # the splits that chose grid point g retrain together
        these = [s for s in range(len(chosen)) if best[s] == g]
        lr, e = grid[g]
        say(f"retraining {len(these)} split(s) at lr {lr:g}, {e} epochs on their whole training splits")
        nets = _ensembles(ds, [chosen[s] for s in these], [standardised(rows[s][0], rows[s][1], norms[s])
                                                           for s in these], params, lr, e, adversarial, members,
                          progress)
        for s, models in zip(these, nets):
            x, y = rows[s][3]
            out[s] = {"split": chosen[s], **ensemble_scores(models, x, y, norms[s]), "lr": lr, "epochs": e,
                      "members": members, "adversarial": adversarial}
    seconds = (time.perf_counter() - start) / len(chosen)
    return [{**out[s], "seconds": seconds} for s in range(len(chosen))]


def concrete_grid(epochs: int) -> list[int]:
    """The epochs Concrete dropout chooses from: ``epochs`` (the protocol's 100 x ``n_epochs``) and a tenth and a
    hundredth of it (``n_epochs``, the ensembles' paper's)."""
    return sorted({max(1, epochs // CONCRETE_SHORTER**2), max(1, epochs // CONCRETE_SHORTER), epochs})


def train_concretes(ds: UCIDataset, chosen: list[int], train: list, params: Params, epochs: int, progress: bool,
                    start: list[MLP] | None = None) -> list[MLP]:
    """One Concrete dropout network per split, all splits as one batched model; ``start``: go on from these."""
    params = params.override(**{"model.hidden": [ds.n_hidden], "model.input_p": 0.0, "train.epochs": epochs,
                                "train.batch_size": 128, "train.lr": 1e-3, "train.weight_decay": 0.0,
                                "model.concrete.length_scale": LENGTH_SCALE})
    todo = [Member(CONCRETE_START_P, seed=i, input_p=0.0, dropout="concrete") for i in chosen]
    return _fit(ds, train, todo, list(range(len(chosen))), params, epochs,
                f"{ds.name} concrete ({len(chosen)} members, {epochs} epochs)", progress, start=start).models


def run_concrete_splits(ds: UCIDataset, chosen: list[int], epochs: int, samples: int, params: Params,
                        progress: bool = False, val_samples: int = 1000) -> list[dict[str, Any]]:
    """Concrete dropout with the heteroscedastic head on the splits ``chosen``, all at once.

    Its rate is learned, but not how long to train: as MC dropout chooses p and tau and the ensembles their learning
    rate and epochs, it chooses its epochs from :func:`concrete_grid` by the validation log-likelihood (``val_samples``
    MC passes) of networks trained on the first 80% of each split's training rows; the grid's points are one
    training continued (the weights, and the learned rates, go on; Adam starts afresh at each point). The chosen
    epochs are then trained afresh on the whole training split and tested."""
    begin = time.perf_counter()
    say = sayer(progress, ds.name, begin)
    rows = _rows(ds, chosen)
    norms = [norm_of(x[:cut], y[:cut]) for x, y, cut, _ in rows]
    fit_rows = [standardised(x[:cut], y[:cut], n) for (x, y, cut, _), n in zip(rows, norms)]
    grid = concrete_grid(epochs)
    val = np.zeros((len(chosen), len(grid)))
    nets, done = None, 0
    for g, e in enumerate(grid):
        say(f"grid point {g + 1} of {len(grid)}: {e} epochs")
        nets = train_concretes(ds, chosen, fit_rows, params, e - done, progress, start=nets)
        done = e
        for s, ((x, y, cut, _), n) in enumerate(zip(rows, norms)):
            val[s, g] = concrete_scores(nets[s], x[cut:], y[cut:], n, val_samples, seed=chosen[s])["ll"]
    best = val.argmax(axis=1)
    norms = [norm_of(x, y) for x, y, _, _ in rows]
    out: dict[int, dict[str, Any]] = {}
    for g in sorted(set(best.tolist())):  # the splits that chose grid point g retrain together
        these = [s for s in range(len(chosen)) if best[s] == g]
        say(f"retraining {len(these)} split(s) for {grid[g]} epochs on their whole training splits")
        data = [standardised(rows[s][0], rows[s][1], norms[s]) for s in these]
        nets = train_concretes(ds, [chosen[s] for s in these], data, params, grid[g], progress)
        for s, model in zip(these, nets):
            x, y = rows[s][3]
            out[s] = {"split": chosen[s], **concrete_scores(model, x, y, norms[s], samples, seed=chosen[s]),
                      "p": model.learned_p[0], "epochs": grid[g]}
    seconds = (time.perf_counter() - begin) / len(chosen)
    return [{**out[s], "seconds": seconds} for s in range(len(chosen))]
