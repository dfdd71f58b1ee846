"""Equal budget: SimCLR, MoCo, BYOL, SimSiam and SwAV with the same steps, batch and augmentations.

The zoo's entries are each trained to their own fixed CPU budget (480–3,200 steps, batch 128 or
256), so their cards cannot rank the methods. Here every method trains on the same 8,192 Shapes
images for the same number of optimiser steps of the same batch size, with the same augmentations
(the SimCLR recipe), optimiser (AdamW, lr 2e-3, weight decay 1e-4, one warm-up epoch, cosine)
and encoder (the ConvNet), over training seeds 0, 1, 2 (``TrainConfig.seed``; the images are
the same for every seed: ``data_seed = 0``). Only what defines each method stays its zoo
recipe's: τ, MoCo's queue and momentum, BYOL's target momentum and projector BatchNorm, SwAV's
prototypes and ε.

Each run is scored as a zoo card is (weighted kNN, k = 200, τ = 0.1, and a 100-epoch linear probe
on the frozen backbone, the training split as the labelled bank, the test split scored): nothing
is chosen here, so the test split is read only to report.

    python bench/equal_budget.py              # every run not done yet (resumable), then the table
    python bench/equal_budget.py --table      # the table from the runs file only

Several processes may run at once (each claims a run with a lock file); each appends one line
per finished run to ``cssl_edu/zoo/equal-budget-cpu.jsonl`` (package data, read by
:func:`cssl_edu.zoo.equal_budget_runs` and lesson 13) and the table goes to
``bench/results/equal_budget-cpu.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from cssl_edu.claims import compare
from cssl_edu.config import TrainConfig
from cssl_edu.notebook import format_table
from cssl_edu.zoo import recipe_config
from cssl_edu.zoo.build import eval_splits, evaluate_backbone, git_commit

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "cssl_edu" / "zoo" / "equal-budget-cpu.jsonl"
TABLE = ROOT / "bench" / "results" / "equal_budget-cpu.md"
#: label → the zoo recipe whose method settings the run keeps
METHODS = {
    "SimCLR": "simclr-shapes",
    "MoCo": "moco-shapes",
    "BYOL": "byol-shapes",
    "SimSiam": "simsiam-shapes",
    "SwAV": "swav-shapes",
}
#: what every method shares: 8 epochs of 64 steps = 512 steps of 128 images — about the smallest
#: zoo budget (SupCon's 480 steps), so that 5 methods × 3 seeds fit in an hour of a 2-core CPU
SHARED: dict[str, Any] = {"batch_size": 128, "epochs": 8}
SEEDS = (0, 1, 2)


def run_config(label: str, seed: int, runs_dir: Path, **shrink: Any) -> TrainConfig:
    """The config of one run: ``label``'s zoo recipe with the shared budget, training seed ``seed``."""
    d = recipe_config(METHODS[label]).to_dict()
    d.update(SHARED, seed=seed, data_seed=0, knn_every=0, **shrink)
    d["out_dir"] = str(runs_dir / f"{label.lower()}-seed{seed}")
    return TrainConfig.from_dict(d)


def done(out: Path) -> set[tuple[str, int]]:
    """(method label, seed) of every run already in ``out``."""
    if not out.is_file():
        return set()
    return {(r["method"], r["seed"]) for r in map(json.loads, out.read_text().splitlines()) if r}


