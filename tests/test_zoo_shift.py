"""Lesson 11's zoo entries: dataset options, the shift evaluations, encoder-only weights, and the cards."""

from __future__ import annotations

import statistics

import pytest
import torch
from torch import nn

from cssl_edu import zoo
from cssl_edu.cli import main
from cssl_edu.config import make_config
from cssl_edu.data import bias_subsets, make_shapes
from cssl_edu.eval import extract_features, linear_probe
from cssl_edu.train import Trainer, load_splits
from cssl_edu.train.checkpoint import CheckpointError
from cssl_edu.train.trainer import check_options
from cssl_edu.zoo import build as zb
from cssl_edu.zoo import shift
from cssl_edu.zoo.recipes import RECIPES, Recipe

LESSON11 = (
    "simclr-biased-shapes",
    "supcon-biased-shapes",
    "supervised-biased-shapes",
    "simclr-scenes-shapes",
)


# ---------------------------------------------------------------------------- dataset options


def test_dataset_kwargs_reach_every_split_and_are_checked_by_name(tmp_path):
    cfg = make_config("cpu", n_train=128, n_test=64, out_dir=str(tmp_path), dataset_kwargs={"bias": 0.99})
    train, _, test = load_splits(cfg)
    assert torch.equal(train.images, make_shapes(128, seed=0, split="train", bias=0.99).images)
    assert train.factors["bias_aligned"].float().mean() > 0.95  # the shortcut is in the training split
    assert torch.equal(
        test.images, make_shapes(64, seed=0, split="test").images
    )  # and never in the test split
    scenes = make_config("cpu", n_train=64, n_test=32, dataset_kwargs={"scene": "scene"})
    assert torch.equal(
        load_splits(scenes)[2].images, make_shapes(32, seed=0, split="test", scene="scene").images
    )
    with pytest.raises(ValueError, match=r"--dataset-kwargs: dataset 'shapes' has no option 'bais' .*'bias'"):
        check_options(make_config("cpu", dataset_kwargs={"bais": 0.9}))
    with pytest.raises(ValueError, match="dataset_kwargs must be a mapping"):
        make_config("cpu", dataset_kwargs=[("bias", 0.9)])


def test_a_run_on_other_dataset_options_is_never_resumed(tmp_path):
    tiny = {
        "n_train": 128,
        "n_test": 32,
        "epochs": 1,
        "batch_size": 64,
        "knn_every": 0,
        "out_dir": str(tmp_path),
    }
    Trainer(make_config("cpu", **tiny, dataset_kwargs={"bias": 0.99}), progress=False).fit()
    with pytest.raises(CheckpointError, match=r"dataset options: checkpoint \{'bias': 0.99\} vs now \{\}"):
        Trainer(make_config("cpu", **tiny), progress=False).fit(resume=True)


def test_cli_takes_dataset_kwargs_as_json(tmp_path, capsys):
    code = main(
        ["train", "--dataset-kwargs", '{"bias": 2}', "--out-dir", str(tmp_path / "r"), "--epochs", "1"]
    )
    assert code == 2
    assert "bias must be a probability in [0, 1]" in capsys.readouterr().err


# ---------------------------------------------------------------------------- linear_probe's per-image answers


def test_linear_probe_returns_per_image_correctness_that_matches_its_accuracy():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, 8, generator=g), torch.randint(0, 3, (300,), generator=g)
    xt, yt = torch.randn(90, 8, generator=g), torch.randint(0, 3, (90,), generator=g)
    yt[:10] = -1  # unlabelled test rows are left out
    with pytest.warns(UserWarning, match="10"):
        out = linear_probe(x, y, xt, yt, epochs=5, return_correct=True)
    assert out["test_correct"].dtype == torch.bool and out["test_correct"].shape == (80,)
    assert out["test_correct"].float().mean().item() == pytest.approx(out["test_acc"])
    # the same probe scored on a subset of the rows gives that subset's share of correct rows
    sub = linear_probe(x, y, xt[10:50], yt[10:50], epochs=5)
    assert sub["test_acc"] == pytest.approx(out["test_correct"][:40].float().mean().item())
    assert "test_correct" not in linear_probe(x, y, xt[10:], yt[10:], epochs=5)


# ---------------------------------------------------------------------------- the shift evaluations


