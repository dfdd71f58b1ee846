"""The equal-budget comparison (``bench/equal_budget.py``) and its shipped runs (issue #21, item 3).

The script is run here on a tiny budget (256 images, one epoch) through the same code path; the
shipped runs file is checked for what lessons read from it: every method at one budget, three
training seeds each.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
from pathlib import Path
from types import ModuleType

from cssl_edu import zoo

REPO = Path(__file__).resolve().parents[1]
TINY = ["--n-train", "256", "--n-test", "128", "--epochs", "1", "--quiet"]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_equal_budget", REPO / "bench" / "equal_budget.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_runs_share_the_budget_and_differ_only_in_what_defines_each_method(tmp_path):
    eb = _script()
    cfgs = {m: eb.run_config(m, 1, tmp_path).to_dict() for m in eb.METHODS}
    shared = ("batch_size", "epochs", "optimizer", "lr", "weight_decay", "warmup_epochs", "arch",
              "dataset", "n_train", "image_size", "augment_kwargs", "strength", "seed", "data_seed")  # fmt: skip
    for key in shared:
        assert len({json.dumps(c[key], sort_keys=True) for c in cfgs.values()}) == 1, key
    assert cfgs["SimCLR"]["seed"] == 1 and cfgs["SimCLR"]["data_seed"] == 0, "seeds vary training, not images"
    for m, c in cfgs.items():  # what defines the method is its zoo recipe's
        recipe = zoo.recipe_config(eb.METHODS[m]).to_dict()
        assert c["method"] == recipe["method"] and c["method_kwargs"] == recipe["method_kwargs"], m
        assert c["temperature"] == recipe["temperature"], m


def test_script_trains_each_run_once_and_writes_the_table(tmp_path, capsys):
    eb = _script()
    out, table, runs = tmp_path / "runs.jsonl", tmp_path / "t.md", tmp_path / "runs"
    args = ["--out", str(out), "--table-out", str(table), "--runs-dir", str(runs), *TINY]
    assert eb.main([*args, "--methods", "SimCLR", "BYOL", "--seeds", "0", "1"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((r["method"], r["seed"]) for r in rows) == [
        ("BYOL", 0),
        ("BYOL", 1),
        ("SimCLR", 0),
        ("SimCLR", 1),
    ]
    assert all(r["steps"] == 256 // 128 and r["batch_size"] == 128 for r in rows)
    assert {r["temperature"] for r in rows if r["method"] == "BYOL"} == {None}
    assert all(0.0 <= r["knn_acc"] <= 1.0 and 0.0 <= r["linear_probe_acc"] <= 1.0 for r in rows)
    text = table.read_text()
    byol = [100 * r["knn_acc"] for r in rows if r["method"] == "BYOL"]
    assert f"{statistics.mean(byol):.1f} ± {statistics.stdev(byol):.1f}" in text
    assert "| BYOL | 2 | 2 | 128 | — |" in text and "Welch" in text
    # a second call trains nothing (the runs are done); a run another process holds is left to it
    (runs / "swav-seed0.lock").write_text("")
    capsys.readouterr()
    assert eb.main([*args, "--methods", "SimCLR", "BYOL", "SwAV", "--seeds", "0", "1"]) == 0
    printed = capsys.readouterr().out
    assert "SimCLR seed" not in printed and "SwAV seed 0" not in printed and "SwAV seed 1" in printed
    assert len(out.read_text().splitlines()) == len(rows) + 1


def test_shipped_equal_budget_runs_rank_five_methods_over_three_seeds():
    eb = _script()
    runs = zoo.equal_budget_runs()
    by = {m: sorted(r["seed"] for r in runs if r["method"] == m) for m in eb.METHODS}
    assert all(seeds == [0, 1, 2] for seeds in by.values()), by
    assert len({(r["steps"], r["batch_size"], r["n_train"]) for r in runs}) == 1, "one budget for every run"
    assert runs[0]["steps"] >= 480, "at least the smallest zoo budget"
    assert runs[0]["batch_size"] == eb.SHARED["batch_size"], "the shipped runs are the script's budget"
    assert runs[0]["steps"] == eb.SHARED["epochs"] * (runs[0]["n_train"] // eb.SHARED["batch_size"])
    assert all(r["train_cpu_seconds"] is None or r["train_cpu_seconds"] <= 30 * 60 for r in runs)
