"""The tuning scripts choose on a validation split: they never read a test split (issue #21).

``bench/tune_zoo.py`` and ``bench/tune_methods.py`` are run here on a tiny budget with the data
loaders they use wrapped, so every split they ask for is recorded; each must ask for training
images only and score on a share of them held out from training.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "bench" / f"{name}.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _record_splits(mod: ModuleType, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []
    for loader in ("make_shapes", "load_dataset"):
        if hasattr(mod, loader):
            real = getattr(mod, loader)

            def wrapped(*args, _real=real, **kw):
                asked.append(kw.get("split", "train"))
                return _real(*args, **kw)

            monkeypatch.setattr(mod, loader, wrapped)
    return asked


def test_tune_zoo_scores_on_held_out_training_images(tmp_path, monkeypatch) -> None:
    mod = _script("tune_zoo")
    asked = _record_splits(mod, monkeypatch)
    monkeypatch.setattr(mod, "OUT", tmp_path / "runs.jsonl")
    assert mod.main(["simclr", "{}", "300", "1"]) == 0
    (row,) = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert asked and set(asked) == {"train"}, (
        f"the script asked for the splits {asked}: a test split was read"
    )
    assert row["scored_on"].startswith("validation"), row["scored_on"]
    assert row["n_train"] < 300, "the validation images are held out of training"
    assert 0.0 <= row["knn_acc"] <= 1.0


def test_tune_methods_scores_on_held_out_training_images(monkeypatch) -> None:
    mod = _script("tune_methods")
    asked = _record_splits(mod, monkeypatch)
    row = mod.run_one("simclr", {}, n=300, epochs=1, device="cpu", seed=0)
    assert asked and set(asked) == {"train"}, (
        f"the script asked for the splits {asked}: a test split was read"
    )
    assert row["scored_on"].startswith("validation"), row["scored_on"]
    assert 0.0 <= row["knn_trained"] <= 1.0 and 0.0 <= row["knn_random"] <= 1.0


def test_tuning_pairs_match_a_candidates_test_and_validation_runs(tmp_path, monkeypatch) -> None:
    from cssl_edu import zoo
    from cssl_edu.zoo import build as zb

    rows = [
        {"method": "swav", "overrides": {"temperature": 0.1, "method_kwargs": {"epsilon": 0.01}}, "n_train": 4096,
         "epochs": 10, "knn_acc": 0.47, "scored_on": "test"},
        {"method": "swav", "overrides": {"method_kwargs": {"epsilon": 0.01}, "temperature": 0.1}, "n_train": 3688,
         "epochs": 10, "knn_acc": 0.41, "scored_on": "validation: 408 of the 4096 training images, held out"},
        {"method": "swav", "overrides": {"temperature": 0.1, "method_kwargs": {"epsilon": 0.05}}, "n_train": 4096,
         "epochs": 10, "knn_acc": 0.30, "scored_on": "test"},
        {"method": "swav", "overrides": {"temperature": 0.1, "method_kwargs": {"epsilon": 0.05}}, "n_train": 3688,
         "epochs": 10, "knn_acc": 0.44, "scored_on": "validation: 408 of the 4096 training images, held out"},
        {"method": "swav", "overrides": {"temperature": 0.1}, "n_train": 4096, "epochs": 20, "knn_acc": 0.5,
         "scored_on": "test"},  # never run again on validation: no pair
        {"method": "pirl", "overrides": {}, "n_train": 4096, "epochs": 10, "knn_acc": 0.3, "scored_on": "test"},
    ]  # fmt: skip
    path = tmp_path / "tuning.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setattr(zoo, "TUNING_RUNS", path)
    pairs = zoo.tuning_pairs("swav")
    assert [(p["test"], p["validation"]) for p in pairs] == [(0.47, 0.41), (0.30, 0.44)]  # key order ignored
    assert zoo.tuning_pairs("pirl") == []
    record = zb.tuning_record("swav")
    assert record["runs"] == 5
    assert record["rescored_on_validation"]["candidates"] == 2
    assert (
        record["rescored_on_validation"]["same_choice"] is False
    )  # the test split chose ε = 0.01, validation 0.05
    assert 'epsilon": 0.05' in record["rescored_on_validation"]["best_on_validation"]
    assert "rescored_on_validation" not in zb.tuning_record("pirl")
    report = _script("tuning_report").report(pairs)
    assert "**a different candidate**" in report and "47.0 | 41.0" in report


def test_shipped_tuning_report_is_generated_from_the_shipped_runs() -> None:
    from cssl_edu import zoo

    text = (REPO / "bench" / "results" / "tuning-validation-cpu.md").read_text()
    assert text == _script("tuning_report").report(zoo.tuning_pairs()) + "\n", (
        "bench/results/tuning-validation-cpu.md is stale: run `python bench/tuning_report.py`"
    )
