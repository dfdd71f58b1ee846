"""The zoo: its API on a tiny entry built here, and every shipped entry against its card.

The shipped-entry tests are the zoo's contract: each entry loads, its kNN accuracy on the
card's evaluation reproduces the card within 0.5 points, it clears its floor, and its card's
config equals what ``cssl-edu zoo build`` would train today (a changed recipe without a
rebuilt zoo fails here).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cssl_edu import zoo
from cssl_edu.cli import main
from cssl_edu.methods import METHODS
from cssl_edu.notebook import find_cifar_subset
from cssl_edu.zoo import build as zb
from cssl_edu.zoo.recipes import RECIPES, Recipe

CIFAR = find_cifar_subset()
#: entries whose floor is not reached yet — said out loud (strict xfail: once an entry clears
#: its floor, the test fails until it is taken off this list), never by lowering the floor
BELOW_FLOOR: dict[str, str] = {}
#: methods the course teaches that must have a converged Shapes entry
REQUIRED = ("simclr", "moco", "membank", "mochi", "supcon", "supervised", "byol", "simsiam", "swav", "pirl")


# ---------------------------------------------------------------------------- recipes


def test_every_taught_method_has_a_shapes_recipe_with_a_floor():
    for method in REQUIRED:
        recs = [r for r in RECIPES.values() if r.method == method and r.dataset == "shapes"]
        assert recs, f"no Shapes recipe for {method}"
        assert all(r.floor is not None for r in recs if r.name == f"{method}-shapes")
    for method in ("simclr", "moco", "byol"):
        assert f"{method}-cifar10-subset" in RECIPES


@pytest.mark.parametrize("name", list(RECIPES))
def test_recipe_config_is_valid_and_cpu_sized(name):
    cfg = zoo.recipe_config(name, data_root="x.npz")
    assert cfg.method == RECIPES[name].method
    assert cfg.arch == "convnet" and cfg.device == "cpu" and cfg.seed == 0
    assert cfg.dataset == ("shapes" if RECIPES[name].dataset == "shapes" else "npz")
    if RECIPES[name].dataset == "cifar10-subset":  # every image of the subset, for training and the bank
        assert cfg.n_train is None and cfg.n_test is None and cfg.knn_bank_size is None


def test_unknown_names_give_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="no zoo recipe 'nope'"):
        zoo.recipe_config("nope")
    with pytest.raises(zoo.ZooError, match="no zoo entry 'nope'"):
        zoo.card("nope", tmp_path)
    with pytest.raises(zoo.ZooError, match="cssl-edu zoo build simclr-shapes"):
        zoo.load("simclr-shapes", tmp_path)
    assert main(["zoo", "show", "nope", "--root", str(tmp_path)]) == 2
    assert main(["zoo", "build", "nope", "--out", str(tmp_path)]) == 2


# ---------------------------------------------------------------------------- a tiny entry, built here

TINY = {
    "n_train": 256,
    "n_test": 128,
    "epochs": 1,
    "batch_size": 64,
    "proj_hidden_dim": 32,
    "proj_out_dim": 16,
    "knn_bank_size": None,
}


def _tiny_recipes() -> dict[str, Recipe]:
    return {
        "tiny-byol": Recipe(
            "tiny-byol", "byol", "shapes", dict(TINY), "a test entry", ("above_random", -1.0)
        ),
        "tiny-moco": Recipe(
            "tiny-moco",
            "moco",
            "shapes",
            {**TINY, "method_kwargs": {"queue_size": 128}},
            "a test entry",
            None,
        ),
    }


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory):
    """A zoo folder with two tiny entries (BYOL: momentum copies; MoCo: a queue), built by the real code."""
    root = tmp_path_factory.mktemp("zoo")
    runs = tmp_path_factory.mktemp("runs")
    recipes = _tiny_recipes()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(zb, "RECIPES", recipes)
        mp.setattr(zoo, "RECIPES", recipes)
        torch.set_num_threads(1)
        entries = zb.build(list(recipes), root, runs_dir=str(runs), progress=False, log=lambda *_: None)
    return root, runs, entries


@pytest.fixture
def tiny_recipes(tiny_zoo, monkeypatch):
    """The tiny entries' recipes in place of the shipped ones, for this test only."""
    recipes = _tiny_recipes()
    monkeypatch.setattr(zb, "RECIPES", recipes)
    monkeypatch.setattr(zoo, "RECIPES", recipes)
    return recipes


