import math
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mcdropout.cli import main
from mcdropout.core.config import Params
from mcdropout.data.datasets import DataError
from mcdropout.nn.model import seeded_mlp
from mcdropout.study.uci import load_uci, mc_scores, parse_splits, run_benchmark, run_splits

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "uci"


def make_dataset(root: Path, n: int = 40, name: str = "tiny") -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3))
    x[:, 2] = 1.0  # a constant column: std 0 must become 1
    y = x[:, 0] - 2 * x[:, 1] + 0.1 * rng.normal(size=n)
    np.savetxt(folder / "data.txt", np.column_stack([x, y]))
    (folder / "index_features.txt").write_text("0\n1\n2\n")
    (folder / "index_target.txt").write_text("3\n")
    for key, value in {"n_splits": "2", "n_hidden": "8", "n_epochs": "1", "dropout_rates": "0.01 0.1",
                       "tau_values": "1.0 10.0"}.items():
        (folder / f"{key}.txt").write_text(value + "\n")
    for i in range(2):
        order = rng.permutation(n)
        np.savetxt(folder / f"index_train_{i}.txt", order[:32], fmt="%d")
        np.savetxt(folder / f"index_test_{i}.txt", order[32:], fmt="%d")
    return folder


def test_loader_reads_layout(tmp_path):
    make_dataset(tmp_path)
    ds = load_uci(tmp_path, "tiny")
    assert ds.x.shape == (40, 3) and ds.y.shape == (40,)
    assert (ds.n_splits, ds.n_hidden, ds.n_epochs) == (2, 8, 1)
    assert ds.dropout_rates == [0.01, 0.1] and ds.taus == [1.0, 10.0]
    train, test = ds.split(1)
    assert len(train) == 32 and len(test) == 8 and not set(train) & set(test)


@pytest.mark.parametrize("missing", ["data.txt", "tau_values.txt", "index_target.txt"])
def test_missing_file_is_named(tmp_path, missing):
    folder = make_dataset(tmp_path)
    (folder / missing).unlink()
    with pytest.raises(DataError, match=f"{missing}: missing"):
        load_uci(tmp_path, "tiny")


def test_missing_split_file_is_named(tmp_path):
    folder = make_dataset(tmp_path)
    (folder / "index_test_1.txt").unlink()
    with pytest.raises(DataError, match="index_test_1.txt: missing"):
        load_uci(tmp_path, "tiny").split(1)


def test_parse_splits():
    assert parse_splits("all", 3) == [0, 1, 2]
    assert parse_splits("0-4", 20) == [0, 1, 2, 3, 4]
    assert parse_splits("2,5", 20) == [2, 5]
    with pytest.raises(DataError, match="outside 0-19"):
        parse_splits("18-21", 20)
    with pytest.raises(DataError, match="must be 'all'"):
        parse_splits("first", 20)


def test_log_likelihood_formula_by_hand():
    """With p = 0 every pass is the same, so the mixture LL is one Gaussian: check it by hand."""
    model = seeded_mlp(0, in_dim=2, out_dim=1, hidden=(4,), p=0.0).eval()
    x = np.array([[0.5, -1.0], [1.0, 2.0]])
    y = np.array([1.0, -0.5])
    norm = (np.zeros(2), np.ones(2), 0.0, 1.0)
    tau = 2.0
    scores = mc_scores(model, x, y, norm, tau, samples=5, seed=0)
    yhat = model(torch.tensor(x, dtype=torch.float32))[:, 0].detach().double().numpy()
    ll = -0.5 * tau * (y - yhat) ** 2 - 0.5 * math.log(2 * math.pi) + 0.5 * math.log(tau)
    assert scores["ll"] == pytest.approx(ll.mean(), rel=1e-6)
    assert scores["rmse"] == pytest.approx(scores["rmse_standard"], rel=1e-6)


def test_benchmark_on_tiny_folder(tmp_path, capsys):
    make_dataset(tmp_path)
    params = Params().override(**{"mlflow.enabled": False})
    saved = []
    result = run_benchmark(tmp_path, "tiny", "all", epochs=3, samples=20, params=params, on_split=saved.append)
    assert [s["split"] for s in result["splits"]] == [0, 1]
    for s in result["splits"]:
        assert s["p"] in (0.01, 0.1) and s["tau"] in (1.0, 10.0)
        assert np.isfinite([s["rmse"], s["ll"], s["rmse_standard"]]).all()
    assert set(result["mean"]) == set(result["stderr"]) == {"rmse", "ll", "rmse_standard"}
    assert [len(r["splits"]) for r in saved] == [2]  # both splits in one model: saved once
    out, err = capsys.readouterr()
    assert "tiny: training the grids of 2 split(s) (2 x 4 members, 3 epochs)" in err
    assert "tiny grids (2 x 4 members): epoch 3/3" in err and "tiny retrain (2): epoch 3/3" in err
    assert "tiny mc_dropout split 1: rmse" in out and "peak memory" in out.splitlines()[-1]
    assert result["method"] == "mc_dropout" and result["grid"] == {"p": [0.01, 0.1], "tau": [1.0, 10.0]}

    one_by_one = run_benchmark(tmp_path, "tiny", "all", epochs=3, samples=20, params=params, progress=False,
                               on_split=saved.append, per_model=1)
    assert [len(r["splits"]) for r in saved[1:]] == [1, 2]  # saved after each split
    assert [s["split"] for s in one_by_one["splits"]] == [0, 1]


