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