def test_build_writes_weights_and_a_complete_card(tiny_zoo):
    root, _, entries = tiny_zoo
    assert zoo.names(root) == ["tiny-byol", "tiny-moco"]
    c = zoo.card("tiny-byol", root)
    for key in (
        "method", "dataset", "arch", "config", "epochs", "steps", "train_seconds", "train_cpu_seconds",
        "machine", "torch",
        "git_commit", "command", "knn_acc", "linear_probe_acc", "random_init", "history",
    ):  # fmt: skip
        assert key in c, key
    assert c["command"] == "cssl-edu zoo build tiny-byol"
    shapes_runs = [r for r in zoo.tuning_runs("byol") if r.get("dataset", "shapes") == "shapes"]
    assert c["tuning"] == zb.tuning_record("byol", "shapes")
    assert c["tuning"]["runs"] == len(shapes_runs) and "test" in c["tuning"]["scored_on"]
    assert c["steps"] == 256 // 64 and c["epochs"] == 1
    assert c["config"]["method"] == "byol" and c["torch"] == torch.__version__
    base = c["random_init"]["knn_acc"]
    assert len(base["values"]) == 3 and base["sd"] > 0
    assert abs(base["mean"] - sum(base["values"]) / 3) < 1e-12
    assert c["floor"]["knn_acc"] == pytest.approx(base["mean"] - 1.0)
    assert entries[0]["weights_sha256"] == c["weights_sha256"]


def test_loaded_entry_reproduces_its_card_and_is_fp32_eval_cpu(tiny_zoo):
    root, *_ = tiny_zoo
    c = zoo.card("tiny-byol", root)
    method = zoo.load("tiny-byol", root)
    assert not method.training and all(p.dtype == torch.float32 for p in method.parameters())
    assert all(p.device.type == "cpu" for p in method.parameters())
    # the momentum target is restored as a copy of the online network
    for a, b in zip(method.backbone.parameters(), method.target_backbone.parameters()):
        assert torch.equal(a, b)
    train, test = zb.eval_splits(c["config"])
    got = zb.evaluate_backbone(zoo.load_backbone("tiny-byol", root), train, test)
    assert got["knn_acc"] == pytest.approx(c["knn_acc"], abs=1e-6)
    assert got["linear_probe_acc"] == pytest.approx(c["linear_probe_acc"], abs=1e-6)


def test_stored_weights_are_half_precision_without_momentum_copies(tiny_zoo):
    root, *_ = tiny_zoo
    payload = torch.load(root / "tiny-moco.pt", weights_only=True)
    sd = payload["state_dict"]
    assert not any(k.startswith(("key_backbone.", "key_projector.")) for k in sd)
    assert all(v.dtype == torch.float16 for v in sd.values() if v.is_floating_point())
    assert "queue.keys" in sd or any(k.startswith("queue.") for k in sd)
    m = zoo.load("tiny-moco", root)
    assert int(m.queue.count) > 0  # the queue ships with the entry


def test_memory_banks_are_not_shipped_and_load_fresh():
    from cssl_edu.methods import build_method
    from cssl_edu.models import build_backbone

    m = build_method("pirl", build_backbone("convnet"), dataset_size=50, num_negatives=8, proj_out_dim=8)
    with torch.no_grad():
        m.memory.bank.mul_(-1)  # "trained": differs from a fresh bank
    stored = zoo.stored_state(m)
    assert "memory.bank" not in stored and "head_f.weight" in stored
    fresh = build_method("pirl", build_backbone("convnet"), dataset_size=50, num_negatives=8, proj_out_dim=8)
    bank0 = fresh.memory.bank.clone()
    zoo.restore_state(fresh, stored)
    assert torch.equal(fresh.memory.bank, bank0)  # its own initial bank
    torch.testing.assert_close(fresh.head_f.weight, m.head_f.weight, atol=1e-3, rtol=1e-3)
    older = {**stored, "memory.bank": m.memory.bank.half()}  # a file that still holds the bank loads it
    zoo.restore_state(fresh, older)
    torch.testing.assert_close(fresh.memory.bank, m.memory.bank, atol=1e-3, rtol=1e-3)