def test_cli_errors(tmp_path):
    make_dataset(tmp_path)
    result = CliRunner().invoke(main, ["benchmark", "uci", "--data-dir", str(tmp_path), "--dataset", "nope"])
    assert result.exit_code == 2 and "no such dataset folder" in result.output
    result = CliRunner().invoke(main, ["benchmark", "uci", "--data-dir", str(tmp_path), "--dataset", "tiny",
                                       "--splits", "7"])
    assert result.exit_code == 2 and "outside 0-1" in result.output
    result = CliRunner().invoke(main, ["benchmark", "uci", "--data-dir", str(tmp_path), "--dataset", "tiny",
                                       "--splits-per-model", "0"])
    assert result.exit_code == 2 and "--splits-per-model must be an integer >= 1" in result.output


@pytest.mark.skipif(not (SHARED / "yacht").is_dir(), reason="../shared/data/uci not present")
def test_shared_yacht_layout():
    ds = load_uci(SHARED, "yacht")
    assert ds.x.shape == (308, 6) and ds.n_splits == 20 and ds.n_hidden == 50
    train, test = ds.split(0)
    assert (len(train), len(test)) == (277, 31)


def test_merge_and_summary_table():
    from mcdropout.study.uci import merge
    from mcdropout.study.uci_table import summary_table

    def run(splits, rmse, ll):
        return {"dataset": "energy", "method": "mc_dropout", "epochs": 10, "mc_samples": 5,
                "grid": {"p": [0.005, 0.1], "tau": [0.5, 1.0]},
                "splits": [{"split": i, "rmse": r, "ll": v, "rmse_standard": r, "p": 0.005, "tau": 1.0,
                            "seconds": 60.0} for i, r, v in zip(splits, rmse, ll)]}

    merged = merge(run([0, 1], [0.5, 0.7], [-1.2, -1.3]), run([1, 2], [0.6, 0.4], [-1.1, -1.2]))
    assert [r["split"] for r in merged["splits"]] == [0, 1, 2]
    assert merged["splits"][1]["rmse"] == 0.6  # the newer run wins
    assert merged["mean"]["rmse"] == pytest.approx(0.5)
    assert merged["stderr"]["rmse"] == pytest.approx(np.std([0.5, 0.6, 0.4]) / np.sqrt(3))
    # the 2018 grid search's energy (its logs): RMSE 0.5389 +- 0.0135, LL -1.2115 +- 0.0053; ours 0.50 and -1.1667
    lines = summary_table([{"dataset": "energy", "methods": {"mc_dropout": merged}}]).splitlines()
    ll = next(x for x in lines if x.startswith("| energy | -1.17 ± 0.03 (3) |"))
    assert "| -1.99 ± 0.02 | -1.21 ± 0.01 | -1.38 ± 0.05 | MC dropout: within 2 SE |" in ll  # DE: 0.22 / sqrt(20)
    # -1.1667 +- 0.027 against -1.2115 +- 0.0053: 0.045 apart, 2 combined SE = 0.055
    rmse = next(x for x in lines if x.startswith("| energy | 0.50 ± 0.05 |"))
    assert rmse.endswith("| MC dropout: within 2 SE |")
    cost = next(x for x in lines if x.startswith("| energy | MC dropout | 3 | 3.0 min |"))
    assert "p 0.005 (3/3), tau 1 (3/3)" in cost and "p low 3/3, tau high 3/3" in cost  # both at a grid end
    with pytest.raises(DataError, match="cannot merge"):
        merge(run([0], [0.5], [-1.2]), {**run([1], [0.5], [-1.2]), "epochs": 11})


def test_batched_splits_choose_as_split_by_split(tmp_path, monkeypatch):
    """All splits as one batched model choose what each split alone chooses. Without dropout (p = 0) and with
    full batches (fewer than 128 rows) training is deterministic up to float rounding, so the validation
    log-likelihoods, the choices and the test scores must agree."""
    import mcdropout.study.uci

    folder = make_dataset(tmp_path, n=40)
    (folder / "n_splits.txt").write_text("3\n")
    (folder / "dropout_rates.txt").write_text("0.0\n")
    (folder / "tau_values.txt").write_text("0.05 1.0 20.0\n")  # far apart: a robust choice
    rng = np.random.default_rng(1)
    for i in range(3):
        order = rng.permutation(40)
        np.savetxt(folder / f"index_train_{i}.txt", order[:32], fmt="%d")
        np.savetxt(folder / f"index_test_{i}.txt", order[32:], fmt="%d")
    ds = load_uci(tmp_path, "tiny")
    params = Params().override(**{"mlflow.enabled": False})
    scored: dict[int, list[float]] = {}

    def record(model, x, y, norm, tau, samples, seed):  # every score a run computes, by split (= seed)
        scores = mc_scores(model, x, y, norm, tau, samples, seed)
        scored.setdefault(seed, []).append(scores["ll"])
        return scores

    monkeypatch.setattr(mcdropout.study.uci, "mc_scores", record)
    together = run_splits(ds, [0, 1, 2], epochs=40, samples=20, params=params)
    batched, scored = scored, {}
    alone = [run_splits(ds, [i], epochs=40, samples=20, params=params)[0] for i in range(3)]
    assert [r["split"] for r in together] == [0, 1, 2]
    for i in range(3):
        assert len(batched[i]) == 4  # the three grid members' validation LLs, then the test LL
        np.testing.assert_allclose(batched[i], scored[i], rtol=1e-4)
        top, second = sorted(batched[i][:3])[::-1][:2]
        assert top - second > 1e-2  # the choice does not hang on rounding
        assert (together[i]["p"], together[i]["tau"]) == (alone[i]["p"], alone[i]["tau"])
        for key in ("rmse", "ll", "rmse_standard"):
            assert together[i][key] == pytest.approx(alone[i][key], rel=1e-4)
