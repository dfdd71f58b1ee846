"""``cssl-edu doctor`` / :func:`cssl_edu.diagnose` on real runs built here, and on every zoo entry.

Four tiny runs (Shapes, 32 px, CPU; each trains in well under 20 s): a healthy SimCLR run,
SimSiam without its stop-gradient (collapses), AdamW at lr = 5 (2,500× its rule: the
backbone's features degrade and kNN falls below random init) and τ = 0.005. Each test prints
the diagnosis, so ``pytest -s`` shows the numbers the thresholds in
:mod:`cssl_edu.analysis.doctor` were chosen from.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

import cssl_edu
from cssl_edu import zoo
from cssl_edu.analysis import doctor
from cssl_edu.analysis.doctor import Diagnosis, chance_loss, diagnose, effective_rank
from cssl_edu.cli import main
from cssl_edu.config import make_config
from cssl_edu.data import make_shapes
from cssl_edu.losses import info_nce, nt_xent
from cssl_edu.methods import build_method
from cssl_edu.methods.byol import negative_cosine
from cssl_edu.models import build_backbone
from cssl_edu.train import Trainer
from cssl_edu.train.checkpoint import load_checkpoint, save_checkpoint

#: the small runs: 1,024 Shapes images, batch 64, 3 epochs (48 steps), small heads, kNN monitor on
TINY: dict[str, Any] = dict(
    dataset="shapes",
    n_train=1024,
    n_test=500,
    image_size=32,
    batch_size=64,
    epochs=3,
    knn_every=1,
    knn_bank_size=1024,
    proj_hidden_dim=128,
    proj_out_dim=64,
    lr=5e-3,
    device="cpu",
    seed=0,
)
RUNS: dict[str, dict[str, Any]] = {
    # the healthy run gets more images and steps: 2,048 images, batch 128, 4 epochs (64 steps)
    "healthy": dict(method="simclr", n_train=2048, knn_bank_size=2048, batch_size=128, epochs=4),
    "no_stop_grad": dict(method="simsiam", method_kwargs={"stop_gradient": False}),
    "lr_high": dict(method="simclr", lr=5.0),
    "tau_small": dict(method="simclr", temperature=0.005),
}


def _train(out: Path, **kw: Any) -> Path:
    cfg = make_config("cpu", out_dir=str(out), **{**TINY, **kw})
    Trainer(cfg, progress=False).fit()
    return out


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("doctor-runs")
    return {name: _train(root / name, **kw) for name, kw in RUNS.items()}


@pytest.fixture(scope="module")
def diagnoses(run_dirs: dict[str, Path]) -> dict[str, Diagnosis]:
    out = {}
    for name, path in run_dirs.items():
        out[name] = diagnose(path)
        print(f"\n--- {name}\n{out[name]}")
    return out


def _values(d: Diagnosis, name: str) -> dict[str, Any]:
    return d.finding(name).values


# ------------------------------------------------------------------------------- the four runs
def test_healthy_simclr_run(diagnoses: dict[str, Diagnosis]) -> None:
    d = diagnoses["healthy"]
    assert d.verdict == "healthy", d
    assert d.exit_code == 0
    assert all(f.status != "problem" for f in d.findings), d
    loss = _values(d, "loss vs chance")
    assert loss["end"] < loss["first"] < loss["chance"] == pytest.approx(math.log(2 * 128 - 1))
    knn = _values(d, "kNN vs random init")
    assert knn["knn"] > knn["random_mean"] + doctor.KNN_MARGIN
    assert knn["knn_last"] >= knn["knn_first"]  # the monitor's trend was read from the metrics


def test_simsiam_without_stop_gradient_collapses(diagnoses: dict[str, Diagnosis]) -> None:
    d = diagnoses["no_stop_grad"]
    assert d.verdict == "collapsed", d
    assert d.exit_code == 1
    f = d.finding("collapse")
    assert f.status == "problem" and "collapse" in f.message and f.cause and f.fix
    # its loss heads for the trivial −1 while p crowds together: a low loss is not health here
    assert _values(d, "loss vs chance")["end"] < -0.5
    assert f.values["p_uniformity"] > doctor.MAX_UNIFORMITY


def test_learning_rate_far_too_high(diagnoses: dict[str, Diagnosis]) -> None:
    d = diagnoses["lr_high"]
    assert d.verdict in ("diverged", "not learning yet"), d
    assert d.exit_code == 1
    lr = d.finding("learning rate")
    assert lr.status == "problem" and lr.values["ratio"] > doctor.MAX_LR_FACTOR
    assert _values(d, "kNN vs random init")["knn"] < _values(d, "kNN vs random init")["random_mean"]


def test_temperature_far_too_small_is_flagged(diagnoses: dict[str, Diagnosis]) -> None:
    d = diagnoses["tau_small"]
    assert d.finding("temperature").status == "problem"
    assert d.verdict != "healthy" and d.exit_code == 1, d


def test_non_finite_weights_mean_diverged(run_dirs: dict[str, Path], tmp_path: Path) -> None:
    state = load_checkpoint(run_dirs["healthy"] / "last.pt")
    key = next(k for k in state["method"] if k.endswith("weight"))
    state["method"][key] = torch.full_like(state["method"][key], float("nan"))
    state.pop("format"), state.pop("version")
    path = save_checkpoint(state, tmp_path / "nan.pt")
    d = diagnose(path)
    assert d.verdict == "diverged" and d.exit_code == 1
    assert d.finding("weights").values["nonfinite_entries"] > 0


# ----------------------------------------------------------------------------------------- zoo
@pytest.mark.parametrize("name", zoo.names())
def test_every_zoo_entry(name: str) -> None:
    d = diagnose(name)
    print(f"\n--- {name}\n{d}")
    knn = _values(d, "kNN vs random init")
    if name == "simclr-nocolor-shapes":
        # the control: SimCLR without colour augmentation learns colour, not shape (its card: below random init)
        assert d.verdict == "not learning yet" and d.exit_code == 1, d
        assert d.finding("kNN vs random init").status == "problem"
        assert "below random init" in d.finding("kNN vs random init").message
        assert knn["knn"] < knn["random_mean"] - doctor.KNN_MARGIN
        assert d.finding("collapse").status != "problem"  # not a collapse: a shortcut
    else:
        assert d.verdict == "healthy" and d.exit_code == 0, d


def test_an_encoder_only_entry_is_judged_on_its_features_alone() -> None:
    if "simclr-biased-shapes" not in zoo.names():
        pytest.skip("the zoo entry simclr-biased-shapes is not built here")
    d = diagnose("simclr-biased-shapes")  # ships its backbone only: its heads would be untrained
    values = d.finding("collapse").values
    assert any(k.startswith("h_") for k in values)
    assert not any(k.startswith(("z_", "p_")) for k in values), values


def test_zoo_weights_file_reads_as_its_entry() -> None:
    d = diagnose(zoo.default_root() / "simclr-shapes.pt")
    assert d.run == "zoo entry simclr-shapes" and d.verdict == "healthy"


# ------------------------------------------------------------------------------------ pieces
def test_chance_values_are_the_packages_losses_on_uninformative_outputs() -> None:
    """L₀ of each method equals its loss when every output is the same vector (no information)."""
    cfg = make_config("cpu", batch_size=8)
    z = torch.ones(8, 16)
    simclr = build_method("simclr", build_backbone("convnet"), proj_hidden_dim=16, proj_out_dim=16)
    assert chance_loss(simclr, cfg)[0] == pytest.approx(float(nt_xent(z, z)), abs=1e-5)
    moco = build_method("moco", build_backbone("convnet"), proj_hidden_dim=16, proj_out_dim=16, queue_size=32)
    cfg_moco = make_config("cpu", method="moco", batch_size=8)
    assert chance_loss(moco, cfg_moco)[0] == pytest.approx(
        float(info_nce(z, z, torch.ones(32, 16))), abs=1e-5
    )
    # BYOL/SimSiam: unrelated prediction and target are orthogonal on average
    p, t = torch.eye(16)[:8], torch.eye(16)[8:]
    byol = build_method("byol", build_backbone("convnet"), proj_hidden_dim=16, proj_out_dim=16)
    assert chance_loss(byol, make_config("cpu", method="byol"))[0] == pytest.approx(
        2 + 2 * float(negative_cosine(p, t))
    )
    simsiam = build_method("simsiam", build_backbone("convnet"), proj_hidden_dim=16, proj_out_dim=16)
    l0, floor, _ = chance_loss(simsiam, make_config("cpu", method="simsiam"))
    assert (l0, floor) == (pytest.approx(float(negative_cosine(p, t))), float(negative_cosine(p, p)))


def test_effective_rank_counts_directions() -> None:
    g = torch.Generator().manual_seed(0)
    assert effective_rank(torch.randn(1, 8, generator=g).repeat(50, 1)) == pytest.approx(1.0, abs=1e-6)
    assert effective_rank(torch.eye(8)) == pytest.approx(8.0)
    three = torch.randn(500, 3, generator=g) @ torch.randn(3, 32, generator=g)
    assert 1.5 < effective_rank(three) <= 3.0 + 1e-6


def test_images_passed_in(run_dirs: dict[str, Path]) -> None:
    ds = make_shapes(400, split="test", seed=5)
    d = diagnose(run_dirs["healthy"], images=ds)
    knn = _values(d, "kNN vs random init")
    assert knn["n_bank"] == knn["n_test"] == 200
    d = diagnose(run_dirs["healthy"], images=ds.images[:64])
    assert d.finding("kNN vs random init").status == "warn"  # no labels: not measured, said so
    assert d.finding("collapse").status in ("ok", "warn")


def test_readable_forms_and_exports(diagnoses: dict[str, Diagnosis]) -> None:
    d = diagnoses["no_stop_grad"]
    assert cssl_edu.diagnose is diagnose
    text = str(d)
    assert "verdict: collapsed" in text and "likely cause" in text
    assert "**collapsed**" in d._repr_markdown_()
    assert json.loads(json.dumps(d.to_dict()))["exit_code"] == 1


# ----------------------------------------------------------------------------------------- CLI
def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["doctor", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_exit_codes(run_dirs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli([str(run_dirs["healthy"])], capsys)
    assert code == 0 and "verdict: healthy" in out
    code, out, _ = _cli([str(run_dirs["no_stop_grad"]), "--json"], capsys)
    assert code == 1 and json.loads(out)["verdict"] == "collapsed"
    code, out, _ = _cli(["simclr-nocolor-shapes"], capsys)
    assert code == 1 and "below random init" in out


def _assert_clear_error(code: int, err: str, *words: str) -> None:
    assert code == 2
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert all(w in err for w in words), err


def test_cli_unreadable_runs(
    run_dirs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _assert_clear_error(*_cli([str(tmp_path / "nowhere")], capsys)[::2], "does not exist")
    (tmp_path / "empty").mkdir()
    _assert_clear_error(*_cli([str(tmp_path / "empty")], capsys)[::2], "no checkpoint")
    junk = tmp_path / "junk" / "last.pt"
    junk.parent.mkdir()
    junk.write_bytes(bytes(range(256)) * 8)
    _assert_clear_error(*_cli([str(junk.parent)], capsys)[::2], "corrupt")
    state = load_checkpoint(run_dirs["healthy"] / "last.pt")
    no_config = {k: v for k, v in state.items() if k not in ("config", "format", "version")}
    _assert_clear_error(
        *_cli([str(save_checkpoint(no_config, tmp_path / "nocfg.pt"))], capsys)[::2], "config"
    )