def test_corrupt_or_swapped_weights_are_refused(tiny_zoo, tmp_path):
    root, *_ = tiny_zoo
    for f in root.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    w = tmp_path / "tiny-byol.pt"
    w.write_bytes(w.read_bytes()[:-100] + b"x" * 100)
    with pytest.raises(zoo.ZooError, match="sha256"):
        zoo.load("tiny-byol", tmp_path)
    (tmp_path / "tiny-moco.json").write_text("{not json")
    with pytest.raises(zoo.ZooError, match="unreadable"):
        zoo.card("tiny-moco", tmp_path)


def test_rebuild_skips_current_entries_and_rebuilds_changed_recipes(tiny_zoo, tiny_recipes):
    root, runs, _ = tiny_zoo
    logs: list[str] = []
    assert zb.build(["tiny-byol"], root, runs_dir=str(runs), progress=False, log=logs.append) == []
    assert "up to date" in logs[0]
    original = zb.RECIPES["tiny-byol"]
    zb.RECIPES["tiny-byol"] = Recipe(
        "tiny-byol", "byol", "shapes", {**TINY, "temperature": 0.3}, "changed", None
    )
    try:
        assert not zb.is_current("tiny-byol", root)
    finally:
        zb.RECIPES["tiny-byol"] = original
    assert zb.is_current("tiny-byol", root)
    # each recipe version trains in its own run folder: a changed recipe never resumes the old run
    assert sorted(p.name.split("-")[1] for p in runs.iterdir()) == ["byol", "moco"]


