"""One tuning run for a zoo recipe: train a method on Shapes, report the kNN accuracy the cards use.

This is how the zoo's recipes (``cssl_edu/zoo/recipes.py``) were chosen: each run trains the
``cpu`` profile (ConvNet, 32 px, AdamW) with the given overrides on n Shapes images, one thread,
and scores the backbone with the cards' kNN (k = 200, τ = 0.1). The score comes from a
**validation split**: 10 % of the n training images, class-stratified, held out from training
(``cssl_edu.data.validation_split``); the other 90 % train the method and form the kNN bank. No
test split is read: the cards' test numbers are measured once, by ``cssl-edu zoo build``, on the
recipe chosen here. (The runs recorded before 2026-12-06 were scored on the test split — their
``scored_on`` says so — and the recipes they chose carry that optimism; issue #21.)

    python bench/tune_zoo.py byol '{"batch_size": 128, "method_kwargs": {"proj_last_bn": true}}' 8192 20
    python bench/tune_zoo.py byol '{"batch_size": 128}' 0 80 ../shared/data/cifar10-subset.npz

With a fifth argument (the CIFAR-10 subset's npz) the run uses the subset's training split
(n = 0: all of it), again with 10 % of it held out for the score.

Appends one JSON line to ``cssl_edu/zoo/tuning-cpu.jsonl`` (shipped in the wheel; lessons read
it with ``cssl_edu.zoo.tuning_runs()``). The wall seconds depend on what
else the machine ran (the runs recorded there shared 2 cores with several other jobs).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from cssl_edu.config import TrainConfig, make_config
from cssl_edu.data import load_dataset, make_shapes, validation_split
from cssl_edu.train import Trainer
from cssl_edu.zoo import recipe_config
from cssl_edu.zoo.build import evaluate_backbone

#: the share of the training images held out to score each run (never the test split)
VAL_FRACTION = 0.1
#: where each run's row is appended (package data: ``cssl_edu.zoo.tuning_runs()`` reads it)
OUT = Path(__file__).resolve().parents[1] / "cssl_edu" / "zoo" / "tuning-cpu.jsonl"


def main(argv: list[str]) -> int:
    if len(argv) not in (4, 5):
        print(__doc__)
        return 2
    method, overrides, n, epochs = argv[0], json.loads(argv[1]), int(argv[2]), int(argv[3])
    subset = argv[4] if len(argv) == 5 else None
    torch.set_num_threads(1)
    if subset is None:
        dataset = "shapes"
        full = make_shapes(n, seed=0, split="train")
    else:  # the zoo's CIFAR entries' data: the subset's whole training split
        dataset = "cifar10-subset"
        base = recipe_config("simclr-cifar10-subset", data_root=subset)
        full = load_dataset(base.dataset, root=subset, split="train")
    train, val = validation_split(full, VAL_FRACTION, seed=0)  # the score's images never train
    n = len(train)
    with tempfile.TemporaryDirectory() as tmp:
        if subset is None:
            cfg = make_config(
                "cpu",
                method=method,
                n_train=n,
                epochs=epochs,
                knn_every=0,
                out_dir=tmp,
                device="cpu",
                **overrides,
            )
        else:
            d = base.to_dict()
            d.update(method=method, epochs=epochs, out_dir=tmp, **overrides)
            cfg = TrainConfig.from_dict(d)
        trainer = Trainer(cfg, train_set=train, bank_set=train, test_set=val, progress=False)
        t0, c0 = time.perf_counter(), time.process_time()
        trainer.fit()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    knn = evaluate_backbone(trainer.method.backbone, train, val, probe=False)["knn_acc"]
    row = {
        "method": method,
        "dataset": dataset,
        "overrides": overrides,
        "n_train": n,
        "epochs": epochs,
        "steps": trainer.step,
        "knn_acc": round(knn, 4),
        "scored_on": f"validation: {len(val)} of the {len(full)} training images, held out",
        "final_loss": round(trainer.history.step_loss[-1], 4),
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(row))
    with open(OUT, "a") as f:
        f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
