"""Tune each method's CPU-profile settings: short Shapes runs, kNN of trained vs random-init encoder.

This is where the settings of the slow learning tests (``tests/test_methods.py``) and the
per-method recipes the course notebooks use come from. Every run uses the CPU profile (ConvNet, Shapes
32 px, batch 256, AdamW) and differs only in the settings swept; the score is the weighted-kNN
accuracy (k = 50) of the backbone on a validation split — 10 % of the training images, held out
from training (``cssl_edu.data.validation_split``) — beside the same backbone at its random
initialisation. No test split is read: a setting chosen here is scored on test only by the
tests and cards that use it.

    python bench/tune_methods.py --device cuda --n 4096 --epochs 8          # the whole grid
    python bench/tune_methods.py --methods moco byol --device cpu           # a part of it

Writes ``bench/results/tune-methods-<device>.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from cssl_edu.config import make_config
from cssl_edu.data import make_shapes, validation_split
from cssl_edu.eval import extract_features, knn_accuracy
from cssl_edu.train import Trainer

#: the share of the training images held out to score each run (never the test split)
VAL_FRACTION = 0.1

# Each entry: method -> list of (label, make_config overrides). Small on purpose: one axis at a time.
GRID: dict[str, list[dict[str, Any]]] = {
    "simclr": [{}],
    "moco": [
        {"method_kwargs": {"queue_size": q, "momentum": m}}
        for q, m in itertools.product((1024, 4096), (0.9, 0.99))
    ]
    + [{"temperature": 0.1, "method_kwargs": {"queue_size": 4096, "momentum": 0.9}}],
    "mochi": [
        {
            "method_kwargs": {
                "queue_size": 4096,
                "momentum": m,
                "n_hard": 256,
                "s": 128,
                "s_prime": 64,
                "mochi_warmup_epochs": 1,
            }
        }
        for m in (0.9, 0.99)
    ],
    "membank": [
        {"temperature": t, "method_kwargs": {"num_negatives": 4096, "bank_momentum": bm}}
        for t, bm in itertools.product((0.1, 0.2), (0.5, 0.0))
    ],
    "supcon": [{"temperature": 0.1}],
    "byol": [
        {"lr": lr, "method_kwargs": {"momentum": m}} for lr, m in itertools.product((2e-3, 5e-3), (0.9, 0.99))
    ],
    "simsiam": [
        {"lr": lr, "proj_hidden_dim": 512, "proj_out_dim": d}
        for lr, d in itertools.product((2e-3, 5e-3), (128, 512))
    ],
}


def knn_of(backbone: torch.nn.Module, train, val, device: torch.device) -> float:
    kw = {"mean": train.mean, "std": train.std, "device": device}
    f_train = extract_features(backbone, train.images, **kw)
    f_val = extract_features(backbone, val.images, **kw)
    return knn_accuracy(f_train, train.labels, f_val, val.labels, k=50)


def run_one(method: str, overrides: dict[str, Any], n: int, epochs: int, device: str, seed: int) -> dict:
    train, val = validation_split(make_shapes(n, seed=seed, split="train"), VAL_FRACTION, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = make_config(
            "cpu",
            method=method,
            n_train=len(train),
            epochs=epochs,
            knn_every=0,
            out_dir=tmp,
            device=device,
            seed=seed,
            **copy.deepcopy(overrides),
        )
        tr = Trainer(cfg, train_set=train, bank_set=train, test_set=val, progress=False)
        random_init = copy.deepcopy(tr.method.backbone)
        t0 = time.perf_counter()
        tr.fit()
        seconds = time.perf_counter() - t0
        trained = knn_of(tr.method.backbone, train, val, tr.device)
        rand = knn_of(random_init.to(tr.device), train, val, tr.device)
    return {
        "method": method,
        "overrides": overrides,
        "knn_trained": round(trained, 4),
        "knn_random": round(rand, 4),
        "gain": round(trained - rand, 4),
        "final_loss": round(tr.history.step_loss[-1], 4),
        "seconds": round(seconds, 1),
        "scored_on": f"validation: {len(val)} of the {n} training images, held out",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="*", default=list(GRID))
    p.add_argument("--device", default="cpu")
    p.add_argument("--n", type=int, default=4096, help="training images")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    rows = []
    for method in a.methods:
        for ov in GRID[method]:
            r = run_one(method, ov, a.n, a.epochs, a.device, a.seed)
            rows.append(r)
            print(
                f"| {method} | {json.dumps(ov)} | {r['knn_trained']:.3f} | {r['knn_random']:.3f} "
                f"| {r['gain']:+.3f} | {r['seconds']:.0f} s |",
                flush=True,
            )
    dev = torch.device(a.device)
    out = Path(a.out or Path(__file__).parent / "results" / f"tune-methods-{dev.type}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "n_train": a.n,
        "epochs": a.epochs,
        "seed": a.seed,
        "command": "python bench/tune_methods.py " + " ".join(sys.argv[1:] if argv is None else argv),
    }
    out.write_text(json.dumps({"meta": meta, "runs": rows}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
