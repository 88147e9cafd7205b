"""The active: block of params.yaml: its defaults, its checks, and the datasets it may name."""

import pytest

from mcdropout.core.active_settings import DEFAULT_ACTIVE, ActiveConfig
from mcdropout.core.config import ConfigError, Params, from_dict


def test_defaults_and_the_budget_check():
    cfg = ActiveConfig()
    assert (cfg.functions, cfg.initial, cfg.batch, cfg.budget, cfg.warm_start) == (None, 20, 10, 100, False)
    with pytest.raises(ConfigError, match=r"active.digits: budget \(5\) must be at least initial \(20\)"):
        from_dict({"active": {"digits": {"budget": 5}}})
    with pytest.raises(ConfigError, match="active.digits.functions must be one of random"):
        from_dict({"active": {"digits": {"functions": ["coin_flip"]}}})


def test_the_experiments_name_declared_datasets_only():
    assert set(Params().active) == set(DEFAULT_ACTIVE) == {"digits", "regression"}
    # a file with its own datasets and no active: the default experiments of the datasets it declares
    assert set(from_dict({"datasets": {"regression": {"source": "synthetic"}}}).active) == {"regression"}
    assert from_dict({"datasets": {"mine": {"source": "synthetic"}}}).active == {}
    with pytest.raises(ConfigError, match="active.mine: not a dataset declared under datasets"):
        from_dict({"active": {"mine": {}}})
    # replacing the datasets keeps the experiments of those still declared
    params = Params().override(datasets={"digits": {"source": "sklearn", "name": "digits"}})
    assert set(params.active) == {"digits"}
