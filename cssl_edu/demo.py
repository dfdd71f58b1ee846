"""``cssl-edu demo``: SimCLR on the built-in Shapes data, trained vs random encoder, one plot.

It answers the course's first question with a measurement: does contrastive training on
*unlabelled* images give features that separate classes better than a random network does?
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import torch

from cssl_edu.config import make_config
from cssl_edu.eval import extract_features, knn_accuracy, linear_probe
from cssl_edu.train import Trainer


def _evaluate(backbone: torch.nn.Module, trainer: Trainer) -> dict[str, float]:
    kw = {"mean": trainer.train_set.mean, "std": trainer.train_set.std, "image_size": trainer.cfg.image_size}
    ftr = extract_features(backbone, trainer.bank_set.images, **kw)
    fte = extract_features(backbone, trainer.test_set.images, **kw)
    knn = knn_accuracy(
        ftr,
        trainer.bank_set.labels,
        fte,
        trainer.test_set.labels,
        k=trainer.cfg.knn_k,
        temperature=trainer.cfg.knn_temperature,
    )
    probe = linear_probe(ftr, trainer.bank_set.labels, fte, trainer.test_set.labels, epochs=50)
    return {"knn_acc": knn, "linear_acc": probe["test_acc"]}


def plot_demo(
    history: Any, random_res: dict[str, float], trained_res: dict[str, float], path: Path, title: str
) -> None:
    """Three panels: loss per step, kNN accuracy per epoch, trained vs random bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(13, 3.6))
    ax[0].plot(history.step_loss, lw=0.8)
    ax[0].set(xlabel="optimiser step", ylabel="NT-Xent loss", title="training loss")
    ep = [r["epoch"] for r in history.epochs if "knn_acc" in r]
    acc = [100 * r["knn_acc"] for r in history.epochs if "knn_acc" in r]
    ax[1].plot(ep, acc, "o-", label="SimCLR encoder")
    ax[1].axhline(100 * random_res["knn_acc"], color="gray", ls="--", label="random-init encoder")
    ax[1].set(xlabel="epoch", ylabel="kNN top-1 accuracy (%)", title="kNN monitor (test split)")
    ax[1].legend()
    names = ["kNN", "linear probe"]
    x = torch.arange(2).float()
    ax[2].bar(
        x - 0.2,
        [100 * random_res["knn_acc"], 100 * random_res["linear_acc"]],
        0.4,
        label="random init",
        color="gray",
    )
    ax[2].bar(x + 0.2, [100 * trained_res["knn_acc"], 100 * trained_res["linear_acc"]], 0.4, label="SimCLR")
    ax[2].set_xticks(x.tolist(), names)
    ax[2].set(ylabel="test accuracy (%)", title="frozen features h")
    ax[2].legend()
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_demo(
    out_dir: str = "runs/demo",
    epochs: int | None = None,
    profile: str | None = None,
    device: str = "auto",
    dataset: str = "shapes",
    data_root: str = "data",
    progress: bool = True,
) -> dict[str, Any]:
    """Train SimCLR, compare with the same network at its random initialisation, save ``demo.png``.

    Returns the results dict that is also written to ``out_dir/results.json``.
    """
    cfg = make_config(
        profile, epochs=epochs, device=device, dataset=dataset, data_root=data_root, out_dir=out_dir
    )
    if cfg.dataset != "shapes":  # the profile's n_train sizes the built-in Shapes; real data is used whole
        cfg = dataclasses.replace(cfg, n_train=None)
    print(
        f"cssl-edu demo: SimCLR, {cfg.arch} encoder, {cfg.dataset} ({cfg.n_train or 'all'} train images), "
        f"{cfg.epochs} epochs, profile {cfg.profile}. About 3 minutes on a 2-core CPU."
    )
    t0 = time.perf_counter()
    trainer = Trainer(cfg, progress=progress)
    random_backbone = copy.deepcopy(trainer.method.backbone)
    history = trainer.fit()
    train_seconds = time.perf_counter() - t0
    trained = _evaluate(trainer.method.backbone, trainer)
    random_res = _evaluate(random_backbone, trainer)
    out = Path(out_dir)
    plot_demo(
        history,
        random_res,
        trained,
        out / "demo.png",
        f"SimCLR on {cfg.dataset}: {cfg.arch}, {cfg.epochs} epochs",
    )
    result = {
        "dataset": cfg.dataset,
        "arch": cfg.arch,
        "epochs": cfg.epochs,
        "device": str(trainer.device),
        "train_seconds": round(train_seconds, 1),
        "trained": trained,
        "random_init": random_res,
        "checkpoint": str(trainer.last_checkpoint),
        "plot": str(out / "demo.png"),
    }
    (out / "results.json").write_text(json.dumps(result, indent=2))
    print(f"\n{'encoder':<14}{'kNN acc':>10}{'linear acc':>12}")
    for name, r in (("random init", random_res), ("SimCLR", trained)):
        print(f"{name:<14}{100 * r['knn_acc']:>9.1f}%{100 * r['linear_acc']:>11.1f}%")
    print(
        f"\ntrained in {train_seconds:.0f} s; plot: {out / 'demo.png'}; checkpoint: {trainer.last_checkpoint}"
    )
    return result