class _ColourStats(nn.Module):
    """A 'colour-only' encoder: each channel's mean, mean square, max and min (B, 12) — no layout, no shape."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = x.flatten(2)
        return torch.cat([v.mean(2), (v**2).mean(2), v.amax(2), v.amin(2)], 1)


class _GreyLayout(nn.Module):
    """A layout encoder: the grey-level image pooled to 8 × 8 (B, 64) — it sees where the object is."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.adaptive_avg_pool2d(x.mean(dim=1, keepdim=True), 8).flatten(1)


@pytest.fixture
def small_shift(monkeypatch):
    monkeypatch.setattr(shift, "N_PROBE_TRAIN", 1536)
    monkeypatch.setattr(shift, "N_PROBE_TEST", 900)
    monkeypatch.setattr(shift, "PROBE_EPOCHS", 30)
    shift.shift_data.cache_clear()
    yield
    shift.shift_data.cache_clear()


def test_colour_shortcut_is_aligned_minus_conflicting_of_one_probe(small_shift):
    enc = _ColourStats()
    got = shift.evaluate_shift(enc, ["colour_shortcut"])["colour_shortcut"]
    # an independent computation: the same probe (same seed and data), scored on each subset alone
    train, test = shift.shift_data("colour_shortcut")
    kw = {"mean": train.mean, "std": train.std, "device": "cpu"}
    f_tr, f_te = extract_features(enc, train.images, **kw), extract_features(enc, test.images, **kw)
    aligned, conflicting = bias_subsets(test)
    for key, idx in (("aligned_acc", aligned), ("conflicting_acc", conflicting)):
        ref = linear_probe(f_tr, train.labels, f_te[idx], test.labels[idx], epochs=30)["test_acc"]
        assert got[key] == pytest.approx(ref, abs=2e-3), key
    assert got["gap"] == pytest.approx(got["aligned_acc"] - got["conflicting_acc"])
    n = len(test)
    assert got["acc"] == pytest.approx(
        (got["aligned_acc"] * len(aligned) + got["conflicting_acc"] * len(conflicting)) / n
    )
    # a colour-only encoder is the shortcut itself: right on aligned images, wrong on the others
    assert got["aligned_acc"] > 0.8 and got["conflicting_acc"] < 0.1 and got["gap"] > 0.7


def test_scenes_are_harder_to_read_than_objects(small_shift):
    got = shift.evaluate_shift(_GreyLayout(), ["objects", "scenes"])
    assert set(got["objects"]) == {"acc"} and set(got["scenes"]) == {"acc"}
    # a small object among distractors is far harder to read from the image's layout than a large one
    assert got["objects"]["acc"] > got["scenes"]["acc"] + 0.1, got


def test_shift_evaluations_refuse_unknown_names():
    with pytest.raises(ValueError, match=r"unknown shift evaluation.*'colour'.*colour_shortcut"):
        shift.evaluate_shift(_GreyLayout(), ["colour"])
    with pytest.raises(ValueError, match="a list of evaluation names"):
        shift.evaluate_shift(_GreyLayout(), "scenes")


def test_random_init_shift_reports_mean_sd_and_values(small_shift):
    out = shift.random_init_shift("convnet", 32, ["scenes"], seeds=(0, 1))
    vals = out["scenes"]["acc"]["values"]
    assert len(vals) == 2 and out["scenes"]["acc"]["mean"] == pytest.approx(statistics.mean(vals))
    assert out["scenes"]["acc"]["sd"] == pytest.approx(statistics.stdev(vals))


# ---------------------------------------------------------------------------- encoder-only entries

TINY = {"n_train": 256, "n_test": 128, "epochs": 1, "batch_size": 64, "proj_hidden_dim": 32, "proj_out_dim": 16,
        "knn_bank_size": None}  # fmt: skip


def _tiny11_recipes() -> dict[str, Recipe]:
    return {
        "tiny-biased": Recipe("tiny-biased", "simclr", "shapes", {**TINY, "dataset_kwargs": {"bias": 0.99}}, "t",
                              None, seeds=2, evals=("colour_shortcut",), ship="backbone"),
        "tiny-whole": Recipe("tiny-whole", "simclr", "shapes", dict(TINY), "t", None),
    }  # fmt: skip


