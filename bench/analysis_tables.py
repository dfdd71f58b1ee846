"""Measure the two tables of ``cssl_edu.analysis`` on the CPU: invariance per factor, and the colour shortcut.

1. **Invariance** (Shapes test images, every factor swept with the others held fixed) of a random
   encoder, SimCLR with the default augmentations, SimCLR without colour jitter (and grayscale),
   SimCLR without crop, SupCon and a supervised (cross-entropy) encoder, all trained on unbiased
   Shapes; plus the transformation family at strength 0.5, and instance vs category invariance.
2. **Colour shortcut**: SimCLR / SimCLR without colour jitter / SupCon / supervised, trained on
   Shapes whose hue predicts the class with probability p, linear probe fitted on the biased
   training labels, accuracy on the bias-aligned and bias-conflicting test images.

The p = 0 encoders of table 2 are the trained encoders of table 1 (same data, same settings), so
the script trains 17 encoders in all. Sizes are shrunk to fit about 10 minutes on a busy 2-core
CPU (2,048 training images, 4 epochs of batch 64, i.e. 128 steps a run; the CPU profile's recipe
is 8,192 x 12 epochs of batch 256).

    python bench/analysis_tables.py                 # the defaults above
    python bench/analysis_tables.py --n-train 1024 --epochs 2 --biases 0 0.99   # a quick look

Writes ``bench/results/analysis-cpu.json`` and prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from cssl_edu.analysis import (
    BIAS_METHODS,
    SWEEP_FACTORS,
    TRANSFORMS,
    compare_invariance,
    markdown_table,
    random_encoder,
    spurious_correlation_experiment,
    train_encoder,
)
from cssl_edu.data import make_shapes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-train", type=int, default=2048)
    p.add_argument("--n-test", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--biases", type=float, nargs="*", default=[0.0, 0.5, 0.9, 0.99])
    p.add_argument("--n-sweep", type=int, default=256, help="images re-drawn per factor value")
    p.add_argument("--n-values", type=int, default=5, help="values per swept factor")
    p.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is faster on a loaded 2-core CPU)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    if 0.0 not in a.biases:
        p.error("--biases must include 0 (its encoders are the ones compared in the invariance table)")
    torch.set_num_threads(a.threads)
    t_start = time.perf_counter()
    size = {"n_train": a.n_train, "epochs": a.epochs, "batch_size": a.batch_size, "seed": a.seed}

    # ---- table 2 first: its p = 0 encoders are reused for table 1
    encoders: dict[tuple[str, float], torch.nn.Module] = {}
    bias_rows = spurious_correlation_experiment(
        tuple(BIAS_METHODS), a.biases, n_test=a.n_test, include_random=True, encoders_out=encoders, **size
    )
    t_bias = time.perf_counter() - t_start

    # ---- table 1
    t0 = time.perf_counter()
    train = make_shapes(a.n_train, seed=a.seed, split="train")
    no_crop = train_encoder(
        "simclr", train, augment="no_crop", **{k: v for k, v in size.items() if k != "n_train"}
    )
    compared = {
        "random": random_encoder(seed=a.seed),
        "simclr": encoders[("simclr", 0.0)],
        "simclr_no_color": encoders[("simclr_no_color", 0.0)],
        "simclr_no_crop": no_crop.backbone,
        "supcon": encoders[("supcon", 0.0)],
        "supervised": encoders[("supervised", 0.0)],
    }
    sweep_ds = make_shapes(a.n_sweep, seed=a.seed, split="test")
    inv_rows = compare_invariance(
        compared,
        sweep_ds,
        factors=SWEEP_FACTORS,
        n_values=a.n_values,
        transforms=TRANSFORMS,
        strength=0.5,
        mean=train.mean,
        std=train.std,
        seed=a.seed,
    )
    t_inv = time.perf_counter() - t0
    total = time.perf_counter() - t_start

    factor_cols = ["encoder", *[f for f in SWEEP_FACTORS if f in inv_rows[0]], "instance", "category"]
    transform_cols = ["encoder", *[f"t:{t}" for t in TRANSFORMS]]
    print(
        "\n### Invariance per Shapes factor (cosine score: 1 = invariant, 0 = as different as another image)\n"
    )
    print(markdown_table(inv_rows, factor_cols, digits=2))
    print("\n### Invariance per image transformation (strength 0.5)\n")
    print(markdown_table(inv_rows, transform_cols, digits=2))
    wide: dict[str, dict[str, object]] = {}
    for r in bias_rows:
        wide.setdefault(r["method"], {"method": r["method"]})[f"p={r['bias']:g}"] = (
            f"{r['aligned_acc']:.2f} / {r['conflicting_acc']:.2f}"
        )
    print("\n### Colour shortcut: linear-probe accuracy, bias-aligned / bias-conflicting test images\n")
    print(markdown_table(list(wide.values()), ["method", *[f"p={b:g}" for b in a.biases]]))
    print(f"\ntotal {total:.0f} s (bias sweep {t_bias:.0f} s, invariance {t_inv:.0f} s)")

    out = Path(a.out or Path(__file__).parent / "results" / "analysis-cpu.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": platform.processor() or "cpu",
        "threads": a.threads,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        **size,
        "n_test": a.n_test,
        "n_sweep": a.n_sweep,
        "n_values": a.n_values,
        "seconds": {"total": round(total, 1), "bias": round(t_bias, 1), "invariance": round(t_inv, 1)},
        "command": "python bench/analysis_tables.py " + " ".join(sys.argv[1:] if argv is None else argv),
    }
    out.write_text(json.dumps({"meta": meta, "invariance": inv_rows, "bias": bias_rows}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