def train_one(label: str, seed: int, runs_dir: Path, out: Path, progress: bool, **shrink: Any) -> dict | None:
    """Train and score one run unless it is done or another process holds it; append its row to ``out``."""
    from cssl_edu.train import Trainer

    runs_dir.mkdir(parents=True, exist_ok=True)
    lock = runs_dir / f"{label.lower()}-seed{seed}.lock"
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return None  # another process trains it
    os.close(fd)
    try:
        if (label, seed) in done(out):
            return None
        cfg = run_config(label, seed, runs_dir, **shrink)
        trainer = Trainer(cfg, progress=progress)
        fresh = not trainer.last_checkpoint.exists()
        cpu0 = time.process_time()
        trainer.fit(resume=True)
        cpu = time.process_time() - cpu0
        train, test = eval_splits(cfg)
        scores = evaluate_backbone(trainer.method.backbone.eval(), train, test)
        row = {
            "method": label,
            "recipe": METHODS[label],
            "seed": seed,
            "steps": trainer.step,
            "batch_size": cfg.batch_size,
            "temperature": cfg.temperature if cfg.method not in ("byol", "simsiam") else None,
            "knn_acc": scores["knn_acc"],
            "linear_probe_acc": scores["linear_probe_acc"],
            "final_loss": trainer.history.step_loss[-1],
            "train_seconds": round(sum(float(r["seconds"]) for r in trainer.history.epochs), 1),
            "train_cpu_seconds": round(cpu, 1) if fresh else None,
            "torch_threads": torch.get_num_threads(),
            "n_train": len(train),
            "n_test": len(test),
            "torch": torch.__version__,
            "git_commit": git_commit(),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        with open(out, "a") as f:
            f.write(json.dumps(row) + "\n")
        return row
    finally:
        lock.unlink(missing_ok=True)


def summarise(rows: list[dict]) -> list[dict[str, Any]]:
    """Per method: n, steps, batch, τ, mean ± sd of kNN and probe, and the Welch t-test against SimCLR."""
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["method"], []).append(r)
    ref = by.get("SimCLR", [])
    out = []
    for label in [m for m in METHODS if m in by]:
        rs = sorted(by[label], key=lambda r: r["seed"])
        knn = [r["knn_acc"] for r in rs]
        probe = [r["linear_probe_acc"] for r in rs]
        cpu = [r["train_cpu_seconds"] for r in rs if r["train_cpu_seconds"]]
        row: dict[str, Any] = {
            "method": label,
            "seeds": len(rs),
            "steps": rs[0]["steps"],
            "batch": rs[0]["batch_size"],
            "τ": rs[0]["temperature"] if rs[0]["temperature"] is not None else "—",
            "CPU-min": round(statistics.mean(cpu) / 60, 1) if cpu else "—",
            "kNN (%)": f"{100 * statistics.mean(knn):.1f} ± {100 * statistics.stdev(knn):.1f}"
            if len(knn) > 1
            else f"{100 * knn[0]:.1f}",
            "probe (%)": f"{100 * statistics.mean(probe):.1f} ± {100 * statistics.stdev(probe):.1f}"
            if len(probe) > 1
            else f"{100 * probe[0]:.1f}",
        }
        if label != "SimCLR" and len(ref) > 1 and len(rs) > 1:
            c = compare(knn, [r["knn_acc"] for r in ref])
            row["kNN vs SimCLR"] = f"{100 * c.diff:+.1f} (p = {c.p_value:.2g}, {c.verdict()})"
        else:
            row["kNN vs SimCLR"] = "—"
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--table", action="store_true", help="only print (and write) the table of finished runs")
    p.add_argument("--out", type=Path, default=OUT, help="the runs file (one JSON line per run)")
    p.add_argument("--table-out", type=Path, default=TABLE, help="where the markdown table goes")
    p.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "equal-budget")
    p.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--seeds", type=int, nargs="*", default=list(SEEDS))
    p.add_argument("--quiet", action="store_true")
    # for the script's own test: a tiny run of the same code
    p.add_argument("--n-train", type=int, help=argparse.SUPPRESS)
    p.add_argument("--n-test", type=int, help=argparse.SUPPRESS)
    p.add_argument("--epochs", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    shrink = {
        k: v
        for k, v in (("n_train", args.n_train), ("n_test", args.n_test), ("epochs", args.epochs))
        if v is not None
    }
    if shrink:
        shrink.setdefault("knn_bank_size", None)
    if not args.table:
        for seed in args.seeds:
            for label in args.methods:
                row = train_one(label, seed, args.runs_dir, args.out, not args.quiet, **shrink)
                if row:
                    print(
                        f"{label} seed {seed}: kNN {100 * row['knn_acc']:.1f} %, probe "
                        f"{100 * row['linear_probe_acc']:.1f} %, {row['steps']} steps",
                        flush=True,
                    )
    rows = (
        [json.loads(line) for line in args.out.read_text().splitlines() if line] if args.out.is_file() else []
    )
    if not rows:
        print(f"no finished runs in {args.out}", file=sys.stderr)
        return 1
    table = format_table(summarise(rows))
    args.table_out.parent.mkdir(parents=True, exist_ok=True)
    args.table_out.write_text(
        "# Equal budget (bench/equal_budget.py)\n\n"
        f"Every method: {rows[0]['steps']} steps of batch {rows[0]['batch_size']} on {rows[0]['n_train']} Shapes "
        "images, the same augmentations, optimiser and ConvNet; training seeds as listed, the same images for all. "
        f"Scored on the {rows[0]['n_test']} test images: weighted kNN (k = 200) and a linear probe; mean ± sd "
        "(sample sd) over seeds; Welch t-test against SimCLR.\n\n" + table + "\n"
    )
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