def _patch_tiny(mp: pytest.MonkeyPatch, recipes: dict[str, Recipe]) -> None:
    mp.setattr(zb, "RECIPES", recipes)
    mp.setattr(zoo, "RECIPES", recipes)
    mp.setattr(shift, "N_PROBE_TRAIN", 512)
    mp.setattr(shift, "N_PROBE_TEST", 300)
    shift.shift_data.cache_clear()


@pytest.fixture(scope="module")
def tiny_lesson11(tmp_path_factory):
    """A tiny biased SimCLR entry with the shift evaluation over 2 seeds, built by the real code, encoder-only."""
    root, runs = tmp_path_factory.mktemp("zoo11"), tmp_path_factory.mktemp("runs11")
    recipes = _tiny11_recipes()
    with pytest.MonkeyPatch.context() as mp:
        _patch_tiny(mp, recipes)
        torch.set_num_threads(1)
        zb.build(list(recipes), root, runs_dir=str(runs), progress=False, log=lambda *_: None)
    shift.shift_data.cache_clear()
    return root, runs, recipes


@pytest.fixture
def tiny11(tiny_lesson11, monkeypatch):
    """The tiny entries' recipes and probe sizes in place of the shipped ones, for this test only."""
    _patch_tiny(monkeypatch, tiny_lesson11[2])
    yield tiny_lesson11
    shift.shift_data.cache_clear()


def test_an_encoder_only_entry_ships_the_backbone_and_loads_as_one(tiny11):
    root, *_ = tiny11
    c = zoo.card("tiny-biased", root)
    assert c["weights_scope"] == "backbone" and c["config"]["dataset_kwargs"] == {"bias": 0.99}
    stored = zoo.stored_weights("tiny-biased", root)
    assert stored and all(k.startswith("backbone.") for k in stored)
    with pytest.raises(
        zoo.ZooError, match=r"ships its trained encoder only.*zoo.load_backbone\('tiny-biased'\)"
    ):
        zoo.load("tiny-biased", root)
    bb = zoo.load_backbone("tiny-biased", root)
    assert not bb.training and all(p.dtype == torch.float32 for p in bb.parameters())
    for k, v in bb.state_dict().items():
        torch.testing.assert_close(v, stored[f"backbone.{k}"].to(v.dtype))
    train, test = zb.eval_splits(zoo.recipe_config("tiny-biased"))
    assert zb.evaluate_backbone(bb, train, test, probe=False)["knn_acc"] == pytest.approx(
        c["knn_acc"], abs=1e-6
    )
    assert zoo.card("tiny-whole", root)["weights_scope"] == "method"
    # an encoder-only entry never stands in for a whole trained method (pretrained() would need the heads)
    assert zoo.matching_entry(zoo.recipe_config("tiny-biased"), root) is None
    assert zoo.matching_entry(zoo.recipe_config("tiny-whole"), root) == "tiny-whole"


def test_cards_carry_every_seeds_shift_evaluation_and_its_spread(tiny11):
    root, *_ = tiny11
    c = zoo.card("tiny-biased", root)
    assert [r["seed"] for r in c["seed_runs"]] == [0, 1]
    assert c["seed_runs"][0]["shift"] == c["shift"], "the shipped seed's evaluation is the card's own"
    gaps = zoo.seed_values("tiny-biased", "colour_shortcut.gap", root)
    assert gaps == [r["shift"]["colour_shortcut"]["gap"] for r in c["seed_runs"]]
    assert c["shift_mean"]["colour_shortcut"]["gap"] == pytest.approx(statistics.mean(gaps))
    assert c["shift_sd"]["colour_shortcut"]["gap"] == pytest.approx(statistics.stdev(gaps))
    base = c["shift_random_init"]["colour_shortcut"]["gap"]
    assert len(base["values"]) == 3 and base["mean"] == pytest.approx(statistics.mean(base["values"]))
    # the shipped encoder, evaluated again, gives the card's numbers
    again = shift.evaluate_shift(zoo.load_backbone("tiny-biased", root), ["colour_shortcut"])
    assert again["colour_shortcut"] == pytest.approx(c["shift"]["colour_shortcut"], abs=1e-6)
    with pytest.raises(ValueError, match=r"EVAL\.KEY"):
        zoo.seed_values("tiny-biased", "colour_shortcut.gapp", root)
    with pytest.raises(zoo.ZooError, match=r"no scenes\.acc"):
        zoo.seed_values("tiny-biased", "scenes.acc", root)


