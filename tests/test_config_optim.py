"""Config and profiles, LARS, the warm-up + cosine schedule."""

from __future__ import annotations

import json
import math
from itertools import pairwise

import pytest
import torch

from cssl_edu.config import PROFILES, TrainConfig, default_profile, load_config_file, make_config
from cssl_edu.train.optim import LARS, build_optimizer, param_groups, warmup_cosine


def test_profile_selection_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSSL_EDU_PROFILE", "gpu")
    assert default_profile() == "gpu"
    monkeypatch.setenv("CSSL_EDU_PROFILE", "tpu")
    with pytest.raises(ValueError, match="CSSL_EDU_PROFILE"):
        default_profile()
    monkeypatch.delenv("CSSL_EDU_PROFILE")
    assert default_profile() == ("gpu" if torch.cuda.is_available() else "cpu")


def test_make_config_layers_profile_file_overrides(tmp_path) -> None:
    f = tmp_path / "run.yaml"
    f.write_text("epochs: 3\nbatch-size: 64\ntemperature: 0.2\n")
    cfg = make_config("cpu", str(f), temperature=0.3, lr=None)
    assert cfg.arch == PROFILES["cpu"]["arch"] and cfg.epochs == 3 and cfg.batch_size == 64
    assert cfg.temperature == 0.3  # flag beats file
    j = tmp_path / "run.json"
    j.write_text(json.dumps({"epochs": 2}))
    assert make_config("gpu", str(j)).arch == "resnet18"
    assert load_config_file(j) == {"epochs": 2}


def test_config_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown config key"):
        make_config("cpu", epochz=3)
    with pytest.raises(ValueError, match="temperature"):
        TrainConfig(temperature=0)
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=1)
    with pytest.raises(FileNotFoundError):
        load_config_file(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping"):
        load_config_file(tmp_path / "bad.yaml")


def test_lr_scaling_rule() -> None:
    assert TrainConfig(optimizer="lars", lr=None, batch_size=512).base_lr == pytest.approx(0.6)
    assert TrainConfig(optimizer="adamw", lr=1e-3).base_lr == 1e-3


def test_warmup_cosine_shape() -> None:
    f = warmup_cosine(100, 10)
    vals = [f(s) for s in range(100)]
    assert vals[0] < 0.2 and vals[9] == pytest.approx(1.0)
    assert all(a <= b for a, b in pairwise(vals[:10]))  # rises during warm-up
    assert all(a >= b for a, b in pairwise(vals[10:]))  # then decays
    assert vals[55] == pytest.approx(0.5 * (1 + math.cos(math.pi * 45 / 90)))


def test_param_groups_exclude_bias_and_norm() -> None:
    m = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4))
    decay, no_decay = param_groups(m, 1e-4)
    assert [p.ndim for p in decay["params"]] == [2]
    assert len(no_decay["params"]) == 3 and no_decay["weight_decay"] == 0


def test_lars_step_matches_formula() -> None:
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(3, 4))
    b = torch.nn.Parameter(torch.randn(3))
    opt = LARS(
        [
            {"params": [w], "weight_decay": 0.1, "lars_adapt": True},
            {"params": [b], "weight_decay": 0.0, "lars_adapt": False},
        ],
        lr=0.5,
        eta=0.02,
    )
    w.grad, b.grad = torch.randn(3, 4), torch.randn(3)
    w0, b0, gw, gb = w.detach().clone(), b.detach().clone(), w.grad.clone(), b.grad.clone()
    opt.step()
    g = gw + 0.1 * w0
    trust = 0.02 * w0.norm() / g.norm()
    torch.testing.assert_close(w.detach(), w0 - 0.5 * trust * g)
    torch.testing.assert_close(b.detach(), b0 - 0.5 * gb)


def test_build_optimizer_kinds() -> None:
    m = torch.nn.Linear(3, 3)
    assert isinstance(build_optimizer(m, "lars", 0.1, 1e-6), LARS)
    assert isinstance(build_optimizer(m, "sgd", 0.1, 1e-6), torch.optim.SGD)
    assert isinstance(build_optimizer(m, "adamw", 0.1, 1e-6), torch.optim.AdamW)
    with pytest.raises(ValueError, match="unknown optimizer"):
        build_optimizer(m, "adam", 0.1, 0)