def test_cli_lists_and_shows_entries(tiny_zoo, capsys):
    root, *_ = tiny_zoo
    assert main(["zoo", "list", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "| tiny-byol | byol | shapes |" in out
    assert main(["zoo", "show", "tiny-moco", "--root", str(root)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["method"] == "moco" and "history" not in shown


def _copy_zoo(root: Path, dest: Path) -> Path:
    dest.mkdir()
    for f in root.iterdir():
        (dest / f.name).write_bytes(f.read_bytes())
    return dest


def test_seed_run_changes_only_the_training_seed(tiny_zoo, tiny_recipes, tmp_path):
    root, _, _ = tiny_zoo
    shipped = zoo.card("tiny-byol", root)
    # seed 0 retrained through seed_run reproduces the shipped entry exactly: same images, same
    # initialisation, batch order and augmentations
    again = zb.seed_run("tiny-byol", 0, runs_dir=str(tmp_path / "runs"), progress=False)
    assert again["knn_acc"] == pytest.approx(shipped["knn_acc"], abs=1e-9)
    assert again["final_loss"] == pytest.approx(shipped["final_loss"], abs=1e-6)
    other = zb.seed_run("tiny-byol", 1, runs_dir=str(tmp_path / "runs"), progress=False)
    assert other["steps"] == shipped["steps"] and other["final_loss"] != shipped["final_loss"]
    cfg = json.loads(next((tmp_path / "runs").glob("tiny-byol-seed1-*/config.json")).read_text())
    assert cfg["seed"] == 1 and cfg["data_seed"] == 0, "a seed run trains on the shipped entry's images"
    with pytest.raises(ValueError, match="seed must be an int"):
        zb.seed_run("tiny-byol", -1)


def test_add_seed_runs_writes_the_spread_and_resumes(tiny_zoo, tiny_recipes, tmp_path, monkeypatch):
    root = _copy_zoo(tiny_zoo[0], tmp_path / "zoo")
    runs = str(tmp_path / "runs")
    real = zb.seed_run

    def stop_at_2(name, seed, **kw):
        if seed == 2:
            raise KeyboardInterrupt  # the machine went away after seed 1
        return real(name, seed, **kw)

    monkeypatch.setattr(zb, "seed_run", stop_at_2)
    with pytest.raises(KeyboardInterrupt):
        zb.add_seed_runs("tiny-moco", root, 3, runs_dir=runs, progress=False, log=lambda *_: None)
    c = zoo.card("tiny-moco", root)
    assert [r["seed"] for r in c["seed_runs"]] == [0, 1], "each finished seed is on the card at once"

    trained: list[int] = []
    monkeypatch.setattr(
        zb, "seed_run", lambda name, seed, **kw: trained.append(seed) or real(name, seed, **kw)
    )
    c = zb.add_seed_runs("tiny-moco", root, 3, runs_dir=runs, progress=False, log=lambda *_: None)
    assert trained == [2], "a second call trains only the missing seed"
    assert c == zoo.card("tiny-moco", root)
    assert [r["seed"] for r in c["seed_runs"]] == [0, 1, 2] and c["shipped_seed"] == 0 and c["n_seeds"] == 3
    run0 = c["seed_runs"][0]
    assert (run0["knn_acc"], run0["linear_probe_acc"]) == (c["knn_acc"], c["linear_probe_acc"])
    knn = [r["knn_acc"] for r in c["seed_runs"]]
    assert c["knn_acc_mean"] == pytest.approx(sum(knn) / 3)
    assert c["knn_acc_sd"] == pytest.approx(float(torch.tensor(knn, dtype=torch.float64).std()))
    assert c["weights_sha256"] == zoo.card("tiny-moco", tiny_zoo[0])["weights_sha256"], "weights untouched"
    zoo.load_backbone("tiny-moco", root)  # the card still matches its weights

    # what lessons read: the per-seed values, and the budget beside the spread
    assert zoo.seed_values("tiny-moco", root=root) == knn
    assert zoo.seed_values("tiny-moco", "linear_probe_acc", root) == [
        r["linear_probe_acc"] for r in c["seed_runs"]
    ]
    with pytest.raises(ValueError, match="metric must be"):
        zoo.seed_values("tiny-moco", "acc", root)
    with pytest.raises(zoo.ZooError, match=r"no training-seed runs .*--seeds 3"):
        zoo.seed_values("tiny-byol", root=root)
    moco_row, byol_row = zoo.budget_rows(["tiny-moco", "tiny-byol"], root)
    assert (moco_row["steps"], moco_row["batch"], moco_row["τ"]) == (
        c["steps"],
        64,
        c["config"]["temperature"],
    )
    assert byol_row["τ"] == "—" and byol_row["kNN over seeds"] == "one seed"
    sd = 100 * c["knn_acc_sd"]
    assert moco_row["kNN over seeds"] == f"{100 * c['knn_acc_mean']:.1f} ± {sd:.1f} % (3)"
    assert f"{100 * c['knn_acc_mean']:.1f} ± {sd:.1f} % / " in zoo.table(root)
    # two entries against the training noise: Welch over seeds, or one run against the other's spread
    cmp = zoo.compare_entries("tiny-moco", "tiny-byol", root=root)
    assert cmp.test == "prediction interval" and (cmp.n_a, cmp.n_b) == (3, 1)
    assert cmp.diff == pytest.approx(c["knn_acc_mean"] - zoo.card("tiny-byol", root)["knn_acc"])
    assert zoo.compare_entries("tiny-moco", "tiny-moco", root=root).verdict() == "within noise"
    with pytest.raises(zoo.ZooError, match="neither tiny-byol nor tiny-byol has training-seed runs"):
        zoo.compare_entries("tiny-byol", "tiny-byol", root=root)

    # a rebuilt entry (changed recipe) starts a fresh card: old seed runs never describe new weights
    assert "seed_runs" not in zb.build_entry("tiny-moco", root, runs_dir=runs, progress=False)


def test_seed_runs_refuse_what_cannot_give_a_spread(tiny_zoo, tiny_recipes, tmp_path):
    root = tiny_zoo[0]
    with pytest.raises(ValueError, match="seeds must be an int ≥ 2"):
        zb.add_seed_runs("tiny-byol", root, 1)
    with pytest.raises(ValueError, match="at least 2 seed runs"):
        zb.seed_summary([{"seed": 0, "knn_acc": 0.5, "linear_probe_acc": 0.5}])
    with pytest.raises(ValueError, match="repeat a seed"):
        zb.seed_summary([{"seed": 0, "knn_acc": 0.5, "linear_probe_acc": 0.5}] * 2)
    with pytest.raises(ValueError, match=r"accuracies in \[0, 1\]"):
        zb.seed_summary(
            [
                {"seed": 0, "knn_acc": 0.5, "linear_probe_acc": 0.5},
                {"seed": 1, "knn_acc": float("nan"), "linear_probe_acc": 0.5},
            ]
        )
    tiny_recipes["tiny-byol"] = Recipe("tiny-byol", "byol", "shapes", {**TINY, "temperature": 0.3}, "changed")
    with pytest.raises(ValueError, match="older recipe; rebuild it"):
        zb.add_seed_runs("tiny-byol", root, 3)
    assert main(["zoo", "build", "tiny-moco", "--out", str(tmp_path), "--seeds", "0"]) == 2


def test_data_seed_fixes_the_images_while_seed_varies():
    from cssl_edu.config import make_config
    from cssl_edu.train import load_splits

    small = {"dataset": "shapes", "n_train": 64, "n_test": 32, "knn_bank_size": None}
    a = load_splits(make_config(profile="cpu", seed=0, **small))
    b = load_splits(make_config(profile="cpu", seed=5, data_seed=0, **small))
    c = load_splits(make_config(profile="cpu", seed=5, **small))
    assert torch.equal(a[0].images, b[0].images) and torch.equal(a[2].images, b[2].images)
    assert not torch.equal(a[0].images, c[0].images), "without data_seed, seed also picks the images"
    with pytest.raises(ValueError, match="data_seed must be an int ≥ 0 or None"):
        make_config(profile="cpu", data_seed=-1)


# ---------------------------------------------------------------------------- the shipped zoo


def _shipped(name: str) -> dict:
    if RECIPES[name].dataset == "cifar10-subset" and CIFAR is None:
        pytest.skip("the CIFAR-10 subset (../shared/data/cifar10-subset.npz) is not here")
    assert name in zoo.names(), f"zoo entry {name} is not shipped; build it with `cssl-edu zoo build {name}`"
    return zoo.card(name)


@pytest.mark.parametrize("name", list(RECIPES))
def test_shipped_card_matches_todays_recipe(name):
    c = _shipped(name)
    assert zoo.same_recipe(c["config"], zoo.recipe_config(name).to_dict()), (
        f"the recipe of {name} changed since its entry was built; rebuild it with `cssl-edu zoo build {name}`"
    )
    assert c["command"].startswith(f"cssl-edu zoo build {name}")
    assert c["description"] == RECIPES[name].description, "the card describes its entry as the recipe does"
    assert c["tuning"] == zb.tuning_record(c["method"], c["dataset"]), (
        "the card says which split chose its recipe"
    )
    # the budget is 15 minutes of this 2-core CPU per entry: at most 2 × 15 CPU-minutes of training
    # (wall-clock time depends on what else the shared machine ran; the card records both)
    assert c["train_cpu_seconds"] is not None, (
        "built in one go, so the card has the whole training's CPU time"
    )
    assert c["train_cpu_seconds"] <= 2 * 15 * 60, (
        "each entry's training budget is 15 minutes on the 2-core CPU"
    )


@pytest.mark.parametrize("name", list(RECIPES))
def test_shipped_entry_reproduces_its_card_and_clears_its_floor(name):
    c = _shipped(name)
    data_root = str(CIFAR) if RECIPES[name].dataset == "cifar10-subset" else None
    train, test = zb.eval_splits(zoo.recipe_config(name, data_root=data_root))
    got = zb.evaluate_backbone(zoo.load_backbone(name), train, test, probe=False)
    assert abs(got["knn_acc"] - c["knn_acc"]) <= 0.005, (got["knn_acc"], c["knn_acc"])
    if c["floor"] is not None:
        below = c["knn_acc"] < c["floor"]["knn_acc"]
        if name in BELOW_FLOOR:
            assert below, f"{name} now clears its floor: take it off BELOW_FLOOR"
            pytest.xfail(BELOW_FLOOR[name])
        assert not below, f"{name} is below its floor"


@pytest.mark.parametrize("name", [n for n in RECIPES if RECIPES[n].seeds > 1])
def test_compared_entries_report_their_training_seed_spread(name):
    c = _shipped(name)
    runs = c.get("seed_runs", [])
    need = RECIPES[name].seeds
    assert len(runs) >= need, (
        f"{name}'s card has {len(runs)} training-seed runs, its recipe asks for {need}: "
        f"`cssl-edu zoo build {name} --seeds {need}`"
    )
    seeds = [r["seed"] for r in runs]
    assert seeds == sorted(set(seeds)) and c["shipped_seed"] == c["config"]["seed"] in seeds
    shipped = runs[seeds.index(c["shipped_seed"])]
    assert (shipped["knn_acc"], shipped["linear_probe_acc"]) == (c["knn_acc"], c["linear_probe_acc"]), (
        "the shipped seed's run is the card's own evaluation"
    )
    assert c["n_seeds"] == len(runs)
    for key in ("knn_acc", "linear_probe_acc"):
        vals = torch.tensor([r[key] for r in runs], dtype=torch.float64)
        assert all(0.0 <= v <= 1.0 for v in vals.tolist())
        assert c[f"{key}_mean"] == pytest.approx(vals.mean().item(), abs=1e-12)
        assert c[f"{key}_sd"] == pytest.approx(vals.std().item(), abs=1e-12)
    for r in runs:  # every seed had the shipped entry's budget
        assert r["steps"] == c["steps"]
        assert r["train_cpu_seconds"] is None or r["train_cpu_seconds"] <= 30 * 60, (
            f"seed {r['seed']} of {name} took over 30 CPU-minutes"
        )


def test_shipped_zoo_fits_its_size_budget():
    total = sum(p.stat().st_size for p in Path(zoo.default_root()).glob("*")) if zoo.names() else 0
    assert total <= 25_000_000, f"the zoo holds {total / 1e6:.2f} MB, over its 25 MB budget"


def test_pretrained_prefers_the_zoo_and_never_retrains(tiny_zoo, tiny_recipes, monkeypatch, tmp_path, capsys):
    from cssl_edu import notebook
    from cssl_edu.train import Trainer

    root, *_ = tiny_zoo
    monkeypatch.setenv("CSSL_EDU_ZOO", str(root))
    monkeypatch.setenv("CSSL_EDU_CHECKPOINTS", str(tmp_path))
    monkeypatch.setattr(
        Trainer, "fit", lambda *a, **k: pytest.fail("pretrained() trained instead of loading the zoo")
    )
    tr = notebook.pretrained("tiny-byol", profile="cpu", progress=False)  # by recipe name
    assert "loaded zoo entry tiny-byol" in capsys.readouterr().out
    assert tr.step == tr.total_steps == zoo.card("tiny-byol", root)["steps"]
    assert tr.history.step_loss == zoo.card("tiny-byol", root)["history"]["step_loss"]
    ref = zoo.load_backbone("tiny-byol", root)
    for a, b in zip(tr.method.backbone.state_dict().values(), ref.state_dict().values()):
        assert torch.equal(a, b)
    # the same settings under another name find the entry too
    same = {k: v for k, v in zoo.recipe_config("tiny-moco").to_dict().items() if k not in zoo.MACHINE_FIELDS}
    tr2 = notebook.pretrained("my-moco", **same, progress=False)
    assert tr2.step == tr2.total_steps and "loaded zoo entry tiny-moco" in capsys.readouterr().out


def test_readme_zoo_table_is_the_cards():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert zoo.table() in readme, (
        "README's zoo table differs from the cards: paste `cssl-edu zoo list` into it"
    )


def test_tuning_runs_ship_with_the_package_and_filter_by_method(tmp_path, monkeypatch):
    runs = zoo.tuning_runs()
    assert runs and all(0.0 <= r["knn_acc"] <= 1.0 and r["epochs"] > 0 for r in runs)
    byol = zoo.tuning_runs("byol")
    assert byol and all(r["method"] == "byol" for r in byol)
    assert len(byol) == sum(r["method"] == "byol" for r in runs), "the filter keeps every run of the method"
    assert {r["method"] for r in runs} <= set(METHODS), "every run names a method the package knows"
    assert all(r["scored_on"] == "test" or r["scored_on"].startswith("validation") for r in runs), (
        "every run says which split scored it"
    )
    with pytest.raises(ValueError, match="unknown method 'byl'"):
        zoo.tuning_runs("byl")
    broken = tmp_path / "tuning.jsonl"
    broken.write_text('{"method": "byol", "knn_acc": 0.5}\n[1, 2]\n')
    monkeypatch.setattr(zoo, "TUNING_RUNS", broken)
    with pytest.raises(zoo.ZooError, match="line 2: not a tuning run"):
        zoo.tuning_runs()