def test_update_shipped_adds_evaluations_and_drops_heads_without_changing_the_encoder(
    tiny_lesson11, tmp_path, monkeypatch
):
    src, runs, recipes = tiny_lesson11
    root = tmp_path / "zoo"
    root.mkdir()
    for suffix in (".json", ".pt"):
        (root / f"tiny-whole{suffix}").write_bytes((src / f"tiny-whole{suffix}").read_bytes())
    before = zoo.load_backbone("tiny-whole", root).state_dict()
    knn = zoo.card("tiny-whole", root)["knn_acc"]
    newer = {**recipes, "tiny-whole": Recipe("tiny-whole", "simclr", "shapes", dict(TINY), "t", None,
                                             evals=("scenes",), ship="backbone")}  # fmt: skip
    _patch_tiny(monkeypatch, newer)
    zb.build(["tiny-whole"], root, runs_dir=str(runs), progress=False, log=lambda *_: None)
    shift.shift_data.cache_clear()
    c = zoo.card("tiny-whole", root)
    assert c["weights_scope"] == "backbone" and set(c["shift"]) == {"scenes"} and c["knn_acc"] == knn
    assert all(k.startswith("backbone.") for k in zoo.stored_weights("tiny-whole", root))
    after = zoo.load_backbone("tiny-whole", root).state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert (root / "tiny-whole.pt").stat().st_size < (src / "tiny-whole.pt").stat().st_size


# ---------------------------------------------------------------------------- the shipped lesson-11 entries


def _shipped(name: str) -> dict:
    if name not in zoo.names():
        pytest.skip(f"zoo entry {name} is not built in this installation")
    return zoo.card(name)


@pytest.mark.parametrize("name", [n for n in RECIPES if RECIPES[n].evals])
def test_shipped_lesson11_cards_hold_every_seeds_evaluations(name):
    c = _shipped(name)
    evals = RECIPES[name].evals
    assert set(c["shift"]) == set(evals) and set(c["shift_random_init"]) == set(evals)
    runs = c["seed_runs"]
    assert len(runs) >= 3 and all(set(r["shift"]) == set(evals) for r in runs)
    assert runs[[r["seed"] for r in runs].index(c["shipped_seed"])]["shift"] == c["shift"]
    for ev in evals:
        for metric, mean in c["shift_mean"][ev].items():
            vals = [r["shift"][ev][metric] for r in runs]
            assert mean == pytest.approx(statistics.mean(vals), abs=1e-12)
            assert c["shift_sd"][ev][metric] == pytest.approx(statistics.stdev(vals), abs=1e-12)
            assert all(-1.0 <= v <= 1.0 for v in vals)
        if ev == "colour_shortcut":
            for r in runs:
                s = r["shift"][ev]
                assert s["gap"] == pytest.approx(s["aligned_acc"] - s["conflicting_acc"], abs=1e-9)
    if RECIPES[name].ship == "backbone":
        assert c["weights_scope"] == "backbone"


@pytest.mark.parametrize("name", ["supervised-biased-shapes", "simclr-scenes-shapes"])
def test_shipped_lesson11_entry_reproduces_its_shift_evaluation(name):
    c = _shipped(name)
    got = shift.evaluate_shift(zoo.load_backbone(name), RECIPES[name].evals)
    for ev, metrics in c["shift"].items():
        assert got[ev] == pytest.approx(metrics, abs=1e-6), ev


def test_lesson11_recipes_change_only_the_data():
    for biased, plain in (("simclr-biased-shapes", "simclr-shapes"), ("supcon-biased-shapes", "supcon-shapes"),
                          ("supervised-biased-shapes", "supervised-shapes"), ("simclr-scenes-shapes", "simclr-shapes")):  # fmt: skip
        a, b = zoo.recipe_config(biased).to_dict(), zoo.recipe_config(plain).to_dict()
        diff = {k for k in a if a[k] != b[k]} - {"out_dir"}
        assert diff == {"dataset_kwargs"}, (biased, diff)
    assert set(LESSON11) <= set(RECIPES)
